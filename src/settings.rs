//! Raw arguments and environment, turned once into the settings every command works from.
//!
//! This is the only place that reads `CTL_*`-adjacent environment variables (`NO_COLOR`,
//! `CLICOLOR_FORCE`, `TERM`, `IDP_API_KEY`, `XDG_CONFIG_HOME`, `HOME`, and a variable a config
//! context names) or asks whether a stream is a terminal; everything deeper receives plain
//! values, so tests can build settings without touching the process.
//!
//! Precedence, per setting: command-line flag > environment variable > the config file's
//! context ([`crate::config`]) > built-in default. (clap already applies flag > variable for
//! `--server`/`CTL_SERVER` and the like; the config file comes after both.)

use std::io::IsTerminal;
use std::time::Duration;

use std::collections::BTreeMap;

use crate::cli::{ColorChoice, GlobalArgs, IconChoice, OutputFormat, TimestampChoice};
use crate::client::TlsOptions;
use crate::config::Config;
use crate::error::Error;
use crate::render::text::Icons;
use crate::secret::Secret;

/// The server used when neither `--server` nor `CTL_SERVER` is given.
pub const DEFAULT_SERVER: &str = "http://localhost:8081";

/// How long a watch without a terminal may go without printing before a heartbeat line.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(30);

/// Validated, resolved settings shared by the client commands.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Server base URL without a trailing slash, e.g. `http://localhost:8081`.
    pub server: String,
    /// API key, if any.
    pub api_key: Option<Secret>,
    /// Where the key came from, or why none was sent, said when the server answers 401 ("the
    /// key from CTL_API_KEY was refused"): with keys in flags, variables, config contexts and
    /// innominatus' credentials file, "which key?" is the first question.
    pub api_key_origin: KeyOrigin,
    /// What stdout carries.
    pub output: OutputFormat,
    /// Whether to colour stdout.
    pub color_stdout: bool,
    /// Whether to colour stderr.
    pub color_stderr: bool,
    /// Whether stderr is a terminal (live progress, spinners).
    pub stderr_tty: bool,
    /// `-v` count.
    pub verbose: u8,
    /// `--quiet`.
    pub quiet: bool,
    /// Emoji or ASCII markers (`--icons`, then the locale).
    pub icons: Icons,
    /// The timestamp column of event lines (`--timestamps`).
    pub timestamps: TimestampChoice,
    /// Whether to draw live progress rows on stderr (`CTL_PROGRESS`, then stderr is a terminal).
    pub progress: bool,
    /// How long a watch may print nothing before a `still waiting` line on stderr, when no
    /// progress rows are drawn (`CTL_HEARTBEAT`; `None`: never).
    pub heartbeat: Option<Duration>,
    /// Running under GitHub Actions (`GITHUB_ACTIONS=true`): group and annotation markers.
    pub github_actions: bool,
    /// The config-file context in use (`--context`, `CTL_CONTEXT` or `current-context`), if any.
    pub context: Option<String>,
    /// Which certificates to trust (`--certificate-authority`, `--insecure-skip-tls-verify`,
    /// or the context's).
    pub tls: TlsOptions,
}

/// Where the API key came from, or why none was sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum KeyOrigin {
    /// A key was sent; from where, as the user would name it (`CTL_API_KEY`, `--api-key`,
    /// `the api-key of context "prod"`, ...).
    Sent(String),
    /// No key was sent, for this reason (a context's `api-key-env` variable is not set).
    Missing(String),
    /// No key was given anywhere.
    #[default]
    None,
}

impl KeyOrigin {
    /// What to add to a 401: which key was refused, or why there was none.
    pub fn explain_refusal(&self) -> String {
        match self {
            KeyOrigin::Sent(from) => format!("the key from {from} was refused"),
            KeyOrigin::Missing(why) => format!("no API key was sent: {why}"),
            KeyOrigin::None => "no API key was sent".to_owned(),
        }
    }
}

/// The API key and where it came from. Precedence: `--api-key` / `CTL_API_KEY` (clap), then
/// `IDP_API_KEY`, then the context's key (a context's key is only ever sent to that context's
/// server: with `--server` pointing elsewhere, it stays home), then the key innominatus' own
/// CLI keeps in `~/.innominatus/credentials`.
fn resolve_key(
    args: &GlobalArgs,
    env: &Environment,
    own_context: Option<(&str, &crate::config::Context)>,
) -> Result<(Option<Secret>, KeyOrigin), Error> {
    let non_empty = |v: &Option<String>| v.clone().filter(|k| !k.trim().is_empty());
    if let Some(key) = non_empty(&args.api_key) {
        // clap merges the flag and the variable; the variable holding this very value says
        // which one it was (near enough: the same key either way).
        let from = match env.var("CTL_API_KEY") {
            Some(var) if var.expose() == key => "CTL_API_KEY",
            _ => "--api-key",
        };
        return Ok((
            Some(Secret::new(key.trim())),
            KeyOrigin::Sent(from.to_owned()),
        ));
    }
    if let Some(key) = non_empty(&env.idp_api_key) {
        return Ok((
            Some(Secret::new(key.trim())),
            KeyOrigin::Sent("IDP_API_KEY".to_owned()),
        ));
    }
    let mut missing = None;
    if let Some((name, ctx)) = own_context {
        if let Some(key) = ctx.api_key(name, env)? {
            return Ok((Some(key), KeyOrigin::Sent(ctx.key_origin(name))));
        }
        missing = ctx.unset_key_variable(name, env);
    }
    if let Some(path) = innominatus_credentials_path(env) {
        if let Some(key) = read_innominatus_credentials(&path)? {
            return Ok((Some(key), KeyOrigin::Sent(path.display().to_string())));
        }
    }
    Ok((None, missing.map_or(KeyOrigin::None, KeyOrigin::Missing)))
}

/// `~/.innominatus/credentials`, where innominatus' own CLI keeps the key its login wrote.
fn innominatus_credentials_path(env: &Environment) -> Option<std::path::PathBuf> {
    env.home.as_deref().map(|home| {
        std::path::Path::new(home)
            .join(".innominatus")
            .join("credentials")
    })
}

/// The key in innominatus' credentials file (`{"api_key": "..."}`), if the file exists and
/// holds one. A file that exists but cannot be read as that is a usage error naming it: a key
/// silently not sent would show up later as a puzzling 401.
fn read_innominatus_credentials(path: &std::path::Path) -> Result<Option<Secret>, Error> {
    #[derive(serde::Deserialize)]
    struct Credentials {
        #[serde(default)]
        api_key: Option<String>,
    }
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::Usage(format!(
                "cannot read the innominatus credentials file {}: {e}",
                path.display()
            )));
        }
    };
    // The parser's message could quote the file, key included: it is not shown.
    let credentials: Credentials = serde_json::from_str(&text).map_err(|_| {
        Error::Usage(format!(
            "the innominatus credentials file {} is not JSON of the form {{\"api_key\": \"...\"}}",
            path.display()
        ))
    })?;
    Ok(credentials
        .api_key
        .filter(|k| !k.trim().is_empty())
        .map(|k| Secret::new(k.trim())))
}

/// Facts about the process the settings depend on, gathered in one place so tests can fake them.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// `NO_COLOR`.
    pub no_color: Option<String>,
    /// `CLICOLOR_FORCE`.
    pub clicolor_force: Option<String>,
    /// `TERM`.
    pub term: Option<String>,
    /// `IDP_API_KEY`, the innominatus CLI's variable, used when no `--api-key`/`CTL_API_KEY`.
    pub idp_api_key: Option<String>,
    /// Whether stdout is a terminal.
    pub stdout_tty: bool,
    /// Whether stderr is a terminal.
    pub stderr_tty: bool,
    /// The character-type locale: the first non-empty of `LC_ALL`, `LC_CTYPE`, `LANG`.
    pub locale: Option<String>,
    /// `CTL_PROGRESS`: `auto`, `always` or `never`.
    pub progress: Option<String>,
    /// `CTL_HEARTBEAT`: a duration, or `off`.
    pub heartbeat: Option<String>,
    /// `GITHUB_ACTIONS`.
    pub github_actions: Option<String>,
    /// `XDG_CONFIG_HOME`: where the config file lives (see [`crate::config::default_path`]).
    pub xdg_config_home: Option<String>,
    /// `HOME`: the config file's fallback location, `~/.config`.
    pub home: Option<String>,
    /// Variables a config context names (`api-key-env`), read on demand.
    pub named_vars: NamedVars,
}

/// Environment variables read by name on demand: the config file decides which (a context's
/// `api-key-env`), so they cannot be gathered up front. Values are held as [`Secret`]s, so a
/// debug print of the environment never shows them.
#[derive(Debug, Clone, Default)]
pub struct NamedVars {
    /// Whether to fall back to the real process environment ([`Environment::from_process`]).
    from_process: bool,
    /// Fixed values, which win (tests).
    fixed: BTreeMap<String, Secret>,
}

impl Environment {
    /// Reads the real process environment.
    pub fn from_process() -> Self {
        let var = |name: &str| std::env::var(name).ok();
        Environment {
            no_color: var("NO_COLOR"),
            clicolor_force: var("CLICOLOR_FORCE"),
            term: var("TERM"),
            idp_api_key: var("IDP_API_KEY"),
            stdout_tty: std::io::stdout().is_terminal(),
            stderr_tty: std::io::stderr().is_terminal(),
            locale: ["LC_ALL", "LC_CTYPE", "LANG"]
                .into_iter()
                .filter_map(var)
                .find(|v| !v.is_empty()),
            progress: var("CTL_PROGRESS"),
            heartbeat: var("CTL_HEARTBEAT"),
            github_actions: var("GITHUB_ACTIONS"),
            xdg_config_home: var("XDG_CONFIG_HOME").filter(|v| !v.is_empty()),
            home: var("HOME").filter(|v| !v.is_empty()),
            named_vars: NamedVars {
                from_process: true,
                fixed: BTreeMap::new(),
            },
        }
    }

    /// A variable named at run time (a context's `api-key-env`); empty counts as unset.
    pub fn var(&self, name: &str) -> Option<Secret> {
        let value = match self.named_vars.fixed.get(name) {
            Some(value) => Some(value.clone()),
            // `std::env::var` may panic on such names; a config file must not be able to do that.
            None if self.named_vars.from_process
                && !name.is_empty()
                && !name.contains(['=', '\0']) =>
            {
                std::env::var(name).ok().map(Secret::new)
            }
            None => None,
        };
        value.filter(|v| !v.expose().is_empty())
    }

    /// The same environment with one more named variable (tests).
    pub fn with_var(mut self, name: &str, value: &str) -> Self {
        self.named_vars
            .fixed
            .insert(name.to_owned(), Secret::new(value));
        self
    }

    /// Emoji unless asked for ASCII, or the locale names a character set other than UTF-8
    /// (`C`, `POSIX`, `en_US.ISO-8859-1`, ...). An unset locale keeps emoji: containers and CI
    /// runners often set none while their log viewers show UTF-8.
    pub fn icons_for(&self, choice: IconChoice) -> Icons {
        match choice {
            IconChoice::Unicode => Icons::Unicode,
            IconChoice::Ascii => Icons::Ascii,
            IconChoice::Auto => match &self.locale {
                Some(locale) => {
                    let lower = locale.to_ascii_lowercase();
                    if lower.contains("utf-8") || lower.contains("utf8") {
                        Icons::Unicode
                    } else {
                        Icons::Ascii
                    }
                }
                None => Icons::Unicode,
            },
        }
    }

    /// Whether to draw progress rows: `CTL_PROGRESS=always|never` decides; otherwise (`auto`)
    /// only for text output on a stderr that is a real terminal (not `TERM=dumb`), and not
    /// with `--quiet`.
    pub fn progress_for(&self, output: OutputFormat, quiet: bool) -> Result<bool, Error> {
        let auto = || {
            output != OutputFormat::Json
                && !quiet
                && self.stderr_tty
                && self.term.as_deref() != Some("dumb")
        };
        match self.progress.as_deref().map(str::trim) {
            None | Some("" | "auto") => Ok(auto()),
            Some("always") => Ok(true),
            Some("never") => Ok(false),
            Some(other) => Err(Error::Usage(format!(
                "CTL_PROGRESS={other:?} is not valid (expected auto, always or never)"
            ))),
        }
    }

    /// The heartbeat interval: `CTL_HEARTBEAT` (`30s`, `500ms`, a bare number of seconds, or
    /// `off`/`never`/`0` to disable), else 30 s.
    pub fn heartbeat_interval(&self) -> Result<Option<Duration>, Error> {
        let Some(raw) = self.heartbeat.as_deref().map(str::trim) else {
            return Ok(Some(DEFAULT_HEARTBEAT));
        };
        match raw {
            "" => Ok(Some(DEFAULT_HEARTBEAT)),
            "off" | "never" | "0" => Ok(None),
            digits if digits.chars().all(|c| c.is_ascii_digit()) => digits
                .parse::<u64>()
                .map(|s| Some(Duration::from_secs(s)))
                .map_err(|e| Error::Usage(format!("CTL_HEARTBEAT={raw:?}: {e}"))),
            text => match humantime::parse_duration(text) {
                Ok(d) if d.is_zero() => Ok(None),
                Ok(d) => Ok(Some(d)),
                Err(e) => Err(Error::Usage(format!(
                    "CTL_HEARTBEAT={raw:?} is not valid: {e} (expected e.g. 30s, 500ms or off)"
                ))),
            },
        }
    }

    /// Whether this runs as a GitHub Actions step (`GITHUB_ACTIONS=true`, as the runner sets it).
    pub fn is_github_actions(&self) -> bool {
        self.github_actions.as_deref().map(str::trim) == Some("true")
    }

    /// Whether to colour a stream, in this order: `--color always|never`, then `NO_COLOR`
    /// (non-empty), then `CLICOLOR_FORCE` (non-empty, not `0`), then `TERM=dumb`, then whether
    /// the stream is a terminal.
    pub fn color_for(&self, choice: ColorChoice, is_tty: bool) -> bool {
        let set = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.is_empty());
        match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto if set(&self.no_color) => false,
            ColorChoice::Auto
                if set(&self.clicolor_force) && self.clicolor_force.as_deref() != Some("0") =>
            {
                true
            }
            ColorChoice::Auto if self.term.as_deref() == Some("dumb") => false,
            ColorChoice::Auto => is_tty,
        }
    }
}

impl Settings {
    /// Resolves settings from parsed arguments, the environment and the config file (the one
    /// `--config`/`CTL_CONFIG` names, else the default one if it exists), for commands that
    /// talk to a server.
    pub fn resolve(args: &GlobalArgs, env: &Environment) -> Result<Self, Error> {
        let config = Config::load(args.config.as_deref(), env)?;
        Self::resolve_with(args, env, config.as_ref())
    }

    /// Resolves settings without reading the config file, for commands that never talk to a
    /// server (`ctl validate`): a broken config, or an `api-key-command` that prompts, must
    /// not get in their way. The server is the flag's, the variable's or the default.
    pub fn resolve_local(args: &GlobalArgs, env: &Environment) -> Result<Self, Error> {
        let args = GlobalArgs {
            context: None,
            ..args.clone()
        };
        Self::resolve_with(&args, env, None)
    }

    /// Resolves settings with a given (already loaded) config file.
    pub fn resolve_with(
        args: &GlobalArgs,
        env: &Environment,
        config: Option<&Config>,
    ) -> Result<Self, Error> {
        let context = match (config, args.context.as_deref()) {
            (Some(config), chosen) => config.select(chosen)?,
            (None, Some(name)) => {
                let place = args
                    .config
                    .clone()
                    .or_else(|| crate::config::default_path(env))
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "$XDG_CONFIG_HOME/ctl/config.yaml".to_owned());
                return Err(Error::Usage(format!(
                    "context {name:?} was asked for, but there is no config file ({place})"
                )));
            }
            (None, None) => None,
        };
        let non_empty = |v: &Option<String>| v.clone().filter(|k| !k.trim().is_empty());
        // flag / CTL_SERVER (clap), then the context, then the default.
        let server = match (
            non_empty(&args.server),
            context.and_then(|(_, c)| c.server.as_deref()),
        ) {
            (Some(flag), _) => normalize_server(&flag)?,
            (None, Some(from_context)) => normalize_server(from_context)?,
            (None, None) => normalize_server(DEFAULT_SERVER)?,
        };
        // flag / CTL_API_KEY (clap), then IDP_API_KEY, then the context's key. A context's key
        // is only ever sent to that context's server: with `--server` pointing elsewhere, it
        // stays home.
        // A context's key and TLS settings belong to its server: with `--server` pointing
        // elsewhere, they stay home.
        let own_context = context.filter(|(_, ctx)| {
            ctx.server
                .as_deref()
                .is_none_or(|s| normalize_server(s).is_ok_and(|s| s == server))
        });
        let (api_key, api_key_origin) = resolve_key(args, env, own_context)?;
        // Flag or variable first, taken as a pair: `--insecure-skip-tls-verify` overrides a
        // context's CA, and `--certificate-authority` a context's skip-verify.
        let ca_flag = args
            .certificate_authority
            .clone()
            .filter(|p| !p.as_os_str().is_empty());
        let tls = if ca_flag.is_some() || args.insecure_skip_tls_verify {
            TlsOptions {
                ca_file: ca_flag,
                insecure: args.insecure_skip_tls_verify,
            }
        } else {
            own_context
                .map(|(_, ctx)| ctx.tls.clone())
                .unwrap_or_default()
        };
        if tls.insecure && tls.ca_file.is_some() {
            return Err(Error::Usage(
                "--insecure-skip-tls-verify and --certificate-authority (CTL_CA_CERT) cannot be used together: \
                 the first turns off the checks the second configures"
                    .to_owned(),
            ));
        }
        Ok(Settings {
            server,
            api_key,
            output: args.output,
            color_stdout: args.output != OutputFormat::Json
                && env.color_for(args.color, env.stdout_tty),
            color_stderr: env.color_for(args.color, env.stderr_tty),
            stderr_tty: env.stderr_tty,
            verbose: args.verbose,
            quiet: args.quiet,
            icons: env.icons_for(args.icons),
            timestamps: args.timestamps,
            progress: env.progress_for(args.output, args.quiet)?,
            heartbeat: env.heartbeat_interval()?,
            github_actions: env.is_github_actions(),
            context: context.map(|(name, _)| name.to_owned()),
            api_key_origin,
            tls,
        })
    }
}

/// Normalises a server URL: adds `http://` when no scheme is given and strips trailing
/// slashes, because innominatus answers `//api/...` with a redirect that turns a POST into a
/// bodiless GET (PROTOCOL.md A.1).
pub fn normalize_server(raw: &str) -> Result<String, Error> {
    let trimmed = raw.trim();
    // A password in the URL must not reach a message.
    let shown = redact_url(trimmed);
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_owned()
    } else {
        // `http//host` or `https:/host` would otherwise become a request to a host named
        // `http`, failing late with a DNS error (exit 5) instead of a usage error.
        let lower = trimmed.to_ascii_lowercase();
        let misspelt = ["https", "http"].into_iter().find(|scheme| {
            lower
                .strip_prefix(scheme)
                .is_some_and(|rest| rest.starts_with("//") || rest.starts_with(":/"))
        });
        if let Some(scheme) = misspelt {
            return Err(Error::Usage(format!(
                "invalid server URL {shown:?}: the scheme is misspelt (expected {scheme}://HOST[:PORT], e.g. http://localhost:8081)"
            )));
        }
        format!("http://{trimmed}")
    };
    let url = reqwest::Url::parse(&with_scheme).map_err(|e| {
        Error::Usage(format!(
            "invalid server URL {shown:?}: {e} (expected e.g. http://localhost:8081)"
        ))
    })?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(Error::Usage(format!(
            "invalid server URL {shown:?}: scheme must be http or https"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::Usage(format!(
            "invalid server URL {shown:?}: it must not have a query or fragment"
        )));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// `raw` with the password of its `user:password@` part, if any, replaced by `***`. Works on
/// text that is not a valid URL too, since that is when it is shown in an error.
pub fn redact_url(raw: &str) -> String {
    let authority_start = raw.find("://").map_or(0, |i| i + 3);
    let rest = &raw[authority_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return raw.to_owned();
    };
    let userinfo = &authority[..at];
    let user = userinfo.split(':').next().unwrap_or("");
    let hidden = if userinfo.contains(':') {
        format!("{user}:***")
    } else {
        user.to_owned()
    };
    format!(
        "{}{hidden}{}",
        &raw[..authority_start],
        &raw[authority_start + at..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_redacted_even_in_invalid_ones() {
        assert_eq!(
            redact_url("https://u:s3cret@h.example/x"),
            "https://u:***@h.example/x"
        );
        assert_eq!(redact_url("u:s3cret@h:1?q"), "u:***@h:1?q");
        assert_eq!(redact_url("https://h.example/a@b"), "https://h.example/a@b");
        assert_eq!(redact_url("https://tok@h"), "https://tok@h");
        let err = normalize_server("http://u:s3cret@h/?x=1").unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
        let err = normalize_server("ftp://u:s3cret@h").unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }

    #[test]
    fn server_urls_are_normalised() {
        assert_eq!(normalize_server("http://h:1/").unwrap(), "http://h:1");
        assert_eq!(normalize_server("http://h:1///").unwrap(), "http://h:1");
        assert_eq!(
            normalize_server("localhost:8081").unwrap(),
            "http://localhost:8081"
        );
        assert_eq!(
            normalize_server("https://p.example/idp/").unwrap(),
            "https://p.example/idp"
        );
        assert!(matches!(normalize_server("ftp://h"), Err(Error::Usage(_))));
        assert!(matches!(normalize_server("http://"), Err(Error::Usage(_))));
        for typo in ["http//bad", "https//bad:1", "http:/bad", "HTTP//bad"] {
            let err = normalize_server(typo).unwrap_err();
            assert!(
                matches!(&err, Error::Usage(m) if m.contains("misspelt")),
                "{typo}: {err}"
            );
        }
        assert!(matches!(
            normalize_server("http://h/?x=1"),
            Err(Error::Usage(_))
        ));
    }

    #[test]
    fn icons_follow_the_locale() {
        let mut env = Environment::default();
        assert_eq!(env.icons_for(IconChoice::Auto), Icons::Unicode, "unset");
        for (locale, icons) in [
            ("C.UTF-8", Icons::Unicode),
            ("en_US.utf8", Icons::Unicode),
            ("de_DE.UTF-8@euro", Icons::Unicode),
            ("C", Icons::Ascii),
            ("POSIX", Icons::Ascii),
            ("en_US.ISO-8859-1", Icons::Ascii),
        ] {
            env.locale = Some(locale.into());
            assert_eq!(env.icons_for(IconChoice::Auto), icons, "{locale}");
        }
        assert_eq!(env.icons_for(IconChoice::Unicode), Icons::Unicode);
        env.locale = Some("C.UTF-8".into());
        assert_eq!(env.icons_for(IconChoice::Ascii), Icons::Ascii);
    }

    #[test]
    fn progress_only_on_a_terminal_unless_forced() {
        let text = OutputFormat::Text;
        let mut env = Environment::default();
        assert!(!env.progress_for(text, false).unwrap(), "no terminal");
        env.stderr_tty = true;
        assert!(env.progress_for(text, false).unwrap());
        assert!(!env.progress_for(text, true).unwrap(), "--quiet");
        assert!(!env.progress_for(OutputFormat::Json, false).unwrap());
        env.term = Some("dumb".into());
        assert!(!env.progress_for(text, false).unwrap(), "TERM=dumb");
        env.progress = Some("always".into());
        env.stderr_tty = false;
        assert!(env.progress_for(text, true).unwrap());
        env.progress = Some("never".into());
        env.stderr_tty = true;
        env.term = None;
        assert!(!env.progress_for(text, false).unwrap());
        env.progress = Some("sometimes".into());
        assert!(matches!(
            env.progress_for(text, false),
            Err(Error::Usage(_))
        ));
    }

    #[test]
    fn heartbeat_interval_is_configurable() {
        let mut env = Environment::default();
        let with = |env: &mut Environment, v: &str| {
            env.heartbeat = Some(v.into());
            env.heartbeat_interval()
        };
        assert_eq!(env.heartbeat_interval().unwrap(), Some(DEFAULT_HEARTBEAT));
        assert_eq!(with(&mut env, "5s").unwrap(), Some(Duration::from_secs(5)));
        assert_eq!(
            with(&mut env, "250ms").unwrap(),
            Some(Duration::from_millis(250))
        );
        assert_eq!(with(&mut env, "2").unwrap(), Some(Duration::from_secs(2)));
        assert_eq!(with(&mut env, "off").unwrap(), None);
        assert_eq!(with(&mut env, "0").unwrap(), None);
        assert!(matches!(with(&mut env, "soon"), Err(Error::Usage(_))));
    }

    #[test]
    fn github_actions_only_when_true() {
        let mut env = Environment::default();
        assert!(!env.is_github_actions());
        env.github_actions = Some("false".into());
        assert!(!env.is_github_actions());
        env.github_actions = Some("true".into());
        assert!(env.is_github_actions());
    }

    #[test]
    fn colour_precedence() {
        let tty = true;
        let mut env = Environment::default();
        assert!(env.color_for(ColorChoice::Auto, tty));
        assert!(!env.color_for(ColorChoice::Auto, !tty));
        env.term = Some("dumb".into());
        assert!(!env.color_for(ColorChoice::Auto, tty));
        env.clicolor_force = Some("1".into());
        assert!(env.color_for(ColorChoice::Auto, !tty));
        env.clicolor_force = Some("0".into());
        assert!(!env.color_for(ColorChoice::Auto, tty));
        env.no_color = Some("1".into());
        env.clicolor_force = Some("1".into());
        assert!(!env.color_for(ColorChoice::Auto, tty));
        assert!(env.color_for(ColorChoice::Always, !tty));
        env.no_color = None;
        env.term = None;
        assert!(!env.color_for(ColorChoice::Never, tty));
        env.no_color = Some(String::new());
        assert!(
            env.color_for(ColorChoice::Auto, tty),
            "empty NO_COLOR is ignored"
        );
    }

    fn global_args(
        server: Option<&str>,
        api_key: Option<&str>,
        context: Option<&str>,
    ) -> GlobalArgs {
        GlobalArgs {
            server: server.map(str::to_owned),
            api_key: api_key.map(str::to_owned),
            output: OutputFormat::Text,
            color: ColorChoice::Never,
            verbose: 0,
            quiet: false,
            icons: IconChoice::Auto,
            timestamps: TimestampChoice::Local,
            context: context.map(str::to_owned),
            config: None,
            certificate_authority: None,
            insecure_skip_tls_verify: false,
        }
    }

    #[test]
    fn tls_settings_come_from_the_flags_else_from_the_servers_own_context() {
        let config = Config::parse(
            "current-context: private\ncontexts:\n  private:\n    server: https://p.example\n    certificate-authority: certs/ca.pem\n  lab:\n    server: https://lab.example\n    insecure-skip-tls-verify: true\n",
            std::path::Path::new("/etc/ctl/config.yaml"),
        )
        .unwrap();
        let env = Environment::default();
        let s =
            Settings::resolve_with(&global_args(None, None, None), &env, Some(&config)).unwrap();
        // Relative to the config file's directory.
        assert_eq!(
            s.tls.ca_file.as_deref(),
            Some(std::path::Path::new("/etc/ctl/certs/ca.pem"))
        );
        assert!(!s.tls.insecure);
        // A flag wins, as a pair: skip-verify replaces the context's CA.
        let mut args = global_args(None, None, None);
        args.insecure_skip_tls_verify = true;
        let s = Settings::resolve_with(&args, &env, Some(&config)).unwrap();
        assert_eq!(
            s.tls,
            TlsOptions {
                ca_file: None,
                insecure: true
            }
        );
        let mut args = global_args(None, None, Some("lab"));
        args.certificate_authority = Some("/tmp/ca.pem".into());
        let s = Settings::resolve_with(&args, &env, Some(&config)).unwrap();
        assert_eq!(
            s.tls.ca_file.as_deref(),
            Some(std::path::Path::new("/tmp/ca.pem"))
        );
        assert!(!s.tls.insecure);
        // The context's skip-verify applies to its own server only.
        let s = Settings::resolve_with(&global_args(None, None, Some("lab")), &env, Some(&config))
            .unwrap();
        assert!(s.tls.insecure);
        let s = Settings::resolve_with(
            &global_args(Some("https://elsewhere.example"), None, Some("lab")),
            &env,
            Some(&config),
        )
        .unwrap();
        assert_eq!(s.tls, TlsOptions::default());
        // Both in one context is a config error.
        let err = Config::parse(
            "contexts:\n  x:\n    certificate-authority: a.pem\n    insecure-skip-tls-verify: true\n",
            std::path::Path::new("c.yaml"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("both"), "{err}");
    }

    fn config() -> Config {
        Config::parse(
            "current-context: dev\ncontexts:\n  dev:\n    server: http://dev.example:1\n    api-key-env: DEV_KEY\n  prod:\n    server: https://prod.example\n    api-key: prod-key\n  keyonly:\n    api-key: any-server-key\n",
            std::path::Path::new("config.yaml"),
        )
        .unwrap()
    }

    fn key(settings: &Settings) -> Option<&str> {
        settings.api_key.as_ref().map(Secret::expose)
    }

    #[test]
    fn flag_then_environment_then_config_then_default() {
        let config = config();
        let env = Environment::default().with_var("DEV_KEY", "dev-key");
        let resolve = |args: &GlobalArgs, env: &Environment| {
            Settings::resolve_with(args, env, Some(&config)).unwrap()
        };

        // Nothing given: current-context decides both.
        let s = resolve(&global_args(None, None, None), &env);
        assert_eq!(s.server, "http://dev.example:1");
        assert_eq!(key(&s), Some("dev-key"));
        assert_eq!(s.context.as_deref(), Some("dev"));

        // --context picks another context.
        let s = resolve(&global_args(None, None, Some("prod")), &env);
        assert_eq!(s.server, "https://prod.example");
        assert_eq!(key(&s), Some("prod-key"));

        // A flag (or CTL_*, which clap folds into the same field) beats the context.
        let s = resolve(&global_args(None, Some("flag-key"), Some("prod")), &env);
        assert_eq!(key(&s), Some("flag-key"));
        // IDP_API_KEY is an environment variable: it beats the config too.
        let idp = Environment {
            idp_api_key: Some("idp-key".into()),
            ..env.clone()
        };
        let s = resolve(&global_args(None, None, Some("prod")), &idp);
        assert_eq!(key(&s), Some("idp-key"));

        // Without a config file: the default server, no key.
        let s = Settings::resolve_with(&global_args(None, None, None), &env, None).unwrap();
        assert_eq!(s.server, DEFAULT_SERVER);
        assert_eq!(key(&s), None);
        assert_eq!(s.context, None);
    }

    #[test]
    fn a_context_key_is_only_sent_to_its_own_server() {
        let config = config();
        let env = Environment::default();
        let s = Settings::resolve_with(
            &global_args(Some("http://elsewhere:9"), None, Some("prod")),
            &env,
            Some(&config),
        )
        .unwrap();
        assert_eq!(s.server, "http://elsewhere:9");
        assert_eq!(key(&s), None, "prod's key must not go to another server");

        // The same server written differently still matches.
        let s = Settings::resolve_with(
            &global_args(Some("https://prod.example/"), None, Some("prod")),
            &env,
            Some(&config),
        )
        .unwrap();
        assert_eq!(key(&s), Some("prod-key"));

        // A context without a server lends its key to whatever server is in use.
        let s = Settings::resolve_with(
            &global_args(Some("http://any:1"), None, Some("keyonly")),
            &env,
            Some(&config),
        )
        .unwrap();
        assert_eq!(key(&s), Some("any-server-key"));
    }

    #[test]
    fn unknown_or_impossible_contexts_are_usage_errors() {
        let config = config();
        let env = Environment::default();
        let err = Settings::resolve_with(&global_args(None, None, Some("qa")), &env, Some(&config))
            .unwrap_err();
        assert!(matches!(err, Error::Usage(_)));
        let err =
            Settings::resolve_with(&global_args(None, None, Some("qa")), &env, None).unwrap_err();
        assert!(err.to_string().contains("no config file"), "{err}");
        // Commands that never talk to a server ignore contexts altogether.
        let s = Settings::resolve_local(&global_args(None, None, Some("qa")), &env).unwrap();
        assert_eq!(s.server, DEFAULT_SERVER);
    }

    #[test]
    fn named_variables_never_show_in_debug_output() {
        let env = Environment::default().with_var("K", "very-secret");
        assert_eq!(env.var("K").unwrap().expose(), "very-secret");
        assert_eq!(env.var("MISSING"), None);
        assert!(!format!("{env:?}").contains("very-secret"));
    }
}
