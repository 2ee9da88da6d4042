//! A fast path for reading one event: compact JSON of the usual shape, read in one pass.
//!
//! Servers write events compactly (ours through serde_json, innominatus through Go's
//! `encoding/json`): no whitespace, the known keys, strings without escapes, `data` values
//! that are strings, integers, booleans or null. [`parse`] reads exactly that, checking the
//! JSON grammar of everything it accepts, and gives up (`None`) on anything else: whitespace,
//! an escape or a control character in a string, a float, a nested value in `data`, an
//! unknown or repeated key, a missing `type`, a timestamp of an unusual shape. serde_json
//! then reads the event as before, and decides whether it is valid. So the fast path never
//! accepts what serde_json would refuse, nor reads anything differently (a unit test holds
//! the two side by side on every event type and thousands of mutations of them).
//!
//! Why: on a fast stream, serde's general machinery (a visitor per value, a map per `data`,
//! the scan for escapes) was more than half of what a text-mode watch spent per event.

use super::data::Keys;
use super::{Data, Event, EventKind, timestamp};

/// Reads `text` if it has the usual shape (see the module's introduction); `None` otherwise.
/// Without `full`, only what routes an event is kept, as [`Event::route_from_json`] reads it:
/// the timestamp, `data` and `source` are checked and left empty.
pub(super) fn parse(text: &str, full: bool) -> Option<Event> {
    let mut cursor = Cursor {
        text,
        bytes: text.as_bytes(),
        at: 0,
    };
    let mut event = Event::new(EventKind::Connected, String::new());
    let mut kind = None;
    // The keys read so far, one bit each: a repeated key is an error, which is serde's to report.
    let mut seen = 0u8;
    cursor.byte(b'{')?;
    loop {
        let key = cursor.string()?;
        cursor.byte(b':')?;
        let bit = match key {
            "id" => 1,
            "type" => 2,
            "app_name" => 4,
            "timestamp" => 8,
            "data" => 16,
            "source" => 32,
            "deployment_id" => 64,
            // Unknown keys are kept in `extra`, which serde's reading does.
            _ => return None,
        };
        if seen & bit != 0 {
            return None;
        }
        seen |= bit;
        match bit {
            1 => event.id = cursor.string()?.to_owned(),
            2 => kind = Some(EventKind::parse(cursor.string()?)),
            4 => event.app_name = cursor.string()?.to_owned(),
            8 if cursor.null() => {}
            8 if full => event.timestamp = Some(timestamp::parse_common(cursor.string()?)?),
            8 => _ = cursor.string()?,
            16 => {
                let (object, keys) = cursor.data()?;
                if full {
                    event.data = Data::indexed(object, keys);
                }
            }
            32 if full => event.source = cursor.string()?.to_owned(),
            32 => _ = cursor.string()?,
            64 if cursor.null() => event.deployment_id = None,
            _ => event.deployment_id = Some(cursor.string()?.to_owned()),
        }
        match cursor.next()? {
            b',' => {}
            b'}' => break,
            _ => return None,
        }
    }
    if cursor.at != text.len() {
        return None;
    }
    event.kind = kind?;
    Some(event)
}

/// A position in the text being read.
struct Cursor<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    /// The next byte, consumed.
    fn next(&mut self) -> Option<u8> {
        let byte = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(byte)
    }

    /// Consumes `byte`, which must come next.
    fn byte(&mut self, byte: u8) -> Option<()> {
        (self.next()? == byte).then_some(())
    }

    /// Consumes `literal` if it comes next.
    fn literal(&mut self, literal: &str) -> bool {
        let found = self.bytes[self.at..].starts_with(literal.as_bytes());
        if found {
            self.at += literal.len();
        }
        found
    }

    /// Consumes `null` if it comes next.
    fn null(&mut self) -> bool {
        self.literal("null")
    }

    /// A string without escapes or control characters, returned without its quotes.
    fn string(&mut self) -> Option<&'a str> {
        self.byte(b'"')?;
        let start = self.at;
        let len = plain_string_len(self.bytes.get(start..)?)?;
        self.at = start + len + 1;
        // Both ends are at ASCII quotes, so on character boundaries.
        self.text.get(start..start + len)
    }

    /// An integer in JSON's grammar (`-`, then `0` or digits not starting with `0`). What
    /// follows is left for the caller, which accepts only `,` or `}` (so `1.5` and `1e3` are
    /// refused there).
    fn integer(&mut self) -> Option<()> {
        self.literal("-");
        let digits = self.bytes[self.at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let first = *self.bytes.get(self.at)?;
        // More than 19 digits may be out of any range: serde decides.
        if digits == 0 || digits > 19 || (first == b'0' && digits > 1) {
            return None;
        }
        self.at += digits;
        Some(())
    }

    /// A `data` value: a string, an integer, `true`, `false` or `null`.
    fn scalar(&mut self) -> Option<()> {
        match *self.bytes.get(self.at)? {
            b'"' => self.string().map(|_| ()),
            b'-' | b'0'..=b'9' => self.integer(),
            _ => (self.literal("true") || self.literal("false") || self.null()).then_some(()),
        }
    }

    /// The `data` object: its text, and where each key is in it.
    fn data(&mut self) -> Option<(&'a str, Keys)> {
        let start = self.at;
        self.byte(b'{')?;
        let mut keys = Keys::default();
        if self.bytes.get(self.at) == Some(&b'}') {
            self.at += 1;
        } else {
            loop {
                let key_start = self.at + 1;
                let key = self.string()?;
                self.byte(b':')?;
                let value_start = self.at;
                self.scalar()?;
                let key = key_start - start..key_start - start + key.len();
                if !keys.note(key, value_start - start..self.at - start) {
                    return None;
                }
                match self.next()? {
                    b',' => {}
                    b'}' => break,
                    _ => return None,
                }
            }
        }
        Some((self.text.get(start..self.at)?, keys))
    }
}

/// Where the closing quote of a string's contents `bytes` is, if no backslash or control
/// character (below 0x20) comes before it. Eight bytes at a time: a byte-by-byte loop over
/// every string was the larger part of reading an event.
fn plain_string_len(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    // The high bit of each byte below `n` (n <= 0x80), and possibly of bytes after it: a
    // borrow only ever runs upwards from a true one, so the lowest bit set is always true.
    let below = |x: u64, n: u64| x.wrapping_sub(ONES * n) & !x & HIGH;
    let mut at = 0;
    while let Some(word) = bytes.get(at..at + 8) {
        let Ok(word) = <[u8; 8]>::try_from(word) else {
            return None;
        };
        let x = u64::from_le_bytes(word);
        let found = below(x, 0x20)
            | below(x ^ (ONES * u64::from(b'"')), 1)
            | below(x ^ (ONES * u64::from(b'\\')), 1);
        if found != 0 {
            // Little-endian: the lowest bit set is the first byte in the text.
            let first = at + found.trailing_zeros() as usize / 8;
            return (bytes[first] == b'"').then_some(first);
        }
        at += 8;
    }
    for (i, &b) in bytes[at..].iter().enumerate() {
        match b {
            b'"' => return Some(at + i),
            b'\\' | 0x00..0x20 => return None,
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    /// Events of every type, shaped as our server and innominatus write them.
    fn corpus() -> Vec<String> {
        let at = DateTime::parse_from_rfc3339("2026-11-27T12:07:48.031303191Z").ok();
        let mut lines: Vec<String> = EventKind::ALL
            .iter()
            .chain([&EventKind::Other("spec.validated".into())])
            .enumerate()
            .map(|(i, kind)| {
                let mut ev = Event::new(kind.clone(), "shop")
                    .with_source("engine")
                    .with_deployment("7")
                    .with("resource_name", "db")
                    .with("step_number", 2)
                    .with("offset", -40)
                    .with("ok", true)
                    .with("nothing", serde_json::Value::Null)
                    .with("error", "quota exceeded: 5/5 ünïcode");
                ev.id = (i + 1).to_string();
                ev.timestamp = at;
                ev.to_json()
            })
            .collect();
        lines.extend([
            r#"{"id":"1731430000123456789","type":"workflow.started","app_name":"hello","timestamp":"2024-11-12T15:04:02.123456789+01:00","data":{"execution_id":7,"total_steps":3,"workflow_name":"provision-postgres"},"source":"workflow-executor"}"#.to_owned(),
            r#"{"type":"resource.active","data":{},"timestamp":null,"deployment_id":null}"#.to_owned(),
            r#"{"type":"x","data":{"a":0,"b":"","c":"0","a":1}}"#.to_owned(),
        ]);
        lines
    }

    /// Reads `text` for routing both ways: what the fast path reads, serde_json reads the same.
    fn agree_on_route(text: &str) {
        if let Some(fast) = parse(text, false) {
            match Event::route_from_json_slow(text) {
                Ok(slow) => assert_eq!(fast, slow, "{text}"),
                Err(e) => panic!("the fast path routed what serde_json refuses ({e}): {text}"),
            }
        }
    }

    /// Reads `text` both ways; when the fast path reads it, serde_json must read the same.
    fn agree(text: &str) -> bool {
        agree_on_route(text);
        let Some(fast) = parse(text, true) else {
            return false;
        };
        let slow: Event = match serde_json::from_str(text) {
            Ok(event) => event,
            Err(e) => panic!("the fast path read what serde_json refuses ({e}): {text}"),
        };
        assert_eq!(fast, slow, "{text}");
        assert!(
            parse(text, false).is_some(),
            "what is read in full is read for routing"
        );
        for key in [
            "resource_name",
            "step_number",
            "offset",
            "ok",
            "nothing",
            "error",
            "a",
        ] {
            assert_eq!(fast.data.str(key), slow.data.str(key), "{key}: {text}");
            assert_eq!(fast.data.u64(key), slow.data.u64(key), "{key}: {text}");
        }
        true
    }

    #[test]
    fn usual_events_take_the_fast_path_and_read_as_serde_reads_them() {
        for line in corpus() {
            assert!(agree(&line), "not on the fast path: {line}");
        }
    }

    #[test]
    fn the_fast_path_never_accepts_or_reads_differently_from_serde() {
        let inserts = [
            " ", "\"", "\\", ",", ":", "{", "}", "[", "]", "0", "1", "-", ".", "e", "n", "x", "\n",
            "\u{1}", "é", "null", "true", "\"\"",
        ];
        let mut fast = 0;
        let mut variants = 0;
        // Every third line (the types differ little in shape), still thousands of mutants.
        for line in corpus().into_iter().step_by(3) {
            let cuts: Vec<usize> = (0..=line.len())
                .filter(|&i| line.is_char_boundary(i))
                .collect();
            for (n, &i) in cuts.iter().enumerate() {
                let mut mutants = Vec::new();
                if let Some(&next) = cuts.get(n + 1) {
                    mutants.push(format!("{}{}", &line[..i], &line[next..]));
                    for insert in inserts {
                        mutants.push(format!("{}{insert}{}", &line[..i], &line[next..]));
                    }
                }
                for insert in inserts {
                    mutants.push(format!("{}{insert}{}", &line[..i], &line[i..]));
                }
                for mutant in mutants {
                    variants += 1;
                    fast += usize::from(agree(&mutant));
                }
            }
        }
        // Some mutants are still usual events (a digit changed, a letter of a value): the
        // comparison above ran on them, not only on refusals.
        assert!(
            fast > variants / 20,
            "{fast} of {variants} on the fast path"
        );
    }

    #[test]
    fn string_ends_are_found_as_a_byte_by_byte_reading_finds_them() {
        let naive = |bytes: &[u8]| {
            let end = bytes
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
            (bytes[end] == b'"').then_some(end)
        };
        let filler = b"a~ \x7f\xc3\xa9Z0\x80\xff";
        for len in 0..40 {
            let plain: Vec<u8> = (0..len).map(|i| filler[i % filler.len()]).collect();
            assert_eq!(plain_string_len(&plain), None, "no quote: {plain:?}");
            for at in 0..len {
                for special in [b'"', b'\\', 0x00, 0x1f, b'\n', 0x20, 0x21, 0x5b, 0x5d] {
                    let mut bytes = plain.clone();
                    bytes[at] = special;
                    assert_eq!(plain_string_len(&bytes), naive(&bytes), "{bytes:?}");
                    // And a second special character after the first.
                    for later in at + 1..len {
                        for second in [b'"', b'\\', 0x01] {
                            let mut bytes = bytes.clone();
                            bytes[later] = second;
                            assert_eq!(plain_string_len(&bytes), naive(&bytes), "{bytes:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn unusual_shapes_are_left_to_serde() {
        for text in [
            r#"{ "type":"x"}"#,
            r#"{"type":"x"} "#,
            r#"{"type":"x","type":"y"}"#,
            r#"{"type":"x","extra":1}"#,
            r#"{"id":"1"}"#,
            r#"{"type":"x\u0041"}"#,
            r#"{"type":"x","data":{"a":1.5}}"#,
            r#"{"type":"x","data":{"a":[1]}}"#,
            r#"{"type":"x","data":{"a":{"b":1}}}"#,
            r#"{"type":"x","data":{"a":01}}"#,
            r#"{"type":"x","data":{"a":-}}"#,
            r#"{"type":"x","id":1}"#,
            "{}",
            "",
        ] {
            assert!(
                parse(text, true).is_none() && parse(text, false).is_none(),
                "{text}"
            );
        }
        // A timestamp of another shape is chrono's to read; routing does not read it.
        let spaced = r#"{"type":"x","timestamp":"2026-11-27 12:07:48Z"}"#;
        assert!(parse(spaced, true).is_none());
        assert!(parse(spaced, false).is_some());
    }

    /// Property tests: whenever the fast path reads a text, serde_json reads it too, and reads
    /// the same event ([`agree`]); run on generated JSON of every shape the fast path knows,
    /// on edits of real events, on serialised arbitrary events and on arbitrary text.
    mod properties {
        use proptest::prelude::*;
        use proptest::sample::Index;

        use super::*;

        const KEYS: &[&str] = &[
            "id",
            "type",
            "app_name",
            "timestamp",
            "data",
            "source",
            "deployment_id",
            "extra",
        ];

        /// Scalars as JSON text: the usual ones and the edge cases of each kind.
        const SCALARS: &[&str] = &[
            r#""x""#,
            r#""""#,
            r#""é😀""#,
            r#""a\"b""#,
            r#""\u0041""#,
            "\"\u{1}\"",
            "\"\n\"",
            r#""resource.active""#,
            r#""deployment.completed""#,
            "null",
            "true",
            "false",
            "0",
            "-0",
            "7",
            "-40",
            "01",
            "1.5",
            "1e3",
            "-",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            r#""2026-11-27T12:07:48Z""#,
            r#""2026-11-27T12:07:48.031303191+01:00""#,
            r#""2026-13-27T12:07:48Z""#,
            r#""2026-11-27 12:07:48Z""#,
            r#""2026-11-27T25:07:48Z""#,
            "[1]",
            "{}",
            r#"{"a":1}"#,
        ];

        fn scalar() -> impl Strategy<Value = String> {
            prop_oneof![
                4 => prop::sample::select(SCALARS).prop_map(str::to_owned),
                1 => any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap()),
                1 => any::<i64>().prop_map(|n| n.to_string()),
                1 => any::<u64>().prop_map(|n| n.to_string()),
            ]
        }

        /// A `data` value: an object of scalars (possibly repeated keys), or a scalar.
        fn data() -> impl Strategy<Value = String> {
            let entry = (
                prop::sample::select(&["a", "b", "step_number", "é", ""][..]),
                scalar(),
            )
                .prop_map(|(k, v)| format!("\"{k}\":{v}"));
            prop_oneof![
                4 => prop::collection::vec(entry, 0..5).prop_map(|e| format!("{{{}}}", e.join(","))),
                1 => scalar(),
            ]
        }

        /// An object of the event keys (any order, some repeated, some unknown) with values of
        /// every kind, with a space or a stray byte sometimes between the tokens.
        fn object() -> impl Strategy<Value = String> {
            let member = (
                prop::sample::select(KEYS),
                prop_oneof![3 => scalar(), 1 => data()],
            )
                .prop_map(|(k, v)| format!("\"{k}\":{v}"));
            let sep = prop::sample::select(&[",", ",", ",", ", ", " ,", ",,", ""][..]);
            (
                prop::collection::vec((member, sep), 0..8),
                prop::sample::select(&["", "", "", " ", "\n", "x"][..]),
            )
                .prop_map(|(members, tail)| {
                    let mut text = String::from("{");
                    for (i, (member, sep)) in members.iter().enumerate() {
                        if i > 0 {
                            text.push_str(sep);
                        }
                        text.push_str(member);
                    }
                    text.push('}');
                    text.push_str(tail);
                    text
                })
        }

        /// A real event line with up to four edits: a character removed, or text inserted.
        fn edited() -> impl Strategy<Value = String> {
            let corpus = corpus();
            let edit = (any::<Index>(), any::<bool>(), prop::sample::select(SCALARS));
            (
                prop::sample::select(corpus),
                prop::collection::vec(edit, 0..4),
            )
                .prop_map(|(mut line, edits)| {
                    for (at, remove, insert) in edits {
                        let cuts: Vec<usize> = (0..=line.len())
                            .filter(|&i| line.is_char_boundary(i))
                            .collect();
                        let i = cuts[at.index(cuts.len())];
                        if remove && i < line.len() {
                            let next = cuts[cuts.iter().position(|&c| c == i).unwrap() + 1];
                            line.replace_range(i..next, "");
                        } else {
                            line.insert_str(i, insert);
                        }
                    }
                    line
                })
        }

        /// An arbitrary event, as our server would serialise it. (Offsets in whole minutes:
        /// RFC 3339 has no seconds in an offset.)
        fn event() -> impl Strategy<Value = Event> {
            let kind = prop_oneof![
                prop::sample::select(EventKind::ALL),
                Just(EventKind::Other("spec.validated".into())),
            ];
            let value = prop_oneof![
                any::<String>().prop_map(serde_json::Value::from),
                any::<i64>().prop_map(serde_json::Value::from),
                any::<u64>().prop_map(serde_json::Value::from),
                any::<bool>().prop_map(serde_json::Value::from),
                Just(serde_json::Value::Null),
            ];
            let timestamp = (0i64..4_102_444_800, 0u32..1_000_000_000, -1439i32..1440).prop_map(
                |(secs, nanos, offset)| {
                    chrono::DateTime::from_timestamp(secs, nanos).map(|t| {
                        t.with_timezone(&chrono::FixedOffset::east_opt(offset * 60).unwrap())
                    })
                },
            );
            (
                kind,
                any::<String>(),
                any::<String>(),
                prop::option::of(timestamp),
                prop::collection::vec(("[a-z_]{0,12}", value), 0..6),
                any::<String>(),
                prop::option::of(any::<String>()),
            )
                .prop_map(|(kind, id, app, timestamp, data, source, deployment)| {
                    let mut event = Event::new(kind, app).with_source(source);
                    event.id = id;
                    event.timestamp = timestamp.flatten();
                    event.deployment_id = deployment;
                    for (key, value) in data {
                        event = event.with(&key, value);
                    }
                    event
                })
        }

        proptest! {
            #![proptest_config(crate::proptests::config(256))]

            #[test]
            fn generated_objects_read_alike(text in object()) {
                agree(&text);
            }

            #[test]
            fn edited_events_read_alike(text in edited()) {
                agree(&text);
            }

            #[test]
            fn arbitrary_text_reads_alike(text in any::<String>()) {
                agree(&text);
            }

            #[test]
            fn serialised_events_read_back_alike(event in event()) {
                let text = event.to_json();
                agree(&text);
                prop_assert_eq!(Event::from_json(&text).unwrap(), event);
            }
        }
    }
}
