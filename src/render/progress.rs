//! Live progress rows on stderr while a deployment runs, in the manner of rustup's download
//! rows (STYLE.md §7): one header row with a spinner and the elapsed time, then one row per
//! resource moving through its states (waiting, requested, provisioning, step k/n, active,
//! failed).
//!
//! The rows are transient: the permanent record is the event log, which the
//! [`Reporter`](super::Reporter) prints *above* the rows through [`Progress::suspend`] (the
//! rows are wiped, the line is written, the rows are redrawn), so a line never lands in the
//! middle of a row. At the end [`Progress::clear`] removes every row, so the final screen is the
//! event log and the footer.
//!
//! This module never decides whether rows are shown: `settings` does (`CTL_PROGRESS`, whether
//! stderr is a terminal), and the reporter creates a [`Progress`] only when they are. It never
//! reads the clock for the rows' own elapsed times either: indicatif keeps them, started from the
//! server's timestamp of each resource's first event (so a reattached watch's rows show the
//! server's time, not the replay's). Resource
//! states come from the [`Tracker`]; every name and error from the server is sanitised.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};

use indicatif::{
    MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle, TermLike,
};

use super::palette::Palette;
use super::text::{self, Icons, human_duration, sanitize};
use crate::tracker::{ResourceState, Tracker};

/// How often the spinners turn (the watch loop calls [`Progress::tick`] at this rate).
pub const TICK: Duration = Duration::from_millis(100);

/// At most this many characters of a failure message in a row; the footer has the full text.
const ROW_ERROR_CHARS: usize = 60;

/// Spinner frames: braille dots, or a turning ASCII bar.
fn spinner_frames(icons: Icons) -> &'static [&'static str] {
    match icons {
        Icons::Unicode => &["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏", " "],
        Icons::Ascii => &["|", "/", "-", "\\", " "],
    }
}

/// The separator between a row's parts: a middle dot, or under ASCII icons (`--icons ascii`,
/// or a non-UTF-8 locale such as `LANG=C`, where the dot would print as mojibake) a hyphen.
fn separator(icons: Icons) -> &'static str {
    match icons {
        Icons::Unicode => " · ",
        Icons::Ascii => " - ",
    }
}

/// `1m30s`: a running clock in [`human_duration`]'s format, in whole seconds (milliseconds would
/// flicker).
fn compact(d: Duration) -> String {
    if d.as_secs() == 0 {
        return "0s".to_owned();
    }
    human_duration(Duration::from_secs(d.as_secs()))
}

/// What one resource row says right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// Still moving (a spinner and a running time) or settled (a final marker).
    pub settled: Option<Settled>,
    /// The row's text after the name, e.g. `provisioning · step 2/3 configure-network`.
    pub message: String,
}

/// How a row settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    /// The resource is active.
    Active,
    /// The resource failed.
    Failed,
}

/// The row for one resource: its state, its current step, and for a failure the step it
/// failed at and the server's (shortened) error text, in the marker set of `icons`. Pure, so
/// it can be tested.
pub fn row(state: &ResourceState, icons: Icons) -> Row {
    let step = state
        .step
        .as_ref()
        .map(|(n, total, name)| text::step_label(*n, *total, name));
    match state.state.as_str() {
        "active" => Row {
            settled: Some(Settled::Active),
            message: "active".to_owned(),
        },
        "failed" => {
            let mut message = match step {
                Some(step) => format!("failed at {step}"),
                None => "failed".to_owned(),
            };
            if let Some(error) = state.error.as_deref() {
                let error = sanitize(error);
                let error = error.trim();
                if !error.is_empty() {
                    message.push_str(": ");
                    if error.chars().count() > ROW_ERROR_CHARS {
                        message.extend(error.chars().take(ROW_ERROR_CHARS));
                        message.push_str("...");
                    } else {
                        message.push_str(error);
                    }
                }
            }
            Row {
                settled: Some(Settled::Failed),
                message,
            }
        }
        other => {
            let word = match other {
                "" | "pending" => "waiting",
                known => known,
            };
            let mut message = sanitize(word).into_owned();
            if let Some(step) = step {
                message.push_str(separator(icons));
                message.push_str(&step);
            }
            Row {
                settled: None,
                message,
            }
        }
    }
}

/// The header row's text: `shop: 1/2 resources active`, plus failures when there are some.
pub fn header(app: &str, tracker: &Tracker) -> String {
    let (active, total) = tracker.progress();
    let failed = tracker
        .resources()
        .values()
        .filter(|r| r.state == "failed")
        .count();
    let app = sanitize(app);
    match (total, failed) {
        (0, _) => format!("{app}: waiting for resources"),
        (total, 0) => format!("{app}: {active}/{total} resources active"),
        (total, failed) => format!("{app}: {active}/{total} resources active, {failed} failed"),
    }
}

/// One resource's row on screen.
struct Line {
    name: String,
    bar: ProgressBar,
    shown: Option<Row>,
    /// The server timestamp the row's clock was last set from ([`ResourceState::since`]).
    since: Option<DateTime<FixedOffset>>,
}

/// The status area: a header row and one row per resource, under the event log on stderr.
pub struct Progress {
    multi: MultiProgress,
    header: ProgressBar,
    lines: Vec<Line>,
    name_width: usize,
    app: String,
    icons: Icons,
    palette: Palette,
    cleared: bool,
}

impl Progress {
    /// A status area on stderr. `elapsed` is how long the command has run, so the header's
    /// clock starts where the command started.
    ///
    /// It draws whether or not stderr is a terminal (`CTL_PROGRESS=always`): whether to draw
    /// at all was decided before this was called.
    pub fn stderr(app: &str, icons: Icons, palette: Palette, elapsed: Duration) -> Self {
        let term = EdgeSafe::new(console::Term::buffered_stderr());
        Self::with_target(
            ProgressDrawTarget::term_like_with_hz(Box::new(term), 20),
            app,
            icons,
            palette,
            elapsed,
        )
    }

    /// A status area on any terminal, redrawn on every change (tests draw into an in-memory
    /// terminal).
    pub fn new(
        term: impl TermLike + 'static,
        app: &str,
        icons: Icons,
        palette: Palette,
        elapsed: Duration,
    ) -> Self {
        let target = ProgressDrawTarget::term_like(Box::new(EdgeSafe::new(term)));
        Self::with_target(target, app, icons, palette, elapsed)
    }

    fn with_target(
        target: ProgressDrawTarget,
        app: &str,
        icons: Icons,
        palette: Palette,
        elapsed: Duration,
    ) -> Self {
        let multi = MultiProgress::with_draw_target(target);
        let header = multi.add(ProgressBar::new_spinner().with_elapsed(elapsed).with_style(
            running_style(
                icons,
                &format!("{{spinner}} {{msg}}{}{{elapsed_compact}}", separator(icons)),
            ),
        ));
        header.set_message(format!("{}: starting", sanitize(app)));
        Progress {
            multi,
            header,
            lines: Vec::new(),
            name_width: 0,
            app: app.to_owned(),
            icons,
            palette,
            cleared: false,
        }
    }

    /// Brings the rows in line with the tracker: new resources get a row, moved ones change.
    pub fn update(&mut self, tracker: &Tracker) {
        self.update_at(tracker, Utc::now());
    }

    /// [`Progress::update`] with the wall clock read by the caller (tests fix it). A row's clock
    /// starts at the server's timestamp of the resource's first event, once known: replayed
    /// history (`ctl watch` reattaching to a running deployment) then shows how long the
    /// resource has been at work, not `0s`. A server clock ahead of ours counts as no time.
    fn update_at(&mut self, tracker: &Tracker, now: DateTime<Utc>) {
        if self.cleared {
            return;
        }
        self.header.set_message(header(&self.app, tracker));
        let mut widened = false;
        for (name, state) in tracker.resources() {
            let label = match state.kind.as_str() {
                "" => sanitize(name).into_owned(),
                kind => format!("{} ({})", sanitize(name), sanitize(kind)),
            };
            let width = console::measure_text_width(&label);
            if width > self.name_width {
                self.name_width = width;
                widened = true;
            }
            let index = match self.lines.iter().position(|l| &l.name == name) {
                Some(i) => i,
                None => {
                    let bar = self.multi.add(ProgressBar::new_spinner());
                    self.lines.push(Line {
                        name: name.clone(),
                        bar,
                        shown: None,
                        since: None,
                    });
                    self.lines.len() - 1
                }
            };
            let line = &mut self.lines[index];
            if let Some(since) = state.since.filter(|s| line.since != Some(*s)) {
                let ran = now
                    .signed_duration_since(since)
                    .to_std()
                    .unwrap_or_default();
                line.bar.set_elapsed(ran);
                line.since = Some(since);
            }
            line.bar.set_prefix(label);
            let now = row(state, self.icons);
            if line.shown.as_ref() != Some(&now) {
                self.apply(index, now);
            }
        }
        if widened {
            // Names are padded to a shared width, so states line up in one column.
            for i in 0..self.lines.len() {
                if let Some(shown) = self.lines[i].shown.clone() {
                    self.apply(i, shown);
                }
            }
        }
    }

    /// Draws one row's state: a spinner and running time while it moves, a final marker after.
    fn apply(&mut self, index: usize, now: Row) {
        let width = self.name_width;
        let (tick, cross) = match self.icons {
            Icons::Unicode => ("✓", "✗"),
            Icons::Ascii => ("+", "x"),
        };
        let p = self.palette;
        let line = &mut self.lines[index];
        let (style, message) = match now.settled {
            None => (
                running_style(
                    self.icons,
                    &format!(
                        "  {{spinner}} {{prefix:<{width}}}  {{msg}}{}{{elapsed_compact}}",
                        separator(self.icons)
                    ),
                ),
                now.message.clone(),
            ),
            // A settled row shows no running clock (replayed history settles rows in a burst,
            // so how long a row was on screen says nothing).
            Some(settled) => {
                let (marker, text) = match settled {
                    Settled::Active => (
                        p.success(tick).to_string(),
                        p.success(&now.message).to_string(),
                    ),
                    Settled::Failed => (
                        p.failure(cross).to_string(),
                        p.failure(&now.message).to_string(),
                    ),
                };
                (
                    template(&format!("  {marker} {{prefix:<{width}}}  {{msg}}")),
                    text,
                )
            }
        };
        line.bar.set_style(style);
        line.bar.set_message(message);
        line.shown = Some(now);
    }

    /// Turns the spinners and refreshes the running times.
    pub fn tick(&self) {
        if self.cleared {
            return;
        }
        self.header.tick();
        for line in &self.lines {
            if line.shown.as_ref().is_none_or(|r| r.settled.is_none()) {
                line.bar.tick();
            }
        }
    }

    /// Runs `write` with the rows wiped, then redraws them: how permanent lines get printed
    /// above the status area without tearing it, on whichever stream they go to.
    pub fn suspend<R>(&self, write: impl FnOnce() -> R) -> R {
        if self.cleared {
            return write();
        }
        self.multi.suspend(write)
    }

    /// Removes every row from the screen for good. Idempotent; also done on drop.
    pub fn clear(&mut self) {
        if self.cleared {
            return;
        }
        self.cleared = true;
        for line in &self.lines {
            line.bar.finish_and_clear();
        }
        self.header.finish_and_clear();
        // Nothing useful can be done if the terminal went away.
        let _ = self.multi.clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        // An error that ends the command early must not leave rows on the screen.
        self.clear();
    }
}

/// A terminal that keeps the cursor off the right margin.
///
/// indicatif pads every row with spaces to the full terminal width and relies on the terminal
/// wrapping to reach the next row, which leaves the cursor in the last column with a wrap
/// pending. Anything the terminal then echoes by itself (the `^C` of Ctrl-C, a key typed while
/// waiting) wraps onto a new row that indicatif does not know about, and when the rows are
/// cleared the top one is left behind. This wrapper turns each padding run into "erase to end
/// of line" plus a real line break before the next row, so the cursor rests just after the
/// last row's text and an echo stays on that row, where the next clear wipes it.
#[derive(Debug)]
struct EdgeSafe<T> {
    inner: T,
    state: Mutex<Layout>,
}

/// Where the row being drawn stands.
#[derive(Debug, Default)]
struct Layout {
    /// A row's text was just written; the next all-space write is its padding.
    after_text: bool,
    /// A row ended; the next text starts a new line.
    break_pending: bool,
}

impl<T> EdgeSafe<T> {
    fn new(inner: T) -> Self {
        EdgeSafe {
            inner,
            state: Mutex::new(Layout::default()),
        }
    }

    /// Any cursor movement ends a draw: the last row keeps no pending break.
    fn reset(&self) {
        if let Ok(mut state) = self.state.lock() {
            *state = Layout::default();
        }
    }
}

impl<T: TermLike> TermLike for EdgeSafe<T> {
    fn width(&self) -> u16 {
        self.inner.width()
    }

    fn height(&self) -> u16 {
        self.inner.height()
    }

    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        self.reset();
        self.inner.move_cursor_up(n)
    }

    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        self.reset();
        self.inner.move_cursor_down(n)
    }

    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        self.reset();
        self.inner.move_cursor_right(n)
    }

    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        self.reset();
        self.inner.move_cursor_left(n)
    }

    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.reset();
        self.inner.write_line(s)
    }

    fn write_str(&self, s: &str) -> std::io::Result<()> {
        let Ok(mut state) = self.state.lock() else {
            return self.inner.write_str(s);
        };
        if state.after_text && s.bytes().all(|b| b == b' ') {
            state.after_text = false;
            state.break_pending = true;
            // An empty pad means the text filled the row exactly: erasing now would eat its
            // last character, and the line break below still lands on the right row.
            if s.is_empty() {
                return Ok(());
            }
            return self.inner.write_str("\x1b[K");
        }
        if state.break_pending {
            state.break_pending = false;
            self.inner.write_str("\r\n")?;
        }
        state.after_text = true;
        self.inner.write_str(s)
    }

    fn clear_line(&self) -> std::io::Result<()> {
        self.reset();
        self.inner.clear_line()
    }

    fn flush(&self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A template known to be valid; the fallback only guards against a typo in this file.
fn template(text: &str) -> ProgressStyle {
    ProgressStyle::with_template(text).unwrap_or_else(|_| ProgressStyle::default_spinner())
}

/// A style with a spinner and the `{elapsed_compact}` key.
fn running_style(icons: Icons, text: &str) -> ProgressStyle {
    template(text).tick_strings(spinner_frames(icons)).with_key(
        "elapsed_compact",
        |state: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&compact(state.elapsed()));
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, EventKind};
    use crate::tracker::Mode;
    use indicatif::{InMemoryTerm, TermLike};

    fn state(state: &str, step: Option<(u64, u64, &str)>, error: Option<&str>) -> ResourceState {
        ResourceState {
            kind: "postgres".into(),
            state: state.into(),
            step: step.map(|(n, t, s)| (n, t, s.to_owned())),
            error: error.map(str::to_owned),
            since: None,
        }
    }

    #[test]
    fn rows_follow_the_resource_states() {
        let cases = [
            (state("pending", None, None), None, "waiting"),
            (state("requested", None, None), None, "requested"),
            (state("provisioning", None, None), None, "provisioning"),
            (
                state("provisioning", Some((2, 3, "configure-network")), None),
                None,
                "provisioning · step 2/3 configure-network",
            ),
            (state("active", None, None), Some(Settled::Active), "active"),
            (
                state("failed", Some((2, 2, "configure")), Some("quota exceeded")),
                Some(Settled::Failed),
                "failed at step 2/2 configure: quota exceeded",
            ),
            (
                state("failed", None, Some("\x1b[2Jboom\n")),
                Some(Settled::Failed),
                "failed: boom",
            ),
        ];
        for (input, settled, message) in cases {
            assert_eq!(
                row(&input, Icons::Unicode),
                Row {
                    settled,
                    message: message.into()
                },
                "{input:?}"
            );
        }
        let long = "x".repeat(200);
        assert!(
            row(&state("failed", None, Some(&long)), Icons::Unicode)
                .message
                .ends_with("x...")
        );
    }

    #[test]
    fn header_counts_resources() {
        let mut t = Tracker::new(Mode::Terminal, [("db", "postgres"), ("cache", "redis")]);
        assert_eq!(header("shop", &t), "shop: 0/2 resources active");
        t.apply(
            &Event::new(EventKind::ResourceFailed, "shop")
                .with("resource_name", "db")
                .with("error", "x"),
        );
        assert_eq!(header("shop", &t), "shop: 0/2 resources active, 1 failed");
        assert_eq!(
            header("shop", &Tracker::new(Mode::Follow, [])),
            "shop: waiting for resources"
        );
    }

    fn step(name: &str, n: u64) -> Event {
        Event::new(EventKind::StepStarted, "shop")
            .with("resource_name", name)
            .with("step_number", n)
            .with("total_steps", 3)
            .with("step_name", "configure")
    }

    /// The whole area drawn into a virtual terminal: rows appear under the permanent lines,
    /// permanent lines written through `suspend` land above them intact, and `clear` leaves
    /// only the permanent lines.
    #[test]
    fn rows_draw_under_the_log_and_clear_away() {
        let term = InMemoryTerm::new(20, 100);
        let mut progress = Progress::new(
            term.clone(),
            "shop",
            Icons::Ascii,
            Palette::plain(),
            Duration::ZERO,
        );
        let mut tracker = Tracker::new(
            Mode::Terminal,
            [("database", "postgres"), ("cache", "redis")],
        );
        progress.update(&tracker);
        progress.tick();
        let screen = term.contents();
        assert!(screen.contains("shop: 0/2 resources active"), "{screen}");
        assert!(screen.contains("database (postgres)  waiting"), "{screen}");
        assert!(screen.contains("cache (redis)        waiting"), "{screen}");

        for line in ["event one", "event two"] {
            progress.suspend(|| term.write_line(line).unwrap());
        }
        tracker.apply(&step("database", 2));
        tracker
            .apply(&Event::new(EventKind::ResourceActive, "shop").with("resource_name", "cache"));
        progress.update(&tracker);
        progress.tick();
        let screen = term.contents();
        let lines: Vec<&str> = screen.lines().collect();
        assert_eq!(&lines[..2], ["event one", "event two"], "{screen}");
        assert!(lines[2].contains("shop: 1/2 resources active"), "{screen}");
        assert!(
            screen.contains("database (postgres)  provisioning - step 2/3 configure"),
            "{screen}"
        );
        assert!(screen.contains("+ cache (redis)        active"), "{screen}");
        assert!(
            screen.is_ascii(),
            "ASCII icons draw ASCII rows only: {screen}"
        );

        // Ctrl-C: the terminal echoes `^C` where the cursor rests, then the rows are cleared.
        term.write_str("^C").unwrap();

        progress.clear();
        progress.suspend(|| term.write_line("footer").unwrap());
        assert_eq!(
            term.contents(),
            "event one\nevent two\nfooter",
            "no row left behind"
        );
        progress.tick();
        progress.update(&tracker);
        assert_eq!(
            term.contents(),
            "event one\nevent two\nfooter",
            "stays cleared"
        );
    }

    /// Under `LANG=C` the icons are ASCII, and so is every character of the rows: no middle
    /// dot, no braille spinner, through a whole run of states and spinner frames.
    #[test]
    fn ascii_rows_are_ascii() {
        let term = InMemoryTerm::new(10, 100);
        let mut progress = Progress::new(
            term.clone(),
            "shop",
            Icons::Ascii,
            Palette::plain(),
            Duration::from_secs(75),
        );
        let mut tracker = Tracker::new(Mode::Terminal, [("db", "postgres")]);
        progress.update(&tracker);
        for n in 1..=3 {
            tracker.apply(&step("db", n));
            progress.update(&tracker);
            for _ in 0..6 {
                progress.tick();
                let screen = term.contents();
                assert!(screen.is_ascii(), "{screen}");
            }
        }
        let screen = term.contents();
        assert!(
            screen.contains("provisioning - step 3/3 configure - "),
            "{screen}"
        );
        assert!(
            screen.contains("shop: 0/1 resources active - 1m"),
            "{screen}"
        );
        assert_eq!(
            row(
                &state("provisioning", Some((1, 2, "x")), None),
                Icons::Ascii
            )
            .message,
            "provisioning - step 1/2 x"
        );
    }

    /// Reattaching replays a deployment that has been running for minutes: the rows' clocks
    /// come from the events' server timestamps, not from when the replay was read.
    #[test]
    fn row_clocks_start_at_the_server_timestamps() {
        let term = InMemoryTerm::new(10, 100);
        let mut progress = Progress::new(
            term.clone(),
            "shop",
            Icons::Ascii,
            Palette::plain(),
            Duration::ZERO,
        );
        let mut tracker = Tracker::new(Mode::Terminal, [("db", "postgres"), ("cache", "redis")]);
        let at = |ts: &str| Some(DateTime::parse_from_rfc3339(ts).unwrap());
        let mut created =
            Event::new(EventKind::ResourceCreated, "shop").with("resource_name", "db");
        created.timestamp = at("2026-11-27T12:00:00Z");
        tracker.apply(&created);
        let mut later = step("db", 2);
        later.timestamp = at("2026-11-27T12:01:30Z");
        tracker.apply(&later);
        // The cache's first event is stamped ahead of the client's clock: no negative time.
        let mut ahead = step("cache", 1);
        ahead.timestamp = at("2026-11-27T12:05:00Z");
        tracker.apply(&ahead);
        let now = DateTime::parse_from_rfc3339("2026-11-27T12:02:10Z")
            .unwrap()
            .with_timezone(&Utc);
        progress.update_at(&tracker, now);
        progress.tick();
        let screen = term.contents();
        let row = |name: &str| {
            screen
                .lines()
                .find(|l| l.contains(name))
                .unwrap_or_else(|| panic!("{screen}"))
                .to_owned()
        };
        // Two minutes and ten seconds since the db's first event (not since the step).
        assert!(
            row("db (postgres)").ends_with("step 2/3 configure - 2m10s"),
            "{screen}"
        );
        assert!(row("cache (redis)").ends_with(" - 0s"), "{screen}");
    }

    #[test]
    fn dropping_clears_the_rows() {
        let term = InMemoryTerm::new(10, 80);
        let mut progress = Progress::new(
            term.clone(),
            "shop",
            Icons::Unicode,
            Palette::plain(),
            Duration::ZERO,
        );
        progress.update(&Tracker::new(Mode::Terminal, [("db", "postgres")]));
        progress.tick();
        assert!(term.contents().contains("db (postgres)"));
        drop(progress);
        assert_eq!(term.contents(), "");
    }
}
