//! `ctl validate FILE...`: check Score specs locally, with the rules the server applies
//! (PROTOCOL.md A.2), without a server and without reading the config file.
//!
//! Every file is checked, so a pre-commit hook sees all mistakes at once. Exit 0 when all are
//! valid, 2 when any is not (the "invalid spec" code of `ctl deploy`). Errors go to stderr with
//! `file:line:column`, the line and a caret; each valid file gets one line on stdout. With
//! `-o json`, stdout carries one `validate.result` object per file instead.
//!
//! What it cannot check: whether the server has a provider for each resource type; that is
//! known only to the server (exit 4 at deploy time).

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::error::Error;
use crate::exit::ExitStatus;
use crate::render::text::{Icons, sanitize};
use crate::render::{JSON_SCHEMA_VERSION, Reporter};
use crate::settings::Settings;
use crate::spec;

/// Arguments of `ctl validate`.
#[derive(Debug, Clone, Args)]
pub struct ValidateArgs {
    /// Score spec files (`-` reads one from stdin)
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
}

/// One file's verdict, as `ctl validate -o json` writes it.
#[derive(Debug, Serialize)]
pub struct ValidateResult {
    /// Always `validate.result`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Schema version of the JSON output.
    pub schema_version: u32,
    /// The file as given.
    pub file: String,
    /// Whether the spec is valid.
    pub valid: bool,
    /// `metadata.name`, when valid.
    pub app_name: Option<String>,
    /// What is wrong, when invalid (the server's wording, without position).
    pub error: Option<String>,
    /// 1-based line of the problem, when known.
    pub line: Option<usize>,
    /// 1-based column of the problem, when known.
    pub column: Option<usize>,
}

/// Runs `ctl validate`.
pub fn run(args: &ValidateArgs, settings: &Settings) -> Result<ExitStatus, Error> {
    let mut reporter = Reporter::new(settings, false);
    let mut invalid = 0usize;
    for file in &args.files {
        let shown = file.display().to_string();
        let mut result = ValidateResult {
            kind: "validate.result",
            schema_version: JSON_SCHEMA_VERSION,
            file: shown.clone(),
            valid: false,
            app_name: None,
            error: None,
            line: None,
            column: None,
        };
        let text = match spec::load(file) {
            Ok(spec) => {
                result.valid = true;
                result.app_name = Some(spec.name.clone());
                let plural =
                    |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
                format!(
                    "{} {}: valid (application {}: {}, {})",
                    marker(reporter.icons()),
                    sanitize(&shown),
                    spec.name,
                    plural(spec.containers.len(), "container"),
                    plural(spec.resources.len(), "resource"),
                )
            }
            Err(e) => {
                invalid += 1;
                result.error = Some(e.message());
                if let Some((line, column)) = e.position() {
                    result.line = Some(line);
                    result.column = Some(column);
                }
                reporter.error(&Error::Spec(e).render(settings.verbose))?;
                String::new()
            }
        };
        reporter.output(&text, &result)?;
    }
    Ok(if invalid == 0 {
        ExitStatus::Success
    } else {
        ExitStatus::Usage
    })
}

fn marker(icons: Icons) -> &'static str {
    match icons {
        Icons::Unicode => "✅",
        Icons::Ascii => "[ok]",
    }
}
