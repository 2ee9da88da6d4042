//! `ctl config`: look at and switch the contexts of the config file ([`crate::config`]), with
//! kubectl's verbs: `current-context`, `get-contexts`, `use-context NAME` and `view`.
//!
//! `use-context` edits the one `current-context:` line (or adds it) instead of re-serialising
//! the YAML, so the user's comments, order and layout survive. `view` prints the file as
//! written with every literal `api-key:` value replaced; `api-key-env` and `api-key-command`
//! name where a key comes from, not the key, and are shown as they are.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde::Serialize;

use crate::cli::{GlobalArgs, OutputFormat};
use crate::config::{Config, KeySource};
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::render::JSON_SCHEMA_VERSION;
use crate::settings::Environment;

/// What `view` prints instead of a literal key.
pub const REDACTED: &str = "REDACTED";

/// Arguments of `ctl config`.
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// What to do with the config file
    #[command(subcommand)]
    pub action: ConfigAction,
}

/// The `ctl config` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum ConfigAction {
    /// Print the config file's current-context
    CurrentContext,
    /// List the config file's contexts (-o json for scripts)
    GetContexts,
    /// Set the config file's current-context, keeping the rest of the file as written
    UseContext {
        /// A context of the config file
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Print the config file, with every literal api-key redacted
    View,
}

/// One context as `ctl config get-contexts -o json` writes it.
#[derive(Debug, Serialize)]
pub struct ContextItem {
    /// The context's name.
    pub name: String,
    /// Whether it is the file's current-context.
    pub current: bool,
    /// Its server, if it names one.
    pub server: Option<String>,
    /// How its key is given: `api-key`, `api-key-env`, `api-key-command` or `none`.
    pub key: &'static str,
    /// The variable of `api-key-env` (a name, not a secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_env: Option<String>,
}

/// The `-o json` answer of `ctl config get-contexts`.
#[derive(Debug, Serialize)]
pub struct ContextList {
    /// Always `config.contexts`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Schema version of the JSON output.
    pub schema_version: u32,
    /// The config file read.
    pub path: String,
    /// The file's current-context, if set.
    pub current_context: Option<String>,
    /// The contexts, by name.
    pub contexts: Vec<ContextItem>,
}

/// Runs `ctl config ...`.
pub fn run(args: &ConfigArgs, global: &GlobalArgs, env: &Environment) -> Result<ExitStatus, Error> {
    let (path, text) = read(global, env)?;
    let config = Config::parse(&text, &path)?;
    let mut out = std::io::stdout().lock();
    match &args.action {
        ConfigAction::CurrentContext => match &config.current_context {
            Some(name) => writeln!(out, "{name}")?,
            None => {
                return Err(Error::Usage(format!(
                    "{} sets no current-context (choose one with `ctl config use-context NAME`)",
                    path.display()
                )));
            }
        },
        ConfigAction::GetContexts => {
            let list = context_list(&config);
            if global.output == OutputFormat::Json {
                serde_json::to_writer(&mut out, &list).map_err(std::io::Error::from)?;
                writeln!(out)?;
            } else {
                out.write_all(context_table(&list).as_bytes())?;
            }
        }
        ConfigAction::UseContext { name } => {
            if !config.contexts.contains_key(name) {
                return Err(Error::Usage(format!(
                    "no context {name:?} in {} (it has: {})",
                    path.display(),
                    known(&config)
                )));
            }
            let edited = set_current_context(&text, name);
            // Check the edit before writing it: the file must still parse, to the same contexts.
            let reread = Config::parse(&edited, &path)?;
            if reread.current_context.as_deref() != Some(name.as_str())
                || reread.contexts != config.contexts
            {
                return Err(Error::Usage(format!(
                    "cannot set current-context in {}: edit its current-context line by hand",
                    path.display()
                )));
            }
            write_replacing(&path, &edited)?;
            writeln!(out, "Switched to context {name:?}.")?;
        }
        ConfigAction::View => {
            let shown = redact(&text);
            // Whatever the layout, a literal key must not get through.
            let leaks = config.contexts.values().any(|c| match &c.api_key {
                Some(KeySource::Literal(key)) => {
                    let key = key.expose().trim();
                    !key.is_empty() && shown.contains(key)
                }
                _ => false,
            });
            if leaks {
                return Err(Error::Usage(format!(
                    "cannot show {}: an api-key is written in a form view cannot redact \
                     (write it as `api-key: VALUE` on its own line)",
                    path.display()
                )));
            }
            out.write_all(shown.as_bytes())?;
            if !shown.is_empty() && !shown.ends_with('\n') {
                writeln!(out)?;
            }
        }
    }
    Ok(ExitStatus::Success)
}

/// The config file's path and text: the one `--config`/`CTL_CONFIG` names, else the default.
/// Unlike the client commands, a missing default file is an error here: there is nothing to
/// show or edit.
fn read(global: &GlobalArgs, env: &Environment) -> Result<(PathBuf, String), Error> {
    let path = match &global.config {
        Some(path) => path.clone(),
        None => crate::config::default_path(env).ok_or_else(|| {
            Error::Usage(
                "no config file: neither XDG_CONFIG_HOME nor HOME is set (use --config FILE)"
                    .to_owned(),
            )
        })?,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::Usage(format!(
            "cannot read the config file {}: {e}",
            path.display()
        ))
    })?;
    Ok((path, text))
}

fn known(config: &Config) -> String {
    if config.contexts.is_empty() {
        "none".to_owned()
    } else {
        config
            .contexts
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn context_list(config: &Config) -> ContextList {
    let contexts = config
        .contexts
        .iter()
        .map(|(name, context)| {
            let (key, key_env) = match &context.api_key {
                None => ("none", None),
                Some(KeySource::Literal(_)) => ("api-key", None),
                Some(KeySource::Env(var)) => ("api-key-env", Some(var.clone())),
                Some(KeySource::Command(_)) => ("api-key-command", None),
            };
            ContextItem {
                name: name.clone(),
                current: config.current_context.as_deref() == Some(name.as_str()),
                server: context
                    .server
                    .clone()
                    .map(|s| crate::settings::redact_url(&s)),
                key,
                key_env,
            }
        })
        .collect();
    ContextList {
        kind: "config.contexts",
        schema_version: JSON_SCHEMA_VERSION,
        path: config.path.display().to_string(),
        current_context: config.current_context.clone(),
        contexts,
    }
}

/// `CURRENT NAME SERVER KEY`, kubectl's layout: `*` marks the current context.
fn context_table(list: &ContextList) -> String {
    let rows: Vec<[String; 4]> = list
        .contexts
        .iter()
        .map(|c| {
            let key = match (&c.key_env, c.key) {
                (Some(var), _) => format!("env {var}"),
                (None, "api-key-command") => "command".to_owned(),
                (None, "api-key") => "in file".to_owned(),
                (None, other) => other.to_owned(),
            };
            [
                if c.current { "*" } else { "" }.to_owned(),
                c.name.clone(),
                c.server.clone().unwrap_or_default(),
                key,
            ]
        })
        .collect();
    let header = ["CURRENT", "NAME", "SERVER", "KEY"].map(str::to_owned);
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i > 0 {
                line.push_str("   ");
            }
            line.push_str(&format!("{cell:<w$}"));
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// The text with its top-level `current-context:` line replaced by one naming `name`, or such
/// a line added at the top (after a leading `---`) when there is none. Only that line changes,
/// and a comment at its end stays.
pub fn set_current_context(text: &str, name: &str) -> String {
    // JSON string syntax is YAML double-quoted syntax: any name is written safely.
    let quoted = serde_json::to_string(name).unwrap_or_else(|_| format!("{name:?}"));
    let new_line = format!("current-context: {quoted}");
    let mut replaced = false;
    let mut out = String::with_capacity(text.len() + new_line.len() + 1);
    for line in text.split_inclusive('\n') {
        if !replaced && line.starts_with("current-context:") {
            replaced = true;
            let body = line.trim_end_matches(['\r', '\n']);
            let ending = &line[body.len()..];
            out.push_str(&new_line);
            // Keep a comment after the old value (a `#` inside quotes is not one).
            let value = &body["current-context:".len()..];
            if let Some(at) = value.find(" #") {
                if !value[..at].contains(['"', '\'']) {
                    out.push_str(&value[at..]);
                }
            }
            out.push_str(if ending.is_empty() { "\n" } else { ending });
        } else {
            out.push_str(line);
        }
    }
    if replaced {
        return out;
    }
    // After a `---` document marker, if the file starts with one.
    match text.strip_prefix("---\n") {
        Some(rest) => format!("---\n{new_line}\n{rest}"),
        None => format!("{new_line}\n{text}"),
    }
}

/// The text with the value of every `api-key:` key replaced by [`REDACTED`], block scalars
/// (`api-key: |`) included, and the password of every `server:` URL hidden.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // While inside a redacted block scalar: the indentation of its `api-key:` line.
    let mut skipping_deeper_than: Option<usize> = None;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        let indent = body.len() - body.trim_start().len();
        if let Some(level) = skipping_deeper_than {
            if body.trim().is_empty() || indent > level {
                continue;
            }
            skipping_deeper_than = None;
        }
        let trimmed = body.trim_start();
        let after_dash = trimmed.strip_prefix("- ").unwrap_or(trimmed);
        let key_rest = ["api-key:", "\"api-key\":", "'api-key':"]
            .iter()
            .find_map(|k| after_dash.strip_prefix(k));
        match key_rest {
            Some(rest) if rest.is_empty() || rest.starts_with([' ', '\t']) => {
                let value = rest.trim();
                let prefix_len = body.len() - rest.len();
                out.push_str(&body[..prefix_len]);
                out.push(' ');
                out.push_str(REDACTED);
                out.push_str(&line[body.len()..]);
                if value.is_empty() || value.starts_with(['|', '>']) || value.starts_with('#') {
                    // The value is on the following, more indented lines.
                    skipping_deeper_than = Some(indent);
                }
            }
            _ => match after_dash.strip_prefix("server:") {
                // A password in a server URL is a secret too.
                Some(rest) if rest.contains('@') => {
                    out.push_str(&body[..body.len() - rest.len()]);
                    out.push_str(&crate::settings::redact_url(rest));
                    out.push_str(&line[body.len()..]);
                }
                _ => out.push_str(line),
            },
        }
    }
    out
}

/// Writes `text` to `path` through a temporary file in the same directory and a rename, so a
/// failure halfway leaves the old file whole.
fn write_replacing(path: &Path, text: &str) -> Result<(), Error> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| crate::config::FILE_NAME.to_owned());
    let tmp = dir.join(format!(".{file_name}.ctl-{}.tmp", std::process::id()));
    let result = (|| {
        std::fs::write(&tmp, text)?;
        if let Ok(meta) = std::fs::metadata(path) {
            // Keep the file's permissions: a file with a key in it is often mode 600.
            std::fs::set_permissions(&tmp, meta.permissions())?;
        }
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::Usage(format!(
            "cannot write the config file {}: {e}",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn use_context_edits_only_its_line() {
        let text =
            "# my config\ncurrent-context: dev  # the usual\ncontexts:\n  dev: {}\n  prod: {}\n";
        assert_eq!(
            set_current_context(text, "prod"),
            "# my config\ncurrent-context: \"prod\" # the usual\ncontexts:\n  dev: {}\n  prod: {}\n"
        );
        let quoted = "current-context: \"a #1\"\ncontexts:\n  \"a #1\": {}\n  b: {}\n";
        assert_eq!(
            set_current_context(quoted, "b"),
            "current-context: \"b\"\ncontexts:\n  \"a #1\": {}\n  b: {}\n"
        );
        assert_eq!(
            set_current_context("---\ncontexts: {}\n", "b"),
            "---\ncurrent-context: \"b\"\ncontexts: {}\n"
        );
        let none = "contexts:\n  dev: {}\n";
        assert_eq!(
            set_current_context(none, "dev"),
            "current-context: \"dev\"\ncontexts:\n  dev: {}\n"
        );
    }

    #[test]
    fn view_redacts_literal_keys_of_every_shape() {
        let text = "contexts:\n  a:\n    server: https://u:pw@h/x\n    api-key: s3cret # mine\n  b:\n    api-key: |\n      bl0ck\n    server: http://x\n  c:\n    api-key-env: KEY\n    \"api-key\": 'q'\n";
        let shown = redact(text);
        for secret in ["s3cret", "bl0ck", "'q'", "pw@"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("    server: http://x\n"), "{shown}");
        assert!(shown.contains("    api-key-env: KEY\n"), "{shown}");
        assert_eq!(shown.matches(REDACTED).count(), 3, "{shown}");
    }
}
