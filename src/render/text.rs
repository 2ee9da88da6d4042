//! Human-readable text: one line per event, plus the banners around a deployment.
//!
//! ```text
//! [15:04:01] 📝 Resource created: database (postgres)
//! [15:04:05] 🟢 Resource active: database
//! ```
//!
//! Everything here is a pure function from an [`Event`] (or a banner's inputs) and a
//! [`TextStyle`] to a `String`; the caller decides where the text goes. This module must never
//! write to a stream itself, read settings or the environment, or decide whether colour is on:
//! that arrives in the [`Palette`].
//!
//! Every string that came from the server passes through [`sanitize`] before it is printed, so
//! event data cannot move the cursor, retitle the terminal or change colours. The one deliberate
//! exception is reading the clock: an event without a timestamp is stamped with the time it is
//! rendered ([`event_line`]); [`event_line_at`] takes that time as a value for tests.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::iter::Peekable;
use std::str::Chars;
use std::time::Duration;

use std::cell::Cell;

use chrono::{DateTime, FixedOffset, Local, Offset, TimeDelta, TimeZone, Utc};
use serde_json::Value;

use super::palette::{Palette, Tone};
use crate::event::{Event, EventKind};

/// Which marker set to put in front of each line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Icons {
    /// Emoji. Each one is a single code point with default emoji presentation, so terminals
    /// agree it is two columns wide and messages line up.
    Unicode,
    /// Pure ASCII markers such as `[ok]` and `[FAIL]`, for terminals and logs without emoji.
    Ascii,
}

/// The placeholder shown where a name the message needs is missing from the event.
const UNKNOWN: &str = "?";

/// Width of the ASCII marker column: the widest marker is `[FAIL]`.
const ASCII_COLUMN: usize = 6;

/// Width of the horizontal rules, in columns.
const RULE_WIDTH: usize = 54;

/// Unicode icon and ASCII marker of each event type.
///
/// Emoji written with a variation selector (⚠️, ▶️, ⚙️, 🗑️) are avoided on purpose: terminals
/// disagree whether those take one column or two, which would make the message column wobble.
fn markers(kind: &EventKind) -> (&'static str, &'static str) {
    match kind {
        EventKind::Connected => ("🔌", "[*]"),
        EventKind::DeploymentQueued => ("🚦", "[..]"),
        EventKind::DeploymentStarted => ("📦", "[>>]"),
        EventKind::ResourceCreated => ("📝", "[+]"),
        EventKind::ResourceProvisioning => ("⏳", "[~]"),
        EventKind::ProviderResolved => ("🔍", "[=]"),
        EventKind::WorkflowStarted => ("🚀", "[>]"),
        EventKind::StepStarted => ("⏩", "[>]"),
        EventKind::StepProgress => ("💬", "[.]"),
        EventKind::StepCompleted => ("👍", "[ok]"),
        EventKind::StepFailed => ("❌", "[FAIL]"),
        EventKind::WorkflowCompleted => ("✅", "[ok]"),
        EventKind::WorkflowFailed => ("❌", "[FAIL]"),
        EventKind::ResourceActive => ("🟢", "[ok]"),
        EventKind::ResourceFailed => ("🔴", "[FAIL]"),
        EventKind::DeploymentCompleted => ("🎉", "[DONE]"),
        EventKind::DeploymentFailed => ("💥", "[FAIL]"),
        EventKind::ApplicationDeleted => ("🧹", "[-]"),
        EventKind::StreamGap => ("❗", "[!]"),
        EventKind::Other(_) => ("•", "[?]"),
    }
}

/// The icon (or ASCII marker) for an event type, without padding.
pub fn icon(kind: &EventKind, icons: Icons) -> &'static str {
    let (unicode, ascii) = markers(kind);
    match icons {
        Icons::Unicode => unicode,
        Icons::Ascii => ascii,
    }
}

/// The icon padded to a fixed column width, so messages start in the same column.
fn write_icon_column(line: &mut String, kind: &EventKind, icons: Icons) {
    let glyph = icon(kind, icons);
    line.push_str(glyph);
    let width = match icons {
        Icons::Ascii => glyph.chars().count(),
        // Every emoji we use is two columns wide; the bullet for unknown types is one.
        Icons::Unicode if glyph == "•" => 1,
        Icons::Unicode => 2,
    };
    let column = match icons {
        Icons::Ascii => ASCII_COLUMN,
        Icons::Unicode => 2,
    };
    line.extend(std::iter::repeat_n(' ', column.saturating_sub(width)));
}

/// How an event type is coloured: failures red, successes green, progress uncoloured.
pub fn tone(kind: &EventKind) -> Tone {
    match kind {
        EventKind::StepFailed
        | EventKind::WorkflowFailed
        | EventKind::ResourceFailed
        | EventKind::DeploymentFailed => Tone::Failure,
        EventKind::StepCompleted
        | EventKind::WorkflowCompleted
        | EventKind::ResourceActive
        | EventKind::DeploymentCompleted => Tone::Success,
        EventKind::StreamGap => Tone::Warning,
        EventKind::DeploymentStarted => Tone::Bold,
        EventKind::Connected | EventKind::Other(_) => Tone::Dim,
        EventKind::DeploymentQueued
        | EventKind::ResourceCreated
        | EventKind::ResourceProvisioning
        | EventKind::ProviderResolved
        | EventKind::WorkflowStarted
        | EventKind::StepStarted
        | EventKind::StepProgress
        | EventKind::ApplicationDeleted => Tone::Plain,
    }
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

/// A sanitised, non-empty `data` value as text.
fn field<'a>(ev: &'a Event, key: &str) -> Option<Cow<'a, str>> {
    match ev.data_str(key)? {
        Cow::Borrowed(raw) => clean(raw),
        Cow::Owned(raw) => non_empty(&raw).map(Cow::Owned),
    }
}

/// Sanitised and trimmed, or `None` when nothing printable is left.
fn non_empty(raw: &str) -> Option<String> {
    clean(raw).map(Cow::into_owned)
}

/// [`non_empty`], borrowed from `raw` when it needed no cleaning, which is nearly always (no
/// allocation for it per event line).
fn clean(raw: &str) -> Option<Cow<'_, str>> {
    match sanitize(raw) {
        Cow::Borrowed(clean) => {
            let clean = clean.trim();
            (!clean.is_empty()).then_some(Cow::Borrowed(clean))
        }
        Cow::Owned(clean) => {
            let clean = clean.trim();
            (!clean.is_empty()).then(|| Cow::Owned(clean.to_owned()))
        }
    }
}

/// `1 step`, `3 steps`.
fn write_count(out: &mut String, n: u64, noun: &str) {
    let _ = write!(out, "{n} {noun}");
    if n != 1 {
        out.push('s');
    }
}

/// `database (postgres)`, or `database` without a type, or `?` without a name.
fn write_resource_label(out: &mut String, ev: &Event) {
    out.push_str(&field(ev, "resource_name").unwrap_or(Cow::Borrowed(UNKNOWN)));
    if let Some(ty) = field(ev, "resource_type") {
        let _ = write!(out, " ({ty})");
    }
}

/// `Step 2/3 <verb>: configure-network (database)`, dropping whatever the event lacks.
fn write_step_message(out: &mut String, ev: &Event, verb: &str) {
    let _ = match (ev.data_u64("step_number"), ev.data_u64("total_steps")) {
        (Some(n), Some(total)) => write!(out, "Step {n}/{total} {verb}"),
        (Some(n), None) => write!(out, "Step {n} {verb}"),
        (None, _) => write!(out, "Step {verb}"),
    };
    if let Some(step) = field(ev, "step_name") {
        let _ = write!(out, ": {step}");
    }
    if let Some(resource) = field(ev, "resource_name") {
        let _ = write!(out, " ({resource})");
    }
}

/// Names from a list of strings or of `{name: ...}` objects (`failed_resources`, `resources`).
fn names(ev: &Event, key: &str) -> Vec<String> {
    let Some(Value::Array(items)) = ev.data.get(key) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| match item {
            Value::String(s) => Some(s.as_str()),
            Value::Object(o) => o.get("name").and_then(Value::as_str),
            _ => None,
        })
        .filter_map(non_empty)
        .collect()
}

/// A `duration_ms` value as a human duration.
fn duration_field(ev: &Event) -> Option<String> {
    ev.data_u64("duration_ms")
        .map(|ms| human_duration(Duration::from_millis(ms)))
}

/// The human sentence for an event, without icon, timestamp or colour.
///
/// Every server-provided piece is sanitised. Missing `data` keys never fail: a missing name
/// becomes `?` and optional parts are left out. Unknown types show the type and a compact
/// summary of their data.
pub fn message(ev: &Event) -> String {
    let mut out = String::new();
    write_message(&mut out, ev);
    out
}

/// Appends [`message`] to `out`: the event line's path, which reuses one buffer for every line.
pub fn write_message(out: &mut String, ev: &Event) {
    // Writing to a `String` cannot fail.
    let _ = match &ev.kind {
        EventKind::Connected => write!(out, "Connected to event stream"),
        EventKind::DeploymentQueued => {
            out.push_str("Deployment queued");
            match ev.data_str("waiting_for").and_then(|id| non_empty(&id)) {
                Some(id) => write!(out, ": waiting for deployment {id} to finish"),
                None => Ok(()),
            }
        }
        EventKind::DeploymentStarted => {
            let total = ev
                .data_u64("total_resources")
                .or_else(|| match ev.data.get("resources") {
                    Some(Value::Array(items)) => Some(items.len() as u64),
                    _ => None,
                });
            out.push_str("Deployment started");
            if let Some(n) = total {
                out.push_str(": ");
                write_count(out, n, "resource");
            }
            Ok(())
        }
        EventKind::ResourceCreated => {
            out.push_str("Resource created: ");
            write_resource_label(out, ev);
            Ok(())
        }
        EventKind::ResourceProvisioning => {
            out.push_str("Provisioning resource: ");
            write_resource_label(out, ev);
            Ok(())
        }
        EventKind::ProviderResolved => {
            let provider = field(ev, "provider_name").unwrap_or(Cow::Borrowed(UNKNOWN));
            let _ = write!(out, "Provider resolved: {provider}");
            if let Some(target) = field(ev, "resource_type").or_else(|| field(ev, "resource_name"))
            {
                let _ = write!(out, " for {target}");
            }
            match field(ev, "workflow_name") {
                Some(workflow) => write!(out, " (workflow: {workflow})"),
                None => Ok(()),
            }
        }
        EventKind::WorkflowStarted => {
            let workflow = field(ev, "workflow_name").unwrap_or(Cow::Borrowed(UNKNOWN));
            let _ = write!(out, "Workflow started: {workflow}");
            if let Some(n) = ev.data_u64("total_steps") {
                out.push_str(" (");
                write_count(out, n, "step");
                out.push(')');
            }
            Ok(())
        }
        EventKind::StepStarted => {
            write_step_message(out, ev, "started");
            Ok(())
        }
        EventKind::StepProgress => {
            let parts: Vec<Cow<'_, str>> = [field(ev, "step_name"), field(ev, "message")]
                .into_iter()
                .flatten()
                .collect();
            if parts.is_empty() {
                write!(out, "Step progress")
            } else {
                write!(out, "Step progress: {}", parts.join(": "))
            }
        }
        EventKind::StepCompleted => {
            write_step_message(out, ev, "completed");
            Ok(())
        }
        EventKind::StepFailed => {
            write_step_message(out, ev, "failed");
            match field(ev, "error") {
                Some(error) => write!(out, ": {error}"),
                None => Ok(()),
            }
        }
        EventKind::WorkflowCompleted => {
            let workflow = field(ev, "workflow_name").unwrap_or(Cow::Borrowed(UNKNOWN));
            write!(out, "Workflow completed: {workflow}")
        }
        EventKind::WorkflowFailed => {
            let workflow = field(ev, "workflow_name").unwrap_or(Cow::Borrowed(UNKNOWN));
            let _ = write!(out, "Workflow failed: {workflow}");
            if let Some(step) = field(ev, "step_name") {
                let _ = write!(out, " at {step}");
            }
            match field(ev, "error") {
                Some(error) => write!(out, ": {error}"),
                None => Ok(()),
            }
        }
        EventKind::ResourceActive => {
            let name = field(ev, "resource_name").unwrap_or(Cow::Borrowed(UNKNOWN));
            write!(out, "Resource active: {name}")
        }
        EventKind::ResourceFailed => {
            let name = field(ev, "resource_name").unwrap_or(Cow::Borrowed(UNKNOWN));
            let _ = write!(out, "Resource failed: {name}");
            match field(ev, "error") {
                Some(error) => write!(out, ": {error}"),
                None => Ok(()),
            }
        }
        EventKind::DeploymentCompleted => match duration_field(ev) {
            Some(took) => write!(out, "Deployment completed in {took}"),
            None => write!(out, "Deployment completed"),
        },
        EventKind::DeploymentFailed => {
            let _ = match duration_field(ev) {
                Some(took) => write!(out, "Deployment failed after {took}"),
                None => write!(out, "Deployment failed"),
            };
            let failed = names(ev, "failed_resources");
            let detail: Vec<String> = [
                (!failed.is_empty()).then(|| failed.join(", ")),
                field(ev, "error").map(Cow::into_owned),
            ]
            .into_iter()
            .flatten()
            .collect();
            if detail.is_empty() {
                Ok(())
            } else {
                write!(out, ": {}", detail.join(": "))
            }
        }
        EventKind::ApplicationDeleted => {
            let app = clean(&ev.app_name)
                .or_else(|| field(ev, "app_name"))
                .unwrap_or(Cow::Borrowed(UNKNOWN));
            write!(out, "Application deleted: {app}")
        }
        EventKind::StreamGap => {
            let _ = match field(ev, "requested_since") {
                Some(since) => {
                    write!(
                        out,
                        "Events missed: events after id {since} could not be replayed"
                    )
                }
                None => write!(out, "Events missed: some events could not be replayed"),
            };
            match field(ev, "first_available") {
                Some(first) => write!(out, " (oldest available: {first})"),
                None => Ok(()),
            }
        }
        EventKind::Other(ty) => {
            out.push_str(&clean(ty).unwrap_or(Cow::Borrowed(UNKNOWN)));
            let summary = data_summary(ev);
            if summary.is_empty() {
                Ok(())
            } else {
                write!(out, ": {summary}")
            }
        }
    };
}

/// At most this many keys in an unknown type's summary.
const SUMMARY_KEYS: usize = 6;
/// At most this many characters per value in an unknown type's summary.
const SUMMARY_VALUE_CHARS: usize = 40;

/// `key=value key=value`, sorted and shortened: an unknown type's one-line description.
fn data_summary(ev: &Event) -> String {
    let mut keys: Vec<&String> = ev.data.keys().collect();
    keys.sort();
    let mut parts: Vec<String> = keys
        .iter()
        .take(SUMMARY_KEYS)
        .map(|key| pair_value(key, &ev.data[key.as_str()], Some(SUMMARY_VALUE_CHARS)))
        .collect();
    if keys.len() > SUMMARY_KEYS {
        parts.push(format!("(+{} more)", keys.len() - SUMMARY_KEYS));
    }
    parts.join(" ")
}

/// `key=value` for a JSON value: strings as text (quoted when ambiguous), anything else as
/// compact JSON, everything sanitised and optionally shortened to `max_chars`.
fn pair_value(key: &str, value: &Value, max_chars: Option<usize>) -> String {
    let (text, is_string) = match value {
        Value::String(s) => (sanitize(s), true),
        // serde_json escapes C0 controls in nested strings but not C1 or bidi controls.
        other => (Cow::Owned(sanitize(&other.to_string()).into_owned()), false),
    };
    let text = match max_chars {
        Some(max) if text.chars().count() > max => {
            let cut: String = text.chars().take(max).collect();
            Cow::Owned(format!("{cut}..."))
        }
        _ => text,
    };
    if is_string {
        pair(key, &text)
    } else {
        format!("{}={text}", sanitize(key))
    }
}

/// `key=value` for text, quoting the value when it is empty or would otherwise be ambiguous.
fn pair(key: &str, value: &str) -> String {
    let key = sanitize(key);
    if value.is_empty() || value.contains([' ', '"', '=', '\\']) {
        let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
        format!("{key}=\"{escaped}\"")
    } else {
        format!("{key}={value}")
    }
}

// ---------------------------------------------------------------------------------------------
// Sanitising
// ---------------------------------------------------------------------------------------------

/// Makes server-provided text safe to print on a terminal.
///
/// - ANSI/VT escape sequences are removed whole: CSI (`ESC [ … final`, e.g. `\x1b[2J`), OSC and
///   the other string sequences (`ESC ] … BEL` or `… ESC \`, e.g. a window-title change), and
///   two-character escapes (`ESC c`), in 7-bit and 8-bit (C1) form. An unterminated string
///   sequence swallows the rest of the text rather than risk leaking part of it.
/// - `\n`, `\r`, `\r\n` and tab become one space, so a field cannot start a new line.
/// - Every other control character (C0, DEL, C1) and the bidirectional override characters,
///   which can make text display in a different order than it is stored, are removed.
/// - Printable Unicode, emoji sequences included, is kept.
///
/// Text that needs no change is returned borrowed.
pub fn sanitize(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push(' ');
            }
            '\n' | '\t' => out.push(' '),
            '\x1b' => skip_escape(&mut chars),
            // 8-bit CSI.
            '\u{9b}' => skip_csi(&mut chars),
            // 8-bit DCS, SOS, OSC, PM, APC: strings ended by ST or BEL.
            '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            c if c.is_control() || is_bidi_control(c) => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The embedding, override and isolate controls (U+202A–U+202E, U+2066–U+2069).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Skips what follows an ESC (already consumed), per ECMA-48 / the VT100 family.
fn skip_escape(chars: &mut Peekable<Chars<'_>>) {
    match chars.next() {
        Some('[') => skip_csi(chars),
        Some(']' | 'P' | 'X' | '^' | '_') => skip_string(chars),
        // nF sequences: intermediate bytes, then one final byte (e.g. `ESC ( B`).
        Some('\x20'..='\x2f') => {
            while chars.next_if(|c| matches!(c, '\x20'..='\x2f')).is_some() {}
            chars.next_if(|c| matches!(c, '\x30'..='\x7e'));
        }
        // Two-character escapes (`ESC 7`, `ESC c`, ...): the character after ESC is gone too.
        Some(_) | None => {}
    }
}

/// Skips a control sequence's parameter and intermediate bytes and its final byte.
fn skip_csi(chars: &mut Peekable<Chars<'_>>) {
    while chars.next_if(|c| matches!(c, '\x20'..='\x3f')).is_some() {}
    // Anything else ends the sequence; it is then handled as ordinary text, so a stray
    // control character still gets dropped and a printable one survives.
    chars.next_if(|c| matches!(c, '\x40'..='\x7e'));
}

/// Skips a string sequence up to and including its terminator: BEL, `ESC \` or 8-bit ST.
fn skip_string(chars: &mut Peekable<Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            '\x07' | '\u{9c}' => return,
            '\x1b' => {
                chars.next_if_eq(&'\\');
                return;
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Event lines
// ---------------------------------------------------------------------------------------------

/// Which timestamp, if any, starts each event line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timestamps {
    /// `[15:04:01]` in the machine's local time zone.
    Local,
    /// `[14:04:01]` in UTC.
    Utc,
    /// `[+12.3s]`: time since the given start (usually when the command began).
    Relative(DateTime<Utc>),
    /// No timestamp column.
    None,
}

/// Everything that decides how text looks, resolved once by the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextStyle {
    /// Colour on or off.
    pub palette: Palette,
    /// Emoji or ASCII markers.
    pub icons: Icons,
    /// The timestamp column.
    pub timestamps: Timestamps,
    /// Whether each event is followed by indented detail lines (ids, source, every data key).
    pub verbose: bool,
}

impl TextStyle {
    /// No colour, emoji icons, local timestamps, no details.
    pub const fn plain() -> Self {
        TextStyle {
            palette: Palette::plain(),
            icons: Icons::Unicode,
            timestamps: Timestamps::Local,
            verbose: false,
        }
    }
}

/// One event as text: `[15:04:01] 🟢 Resource active: database`.
///
/// The timestamp is the event's own; an event without one is stamped with the time of
/// rendering. With `verbose`, indented detail lines follow:
///
/// ```text
/// [15:04:02] 🚀 Workflow started: provision-postgres (3 steps)
///     id=42 deployment=7 source=workflow-executor
///     execution_id=5 total_steps=3 workflow_name=provision-postgres
/// ```
///
/// Lines are joined with `\n`; there is no trailing newline.
pub fn event_line(ev: &Event, style: &TextStyle) -> String {
    let mut line = String::new();
    write_event_line(&mut line, ev, style, Utc::now);
    line
}

/// [`event_line`] with the rendering time given, for events without a timestamp.
pub fn event_line_at(ev: &Event, style: &TextStyle, now: DateTime<Utc>) -> String {
    let mut line = String::new();
    write_event_line(&mut line, ev, style, || now);
    line
}

/// Appends [`event_line`] to `line`, without a newline: the reporter's path, which reuses one
/// buffer for every line. `now` is asked only for an event without a timestamp.
pub fn write_event_line(
    line: &mut String,
    ev: &Event,
    style: &TextStyle,
    now: impl FnOnce() -> DateTime<Utc>,
) {
    let palette = style.palette;
    if !matches!(style.timestamps, Timestamps::None) {
        let at = ev.timestamp.map_or_else(now, |t| t.with_timezone(&Utc));
        match style.timestamps {
            Timestamps::None => {}
            Timestamps::Utc => write_clock(line, palette, &at),
            Timestamps::Local => write_clock(line, palette, &at.with_timezone(&local_offset(at))),
            Timestamps::Relative(start) => {
                let _ = write!(
                    line,
                    "{} ",
                    palette.timestamp(format_args!("[{}]", relative(at - start)))
                );
            }
        }
    }
    write_icon_column(line, &ev.kind, style.icons);
    line.push(' ');
    if palette.enabled {
        let _ = write!(line, "{}", palette.paint(tone(&ev.kind), message(ev)));
    } else {
        // Without colour there is nothing to wrap it in: written in place.
        write_message(line, ev);
    }
    if style.verbose {
        for detail in details(ev) {
            let _ = write!(line, "\n    {}", palette.dim(detail));
        }
    }
}

/// `[HH:MM:SS] `. Written directly: a `strftime` pattern is parsed again on every call, and
/// this runs once per event.
fn write_clock(line: &mut String, palette: Palette, at: &impl chrono::Timelike) {
    if palette.enabled {
        let mut clock = String::with_capacity(10);
        write_clock(&mut clock, Palette::plain(), at);
        let _ = write!(line, "{} ", palette.timestamp(clock.trim_end()));
        return;
    }
    line.push('[');
    for (i, part) in [at.hour(), at.minute(), at.second()]
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            line.push(':');
        }
        // Hours, minutes and seconds are below 100 (a leap second is 60).
        line.push(char::from(b'0' + (part / 10 % 10) as u8));
        line.push(char::from(b'0' + (part % 10) as u8));
    }
    line.push_str("] ");
}

/// The local zone's offset at `at`. Asked once per UTC second and remembered: a fast stream
/// renders many events within one second, and each lookup of the zone also reads the clock
/// (to notice a changed zone). Offsets change only at whole seconds.
fn local_offset(at: DateTime<Utc>) -> FixedOffset {
    thread_local! {
        static LAST: Cell<Option<(i64, FixedOffset)>> = const { Cell::new(None) };
    }
    LAST.with(|last| match last.get() {
        Some((second, offset)) if second == at.timestamp() => offset,
        _ => {
            let offset = Local.offset_from_utc_datetime(&at.naive_utc()).fix();
            last.set(Some((at.timestamp(), offset)));
            offset
        }
    })
}

/// `+12.3s`, `+2m05.0s`, or negative for events older than the start (replayed history).
fn relative(delta: TimeDelta) -> String {
    let sign = if delta < TimeDelta::zero() { '-' } else { '+' };
    let tenths = (delta.num_milliseconds().unsigned_abs() + 50) / 100;
    let (secs, tenth) = (tenths / 10, tenths % 10);
    if secs < 60 {
        format!("{sign}{secs}.{tenth}s")
    } else {
        format!("{sign}{}m{:02}.{tenth}s", secs / 60, secs % 60)
    }
}

/// The verbose detail lines: envelope fields, then data keys, each line sorted and sanitised.
fn details(ev: &Event) -> Vec<String> {
    let mut envelope = Vec::new();
    if !ev.id.is_empty() {
        envelope.push(pair("id", &sanitize(&ev.id)));
    }
    if let Some(deployment) = &ev.deployment_id {
        envelope.push(pair("deployment", &sanitize(deployment)));
    }
    if !ev.source.is_empty() {
        envelope.push(pair("source", &sanitize(&ev.source)));
    }
    // Keys a newer server adds (e.g. `client_id` on `connected`) are shown, not lost.
    let mut extra: Vec<(&String, &Value)> = ev.extra.iter().collect();
    extra.sort_by(|a, b| a.0.cmp(b.0));
    envelope.extend(extra.into_iter().map(|(k, v)| pair_value(k, v, None)));

    let mut data: Vec<(&String, &Value)> = ev.data.iter().collect();
    data.sort_by(|a, b| a.0.cmp(b.0));
    let data: Vec<String> = data
        .into_iter()
        .map(|(k, v)| pair_value(k, v, None))
        .collect();

    [envelope, data]
        .into_iter()
        .filter(|parts| !parts.is_empty())
        .map(|parts| parts.join(" "))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Banners
// ---------------------------------------------------------------------------------------------

/// The banner marker for the chosen icon set.
fn pick(icons: Icons, unicode: &'static str, ascii: &'static str) -> &'static str {
    match icons {
        Icons::Unicode => unicode,
        Icons::Ascii => ascii,
    }
}

/// A horizontal rule: 54 × `━`, or `-` with ASCII icons.
pub fn rule(style: &TextStyle) -> String {
    let bar = pick(style.icons, "━", "-").repeat(RULE_WIDTH);
    style.palette.dim(bar).to_string()
}

/// `📤 Submitting Score specification: hello`
pub fn submitting(app: &str, style: &TextStyle) -> String {
    format!(
        "{} Submitting Score specification: {}",
        pick(style.icons, "📤", "[>>]"),
        style.palette.bold(sanitize(app))
    )
}

/// `✅ Spec submitted, watching deployment...`
pub fn submitted(style: &TextStyle) -> String {
    format!(
        "{} {}",
        pick(style.icons, "✅", "[ok]"),
        style
            .palette
            .success("Spec submitted, watching deployment...")
    )
}

/// The three-line header before the event log: rule, `🔍 Watching deployment: hello`, rule.
/// No trailing newline.
pub fn watching_header(app: &str, style: &TextStyle) -> String {
    let rule = rule(style);
    format!(
        "{rule}\n{} Watching deployment: {}\n{rule}",
        pick(style.icons, "🔍", "[=]"),
        style.palette.bold(sanitize(app))
    )
}

/// How a watched deployment ended, as far as the client knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FooterOutcome {
    /// Every resource became active.
    Succeeded {
        /// Time from submission (or start of watching) to the terminal event.
        elapsed: Duration,
    },
    /// The deployment failed.
    Failed {
        /// Time until the failure was known.
        elapsed: Duration,
        /// Resources that failed (may be empty when the server did not say).
        failed_resources: Vec<FailedResource>,
        /// The server's deployment-level error text, if any.
        error: Option<String>,
    },
    /// `--timeout` elapsed first; the deployment may still be running.
    TimedOut {
        /// The time waited.
        elapsed: Duration,
    },
    /// The user pressed Ctrl-C; the deployment continues on the server.
    Interrupted {
        /// The time watched.
        elapsed: Duration,
    },
    /// The user stopped following an app's events (`watch --follow`).
    Stopped {
        /// How long it followed.
        elapsed: Duration,
    },
    /// The event stream was lost beyond the retry budget.
    ConnectionLost {
        /// The time watched.
        elapsed: Duration,
        /// Why the last attempt failed, if known.
        reason: Option<String>,
    },
}

/// A resource that failed, as the footer names it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FailedResource {
    /// Resource name.
    pub name: String,
    /// Resource type (may be empty).
    pub kind: String,
    /// The workflow step it failed at, as `(number, total, name)`, when known.
    pub step: Option<(u64, u64, String)>,
    /// The server's error text for this resource.
    pub error: Option<String>,
}

impl FailedResource {
    /// `database (postgres) failed at step 2/3 configure-network: quota exceeded`, sanitised.
    pub fn describe(&self) -> String {
        let name = clean(&self.name).unwrap_or(Cow::Borrowed(UNKNOWN));
        let mut out = match non_empty(&self.kind) {
            Some(kind) => format!("{name} ({kind}) failed"),
            None => format!("{name} failed"),
        };
        if let Some((n, total, step)) = &self.step {
            let _ = write!(out, " at {}", step_label(*n, *total, step));
        }
        if let Some(error) = self.error.as_deref().and_then(non_empty) {
            let _ = write!(out, ": {error}");
        }
        out
    }
}

/// `step 2/3 configure`, leaving out what is unknown (a zero number or total, an empty name).
pub fn step_label(number: u64, total: u64, name: &str) -> String {
    let mut out = String::from("step");
    match (number, total) {
        (0, _) => {}
        (n, 0) => {
            let _ = write!(out, " {n}");
        }
        (n, total) => {
            let _ = write!(out, " {n}/{total}");
        }
    }
    if let Some(name) = non_empty(name) {
        let _ = write!(out, " {name}");
    }
    out
}

/// The one-sentence reason a deployment failed, for places with room for one line (a CI
/// annotation): each failed resource with its step and error, else the server's error text.
pub fn failure_reason(failed_resources: &[FailedResource], error: Option<&str>) -> String {
    if !failed_resources.is_empty() {
        return failed_resources
            .iter()
            .map(FailedResource::describe)
            .collect::<Vec<_>>()
            .join("; ");
    }
    error
        .and_then(non_empty)
        .unwrap_or_else(|| "the deployment failed".to_owned())
}

/// How many waiting resources the heartbeat names before `and N more`: one line in a CI log.
const HEARTBEAT_NAMED: usize = 3;

/// The longest a heartbeat's description of one resource gets, in characters: a server's long
/// name or step cannot stretch the line without bound.
const HEARTBEAT_ITEM_MAX: usize = 80;

/// The heartbeat written while a watch waits with nothing to show and no progress rows. It
/// names what the wait is on (the resources neither active nor failed, with their current
/// step), so a CI log says which resource is slow, not only that something is:
/// `still waiting (1m30s): database (postgres) at step 3/4 create-credentials; 1/2 resources active`.
/// Sanitised, one line, bounded: at most [`HEARTBEAT_NAMED`] resources, then `and N more`.
pub fn heartbeat<'a>(
    resources: impl IntoIterator<Item = (&'a str, &'a crate::tracker::ResourceState)>,
    elapsed: Duration,
) -> String {
    let elapsed = human_duration(elapsed);
    let mut total = 0;
    let mut active = 0;
    let mut waiting = Vec::new();
    for (name, state) in resources {
        total += 1;
        match state.state.as_str() {
            "active" => active += 1,
            "failed" => {}
            _ => waiting.push(waiting_on(name, state)),
        }
    }
    if total == 0 {
        return format!("still waiting ({elapsed}): no resources reported yet");
    }
    let counts = format!("{active}/{total} resources active");
    if waiting.is_empty() {
        return format!("still waiting ({elapsed}): {counts}");
    }
    let more = waiting.len().saturating_sub(HEARTBEAT_NAMED);
    waiting.truncate(HEARTBEAT_NAMED);
    let mut named = waiting.join(", ");
    if more > 0 {
        let _ = write!(named, " and {more} more");
    }
    format!("still waiting ({elapsed}): {named}; {counts}")
}

/// `database (postgres) at step 3/4 create-credentials`, or its state when it has no step
/// (`database (postgres) pending`); sanitised and cut to [`HEARTBEAT_ITEM_MAX`] characters.
fn waiting_on(name: &str, state: &crate::tracker::ResourceState) -> String {
    let name = clean(name).unwrap_or(Cow::Borrowed(UNKNOWN));
    let mut out = match non_empty(&state.kind) {
        Some(kind) => format!("{name} ({kind})"),
        None => name.into_owned(),
    };
    match &state.step {
        Some((n, total, step)) => {
            let _ = write!(out, " at {}", step_label(*n, *total, step));
        }
        None => {
            if let Some(state) = non_empty(&state.state) {
                let _ = write!(out, " {state}");
            }
        }
    }
    if out.chars().count() > HEARTBEAT_ITEM_MAX {
        out = out.chars().take(HEARTBEAT_ITEM_MAX - 1).collect();
        out.push('…');
    }
    out
}

/// The closing block: rule, the outcome line, rule. No trailing newline.
///
/// ```text
/// ✅ Deployment completed in 5s
/// ```
///
/// A failure names the failed resources, then gives one line each with the failing step and
/// the server's error text. The deployment-level error is shown too when it adds something
/// (a server that names no resources, or a reason beyond theirs):
///
/// ```text
/// ❌ Deployment failed after 4s: database
///    database (postgres) failed at step 2/3 configure-network: quota exceeded
/// ```
pub fn footer(outcome: FooterOutcome, style: &TextStyle) -> String {
    let p = style.palette;
    let icons = style.icons;
    let line = match outcome {
        FooterOutcome::Succeeded { elapsed } => format!(
            "{} {}",
            pick(icons, "✅", "[ok]"),
            p.success(format!(
                "Deployment completed in {}",
                human_duration(elapsed)
            ))
        ),
        FooterOutcome::Failed {
            elapsed,
            failed_resources,
            error,
        } => {
            let mut text = format!("Deployment failed after {}", human_duration(elapsed));
            let names: Vec<String> = failed_resources
                .iter()
                .filter_map(|r| non_empty(&r.name))
                .collect();
            if !names.is_empty() {
                let _ = write!(text, ": {}", names.join(", "));
            }
            if let Some(error) = error.as_deref().and_then(non_empty) {
                // Our server's error sentence repeats every resource's error; say it once.
                let repeats_them = !failed_resources.is_empty()
                    && failed_resources.iter().all(|r| {
                        r.error
                            .as_deref()
                            .and_then(non_empty)
                            .is_some_and(|e| error.contains(&e))
                    });
                if !repeats_them {
                    let _ = write!(text, ": {error}");
                }
            }
            let mut block = format!("{} {}", pick(icons, "❌", "[FAIL]"), p.failure(text));
            for resource in &failed_resources {
                let _ = write!(block, "\n   {}", resource.describe());
            }
            block
        }
        FooterOutcome::TimedOut { elapsed } => format!(
            "{} {}",
            pick(icons, "⏰", "[TIME]"),
            p.warning(format!(
                "Timed out after {}; the deployment may still be running",
                human_duration(elapsed)
            ))
        ),
        FooterOutcome::Interrupted { elapsed } => format!(
            "{} {}",
            pick(icons, "🛑", "[STOP]"),
            p.warning(format!(
                "Interrupted after {}; the deployment continues on the server",
                human_duration(elapsed)
            ))
        ),
        FooterOutcome::Stopped { elapsed } => format!(
            "{} {}",
            pick(icons, "🔚", "[END]"),
            p.dim(format!(
                "Stopped following after {}",
                human_duration(elapsed)
            ))
        ),
        FooterOutcome::ConnectionLost { elapsed, reason } => {
            let mut text = format!("Connection lost after {}", human_duration(elapsed));
            if let Some(reason) = reason.as_deref().and_then(non_empty) {
                let _ = write!(text, ": {reason}");
            }
            text.push_str("; the deployment may still be running");
            format!("{} {}", pick(icons, "⛔", "[LOST]"), p.failure(text))
        }
    };
    let rule = rule(style);
    format!("{rule}\n{line}\n{rule}")
}

/// A duration for people, the one format every duration `ctl` prints is written in (footers,
/// heartbeat, progress rows, `status`, error messages): `350ms`, `5s`, `1m05s`, `2h03m04s`
/// (rounded to the second from one second up). Compact, with no spaces, so a duration is one
/// word wherever it lands.
pub fn human_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        return format!("{}ms", d.as_millis());
    }
    let secs = (d.as_millis() + 500) / 1000;
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    if h > 0 {
        format!("{h}h{m:02}m{s:02}s")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, FixedOffset, TimeZone};
    use serde_json::json;

    fn at(rfc3339: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap()
    }

    fn utc_style() -> TextStyle {
        TextStyle {
            timestamps: Timestamps::Utc,
            ..TextStyle::plain()
        }
    }

    fn resource(kind: EventKind) -> Event {
        Event::new(kind, "hello")
            .with("resource_id", 17)
            .with("resource_name", "database")
            .with("resource_type", "postgres")
    }

    fn step(kind: EventKind) -> Event {
        Event::new(kind, "hello")
            .with("workflow_name", "provision-postgres")
            .with("step_name", "configure-network")
            .with("step_number", 2)
            .with("total_steps", 3)
            .with("resource_name", "database")
    }

    /// A realistic event of each type, shaped like our server's (and innominatus's) payloads.
    /// docs/events.md shows `message(&sample(kind))` for each of these.
    pub(super) fn sample(kind: &EventKind) -> Event {
        let ev = match kind {
            EventKind::Connected => {
                let mut ev = Event::new(EventKind::Connected, "");
                ev.extra.insert("client_id".into(), json!("client-3"));
                ev
            }
            EventKind::DeploymentQueued => {
                Event::new(kind.clone(), "hello").with("waiting_for", "6")
            }
            EventKind::DeploymentStarted => Event::new(kind.clone(), "hello")
                .with(
                    "resources",
                    json!([{"name": "database", "type": "postgres"}, {"name": "cache", "type": "redis"}]),
                )
                .with("total_resources", 2),
            EventKind::ResourceCreated => resource(kind.clone())
                .with("state", "requested")
                .with("created_by", "ctl"),
            EventKind::ResourceProvisioning => resource(kind.clone()),
            EventKind::ProviderResolved => resource(kind.clone())
                .with("provider_name", "database-team")
                .with("workflow_name", "provision-postgres"),
            EventKind::WorkflowStarted | EventKind::WorkflowCompleted => {
                Event::new(kind.clone(), "hello")
                    .with("execution_id", 5)
                    .with("total_steps", 3)
                    .with("workflow_name", "provision-postgres")
            }
            EventKind::StepStarted | EventKind::StepCompleted => step(kind.clone()),
            EventKind::StepProgress => step(kind.clone()).with("message", "allocating subnet"),
            EventKind::StepFailed => step(kind.clone()).with("error", "quota exceeded"),
            EventKind::WorkflowFailed => Event::new(kind.clone(), "hello")
                .with("execution_id", 5)
                .with("total_steps", 3)
                .with("workflow_name", "provision-postgres")
                .with("step_name", "configure")
                .with("error", "quota exceeded"),
            EventKind::ResourceActive => resource(kind.clone())
                .with("new_state", "active")
                .with("workflow_execution_id", 5),
            EventKind::ResourceFailed => resource(kind.clone()).with("error", "quota exceeded"),
            EventKind::DeploymentCompleted => Event::new(kind.clone(), "hello")
                .with("duration_ms", 5000)
                .with("resources", json!([{"name": "database", "type": "postgres"}])),
            EventKind::DeploymentFailed => Event::new(kind.clone(), "hello")
                .with("error", "quota exceeded")
                .with("failed_resources", json!(["database"]))
                .with("duration_ms", 4200),
            EventKind::ApplicationDeleted => Event::new(kind.clone(), "hello"),
            EventKind::StreamGap => Event::new(kind.clone(), "hello")
                .with("requested_since", 12)
                .with("first_available", 40),
            EventKind::Other(_) => Event::new(kind.clone(), "hello")
                .with("checks", 4)
                .with("note", "all good"),
        };
        let mut ev = ev.with_source("workflow-executor").with_deployment("7");
        ev.id = "42".into();
        ev.timestamp = Some(at("2024-11-12T15:04:01+01:00"));
        ev
    }

    fn unknown_kind() -> EventKind {
        EventKind::Other("spec.validated".into())
    }

    fn all_kinds() -> Vec<EventKind> {
        let mut kinds = EventKind::ALL.to_vec();
        kinds.push(unknown_kind());
        kinds
    }

    #[test]
    fn exact_messages_for_every_type() {
        let expected = [
            (EventKind::Connected, "Connected to event stream"),
            (
                EventKind::DeploymentQueued,
                "Deployment queued: waiting for deployment 6 to finish",
            ),
            (
                EventKind::DeploymentStarted,
                "Deployment started: 2 resources",
            ),
            (
                EventKind::ResourceCreated,
                "Resource created: database (postgres)",
            ),
            (
                EventKind::ResourceProvisioning,
                "Provisioning resource: database (postgres)",
            ),
            (
                EventKind::ProviderResolved,
                "Provider resolved: database-team for postgres (workflow: provision-postgres)",
            ),
            (
                EventKind::WorkflowStarted,
                "Workflow started: provision-postgres (3 steps)",
            ),
            (
                EventKind::StepStarted,
                "Step 2/3 started: configure-network (database)",
            ),
            (
                EventKind::StepProgress,
                "Step progress: configure-network: allocating subnet",
            ),
            (
                EventKind::StepCompleted,
                "Step 2/3 completed: configure-network (database)",
            ),
            (
                EventKind::StepFailed,
                "Step 2/3 failed: configure-network (database): quota exceeded",
            ),
            (
                EventKind::WorkflowCompleted,
                "Workflow completed: provision-postgres",
            ),
            (
                EventKind::WorkflowFailed,
                "Workflow failed: provision-postgres at configure: quota exceeded",
            ),
            (EventKind::ResourceActive, "Resource active: database"),
            (
                EventKind::ResourceFailed,
                "Resource failed: database: quota exceeded",
            ),
            (EventKind::DeploymentCompleted, "Deployment completed in 5s"),
            (
                EventKind::DeploymentFailed,
                "Deployment failed after 4s: database: quota exceeded",
            ),
            (EventKind::ApplicationDeleted, "Application deleted: hello"),
            (
                EventKind::StreamGap,
                "Events missed: events after id 12 could not be replayed (oldest available: 40)",
            ),
            (unknown_kind(), "spec.validated: checks=4 note=\"all good\""),
        ];
        assert_eq!(
            expected.len(),
            EventKind::ALL.len() + 1,
            "a type is missing"
        );
        for (kind, text) in expected {
            assert_eq!(message(&sample(&kind)), text, "{kind}");
        }
    }

    #[test]
    fn every_type_renders_a_line_with_icon_and_message() {
        for kind in all_kinds() {
            let ev = sample(&kind);
            for icons in [Icons::Unicode, Icons::Ascii] {
                let style = TextStyle {
                    icons,
                    ..utc_style()
                };
                let line = event_line(&ev, &style);
                let marker = icon(&kind, icons);
                assert!(!marker.is_empty(), "{kind}");
                // 15:04:01+01:00 is 14:04:01 UTC.
                assert!(line.starts_with(&format!("[14:04:01] {marker}")), "{line}");
                assert!(line.ends_with(&message(&ev)), "{line}");
                assert!(!line.contains('\n'), "{line}");
            }
        }
    }

    #[test]
    fn the_target_screen() {
        let style = utc_style();
        let events = [
            resource(EventKind::ResourceCreated).with("state", "requested"),
            resource(EventKind::ResourceProvisioning),
            resource(EventKind::ProviderResolved)
                .with("provider_name", "database-team")
                .with("workflow_name", "provision-postgres"),
            Event::new(EventKind::WorkflowStarted, "hello")
                .with("workflow_name", "provision-postgres")
                .with("total_steps", 3),
            Event::new(EventKind::WorkflowCompleted, "hello")
                .with("workflow_name", "provision-postgres")
                .with("total_steps", 3),
            resource(EventKind::ResourceActive),
        ];
        let seconds = [1, 1, 2, 2, 5, 5];
        let mut screen = vec![
            submitting("hello", &style),
            submitted(&style),
            watching_header("hello", &style),
        ];
        for (mut ev, s) in events.into_iter().zip(seconds) {
            ev.timestamp = Some(at(&format!("2024-11-12T15:04:0{s}Z")));
            screen.push(event_line(&ev, &style));
        }
        screen.push(footer(
            FooterOutcome::Succeeded {
                elapsed: Duration::from_millis(5_120),
            },
            &style,
        ));
        let expected = "\
📤 Submitting Score specification: hello
✅ Spec submitted, watching deployment...
━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━
🔍 Watching deployment: hello
━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━
[15:04:01] 📝 Resource created: database (postgres)
[15:04:01] ⏳ Provisioning resource: database (postgres)
[15:04:02] 🔍 Provider resolved: database-team for postgres (workflow: provision-postgres)
[15:04:02] 🚀 Workflow started: provision-postgres (3 steps)
[15:04:05] ✅ Workflow completed: provision-postgres
[15:04:05] 🟢 Resource active: database
━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━
✅ Deployment completed in 5s
━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━";
        assert_eq!(screen.join("\n"), expected);
    }

    #[test]
    fn unknown_types_show_type_and_compact_data() {
        let bare = Event::new(unknown_kind(), "hello");
        assert_eq!(message(&bare), "spec.validated");
        let nested = bare
            .clone()
            .with("list", json!([1, "two"]))
            .with("empty", "")
            .with("long", "x".repeat(100));
        assert_eq!(
            message(&nested),
            format!(
                "spec.validated: empty=\"\" list=[1,\"two\"] long={}...",
                "x".repeat(SUMMARY_VALUE_CHARS)
            )
        );
        let many = (0..9).fold(bare, |ev, i| ev.with(&format!("k{i}"), i));
        assert_eq!(
            message(&many),
            "spec.validated: k0=0 k1=1 k2=2 k3=3 k4=4 k5=5 (+3 more)"
        );
        let hostile = Event::new(EventKind::Other("x\x1b[31m.y\n".into()), "hello");
        assert_eq!(message(&hostile), "x.y");
    }

    #[test]
    fn missing_keys_degrade_without_panicking() {
        for kind in all_kinds() {
            let mut ev = Event::new(kind.clone(), "");
            let text = message(&ev);
            assert!(!text.is_empty(), "{kind}");
            // Null and structured values where text is expected are treated as missing.
            for key in ["resource_name", "workflow_name", "error", "total_steps"] {
                ev = ev.with(key, json!(null));
            }
            ev = ev.with("step_name", json!({"nested": true}));
            if !matches!(kind, EventKind::Other(_)) {
                assert_eq!(message(&ev), text, "{kind}");
            }
            let _ = event_line(&ev, &utc_style());
        }
        let bare = |kind: EventKind| message(&Event::new(kind, ""));
        assert_eq!(bare(EventKind::ResourceActive), "Resource active: ?");
        assert_eq!(bare(EventKind::ResourceCreated), "Resource created: ?");
        assert_eq!(bare(EventKind::ResourceFailed), "Resource failed: ?");
        assert_eq!(bare(EventKind::ProviderResolved), "Provider resolved: ?");
        assert_eq!(bare(EventKind::WorkflowStarted), "Workflow started: ?");
        assert_eq!(bare(EventKind::WorkflowFailed), "Workflow failed: ?");
        assert_eq!(bare(EventKind::StepStarted), "Step started");
        assert_eq!(bare(EventKind::StepProgress), "Step progress");
        assert_eq!(bare(EventKind::DeploymentStarted), "Deployment started");
        assert_eq!(bare(EventKind::DeploymentCompleted), "Deployment completed");
        assert_eq!(bare(EventKind::DeploymentFailed), "Deployment failed");
        assert_eq!(
            bare(EventKind::ApplicationDeleted),
            "Application deleted: ?"
        );
        assert_eq!(
            bare(EventKind::StreamGap),
            "Events missed: some events could not be replayed"
        );
        // Partial data keeps what is there.
        let ev = Event::new(EventKind::StepStarted, "").with("step_number", 2);
        assert_eq!(message(&ev), "Step 2 started");
        let ev = Event::new(EventKind::ResourceCreated, "").with("resource_type", "redis");
        assert_eq!(message(&ev), "Resource created: ? (redis)");
        let ev = Event::new(EventKind::DeploymentFailed, "").with("error", "boom");
        assert_eq!(message(&ev), "Deployment failed: boom");
        let ev = Event::new(EventKind::DeploymentStarted, "")
            .with("resources", json!([{"name": "database"}]));
        assert_eq!(message(&ev), "Deployment started: 1 resource");
        let ev = Event::new(EventKind::WorkflowStarted, "")
            .with("workflow_name", "w")
            .with("total_steps", 1);
        assert_eq!(message(&ev), "Workflow started: w (1 step)");
        let ev = Event::new(EventKind::ProviderResolved, "")
            .with("provider_name", "team")
            .with("resource_name", "db");
        assert_eq!(message(&ev), "Provider resolved: team for db");
        let ev = Event::new(EventKind::ResourceActive, "").with("resource_name", "   ");
        assert_eq!(message(&ev), "Resource active: ?");
    }

    #[test]
    fn integer_and_string_values_read_alike() {
        let as_ints = step(EventKind::StepStarted);
        let as_strings = Event::new(EventKind::StepStarted, "hello")
            .with("step_name", "configure-network")
            .with("step_number", "2")
            .with("total_steps", "3")
            .with("resource_name", "database");
        assert_eq!(message(&as_ints), message(&as_strings));
        let started = |total: Value| {
            message(
                &Event::new(EventKind::WorkflowStarted, "")
                    .with("workflow_name", "w")
                    .with("total_steps", total),
            )
        };
        assert_eq!(started(json!(3)), started(json!("3")));
        assert_eq!(started(json!("three")), "Workflow started: w");
        let failed = |ms: Value| {
            message(&Event::new(EventKind::DeploymentFailed, "").with("duration_ms", ms))
        };
        assert_eq!(failed(json!(65_000)), "Deployment failed after 1m05s");
        assert_eq!(failed(json!("65000")), "Deployment failed after 1m05s");
        let numeric_name = Event::new(EventKind::ResourceActive, "").with("resource_name", 7);
        assert_eq!(message(&numeric_name), "Resource active: 7");
    }

    #[test]
    fn verbose_adds_sorted_sanitised_details() {
        let style = TextStyle {
            verbose: true,
            ..utc_style()
        };
        let ev = sample(&EventKind::WorkflowStarted).with("note", "two words\x1b[2J");
        assert_eq!(
            event_line(&ev, &style),
            "[14:04:01] 🚀 Workflow started: provision-postgres (3 steps)\n    \
             id=42 deployment=7 source=workflow-executor\n    \
             execution_id=5 note=\"two words\" total_steps=3 workflow_name=provision-postgres"
        );
        let connected = sample(&EventKind::Connected);
        assert_eq!(
            event_line(&connected, &style),
            "[14:04:01] 🔌 Connected to event stream\n    \
             id=42 deployment=7 source=workflow-executor client_id=client-3"
        );
        let bare = Event::new(EventKind::ResourceActive, "hello");
        assert_eq!(
            event_line_at(
                &bare,
                &style,
                Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap()
            ),
            "[03:04:05] 🟢 Resource active: ?",
            "no details to show, no detail lines"
        );
        let quoted = Event::new(EventKind::ResourceFailed, "").with("error", "say \"no\"\\");
        assert!(
            event_line(&quoted, &style).ends_with(r#"error="say \"no\"\\""#),
            "{}",
            event_line(&quoted, &style)
        );
    }

    #[test]
    fn plain_palette_never_emits_escape_codes() {
        for icons in [Icons::Unicode, Icons::Ascii] {
            let style = TextStyle {
                icons,
                verbose: true,
                ..utc_style()
            };
            let mut text = vec![
                rule(&style),
                submitting("hello", &style),
                submitted(&style),
                watching_header("hello", &style),
            ];
            text.extend(all_kinds().iter().map(|k| event_line(&sample(k), &style)));
            text.extend(footers().into_iter().map(|f| footer(f, &style)));
            for t in text {
                assert!(!t.contains('\x1b'), "{t:?}");
            }
        }
    }

    #[test]
    fn coloured_palette_colours_by_severity() {
        let style = TextStyle {
            palette: Palette::coloured(),
            ..utc_style()
        };
        let red = Palette::coloured().failure("x").to_string();
        let red_prefix = red.split('x').next().unwrap();
        let green = Palette::coloured().success("x").to_string();
        let green_prefix = green.split('x').next().unwrap();

        let failed = event_line(&sample(&EventKind::ResourceFailed), &style);
        assert!(
            failed.contains(&format!("{red_prefix}Resource failed")),
            "{failed:?}"
        );
        let active = event_line(&sample(&EventKind::ResourceActive), &style);
        assert!(
            active.contains(&format!("{green_prefix}Resource active")),
            "{active:?}"
        );
        // Progress is uncoloured; only the timestamp is dimmed.
        let progress = event_line(&sample(&EventKind::ResourceProvisioning), &style);
        assert!(progress.starts_with("\x1b["), "{progress:?}");
        assert!(progress.ends_with("⏳ Provisioning resource: database (postgres)"));
        for f in footers() {
            assert!(footer(f, &style).contains('\x1b'));
        }
        assert!(rule(&style).contains('\x1b'));
    }

    #[test]
    fn ascii_markers_are_ascii_and_aligned() {
        let style = TextStyle {
            icons: Icons::Ascii,
            ..utc_style()
        };
        for kind in all_kinds() {
            let marker = icon(&kind, Icons::Ascii);
            assert!(
                marker.is_ascii() && marker.len() <= ASCII_COLUMN,
                "{marker}"
            );
            let line = event_line(&sample(&kind), &style);
            assert!(line.is_ascii(), "{line}");
            // "[14:04:01] " + marker column + " ": the message starts at a fixed column.
            assert_eq!(
                &line[11 + ASCII_COLUMN + 1..],
                message(&sample(&kind)),
                "{line}"
            );
        }
        let banners = [
            rule(&style),
            submitting("hello", &style),
            submitted(&style),
            watching_header("hello", &style),
        ];
        for text in banners
            .into_iter()
            .chain(footers().into_iter().map(|f| footer(f, &style)))
        {
            assert!(text.is_ascii(), "{text}");
        }
        assert_eq!(rule(&style), "-".repeat(RULE_WIDTH));
    }

    #[test]
    fn unicode_icons_avoid_ambiguous_widths() {
        for kind in all_kinds() {
            let glyph = icon(&kind, Icons::Unicode);
            // One code point each: no variation selector, whose width terminals disagree on.
            assert_eq!(glyph.chars().count(), 1, "{kind}: {glyph}");
            assert!(!glyph.contains('\u{fe0f}'));
        }
        // The narrow bullet is padded so the message still starts after two columns.
        let line = event_line(&sample(&unknown_kind()), &utc_style());
        assert!(line.starts_with("[14:04:01] •  spec.validated"), "{line}");
    }

    #[test]
    fn sanitize_removes_terminal_control() {
        assert!(matches!(sanitize("plain text é 🎉"), Cow::Borrowed(_)));
        let cases = [
            ("clear\x1b[2Jscreen", "clearscreen"),
            ("\x1b[1;31mred\x1b[0m", "red"),
            ("\x1b]0;title\x07after", "after"),
            ("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link"),
            ("a\rb", "a b"),
            ("a\r\nb\nc\td", "a b c d"),
            ("bell\x07 back\x08space\x7f", "bell backspace"),
            ("\u{9b}2Jc1\u{9d}0;t\u{9c}!", "c1!"),
            ("\x1bcreset \x1b(Bcharset", "reset charset"),
            ("caf\u{e9} \u{1f469}\u{200d}\u{1f4bb} ok", "café 👩‍💻 ok"),
            ("evil\u{202e}txt.exe", "eviltxt.exe"),
            ("unterminated \x1b]0;title", "unterminated "),
            ("trailing esc\x1b", "trailing esc"),
            ("csi cut \x1b[12", "csi cut "),
        ];
        for (input, expected) in cases {
            assert_eq!(sanitize(input), expected, "{input:?}");
        }
    }

    #[test]
    fn server_text_is_sanitised_everywhere() {
        let hostile = "data\x1b[2J\x1b]0;pwned\x07base\nx";
        let mut ev = Event::new(EventKind::ResourceFailed, hostile)
            .with("resource_name", hostile)
            .with("error", hostile)
            .with(hostile, hostile)
            .with_source(hostile)
            .with_deployment(hostile);
        ev.id = hostile.into();
        let style = TextStyle {
            verbose: true,
            ..utc_style()
        };
        let line = event_line(&ev, &style);
        assert!(!line.contains('\x1b') && !line.contains('\x07'), "{line:?}");
        assert_eq!(
            line.lines().count(),
            3,
            "only our own detail lines: {line:?}"
        );
        assert!(line.contains("Resource failed: database x: database x"));
        let failed = footer(
            FooterOutcome::Failed {
                elapsed: Duration::from_secs(1),
                failed_resources: vec![FailedResource {
                    name: hostile.into(),
                    kind: hostile.into(),
                    step: Some((1, 2, hostile.into())),
                    error: Some(hostile.into()),
                }],
                error: Some(hostile.into()),
            },
            &style,
        );
        assert!(!failed.contains('\x1b'));
        assert!(!submitting(hostile, &style).contains('\x1b'));
        assert!(!watching_header(hostile, &style).contains('\x1b'));
    }

    #[test]
    fn timestamps_utc_relative_none() {
        let ev = Event::new(EventKind::ResourceActive, "").with("resource_name", "db");
        let mut ev = ev;
        ev.timestamp = Some(at("2024-11-12T15:04:01.250+05:30"));
        let line = |timestamps| {
            event_line(
                &ev,
                &TextStyle {
                    timestamps,
                    ..TextStyle::plain()
                },
            )
        };
        assert_eq!(line(Timestamps::Utc), "[09:34:01] 🟢 Resource active: db");
        assert_eq!(line(Timestamps::None), "🟢 Resource active: db");
        let start = Utc.with_ymd_and_hms(2024, 11, 12, 9, 33, 49).unwrap();
        assert_eq!(
            line(Timestamps::Relative(start)),
            "[+12.3s] 🟢 Resource active: db"
        );
        let long_ago = Utc.with_ymd_and_hms(2024, 11, 12, 9, 31, 56).unwrap();
        assert_eq!(
            line(Timestamps::Relative(long_ago)),
            "[+2m05.3s] 🟢 Resource active: db"
        );
        let later = Utc.with_ymd_and_hms(2024, 11, 12, 9, 34, 4).unwrap();
        assert_eq!(
            line(Timestamps::Relative(later)),
            "[-2.8s] 🟢 Resource active: db"
        );
        // Local time: only the shape is machine-independent.
        let local = line(Timestamps::Local);
        let stamp = local.get(..10).unwrap();
        assert!(
            stamp.starts_with('[') && stamp.ends_with(']') && stamp.as_bytes()[3] == b':',
            "{local}"
        );
    }

    #[test]
    fn missing_timestamp_uses_render_time() {
        let ev = Event::new(EventKind::Connected, "");
        let now = Utc.with_ymd_and_hms(2024, 1, 2, 23, 59, 58).unwrap();
        let style = utc_style();
        assert_eq!(
            event_line_at(&ev, &style, now),
            "[23:59:58] 🔌 Connected to event stream"
        );
        let relative = TextStyle {
            timestamps: Timestamps::Relative(now - TimeDelta::milliseconds(1_500)),
            ..style
        };
        assert_eq!(
            event_line_at(&ev, &relative, now),
            "[+1.5s] 🔌 Connected to event stream"
        );
    }

    fn footers() -> Vec<FooterOutcome> {
        vec![
            FooterOutcome::Succeeded {
                elapsed: Duration::from_secs(5),
            },
            FooterOutcome::Failed {
                elapsed: Duration::from_millis(4_400),
                failed_resources: vec![],
                error: Some("database: quota exceeded".into()),
            },
            FooterOutcome::TimedOut {
                elapsed: Duration::from_secs(300),
            },
            FooterOutcome::Interrupted {
                elapsed: Duration::from_secs(12),
            },
            FooterOutcome::ConnectionLost {
                elapsed: Duration::from_secs(3_725),
                reason: Some("connection refused".into()),
            },
        ]
    }

    #[test]
    fn footer_variants() {
        let style = TextStyle::plain();
        let lines: Vec<String> = footers()
            .into_iter()
            .map(|f| {
                let text = footer(f, &style);
                let parts: Vec<&str> = text.split('\n').collect();
                assert_eq!(parts.len(), 3, "{text}");
                assert_eq!(parts[0], rule(&style));
                assert_eq!(parts[2], rule(&style));
                parts[1].to_owned()
            })
            .collect();
        assert_eq!(
            lines,
            [
                "✅ Deployment completed in 5s",
                "❌ Deployment failed after 4s: database: quota exceeded",
                "⏰ Timed out after 5m00s; the deployment may still be running",
                "🛑 Interrupted after 12s; the deployment continues on the server",
                "⛔ Connection lost after 1h02m05s: connection refused; \
                 the deployment may still be running",
            ]
        );
        let failed = |failed_resources: Vec<FailedResource>, error: Option<String>| {
            footer(
                FooterOutcome::Failed {
                    elapsed: Duration::from_secs(4),
                    failed_resources,
                    error,
                },
                &style,
            )
        };
        assert!(failed(vec![], None).contains("\n❌ Deployment failed after 4s\n"));
        let named = |name: &str| FailedResource {
            name: name.into(),
            ..FailedResource::default()
        };
        assert!(
            failed(vec![named("db"), named("cache")], Some(" ".into())).contains(
                "\n❌ Deployment failed after 4s: db, cache\n   db failed\n   cache failed\n"
            )
        );
        let lost = footer(
            FooterOutcome::ConnectionLost {
                elapsed: Duration::from_secs(1),
                reason: None,
            },
            &style,
        );
        assert!(
            lost.contains("\n⛔ Connection lost after 1s; the deployment may still be running\n")
        );
    }

    #[test]
    fn failure_footer_names_resource_step_and_server_error() {
        let style = TextStyle::plain();
        let db = FailedResource {
            name: "database".into(),
            kind: "postgres".into(),
            step: Some((2, 3, "configure-network".into())),
            error: Some("quota exceeded".into()),
        };
        let queue = FailedResource {
            name: "queue".into(),
            kind: "rabbitmq".into(),
            step: None,
            error: Some("no provider registered".into()),
        };
        let server_sentence = "2 of 2 resources failed: resource 'database' (postgres) failed at \
             step 'configure-network': quota exceeded; resource 'queue' (rabbitmq) failed: no \
             provider registered";
        let text = footer(
            FooterOutcome::Failed {
                elapsed: Duration::from_secs(4),
                failed_resources: vec![db.clone(), queue.clone()],
                error: Some(server_sentence.into()),
            },
            &style,
        );
        let rule = rule(&style);
        assert_eq!(
            text,
            format!(
                "{rule}\n❌ Deployment failed after 4s: database, queue\n   \
                 database (postgres) failed at step 2/3 configure-network: quota exceeded\n   \
                 queue (rabbitmq) failed: no provider registered\n{rule}"
            ),
            "the server's sentence only repeats the resource errors, so it is said once"
        );
        let extra = footer(
            FooterOutcome::Failed {
                elapsed: Duration::from_secs(4),
                failed_resources: vec![db.clone()],
                error: Some("cancelled by an operator".into()),
            },
            &style,
        );
        assert!(
            extra.contains("\n❌ Deployment failed after 4s: database: cancelled by an operator\n"),
            "{extra}"
        );
        assert_eq!(
            failure_reason(&[db.clone(), queue], None),
            "database (postgres) failed at step 2/3 configure-network: quota exceeded; \
             queue (rabbitmq) failed: no provider registered"
        );
        assert_eq!(failure_reason(&[], Some("boom")), "boom");
        assert_eq!(failure_reason(&[], None), "the deployment failed");
        assert_eq!(step_label(2, 0, "x"), "step 2 x");
        assert_eq!(step_label(0, 0, ""), "step");
        let ascii = TextStyle {
            icons: Icons::Ascii,
            ..style
        };
        let text = footer(
            FooterOutcome::Failed {
                elapsed: Duration::from_secs(4),
                failed_resources: vec![db],
                error: None,
            },
            &ascii,
        );
        assert!(text.is_ascii(), "{text}");
    }

    #[test]
    fn heartbeat_lines() {
        use crate::tracker::ResourceState;
        let state = |kind: &str, state: &str, step: Option<(u64, u64, &str)>| ResourceState {
            kind: kind.into(),
            state: state.into(),
            step: step.map(|(n, t, s)| (n, t, s.into())),
            ..ResourceState::default()
        };
        let db = state(
            "postgres",
            "provisioning",
            Some((3, 4, "create-credentials")),
        );
        let cache = state("redis", "active", None);
        assert_eq!(
            heartbeat(
                [("database", &db), ("cache", &cache)],
                Duration::from_secs(90)
            ),
            "still waiting (1m30s): database (postgres) at step 3/4 create-credentials; \
             1/2 resources active"
        );
        assert_eq!(
            heartbeat([], Duration::from_secs(30)),
            "still waiting (30s): no resources reported yet"
        );
        // Nothing left unsettled: the counts alone (a failed resource is settled too).
        let failed = state("s3", "failed", Some((1, 2, "create")));
        assert_eq!(
            heartbeat(
                [("cache", &cache), ("bucket", &failed)],
                Duration::from_secs(5)
            ),
            "still waiting (5s): 1/2 resources active"
        );
        // No step yet: the state; no type: the bare name.
        let pending = state("", "pending", None);
        assert_eq!(
            heartbeat([("queue", &pending)], Duration::from_secs(5)),
            "still waiting (5s): queue pending; 0/1 resources active"
        );
    }

    #[test]
    fn heartbeat_is_one_bounded_sanitised_line() {
        use crate::tracker::ResourceState;
        let hostile = ResourceState {
            kind: "pg\x1b[2J\nsql".into(),
            state: "provisioning".into(),
            step: Some((1, 2, "x".repeat(500))),
            ..ResourceState::default()
        };
        let names: Vec<String> = (0..50).map(|i| format!("res\r\n{i}")).collect();
        let line = heartbeat(
            names.iter().map(|n| (n.as_str(), &hostile)),
            Duration::from_secs(5),
        );
        assert!(!line.chars().any(char::is_control), "{line:?}");
        assert!(
            line.ends_with(" and 47 more; 0/50 resources active"),
            "{line}"
        );
        assert!(line.contains("res 0 (pg sql) at step 1/2 x"), "{line}");
        assert!(line.chars().count() < 4 * HEARTBEAT_ITEM_MAX, "{line}");
    }

    #[test]
    fn human_durations() {
        let cases = [
            (0, "0ms"),
            (350, "350ms"),
            (999, "999ms"),
            (1_000, "1s"),
            (4_499, "4s"),
            (4_500, "5s"),
            (59_600, "1m00s"),
            (65_000, "1m05s"),
            (3_599_000, "59m59s"),
            (3_600_000, "1h00m00s"),
            (7_384_000, "2h03m04s"),
        ];
        for (ms, text) in cases {
            assert_eq!(human_duration(Duration::from_millis(ms)), text, "{ms}");
        }
    }

    #[test]
    fn banners() {
        let style = TextStyle::plain();
        assert_eq!(rule(&style), "━".repeat(54));
        assert_eq!(
            submitting("hello", &style),
            "📤 Submitting Score specification: hello"
        );
        assert_eq!(
            submitted(&style),
            "✅ Spec submitted, watching deployment..."
        );
        let rule = rule(&style);
        assert_eq!(
            watching_header("hello", &style),
            format!("{rule}\n🔍 Watching deployment: hello\n{rule}")
        );
    }

    /// docs/events.md is the reference for every type; this keeps it in step with the code:
    /// each row's icon, ASCII marker and example message must be what this module produces.
    #[test]
    fn docs_events_md_matches_the_code() {
        let doc = include_str!("../../docs/events.md");
        let row = |name: &str| -> Vec<String> {
            let start = format!("| {name} |");
            let line = doc
                .lines()
                .find(|l| l.starts_with(&start))
                .unwrap_or_else(|| panic!("docs/events.md has no row for {name}"));
            line.split('|').map(|cell| cell.trim().to_owned()).collect()
        };
        for kind in all_kinds() {
            let name = match &kind {
                EventKind::Other(_) => "*other*".to_owned(),
                known => format!("`{known}`"),
            };
            let cells = row(&name);
            // cells: "", type, icon, ascii, example, data keys, ""
            assert_eq!(cells.len(), 7, "{name}: {cells:?}");
            assert_eq!(cells[2], icon(&kind, Icons::Unicode), "{name}");
            assert_eq!(
                cells[3],
                format!("`{}`", icon(&kind, Icons::Ascii)),
                "{name}"
            );
            assert_eq!(cells[4], format!("`{}`", message(&sample(&kind))), "{name}");
        }
    }
}
