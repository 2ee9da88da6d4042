//! How a command's story reaches the user: which stream, which format, which colours.
//!
//! The rule (STYLE.md §5): stdout carries the command's output — the event log and its footer
//! in text mode, and nothing but one JSON object per line in JSON mode; everything human and
//! transient (banners, reconnect notes, warnings, heartbeats, errors, progress rows) goes to
//! stderr. [`Reporter`] is the one place that applies it, so commands never choose a stream
//! themselves.
//!
//! Terminals and CI logs (docs/output.md):
//! - live progress rows ([`progress`]) are drawn on stderr only when settings say so (a
//!   terminal, or `CTL_PROGRESS=always`); while they are, every permanent line is written
//!   through [`progress::Progress::suspend`], so rows and lines never tear each other, even
//!   when stdout and stderr are the same terminal;
//! - without rows, a heartbeat line keeps CI no-output watchdogs from killing a healthy wait;
//! - under GitHub Actions, the text event log is folded into a group and a failure becomes an
//!   `::error::` annotation, on stdout next to the log (never in JSON mode).
//!
//! - [`text`]: event lines, icons, banners and footers for people;
//! - [`json`]: one JSON object per line for scripts;
//! - [`palette`]: colour behind a single `enabled` flag;
//! - [`progress`]: the live status rows;
//! - [`github`]: GitHub Actions workflow commands.

pub mod github;
pub mod json;
pub mod palette;
pub mod progress;
pub mod text;

use std::io::{self, Write};
use std::time::Duration;

use serde::Serialize;

use crate::cli::{OutputFormat, TimestampChoice};
use crate::event::{Event, EventKind, Outcome};
use crate::exit::ExitStatus;
use crate::settings::Settings;
use crate::tracker::Tracker;

use palette::Palette;
use progress::Progress;
use text::{FailedResource, FooterOutcome, TextStyle, Timestamps};

/// Version of the JSON Lines output; bumped on incompatible changes (see docs/json-output.md).
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// How a watch ended, for the footer and the JSON result line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchEnd {
    /// The deployment finished.
    Finished(Outcome),
    /// `--timeout` elapsed.
    Timeout,
    /// Ctrl-C, while a deployment was being followed: it goes on without us (exit 130).
    Interrupted,
    /// Ctrl-C while following an app's events (`watch --follow`), which nothing else ends:
    /// the user's way to stop, not an interruption (exit 0).
    Stopped,
    /// The watch failed (stream lost for good, server rejected a reconnect); carries the exit
    /// status of the error, so the result line and the process agree.
    Error(ExitStatus),
}

impl WatchEnd {
    /// The word used in the JSON result line.
    pub fn as_str(self) -> &'static str {
        match self {
            WatchEnd::Finished(o) => o.as_str(),
            WatchEnd::Timeout => "timeout",
            WatchEnd::Interrupted => "interrupted",
            WatchEnd::Stopped => "stopped",
            WatchEnd::Error(_) => "error",
        }
    }

    /// The exit status this end maps to.
    pub fn exit_status(self) -> ExitStatus {
        match self {
            WatchEnd::Finished(Outcome::Succeeded) | WatchEnd::Stopped => ExitStatus::Success,
            WatchEnd::Finished(Outcome::Failed) => ExitStatus::DeploymentFailed,
            WatchEnd::Timeout => ExitStatus::Timeout,
            WatchEnd::Interrupted => ExitStatus::Interrupted,
            WatchEnd::Error(status) => status,
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

impl Drop for Reporter {
    /// Buffered event lines are output already promised: never lose them, even on an early
    /// return. (Errors have nowhere left to go.)
    fn drop(&mut self) {
        let _ = self.stdout.flush();
    }
}

/// Bytes of event lines held before they are written even though more input is ready.
const STDOUT_BUFFER: usize = 64 * 1024;

/// Which stream a line goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Out,
    Err,
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
    /// Whether progress rows are wanted at all (settings), and whether the watch is still on.
    progress_wanted: bool,
    /// The rows, once the event log has begun; gone for good after [`Reporter::finish`].
    progress: Option<Progress>,
    finished: bool,
    heartbeat: Option<Duration>,
    github: bool,
    group_open: bool,
    /// The app being watched, for the progress header.
    app: Option<String>,
    started: std::time::Instant,
    /// Reused for each JSON event line.
    scratch: Vec<u8>,
    /// The same, for text event lines.
    line: String,
    /// Failure texts already printed on an event line (text mode), so that the step, workflow,
    /// resource and deployment events of one failure, which repeat its text, print it once.
    shown_errors: Vec<String>,
    /// The server runs inside this command (`deploy --local`) and stops with it: there is no
    /// deployment left to reattach to.
    local_server: bool,
    /// ` (context NAME, server URL)` when a config-file context is in use, for the banners:
    /// with several contexts, "which server is this going to?" must be answered before it
    /// goes. The URL's password is hidden.
    context_note: Option<String>,
}

/// A failure text shorter than this is repeated as it is: referring to it would not be shorter.
const REFERRED_ERROR_LEN: usize = 40;
/// What stands for a failure text already printed on an earlier line.
const SEE_ABOVE: &str = "(the error above)";

impl Reporter {
    /// A reporter on the process's stdout and stderr.
    ///
    /// stdout is block-buffered: event lines collect in memory while more events are ready and
    /// go out in one write when the input goes idle ([`Reporter::flush`], called by the watch
    /// loop), so a fast stream costs one system call per batch rather than per line, and a
    /// slow one still shows each line the moment it arrives. Every other line (banners, notes,
    /// the footer) flushes at once, and anything on stderr first flushes stdout, so the two
    /// streams stay in order on a shared terminal.
    pub fn new(settings: &Settings, show_internal: bool) -> Self {
        Self::with_writers(
            settings,
            show_internal,
            Box::new(io::BufWriter::with_capacity(STDOUT_BUFFER, io::stdout())),
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
        let timestamps = match settings.timestamps {
            TimestampChoice::Local => Timestamps::Local,
            TimestampChoice::Utc => Timestamps::Utc,
            // Relative to the start of the command, so replayed history shows as negative.
            TimestampChoice::Relative => Timestamps::Relative(chrono::Utc::now()),
            TimestampChoice::None => Timestamps::None,
        };
        let style = |enabled: bool| TextStyle {
            palette: Palette { enabled },
            icons: settings.icons,
            timestamps,
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
            progress_wanted: settings.progress,
            progress: None,
            finished: false,
            heartbeat: settings.heartbeat,
            github: settings.github_actions && settings.output == OutputFormat::Text,
            group_open: false,
            app: None,
            started: std::time::Instant::now(),
            scratch: Vec::with_capacity(1024),
            line: String::with_capacity(256),
            shown_errors: Vec::new(),
            local_server: false,
            context_note: settings.context.as_ref().map(|name| {
                format!(
                    " (context {}, server {})",
                    text::sanitize(name),
                    text::sanitize(&crate::settings::redact_url(&settings.server))
                )
            }),
        }
    }

    /// Writes `text` and a newline to a stream and flushes it. While progress rows are drawn
    /// the rows are lifted off first, so the line lands above them. Under GitHub Actions, a
    /// line that would read as a workflow command is defused (server text can be in it).
    fn emit(&mut self, to: Stream, text: &str) -> io::Result<()> {
        let text = if self.github {
            github::neutralize(text)
        } else {
            std::borrow::Cow::Borrowed(text)
        };
        self.emit_raw(to, &text)
    }

    /// [`Reporter::emit`] without the workflow-command guard: for our own markers.
    fn emit_raw(&mut self, to: Stream, text: &str) -> io::Result<()> {
        let Reporter {
            stdout,
            stderr,
            progress,
            ..
        } = self;
        let writer = match to {
            Stream::Out => stdout,
            Stream::Err => {
                // Event lines still buffered belong before this line.
                stdout.flush()?;
                stderr
            }
        };
        let mut write = move || -> io::Result<()> {
            writeln!(writer, "{text}")?;
            writer.flush()
        };
        match progress {
            Some(progress) => progress.suspend(write),
            None => write(),
        }
    }

    /// The event log begins: remember the app, and under GitHub Actions open the group that
    /// folds the log.
    fn begin_log(&mut self, app: &str) -> io::Result<()> {
        self.app = Some(app.to_owned());
        if self.github && !self.group_open {
            self.group_open = true;
            self.emit_raw(
                Stream::Out,
                &github::group(&format!("Deployment events: {app}")),
            )?;
        }
        Ok(())
    }

    /// Brings the progress rows in line with the tracker (creating them on first use). A no-op
    /// when rows are not drawn.
    pub fn status(&mut self, tracker: &Tracker) {
        if !self.progress_wanted || self.finished {
            return;
        }
        let progress = self.progress.get_or_insert_with(|| {
            Progress::stderr(
                self.app.as_deref().unwrap_or("deployment"),
                self.err_style.icons,
                self.err_style.palette,
                self.started.elapsed(),
            )
        });
        progress.update(tracker);
    }

    /// How often the watch loop should call [`Reporter::tick`] (`None`: no rows, no ticks).
    pub fn tick_interval(&self) -> Option<Duration> {
        (self.progress_wanted && !self.finished).then_some(progress::TICK)
    }

    /// Turns the spinners and refreshes the running times.
    pub fn tick(&self) {
        if let Some(progress) = &self.progress {
            progress.tick();
        }
    }

    /// How long a watch may print nothing before [`Reporter::heartbeat`] is due. Only without
    /// progress rows: the spinner already shows a terminal user that the wait is alive.
    pub fn heartbeat_interval(&self) -> Option<Duration> {
        if self.progress_wanted {
            None
        } else {
            self.heartbeat
        }
    }

    /// `still waiting (1m30s): database (postgres) at step 3/4 create-credentials; 1/2
    /// resources active` on stderr: what the wait is on. Not silenced by
    /// `--quiet`: a CI job that kills steps after minutes of silence is exactly where a
    /// quiet wait needs it (`CTL_HEARTBEAT=off` turns it off).
    pub fn heartbeat(&mut self, tracker: &Tracker, elapsed: Duration) -> io::Result<()> {
        let resources = tracker.resources().iter().map(|(n, r)| (n.as_str(), r));
        let line = text::heartbeat(resources, elapsed);
        let line = self.err_style.palette.dim(line).to_string();
        self.emit(Stream::Err, &line)
    }

    /// Whether events are written as the JSON they were received in, when there is one
    /// (`--output json`): [`Reporter::event_received`] then reads nothing else of them.
    pub fn writes_json_through(&self) -> bool {
        self.is_json()
    }

    fn is_json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    /// A banner line: human text, so on stderr in both modes, and silenced by `--quiet`.
    fn banner(&mut self, text: &str) -> io::Result<()> {
        if self.quiet {
            return Ok(());
        }
        self.emit(Stream::Err, text)
    }

    /// `📤 Submitting Score specification: NAME`.
    pub fn submitting(&mut self, app: &str) -> io::Result<()> {
        let mut line = text::submitting(app, self.style_for_banner());
        line.push_str(self.context_note.as_deref().unwrap_or(""));
        self.banner(&line)
    }

    /// The server accepted the spec and the watch begins.
    pub fn watching(&mut self, app: &str) -> io::Result<()> {
        let mut line = text::submitted(self.style_for_banner());
        line.push('\n');
        line.push_str(&self.watching_header(app, None));
        self.banner(&line)?;
        self.begin_log(app)
    }

    /// The header of `ctl watch` (no submission came first).
    pub fn watching_only(&mut self, app: &str, deployment_id: Option<&str>) -> io::Result<()> {
        let header = self.watching_header(app, deployment_id);
        self.banner(&header)?;
        self.begin_log(app)
    }

    /// The answer to a submission without `-w`: the command's result, so `--quiet` keeps it.
    /// Quiet text is the deployment id alone (`ID=$(ctl deploy app.yaml -q)`), or the server's
    /// message on a server without deployment ids; the follow-up hint is a note and goes.
    pub fn submitted(&mut self, sub: &crate::client::Submission) -> io::Result<()> {
        if self.is_json() {
            let mut line = Vec::new();
            json::write_value(sub, &mut line)?;
            return self.emit_raw(Stream::Out, String::from_utf8_lossy(&line).trim_end());
        }
        if self.quiet {
            let line = match &sub.deployment_id {
                Some(id) => text::sanitize(id).into_owned(),
                None => text::sanitize(&sub.message).into_owned(),
            };
            return self.emit(Stream::Out, &line);
        }
        let marker = match self.out_style.icons {
            text::Icons::Unicode => "✅",
            text::Icons::Ascii => "[ok]",
        };
        let mut line = format!("{marker} {}", text::sanitize(&sub.message));
        if let Some(id) = &sub.deployment_id {
            let id = text::sanitize(id);
            line.push_str(&format!(
                "\n   deployment {id}; follow it with: ctl watch {} --deployment {id}",
                text::sanitize(&sub.name)
            ));
        }
        self.emit(Stream::Out, &line)
    }

    /// The watch header, its middle line naming the deployment and the context, if any.
    fn watching_header(&self, app: &str, deployment_id: Option<&str>) -> String {
        let header = text::watching_header(app, self.style_for_banner());
        let mut suffix = deployment_id
            .map(|id| format!(" (deployment {id})"))
            .unwrap_or_default();
        suffix.push_str(self.context_note.as_deref().unwrap_or(""));
        let mut lines: Vec<&str> = header.split('\n').collect();
        let named = format!("{}{suffix}", lines.get(1).copied().unwrap_or(""));
        if let Some(line) = lines.get_mut(1) {
            *line = &named;
        }
        lines.join("\n")
    }

    fn style_for_banner(&self) -> &TextStyle {
        &self.err_style
    }

    /// One event. Internal events (stream bookkeeping, unknown types) are shown in text only
    /// with `--all`; JSON mode writes every event, so nothing is dropped silently for scripts.
    ///
    /// The line is buffered: it reaches stdout at the next [`Reporter::flush`] (or with the next
    /// line of any other kind), unless progress rows are drawn, which need it placed now.
    pub fn event(&mut self, ev: &Event) -> io::Result<()> {
        self.event_received(ev, None)
    }

    /// [`Reporter::event`] for an event as received: in JSON mode, `raw` (the event's JSON as
    /// the server sent it, when the server vouched that it is canonical and one line) is
    /// written as it is, saving the serialisation. The server's word does not extend to what
    /// is safe to show: C1 controls and bidi overrides in it are escaped on the way
    /// ([`json::escape_unsafe`], a byte scan that finds nothing in nearly every line).
    pub fn event_received(&mut self, ev: &Event, raw: Option<&str>) -> io::Result<()> {
        if self.is_json() {
            // The line is built in a reused buffer (serialising token by token through the
            // boxed writer would cost a dynamic call per token).
            self.scratch.clear();
            match raw {
                Some(raw) => {
                    self.scratch
                        .extend_from_slice(json::escape_unsafe(raw).as_bytes());
                    self.scratch.push(b'\n');
                }
                None => json::write_event(ev, &mut self.scratch)?,
            }
            if self.progress.is_some() {
                let line = String::from_utf8_lossy(&self.scratch).trim_end().to_owned();
                return self.emit_raw(Stream::Out, &line);
            }
            self.stdout.write_all(&self.scratch)
        } else {
            if ev.kind.is_internal() && !self.show_internal {
                return Ok(());
            }
            // Step-by-step lines triple the log; the progress rows (or the heartbeat) already
            // say which step runs. They are shown with --verbose; a failed step always is.
            let step_detail = matches!(
                ev.kind,
                EventKind::StepStarted | EventKind::StepProgress | EventKind::StepCompleted
            );
            if step_detail && !self.out_style.verbose {
                return Ok(());
            }
            // Built in a reused buffer: one line per event, no allocation per line.
            let mut line = std::mem::take(&mut self.line);
            line.clear();
            text::write_event_line(&mut line, ev, &self.out_style, chrono::Utc::now);
            if ev.kind.is_failure() {
                self.say_errors_once(&mut line, ev);
            }
            let written = if self.progress.is_some() {
                self.emit(Stream::Out, &line)
            } else if self.github {
                writeln!(self.stdout, "{}", github::neutralize(&line))
            } else {
                line.push('\n');
                self.stdout.write_all(line.as_bytes())
            };
            self.line = line;
            written
        }
    }

    /// Replaces, in a failure event's line, the failure texts already printed on an earlier
    /// line with a reference to them, and remembers this event's own. JSON keeps every field.
    fn say_errors_once(&mut self, line: &mut String, ev: &Event) {
        let Some(error) = ev.data_str("error") else {
            return;
        };
        let error = text::sanitize(&error).trim().to_owned();
        if error.len() < REFERRED_ERROR_LEN {
            return;
        }
        // Longest first: a deployment's error quotes the resource's, which quotes the step's.
        let mut shown: Vec<&String> = self.shown_errors.iter().collect();
        shown.sort_by_key(|e| std::cmp::Reverse(e.len()));
        let mut referred = false;
        for earlier in shown {
            if line.contains(earlier.as_str()) {
                *line = line.replace(earlier.as_str(), SEE_ABOVE);
                referred = true;
                break;
            }
        }
        if !referred && self.shown_errors.len() < 64 {
            self.shown_errors.push(error);
        }
    }

    /// Writes out the buffered event lines. The watch loop calls this whenever no further
    /// input is ready, so a line never waits for the next event.
    pub fn flush(&mut self) -> io::Result<()> {
        self.stdout.flush()
    }

    /// A note for the human on stderr (reconnects, warnings). Silenced by `--quiet`.
    pub fn note(&mut self, message: &str) -> io::Result<()> {
        if self.quiet {
            return Ok(());
        }
        let clean = text::sanitize(message);
        let line = self.err_style.palette.warning(&clean).to_string();
        self.emit(Stream::Err, &line)
    }

    /// A note shown only with `--verbose`: routine things a CI log need not carry.
    pub fn detail(&mut self, message: &str) -> io::Result<()> {
        if !self.err_style.verbose {
            return Ok(());
        }
        let clean = text::sanitize(message);
        let line = self.err_style.palette.dim(&clean).to_string();
        self.emit(Stream::Err, &line)
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
        // The rows go first and for good: the final screen is the event log and the footer.
        self.finished = true;
        if let Some(mut progress) = self.progress.take() {
            progress.clear();
        }
        if self.group_open {
            self.group_open = false;
            self.emit_raw(Stream::Out, github::ENDGROUP)?;
        }
        let failed_resources: Vec<FailedResource> = tracker
            .resources()
            .iter()
            .filter(|(_, r)| r.state == "failed")
            .map(|(name, r)| FailedResource {
                name: name.clone(),
                kind: r.kind.clone(),
                step: r.step.clone(),
                error: r.error.clone(),
            })
            .collect();
        let error = match end {
            WatchEnd::Finished(Outcome::Succeeded) | WatchEnd::Stopped => None,
            WatchEnd::Finished(Outcome::Failed) => tracker.error(),
            WatchEnd::Timeout => Some(format!(
                "timed out after {}; the deployment may still be running",
                text::human_duration(elapsed)
            )),
            WatchEnd::Interrupted => {
                Some("interrupted; the deployment continues on the server".to_owned())
            }
            WatchEnd::Error(_) => Some("the event stream was lost".to_owned()),
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
                error: error.clone(),
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
            let mut line = Vec::new();
            json::write_value(&result, &mut line)?;
            self.emit_raw(Stream::Out, String::from_utf8_lossy(&line).trim_end())?;
        } else {
            let elapsed_footer = elapsed;
            let outcome = match end {
                WatchEnd::Finished(Outcome::Succeeded) => FooterOutcome::Succeeded {
                    elapsed: elapsed_footer,
                },
                // Each failed resource with its step and error; the deployment-level text is
                // added only where it says more than they do.
                WatchEnd::Finished(Outcome::Failed) => FooterOutcome::Failed {
                    elapsed: elapsed_footer,
                    failed_resources: failed_resources.clone(),
                    error: error.clone(),
                },
                WatchEnd::Timeout => FooterOutcome::TimedOut {
                    elapsed: elapsed_footer,
                },
                WatchEnd::Interrupted => FooterOutcome::Interrupted {
                    elapsed: elapsed_footer,
                },
                WatchEnd::Stopped => FooterOutcome::Stopped {
                    elapsed: elapsed_footer,
                },
                WatchEnd::Error(_) => FooterOutcome::ConnectionLost {
                    elapsed: elapsed_footer,
                    reason: None,
                },
            };
            let mut footer = text::footer(outcome, &self.out_style);
            let still: Vec<String> = tracker
                .resources()
                .iter()
                .filter(|(_, r)| r.state == crate::tracker::STILL_RUNNING)
                .map(|(name, r)| format!("{} ({})", text::sanitize(name), text::sanitize(&r.kind)))
                .collect();
            if matches!(end, WatchEnd::Finished(Outcome::Failed)) && !still.is_empty() {
                // Under the failure block, above the closing rule.
                if let Some(at) = footer.rfind('\n') {
                    footer.insert_str(
                        at,
                        &format!(
                            "\n   still running when the failure ended the watch: {}",
                            still.join(", ")
                        ),
                    );
                }
            }
            self.emit(Stream::Out, &footer)?;
        }
        if self.github {
            let app = text::sanitize(app);
            let annotation = match end {
                WatchEnd::Finished(Outcome::Succeeded)
                | WatchEnd::Interrupted
                | WatchEnd::Stopped => None,
                WatchEnd::Finished(Outcome::Failed) => Some((
                    format!("Deployment of {app} failed"),
                    text::failure_reason(&failed_resources, error.as_deref()),
                )),
                WatchEnd::Timeout => Some((
                    format!("Deployment of {app} timed out"),
                    error.as_deref().unwrap_or_default().to_owned(),
                )),
                WatchEnd::Error(_) => Some((
                    format!("Lost the deployment of {app}"),
                    error.as_deref().unwrap_or_default().to_owned(),
                )),
            };
            if let Some((title, message)) = annotation {
                self.emit_raw(Stream::Out, &github::error(&title, &message))?;
            }
        }
        if matches!(
            end,
            WatchEnd::Timeout | WatchEnd::Interrupted | WatchEnd::Error(_)
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
        // Every name, state and id here is the server's text.
        for (name, r) in tracker.resources() {
            let step = r
                .step
                .as_ref()
                .map(|(n, total, s)| format!(", step {n}/{total} {}", text::sanitize(s)))
                .unwrap_or_default();
            out.push_str(&format!(
                "  {} ({}): {}{step}\n",
                text::sanitize(name),
                text::sanitize(&r.kind),
                text::sanitize(&r.state)
            ));
        }
        if self.local_server {
            // A reattach command would reach nothing: the server is gone with this process.
            out.push_str(
                "The --local server stopped with this command, and the deployment with it: there is nothing to reattach to.\n",
            );
            out.push_str(
                "To follow a deployment later, run `ctl server` and deploy with --server.",
            );
            return self.emit(Stream::Err, &out);
        }
        out.push_str("The deployment may still be running on the server. Reattach with:\n");
        let app = text::sanitize(app);
        match deployment_id.map(text::sanitize) {
            Some(id) => out.push_str(&format!("  ctl watch {app} --deployment {id}")),
            None => out.push_str(&format!("  ctl watch {app}")),
        }
        self.emit(Stream::Err, &out)
    }

    /// Says that the server runs inside this command (`deploy --local`), so that a watch that
    /// stops early does not suggest reattaching to it.
    pub fn set_local_server(&mut self, local: bool) {
        self.local_server = local;
    }

    /// An error, on stderr (never silenced: a failing command must say why).
    pub fn error(&mut self, rendered: &str) -> io::Result<()> {
        let text = self
            .err_style
            .palette
            .failure(rendered.trim_end())
            .to_string();
        self.emit(Stream::Err, &text)
    }

    /// A command's own answer (`ctl status`, `list`, `delete`, `validate`, and the result line
    /// of a command that failed before it could watch), on stdout: `text` in text mode (nothing
    /// when it is empty), `value` as one JSON line with `-o json`. Not silenced by `--quiet`:
    /// it is the essential output.
    pub fn output(&mut self, text: &str, value: &impl Serialize) -> io::Result<()> {
        if self.is_json() {
            let mut line = Vec::new();
            json::write_value(value, &mut line)?;
            self.emit_raw(Stream::Out, String::from_utf8_lossy(&line).trim_end())
        } else if text.is_empty() {
            Ok(())
        } else {
            self.emit(Stream::Out, text.trim_end_matches('\n'))
        }
    }

    /// The marker set in use on stdout (`--icons`), for commands that build their own lines.
    pub fn icons(&self) -> text::Icons {
        self.out_style.icons
    }

    /// The colours in use on stdout (`--color`, `NO_COLOR`, whether it is a terminal), for
    /// commands that build their own lines.
    pub fn palette(&self) -> Palette {
        self.out_style.palette
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::cli::{OutputFormat, TimestampChoice};

    /// A writer whose bytes the test can read while the reporter still holds it. Each
    /// `write` lands at once, like a pipe: what a test sees here is what a reader would.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    /// Output shared by both streams, as on one terminal or `2>&1`, behind the block buffer
    /// `Reporter::new` puts on stdout.
    fn reporter(output: OutputFormat) -> (Reporter, Shared) {
        let settings = Settings {
            server: "http://127.0.0.1:1".to_owned(),
            api_key: None,
            api_key_origin: Default::default(),
            output,
            color_stdout: false,
            color_stderr: false,
            stderr_tty: false,
            verbose: 0,
            quiet: false,
            icons: text::Icons::Ascii,
            timestamps: TimestampChoice::None,
            progress: false,
            heartbeat: None,
            github_actions: false,
            context: None,
            tls: Default::default(),
        };
        let both = Shared::default();
        let stdout = io::BufWriter::with_capacity(STDOUT_BUFFER, both.clone());
        let reporter =
            Reporter::with_writers(&settings, false, Box::new(stdout), Box::new(both.clone()));
        (reporter, both)
    }

    fn active(name: &str) -> Event {
        Event::new(EventKind::ResourceActive, "shop").with("resource_name", name)
    }

    #[test]
    fn event_lines_wait_for_flush_then_go_out_together() {
        for format in [OutputFormat::Text, OutputFormat::Json] {
            let (mut reporter, out) = reporter(format);
            reporter.event(&active("db")).unwrap();
            reporter.event(&active("cache")).unwrap();
            assert_eq!(
                out.text(),
                "",
                "{format:?}: buffered until the input goes idle"
            );
            reporter.flush().unwrap();
            let text = out.text();
            assert_eq!(text.lines().count(), 2, "{format:?}: {text:?}");
            assert!(text.find("db").unwrap() < text.find("cache").unwrap());
        }
    }

    #[test]
    fn a_failure_is_said_once_in_text_and_kept_whole_in_json() {
        let error = "quota exceeded: no more than 5 databases per team; ask database-team";
        let events = [
            Event::new(EventKind::StepFailed, "shop")
                .with("resource_name", "db")
                .with("step_name", "check-quota")
                .with("error", error),
            Event::new(EventKind::WorkflowFailed, "shop")
                .with("workflow_name", "provision-postgres")
                .with("error", error),
            Event::new(EventKind::ResourceFailed, "shop")
                .with("resource_name", "db")
                .with("error", error),
            Event::new(EventKind::DeploymentFailed, "shop").with(
                "error",
                format!("db: resource 'db' (postgres) failed at step 'check-quota': {error}"),
            ),
        ];
        let (mut r, out) = reporter(OutputFormat::Text);
        for ev in &events {
            r.event(ev).unwrap();
        }
        r.flush().unwrap();
        let text = out.text();
        assert_eq!(text.matches(error).count(), 1, "{text}");
        assert_eq!(text.matches(SEE_ABOVE).count(), 3, "{text}");
        assert!(
            text.contains("failed at step 'check-quota': (the error above)"),
            "{text}"
        );

        let (mut r, out) = reporter(OutputFormat::Json);
        for ev in &events {
            r.event(ev).unwrap();
        }
        r.flush().unwrap();
        assert_eq!(out.text().matches(error).count(), 4);

        // A short text is clearer repeated than referred to.
        let (mut r, out) = reporter(OutputFormat::Text);
        for kind in [EventKind::StepFailed, EventKind::ResourceFailed] {
            r.event(
                &Event::new(kind, "shop")
                    .with("resource_name", "db")
                    .with("error", "boom"),
            )
            .unwrap();
        }
        r.flush().unwrap();
        assert_eq!(out.text().matches("boom").count(), 2);
    }

    #[test]
    fn a_note_on_stderr_comes_after_the_event_lines_before_it() {
        let (mut reporter, out) = reporter(OutputFormat::Text);
        reporter.event(&active("db")).unwrap();
        reporter.note("connection lost").unwrap();
        let text = out.text();
        let (event, note) = (
            text.find("db").unwrap(),
            text.find("connection lost").unwrap(),
        );
        assert!(event < note, "{text:?}");
    }

    #[test]
    fn json_mode_writes_received_json_as_it_is_and_text_mode_ignores_it() {
        let ev = active("db");
        // Not what serialising `ev` gives: proves the received bytes are the ones written.
        let raw =
            r#"{"type":"resource.active","app_name":"shop","data":{"resource_name":"db"},"x":1}"#;
        let (mut json, out) = reporter(OutputFormat::Json);
        json.event_received(&ev, Some(raw)).unwrap();
        json.event_received(&ev, None).unwrap();
        json.flush().unwrap();
        assert_eq!(out.text(), format!("{raw}\n{}\n", ev.to_json()));

        let (mut text, out) = reporter(OutputFormat::Text);
        text.event_received(&ev, Some(raw)).unwrap();
        text.flush().unwrap();
        assert!(!out.text().contains('{'), "{:?}", out.text());
        assert!(out.text().contains("db"));
    }

    /// Terminal control, a forged line and a workflow command, as a server could send them.
    const HOSTILE: &str = "db\x1b]52;c;cHduZWQ=\x07\x1b[2J\rforged\n::add-mask::x\u{9b}31m";

    /// Whether `text` carries anything a terminal or a CI runner would act on.
    fn assert_inert(text: &str) {
        assert!(
            !text
                .chars()
                .any(|c| (c.is_control() && c != '\n') || json::is_unsafe(c)),
            "raw control in {text:?}"
        );
        for line in text.lines() {
            let line = line.trim_start();
            let ours = ["::group::", "::endgroup::", "::error title="]
                .iter()
                .any(|m| line.starts_with(m));
            assert!(!line.starts_with("::") || ours, "command line {line:?}");
        }
    }

    #[test]
    fn the_last_known_state_shows_server_text_sanitised() {
        let mut tracker = crate::tracker::Tracker::new(crate::tracker::Mode::Terminal, []);
        tracker.apply(
            &Event::new(EventKind::StepStarted, HOSTILE)
                .with("resource_name", HOSTILE)
                .with("resource_type", HOSTILE)
                .with("step_number", 1)
                .with("total_steps", 2)
                .with("step_name", HOSTILE),
        );
        for github in [false, true] {
            let (mut reporter, out) = reporter(OutputFormat::Text);
            reporter.github = github;
            reporter
                .finish(
                    WatchEnd::Timeout,
                    &tracker,
                    HOSTILE,
                    Some(HOSTILE),
                    Duration::from_secs(1),
                )
                .unwrap();
            let text = out.text();
            assert!(text.contains("Last known state"), "{text}");
            assert!(text.contains("step 1/2 db"), "{text}");
            assert_inert(&text);
        }
    }

    #[test]
    fn json_output_escapes_c1_and_bidi_controls_even_in_received_lines() {
        let ev = Event::new(EventKind::ResourceFailed, "shop")
            .with("resource_name", "db\u{9d}52;c;QUFB\u{9c}")
            .with("error", "evil\u{202e}txt.exe");
        let (mut json, out) = reporter(OutputFormat::Json);
        // Written through as received (a canonical line) and serialised.
        json.event_received(&ev, Some(&ev.to_json())).unwrap();
        json.event(&ev).unwrap();
        json.flush().unwrap();
        let text = out.text();
        assert_inert(&text);
        for line in text.lines() {
            assert_eq!(Event::from_json(line).unwrap(), ev);
            assert!(line.contains(r"db\u009d52;c;QUFB\u009c"), "{line}");
        }
    }

    #[test]
    fn dropping_the_reporter_writes_what_is_buffered() {
        let (mut reporter, out) = reporter(OutputFormat::Json);
        reporter.event(&active("db")).unwrap();
        drop(reporter);
        let line = out.text();
        let parsed = Event::from_json(line.trim_end()).unwrap();
        assert_eq!(parsed.resource_name().as_deref(), Some("db"));
    }
}
