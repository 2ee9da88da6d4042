//! Raw arguments and environment, turned once into the settings every command works from.
//!
//! This is the only place that reads `CTL_*`-adjacent environment variables (`NO_COLOR`,
//! `CLICOLOR_FORCE`, `TERM`, `IDP_API_KEY`) or asks whether a stream is a terminal; everything
//! deeper receives plain values, so tests can build settings without touching the process.

use std::io::IsTerminal;

use crate::cli::{ColorChoice, GlobalArgs, OutputFormat};
use crate::error::Error;
use crate::secret::Secret;

/// The server used when neither `--server` nor `CTL_SERVER` is given.
pub const DEFAULT_SERVER: &str = "http://localhost:8081";

/// Validated, resolved settings shared by the client commands.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Server base URL without a trailing slash, e.g. `http://localhost:8081`.
    pub server: String,
    /// API key, if any.
    pub api_key: Option<Secret>,
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
        }
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
    /// Resolves settings from parsed arguments and the environment.
    pub fn resolve(args: &GlobalArgs, env: &Environment) -> Result<Self, Error> {
        let server = normalize_server(args.server.as_deref().unwrap_or(DEFAULT_SERVER))?;
        let api_key = args
            .api_key
            .clone()
            .or_else(|| env.idp_api_key.clone())
            .filter(|k| !k.trim().is_empty())
            .map(|k| Secret::new(k.trim()));
        Ok(Settings {
            server,
            api_key,
            output: args.output,
            color_stdout: args.output == OutputFormat::Text
                && env.color_for(args.color, env.stdout_tty),
            color_stderr: env.color_for(args.color, env.stderr_tty),
            stderr_tty: env.stderr_tty,
            verbose: args.verbose,
            quiet: args.quiet,
        })
    }
}

/// Normalises a server URL: adds `http://` when no scheme is given and strips trailing
/// slashes, because innominatus answers `//api/...` with a redirect that turns a POST into a
/// bodiless GET (PROTOCOL.md A.1).
pub fn normalize_server(raw: &str) -> Result<String, Error> {
    let trimmed = raw.trim();
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_owned()
    } else {
        format!("http://{trimmed}")
    };
    let url = reqwest::Url::parse(&with_scheme).map_err(|e| {
        Error::Usage(format!(
            "invalid server URL {trimmed:?}: {e} (expected e.g. http://localhost:8081)"
        ))
    })?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(Error::Usage(format!(
            "invalid server URL {trimmed:?}: scheme must be http or https"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::Usage(format!(
            "invalid server URL {trimmed:?}: it must not have a query or fragment"
        )));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(matches!(
            normalize_server("http://h/?x=1"),
            Err(Error::Usage(_))
        ));
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
}
