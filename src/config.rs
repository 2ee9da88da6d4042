//! The config file: named contexts, each a server and a way to get its API key.
//!
//! ```yaml
//! current-context: dev
//! contexts:
//!   dev:
//!     server: http://localhost:8081
//!   prod:
//!     server: https://platform.example.com
//!     api-key-env: PROD_PLATFORM_KEY          # read the key from this variable
//!   staging:
//!     server: https://staging.example.com
//!     api-key-command: pass show platform/staging   # run with `sh -c`, first line of stdout
//!     certificate-authority: staging-ca.pem         # relative to this file's directory
//! ```
//!
//! The file lives at `$XDG_CONFIG_HOME/ctl/config.yaml` (`~/.config/ctl/config.yaml` when
//! `XDG_CONFIG_HOME` is unset); `--config FILE` or `CTL_CONFIG` points elsewhere. A missing
//! file at the default place means "no contexts"; a missing file that was named explicitly is
//! an error. This module owns reading and checking the file and producing a context's key; the
//! precedence between flags, environment and the file is applied in
//! [`crate::settings::Settings::resolve`]. It never prints a key, and it reads environment
//! variables only through [`Environment`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;

use crate::error::Error;
use crate::secret::Secret;
use crate::settings::Environment;

/// The file name under the `ctl` config directory.
pub const FILE_NAME: &str = "config.yaml";

/// A parsed config file.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Where it was read from (for messages).
    pub path: PathBuf,
    /// The context used when none is chosen with `--context` / `CTL_CONTEXT`.
    pub current_context: Option<String>,
    /// Contexts by name.
    pub contexts: BTreeMap<String, Context>,
}

/// One named context.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// Server base URL.
    pub server: Option<String>,
    /// Where the API key comes from, if anywhere.
    pub api_key: Option<KeySource>,
    /// `certificate-authority` (a path relative to the file's directory is resolved against it,
    /// as kubectl does) and `insecure-skip-tls-verify`.
    pub tls: crate::client::TlsOptions,
}

/// How a context provides its API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// Written in the file (`api-key`); allowed, but a variable or a command keeps it out of it.
    Literal(Secret),
    /// The value of this environment variable (`api-key-env`).
    Env(String),
    /// The first line this shell command prints (`api-key-command`), run only when the key is
    /// needed.
    Command(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawConfig {
    #[serde(default)]
    current_context: Option<String>,
    #[serde(default)]
    contexts: BTreeMap<String, RawContext>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawContext {
    #[serde(default)]
    server: Option<String>,
    #[serde(default)]
    api_key: Option<String>,
    #[serde(default)]
    api_key_env: Option<String>,
    #[serde(default)]
    api_key_command: Option<String>,
    #[serde(default)]
    certificate_authority: Option<PathBuf>,
    #[serde(default)]
    insecure_skip_tls_verify: bool,
}

/// The default config file: `$XDG_CONFIG_HOME/ctl/config.yaml`, else
/// `$HOME/.config/ctl/config.yaml`. `None` when neither variable is usable.
pub fn default_path(env: &Environment) -> Option<PathBuf> {
    // The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
    let base = env
        .xdg_config_home
        .as_deref()
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            env.home
                .as_deref()
                .filter(|h| !h.is_empty())
                .map(|h| Path::new(h).join(".config"))
        })?;
    Some(base.join("ctl").join(FILE_NAME))
}

impl Config {
    /// Reads the config file: the explicit one (`--config` / `CTL_CONFIG`), which must exist,
    /// or the default one, which may be absent (`Ok(None)`).
    pub fn load(explicit: Option<&Path>, env: &Environment) -> Result<Option<Config>, Error> {
        let (path, required) = match explicit {
            Some(path) => (path.to_path_buf(), true),
            None => match default_path(env) {
                Some(path) => (path, false),
                None => return Ok(None),
            },
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Config::parse(&text, &path).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(None),
            Err(e) => Err(Error::Usage(format!(
                "cannot read the config file {}: {e}",
                path.display()
            ))),
        }
    }

    /// Parses and checks config text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, Error> {
        let shown = path.display();
        // An empty file (or one with only comments) is a valid, empty config.
        let raw: RawConfig = if text.trim().lines().all(|l| {
            let l = l.trim();
            l.is_empty() || l.starts_with('#')
        }) {
            RawConfig {
                current_context: None,
                contexts: BTreeMap::new(),
            }
        } else {
            serde_yaml::from_str(text)
                .map_err(|e| Error::Usage(format!("invalid config file {shown}: {e}")))?
        };
        let mut contexts = BTreeMap::new();
        for (name, raw) in raw.contexts {
            let sources = [
                raw.api_key
                    .map(|k| KeySource::Literal(Secret::new(k.trim()))),
                raw.api_key_env.map(|v| KeySource::Env(v.trim().to_owned())),
                raw.api_key_command
                    .map(|c| KeySource::Command(c.trim().to_owned())),
            ];
            let mut given = sources.into_iter().flatten();
            let api_key = given.next();
            if given.next().is_some() {
                return Err(Error::Usage(format!(
                    "invalid config file {shown}: context {name:?} sets more than one of api-key, api-key-env and api-key-command"
                )));
            }
            if let Some(server) = &raw.server {
                crate::settings::normalize_server(server).map_err(|e| {
                    Error::Usage(format!(
                        "invalid config file {shown}: context {name:?}: {e}"
                    ))
                })?;
            }
            if raw.insecure_skip_tls_verify && raw.certificate_authority.is_some() {
                return Err(Error::Usage(format!(
                    "invalid config file {shown}: context {name:?} sets both certificate-authority and insecure-skip-tls-verify"
                )));
            }
            let ca_file = raw.certificate_authority.map(|ca| match path.parent() {
                Some(dir) if ca.is_relative() => dir.join(ca),
                _ => ca,
            });
            contexts.insert(
                name,
                Context {
                    server: raw.server,
                    api_key,
                    tls: crate::client::TlsOptions {
                        ca_file,
                        insecure: raw.insecure_skip_tls_verify,
                    },
                },
            );
        }
        if let Some(current) = &raw.current_context {
            if !contexts.contains_key(current) {
                return Err(Error::Usage(format!(
                    "invalid config file {shown}: current-context {current:?} is not one of its contexts ({})",
                    names(&contexts)
                )));
            }
        }
        Ok(Config {
            path: path.to_path_buf(),
            current_context: raw.current_context,
            contexts,
        })
    }

    /// The context to use: `chosen` (from `--context` / `CTL_CONTEXT`), else `current-context`,
    /// else none. Naming a context that does not exist is an error.
    pub fn select(&self, chosen: Option<&str>) -> Result<Option<(&str, &Context)>, Error> {
        let Some(name) = chosen.or(self.current_context.as_deref()) else {
            return Ok(None);
        };
        match self.contexts.get_key_value(name) {
            Some((name, context)) => Ok(Some((name.as_str(), context))),
            None => Err(Error::Usage(format!(
                "no context {name:?} in {} (it has: {})",
                self.path.display(),
                names(&self.contexts)
            ))),
        }
    }
}

fn names(contexts: &BTreeMap<String, Context>) -> String {
    if contexts.is_empty() {
        "none".to_owned()
    } else {
        contexts.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

impl Context {
    /// Where this context's key comes from, as the user would name it (for a refused key).
    pub fn key_origin(&self, name: &str) -> String {
        match &self.api_key {
            Some(KeySource::Env(var)) => format!("{var} (the api-key-env of context {name:?})"),
            Some(KeySource::Command(_)) => format!("the api-key-command of context {name:?}"),
            Some(KeySource::Literal(_)) | None => format!("the api-key of context {name:?}"),
        }
    }

    /// Why this context gave no key although it names one: its `api-key-env` variable is not
    /// set (or empty).
    pub fn unset_key_variable(&self, name: &str, env: &Environment) -> Option<String> {
        match &self.api_key {
            Some(KeySource::Env(var)) if env.var(var).is_none() => Some(format!(
                "context {name:?} reads its key from {var}, which is not set"
            )),
            _ => None,
        }
    }

    /// The context's API key, fetched now: the literal, the variable, or the command's output.
    /// An empty result is no key. `name` is the context's name, for messages.
    pub fn api_key(&self, name: &str, env: &Environment) -> Result<Option<Secret>, Error> {
        let key = match &self.api_key {
            None => return Ok(None),
            Some(KeySource::Literal(key)) => Some(key.clone()),
            Some(KeySource::Env(var)) => env.var(var),
            Some(KeySource::Command(command)) => Some(run_key_command(name, command)?),
        };
        Ok(key.filter(|k| !k.expose().trim().is_empty()))
    }
}

/// Runs an `api-key-command` and returns the first line of its stdout. Its stderr goes to the
/// user's terminal (a password manager may prompt there); its stdout is never shown.
fn run_key_command(context: &str, command: &str) -> Result<Secret, Error> {
    let mut cmd = if cfg!(windows) {
        let mut cmd = Command::new("cmd");
        cmd.args(["/C", command]);
        cmd
    } else {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", command]);
        cmd
    };
    let output = cmd
        .stdin(Stdio::inherit())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| {
            Error::Usage(format!(
                "the api-key-command of context {context:?} could not be started: {e}"
            ))
        })?;
    if !output.status.success() {
        return Err(Error::Usage(format!(
            "the api-key-command of context {context:?} failed ({})",
            output.status
        )));
    }
    let stdout = String::from_utf8(output.stdout).map_err(|_| {
        Error::Usage(format!(
            "the api-key-command of context {context:?} printed something that is not UTF-8"
        ))
    })?;
    Ok(Secret::new(stdout.lines().next().unwrap_or("").trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, Error> {
        Config::parse(text, Path::new("/cfg/config.yaml"))
    }

    const SAMPLE: &str = "\
current-context: dev
contexts:
  dev:
    server: http://localhost:8081
  prod:
    server: https://platform.example.com
    api-key-env: PROD_KEY
  ci:
    server: https://ci.example.com
    api-key: literal-key
";

    #[test]
    fn contexts_and_current_context() {
        let config = parse(SAMPLE).unwrap();
        assert_eq!(config.contexts.len(), 3);
        let (name, dev) = config.select(None).unwrap().unwrap();
        assert_eq!(name, "dev");
        assert_eq!(dev.server.as_deref(), Some("http://localhost:8081"));
        let (_, prod) = config.select(Some("prod")).unwrap().unwrap();
        assert_eq!(prod.api_key, Some(KeySource::Env("PROD_KEY".into())));
        let err = config.select(Some("nope")).unwrap_err().to_string();
        assert!(err.contains("no context \"nope\""), "{err}");
        assert!(err.contains("ci, dev, prod"), "{err}");
    }

    #[test]
    fn keys_from_literal_and_environment() {
        let config = parse(SAMPLE).unwrap();
        let env = Environment::default().with_var("PROD_KEY", "from-env");
        let (_, prod) = config.select(Some("prod")).unwrap().unwrap();
        assert_eq!(
            prod.api_key("prod", &env).unwrap().unwrap().expose(),
            "from-env"
        );
        let (_, prod) = config.select(Some("prod")).unwrap().unwrap();
        assert_eq!(prod.api_key("prod", &Environment::default()).unwrap(), None);
        let (_, ci) = config.select(Some("ci")).unwrap().unwrap();
        assert_eq!(
            ci.api_key("ci", &env).unwrap().unwrap().expose(),
            "literal-key"
        );
        assert!(
            !format!("{config:?}").contains("literal-key"),
            "keys never show in debug output"
        );
    }

    #[cfg(unix)]
    #[test]
    fn keys_from_a_command() {
        let config = parse(
            "contexts:\n  s:\n    api-key-command: printf 'from-command\\nsecond line\\n'\n  bad:\n    api-key-command: exit 3\n",
        )
        .unwrap();
        let env = Environment::default();
        let (_, s) = config.select(Some("s")).unwrap().unwrap();
        assert_eq!(
            s.api_key("s", &env).unwrap().unwrap().expose(),
            "from-command"
        );
        let (_, bad) = config.select(Some("bad")).unwrap().unwrap();
        let err = bad.api_key("bad", &env).unwrap_err().to_string();
        assert!(
            err.contains("api-key-command of context \"bad\" failed"),
            "{err}"
        );
    }

    #[test]
    fn mistakes_are_usage_errors_that_name_the_file() {
        for (text, expected) in [
            ("contexts:\n  a:\n    sever: x\n", "unknown field `sever`"),
            (
                "contexts:\n  a:\n    api-key: k\n    api-key-env: K\n",
                "more than one of",
            ),
            (
                "current-context: b\ncontexts:\n  a: {}\n",
                "current-context \"b\"",
            ),
            (
                "contexts:\n  a:\n    server: ftp://x\n",
                "scheme must be http",
            ),
            ("contexts: [1, 2]\n", "invalid config file"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(matches!(err, Error::Usage(_)));
            let msg = err.to_string();
            assert!(msg.contains(expected), "{text:?}: {msg}");
            assert!(msg.contains("/cfg/config.yaml"), "{msg}");
        }
    }

    #[test]
    fn empty_files_are_empty_configs() {
        for text in ["", "\n", "# nothing yet\n"] {
            let config = parse(text).unwrap();
            assert!(config.contexts.is_empty());
            assert!(config.select(None).unwrap().is_none());
        }
    }

    #[test]
    fn default_path_follows_xdg() {
        let mut env = Environment::default();
        assert_eq!(default_path(&env), None);
        env.home = Some("/home/u".into());
        assert_eq!(
            default_path(&env),
            Some(PathBuf::from("/home/u/.config/ctl/config.yaml"))
        );
        env.xdg_config_home = Some("relative/ignored".into());
        assert_eq!(
            default_path(&env),
            Some(PathBuf::from("/home/u/.config/ctl/config.yaml"))
        );
        env.xdg_config_home = Some("/xdg".into());
        assert_eq!(
            default_path(&env),
            Some(PathBuf::from("/xdg/ctl/config.yaml"))
        );
    }

    #[test]
    fn a_missing_default_file_is_no_config_but_a_missing_explicit_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let env = Environment {
            xdg_config_home: Some(dir.path().to_str().unwrap().to_owned()),
            ..Environment::default()
        };
        assert!(Config::load(None, &env).unwrap().is_none());
        let missing = dir.path().join("nope.yaml");
        let err = Config::load(Some(&missing), &env).unwrap_err();
        assert!(err.to_string().contains("cannot read the config file"));
    }
}
