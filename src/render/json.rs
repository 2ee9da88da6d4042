//! JSON Lines output (`--output json`): one compact JSON object per line.
//!
//! Each event is written in the protocol's shape (PROTOCOL.md A.3 / B.1: `id`, `type`,
//! `app_name`, `timestamp`, `data`, `source`, `deployment_id`, plus any keys a newer server
//! added), whatever server it came from, so scripts read one format. The schema is described in
//! `docs/events.md`.
//!
//! This module only serialises into the writer it is given. It must never add banners, colour
//! or anything that is not one JSON object followed by `\n`, and it does not sanitise: JSON
//! string escaping already turns control characters into `\u001b`-style escapes.

use std::io::{self, Write};

use serde::Serialize;

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
    serde_json::to_writer(&mut *out, value).map_err(io::Error::from)?;
    out.write_all(b"\n")
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
