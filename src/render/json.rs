//! JSON Lines output (`--output json`): one compact JSON object per line.
//!
//! Each event is written in the protocol's shape (PROTOCOL.md A.3 / B.1: `id`, `type`,
//! `app_name`, `timestamp`, `data`, `source`, `deployment_id`, plus any keys a newer server
//! added), whatever server it came from, so scripts read one format. The schema is described in
//! `docs/events.md`.
//!
//! This module only serialises into the writer it is given. It must never add banners, colour
//! or anything that is not one JSON object followed by `\n`, and it does not sanitise: JSON
//! string escaping turns C0 control characters into `\u001b`-style escapes, and this module
//! escapes the rest of what a terminal or an editor would act on ([`is_unsafe`]: C1 controls,
//! including the 8-bit CSI and OSC, and the bidi overrides) the same way, which JSON allows
//! for any character. A line that reached us already serialised (the server's canonical line,
//! written through) is passed through [`escape_unsafe`].

use std::borrow::Cow;
use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::Formatter;

use crate::event::Event;

/// Writes one event as a compact JSON object and a newline.
///
/// The object is serialised straight into `out` (no intermediate `String`); give it a buffered
/// writer, and flush after each line when a reader is waiting live. I/O errors such as a broken
/// pipe are returned with their original [`io::ErrorKind`].
pub fn write_event(ev: &Event, out: &mut impl Write) -> io::Result<()> {
    write_value(ev, out)
}

/// Writes any serialisable value as one compact JSON line (summaries, errors, ...).
pub fn write_value(value: &impl Serialize, out: &mut impl Write) -> io::Result<()> {
    // `From<serde_json::Error> for io::Error` keeps the inner io::Error's kind, so a closed pipe
    // still reads as `BrokenPipe` to the caller.
    let mut serializer = serde_json::Serializer::with_formatter(&mut *out, SafeFormatter);
    value.serialize(&mut serializer).map_err(io::Error::from)?;
    out.write_all(b"\n")
}

/// Whether a character must never reach a reader raw, even inside a JSON string: a C1
/// control (U+0080–U+009F; U+009B is CSI and U+009D is OSC on terminals that take 8-bit
/// controls) or a bidi embedding, override or isolate (U+202A–U+202E, U+2066–U+2069), which
/// reorders what a reader sees. C0 controls are escaped by serde_json already.
pub fn is_unsafe(c: char) -> bool {
    matches!(c, '\u{80}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with each [`is_unsafe`] character written as a `\uXXXX` escape. For JSON text:
/// outside strings such a character is invalid JSON anyway, and inside one the escape means
/// the same character, so the document is unchanged for a JSON reader. Borrowed (and cheap:
/// a byte scan for the two lead bytes) when there is nothing to escape, which is nearly always.
pub fn escape_unsafe(text: &str) -> Cow<'_, str> {
    // In UTF-8 every unsafe character starts with 0xC2 (U+0080–U+00BF) or 0xE2 (U+2000–U+2FFF).
    if memchr::memchr2(0xc2, 0xe2, text.as_bytes()).is_none() || !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_unsafe(c) {
            // Writing to a String cannot fail.
            let _ = std::fmt::Write::write_fmt(&mut out, format_args!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// serde_json's compact format (`Formatter`'s defaults are `CompactFormatter`'s), with
/// [`is_unsafe`] characters escaped in strings and in raw values (event `data` kept as
/// received).
struct SafeFormatter;

impl Formatter for SafeFormatter {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        writer.write_all(escape_unsafe(fragment).as_bytes())
    }

    fn write_raw_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        writer.write_all(escape_unsafe(fragment).as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;

    fn sample() -> Event {
        let mut ev = Event::new(EventKind::ResourceActive, "hello")
            .with_source("workflow-executor")
            .with_deployment("7")
            .with("resource_id", 17)
            .with("resource_name", "database\x1b[2J")
            .with("new_state", "active");
        ev.id = "42".into();
        ev.timestamp = chrono::DateTime::parse_from_rfc3339("2024-11-12T15:04:05+01:00").ok();
        ev
    }

    #[test]
    fn one_compact_line_that_round_trips() {
        let ev = sample();
        let mut out = Vec::new();
        write_event(&ev, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with('\n'));
        let line = text.strip_suffix('\n').unwrap();
        assert!(!line.contains('\n'));
        assert!(!line.contains("\n "), "compact, not pretty");
        assert_eq!(Event::from_json(line).unwrap(), ev);
        assert_eq!(line, ev.to_json());
    }

    #[test]
    fn control_characters_are_escaped_not_written() {
        let mut out = Vec::new();
        write_event(&sample(), &mut out).unwrap();
        assert!(!out.contains(&0x1b));
        assert!(
            String::from_utf8(out)
                .unwrap()
                .contains(r"database\u001b[2J")
        );
    }

    #[test]
    fn c1_controls_and_bidi_overrides_are_escaped() {
        let hostile = "a\u{9b}2Jb\u{9d}52;c;QUFB\u{9c}c\u{85}d\u{202e}txt\u{2066}e\u{2069}";
        let ev = Event::new(EventKind::ResourceFailed, hostile)
            .with("error", hostile)
            .with(hostile, hostile);
        let mut out = Vec::new();
        write_event(&ev, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.chars().any(is_unsafe), "{text}");
        assert!(text.contains(r"a\u009b2Jb\u009d52;c;QUFB\u009cc\u0085d\u202etxt\u2066e\u2069"));
        // Still the same event for a JSON reader.
        assert_eq!(Event::from_json(text.trim_end()).unwrap(), ev);

        // Already serialised lines: only the unsafe characters change.
        let line = ev.to_json();
        let escaped = escape_unsafe(&line);
        assert!(!escaped.chars().any(is_unsafe));
        assert_eq!(Event::from_json(&escaped).unwrap(), ev);
        assert!(matches!(escape_unsafe("plain é → ok"), Cow::Borrowed(_)));
        // Neighbours of the ranges are left alone.
        for fine in [
            "\u{7f}x", "\u{a0}", "\u{2029}", "\u{202f}", "\u{2065}", "\u{206a}",
        ] {
            assert!(matches!(escape_unsafe(fine), Cow::Borrowed(_)), "{fine:?}");
        }
    }

    #[test]
    fn lines_concatenate_into_ndjson() {
        let mut out = Vec::new();
        for kind in EventKind::ALL {
            write_event(&Event::new(kind.clone(), "hello"), &mut out).unwrap();
        }
        write_value(
            &serde_json::json!({"type": "summary", "status": "succeeded"}),
            &mut out,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), EventKind::ALL.len() + 1);
        for (line, kind) in lines.iter().zip(EventKind::ALL) {
            assert_eq!(&Event::from_json(line).unwrap().kind, kind);
        }
        let last: serde_json::Value = serde_json::from_str(lines[EventKind::ALL.len()]).unwrap();
        assert_eq!(last["type"], "summary");
    }

    #[test]
    fn docs_example_is_what_we_write() {
        let doc = include_str!("../../docs/events.md");
        let example = doc
            .lines()
            .find(|l| l.starts_with(r#"{"id":"#))
            .expect("docs/events.md shows a JSON line");
        let ev = Event::from_json(example).unwrap();
        let mut out = Vec::new();
        write_event(&ev, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), format!("{example}\n"));
    }

    #[test]
    fn write_errors_keep_their_kind() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let err = write_event(&sample(), &mut Closed).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }
}
