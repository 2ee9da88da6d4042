//! How a command's story reaches the user: which stream, which format, which colours.
//!
//! The rule (STYLE.md §5): stdout carries the command's output — event lines in text mode, and
//! nothing but one JSON object per line in JSON mode; everything human and transient (banners in
//! JSON mode, reconnect notes, warnings, errors) goes to stderr. [`Reporter`] is the one place
//! that applies it, so commands never choose a stream themselves.
//!
//! - [`text`]: event lines, icons, banners and footers for people;
//! - [`json`]: one JSON object per line for scripts;
//! - [`palette`]: colour behind a single `enabled` flag.

pub mod json;
pub mod palette;
pub mod text;

use std::io::{self, Write};
use std::time::Duration;

use serde::Serialize;

use crate::cli::OutputFormat;
use crate::event::{Event, Outcome};
use crate::exit::ExitStatus;
use crate::settings::Settings;
use crate::tracker::Tracker;

use palette::Palette;
use text::{FooterOutcome, Icons, TextStyle, Timestamps};

/// Version of the JSON Lines output; bumped on incompatible changes (see docs/json-output.md).
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// How a watch ended, for the footer and the JSON result line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchEnd {
    /// The deployment finished.
    Finished(Outcome),
    /// `--timeout` elapsed.
    Timeout,
    /// Ctrl-C.
    Interrupted,
    /// The stream or server was lost for good.
    Error,
}

impl WatchEnd {
    /// The word used in the JSON result line.
    pub fn as_str(self) -> &'static str {
        match self {
            WatchEnd::Finished(o) => o.as_str(),
            WatchEnd::Timeout => "timeout",
            WatchEnd::Interrupted => "interrupted",
            WatchEnd::Error => "error",
        }
    }

    /// The exit status this end maps to.
    pub fn exit_status(self) -> ExitStatus {
        match self {
            WatchEnd::Finished(Outcome::Succeeded) => ExitStatus::Success,
            WatchEnd::Finished(Outcome::Failed) => ExitStatus::DeploymentFailed,
            WatchEnd::Timeout => ExitStatus::Timeout,
            WatchEnd::Interrupted => ExitStatus::Interrupted,
            WatchEnd::Error => ExitStatus::Unavailable,
        }
    }
}

/// The final JSON line of a watch (`"type":"watch.result"`).
#[derive(Debug, Serialize)]
pub struct WatchResult<'a> {
    /// Always `watch.result`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Schema version of the JSON output.
    pub schema_version: u32,
    /// `succeeded`, `failed`, `timeout`, `interrupted` or `error`.
    pub outcome: &'static str,
    /// The app.
    pub app_name: &'a str,
    /// The deployment, when the server has deployment ids.
    pub deployment_id: Option<&'a str>,
    /// Wall time of the watch.
    pub duration_ms: u64,
    /// The process exit code.
    pub exit_code: u8,
    /// What went wrong, if anything.
    pub error: Option<String>,
    /// Last known state of every resource.
    pub resources: Vec<ResourceSummary>,
}

/// One resource in the result line.
#[derive(Debug, Serialize)]
pub struct ResourceSummary {
    /// Resource name.
    pub name: String,
    /// Resource type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Last known state.
    pub state: String,
    /// Failure text.
    pub error: Option<String>,
}

/// Writes everything a command shows, to the right stream in the right format.
pub struct Reporter {
    format: OutputFormat,
    out_style: TextStyle,
    err_style: TextStyle,
    show_internal: bool,
    quiet: bool,
    stdout: Box<dyn Write + Send>,
    stderr: Box<dyn Write + Send>,
}

impl Reporter {
    /// A reporter on the process's stdout and stderr.
    pub fn new(settings: &Settings, show_internal: bool) -> Self {
        Self::with_writers(
            settings,
            show_internal,
            Box::new(io::stdout()),
            Box::new(io::stderr()),
        )
    }

    /// A reporter on given writers (tests).
    pub fn with_writers(
        settings: &Settings,
        show_internal: bool,
        stdout: Box<dyn Write + Send>,
        stderr: Box<dyn Write + Send>,
    ) -> Self {
        let style = |enabled: bool| TextStyle {
            palette: Palette { enabled },
            icons: Icons::Unicode,
            timestamps: Timestamps::Local,
            verbose: settings.verbose > 0,
        };
        Reporter {
            format: settings.output,
            out_style: style(settings.color_stdout),
            err_style: style(settings.color_stderr),
            show_internal,
            quiet: settings.quiet,
            stdout,
            stderr,
        }
    }

    fn is_json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    /// A banner line: part of the text output on stdout; in JSON mode it goes to stderr.
    fn banner(&mut self, text: &str) -> io::Result<()> {
        if self.quiet {
            return Ok(());
        }
        if self.is_json() {
            writeln!(self.stderr, "{text}")
        } else {
            writeln!(self.stdout, "{text}")?;
            self.stdout.flush()
        }
    }

    /// `📤 Submitting Score specification: NAME`.
    pub fn submitting(&mut self, app: &str) -> io::Result<()> {
        let line = text::submitting(app, self.style_for_banner());
        self.banner(&line)
    }

    /// The server accepted the spec and the watch begins.
    pub fn watching(&mut self, app: &str) -> io::Result<()> {
        let mut line = text::submitted(self.style_for_banner());
        line.push('\n');
        line.push_str(&text::watching_header(app, self.style_for_banner()));
        self.banner(&line)
    }

    /// The header of `ctl watch` (no submission came first).
    pub fn watching_only(&mut self, app: &str, deployment_id: Option<&str>) -> io::Result<()> {
        let mut header = text::watching_header(app, self.style_for_banner());
        if let Some(id) = deployment_id {
            header = header.replacen(app, &format!("{app} (deployment {id})"), 1);
        }
        self.banner(&header)
    }

    /// The answer to a submission without `-w`.
    pub fn submitted(&mut self, sub: &crate::client::Submission) -> io::Result<()> {
        if self.is_json() {
            json::write_value(sub, &mut self.stdout)?;
            return self.stdout.flush();
        }
        let mut line = format!("✅ {}", text::sanitize(&sub.message));
        if let Some(id) = &sub.deployment_id {
            line.push_str(&format!(
                "\n   deployment {id}; follow it with: ctl watch {} --deployment {id}",
                sub.name
            ));
        }
        if !self.quiet {
            writeln!(self.stdout, "{line}")?;
        }
        self.stdout.flush()
    }

    fn style_for_banner(&self) -> &TextStyle {
        if self.is_json() {
            &self.err_style
        } else {
            &self.out_style
        }
    }

    /// One event. Internal events (stream bookkeeping, unknown types) are shown in text only
    /// with `--all`; JSON mode writes every event, so nothing is dropped silently for scripts.
    pub fn event(&mut self, ev: &Event) -> io::Result<()> {
        if self.is_json() {
            json::write_event(ev, &mut self.stdout)?;
        } else {
            if ev.kind.is_internal() && !self.show_internal {
                return Ok(());
            }
            let line = text::event_line(ev, &self.out_style);
            writeln!(self.stdout, "{line}")?;
        }
        self.stdout.flush()
    }

    /// A note for the human on stderr (reconnects, warnings). Silenced by `--quiet`.
    pub fn note(&mut self, message: &str) -> io::Result<()> {
        if self.quiet {
            return Ok(());
        }
        let clean = text::sanitize(message);
        writeln!(self.stderr, "{}", self.err_style.palette.warning(&clean))
    }

    /// The end of a watch: the footer (text) or the result line (JSON), and for a watch that
    /// did not finish, the last known state and how to reattach.
    pub fn finish(
        &mut self,
        end: WatchEnd,
        tracker: &Tracker,
        app: &str,
        deployment_id: Option<&str>,
        elapsed: Duration,
    ) -> io::Result<()> {
        let error = match end {
            WatchEnd::Finished(Outcome::Succeeded) => None,
            WatchEnd::Finished(Outcome::Failed) => tracker.error(),
            WatchEnd::Timeout => Some(format!(
                "timed out after {}; the deployment may still be running",
                text::human_duration(elapsed)
            )),
            WatchEnd::Interrupted => {
                Some("interrupted; the deployment continues on the server".to_owned())
            }
            WatchEnd::Error => Some("the event stream was lost".to_owned()),
        };
        if self.is_json() {
            let result = WatchResult {
                kind: "watch.result",
                schema_version: JSON_SCHEMA_VERSION,
                outcome: end.as_str(),
                app_name: app,
                deployment_id,
                duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
                exit_code: end.exit_status().code(),
                error,
                resources: tracker
                    .resources()
                    .iter()
                    .map(|(name, r)| ResourceSummary {
                        name: name.clone(),
                        kind: r.kind.clone(),
                        state: r.state.clone(),
                        error: r.error.clone(),
                    })
                    .collect(),
            };
            json::write_value(&result, &mut self.stdout)?;
            self.stdout.flush()?;
        } else {
            let elapsed_footer = elapsed;
            let outcome = match end {
                WatchEnd::Finished(Outcome::Succeeded) => FooterOutcome::Succeeded {
                    elapsed: elapsed_footer,
                },
                // The error text already names the failed resources (the server's sentence, or
                // `name: error` pairs from the tracker), so they are not listed twice.
                WatchEnd::Finished(Outcome::Failed) => FooterOutcome::Failed {
                    elapsed: elapsed_footer,
                    failed_resources: Vec::new(),
                    error,
                },
                WatchEnd::Timeout => FooterOutcome::TimedOut {
                    elapsed: elapsed_footer,
                },
                WatchEnd::Interrupted => FooterOutcome::Interrupted {
                    elapsed: elapsed_footer,
                },
                WatchEnd::Error => FooterOutcome::ConnectionLost {
                    elapsed: elapsed_footer,
                    reason: None,
                },
            };
            let footer = text::footer(outcome, &self.out_style);
            writeln!(self.stdout, "{footer}")?;
            self.stdout.flush()?;
        }
        if matches!(
            end,
            WatchEnd::Timeout | WatchEnd::Interrupted | WatchEnd::Error
        ) {
            self.last_known_state(tracker, app, deployment_id)?;
        }
        Ok(())
    }

    /// Resource states and the reattach command, on stderr.
    fn last_known_state(
        &mut self,
        tracker: &Tracker,
        app: &str,
        deployment_id: Option<&str>,
    ) -> io::Result<()> {
        if self.quiet {
            return Ok(());
        }
        let mut out = String::from("Last known state:\n");
        if tracker.resources().is_empty() {
            out.push_str("  (no resources reported yet)\n");
        }
        for (name, r) in tracker.resources() {
            let step = r
                .step
                .as_ref()
                .map(|(n, total, s)| format!(", step {n}/{total} {s}"))
                .unwrap_or_default();
            out.push_str(&format!(
                "  {} ({}): {}{step}\n",
                text::sanitize(name),
                text::sanitize(&r.kind),
                r.state
            ));
        }
        out.push_str("The deployment may still be running on the server. Reattach with:\n");
        match deployment_id {
            Some(id) => out.push_str(&format!("  ctl watch {app} --deployment {id}\n")),
            None => out.push_str(&format!("  ctl watch {app}\n")),
        }
        write!(self.stderr, "{out}")
    }

    /// An error, on stderr (never silenced: a failing command must say why).
    pub fn error(&mut self, rendered: &str) -> io::Result<()> {
        let text = self.err_style.palette.failure(rendered.trim_end());
        writeln!(self.stderr, "{text}")
    }
}
