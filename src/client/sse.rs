//! An incremental Server-Sent Events parser: bytes in, events out.
//!
//! It follows the parsing rules of the HTML standard's "Server-sent events" section
//! (§9.2.6 "Interpreting an event stream"), step by step:
//!
//! - lines end in CRLF, LF or CR, and a CR at the end of one chunk followed by an LF at the start
//!   of the next is one line ending, not two;
//! - one leading UTF-8 byte-order mark is removed, even when it is split across chunks;
//! - a line starting with `:` is a comment (keep-alives);
//! - a field without a colon is a field with an empty value; one space after the colon is removed;
//! - `data` lines are joined with `\n`; an empty line dispatches the event, and an event with no
//!   data is not dispatched;
//! - the last event id persists across events until the server sets another one, and an `id`
//!   containing NUL is ignored;
//! - `retry` is honoured only when it is ASCII digits, and takes effect even in a block that
//!   carries no data (it is reported as its own item);
//! - an incomplete event at the end of the stream is discarded.
//!
//! Invalid UTF-8 is decoded with replacement characters rather than stalling the stream, and one
//! event larger than [`SseParser::max_event_bytes`] is an error (the caller reconnects), so a
//! hostile or broken server cannot make the client buffer without bound.
//!
//! The parser never sees the network: the watcher feeds it chunks, which keeps it testable with
//! any split of the input.
//!
//! It replaces eventsource-stream 0.2.3, which the design first asked for: that crate panics on
//! a leading byte-order mark, stops delivering events for the rest of a stream after one
//! invalid UTF-8 byte (buffering without bound), drops a `retry:` that comes in a block of its
//! own (our server's first frame), and slows down quadratically with the chunk size. The tests
//! at the bottom show each of these side by side, and `benches/sse.rs` measures both parsers;
//! the numbers are in `docs/performance.md`.

use std::time::Duration;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The last event id at dispatch time (persists across events; empty if never set).
    pub id: String,
    /// The event type (`message` when the server sent no `event:` field).
    pub event: String,
    /// The data lines joined with `\n`.
    pub data: String,
}

/// What the parser yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseItem {
    /// A dispatched event.
    Event(SseEvent),
    /// The server set the reconnection time.
    Retry(Duration),
}

/// Why the parser gave up on the stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// One event (or one line) grew past the size limit.
    #[error("an event exceeded {limit} bytes; the stream is not a sane event stream")]
    EventTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Incremental parser state for one connection. Create a new one per connection (the last event
/// id is the caller's to carry across reconnects).
#[derive(Debug)]
pub struct SseParser {
    /// Bytes of a line not yet terminated.
    partial: Vec<u8>,
    /// Whether we are still looking at the first bytes of the stream (for the BOM).
    at_start: bool,
    /// The previous chunk ended in CR; an LF at the start of this one belongs to it.
    after_cr: bool,
    data: String,
    event_type: String,
    last_id: String,
    max_event_bytes: usize,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::new()
    }
}

impl SseParser {
    /// Default limit for one event: generous for real events (a few hundred bytes), small
    /// enough that a broken stream cannot exhaust memory.
    pub const DEFAULT_MAX_EVENT_BYTES: usize = 1 << 20;

    /// A parser with the default event size limit.
    pub fn new() -> Self {
        Self::with_limit(Self::DEFAULT_MAX_EVENT_BYTES)
    }

    /// A parser that rejects events larger than `max_event_bytes`.
    pub fn with_limit(max_event_bytes: usize) -> Self {
        SseParser {
            partial: Vec::new(),
            at_start: true,
            after_cr: false,
            data: String::new(),
            event_type: String::new(),
            last_id: String::new(),
            max_event_bytes,
        }
    }

    /// The size limit for one event.
    pub fn max_event_bytes(&self) -> usize {
        self.max_event_bytes
    }

    /// Feeds one chunk, appending every complete item to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<SseItem>) -> Result<(), SseError> {
        self.feed_with(chunk, |item| out.push(item.to_owned()))
    }

    /// Feeds one chunk, handing every complete item to `on_item` as it is dispatched, borrowed
    /// from the parser: the hot path of a fast stream, where allocating an id, a type and a
    /// data string for every event would cost more than parsing them.
    pub fn feed_with(
        &mut self,
        mut chunk: &[u8],
        mut on_item: impl FnMut(SseRef<'_>),
    ) -> Result<(), SseError> {
        if self.at_start {
            // The BOM may arrive split across chunks: hold back a prefix of it until we know.
            let mut head = std::mem::take(&mut self.partial);
            let take = chunk.len().min(BOM.len().saturating_sub(head.len()));
            head.extend_from_slice(&chunk[..take]);
            if head.len() < BOM.len() && BOM.starts_with(&head) {
                self.partial = head;
                return Ok(());
            }
            self.at_start = false;
            chunk = &chunk[take..];
            let head = head.strip_prefix(BOM).unwrap_or(&head).to_vec();
            self.feed_lines(&head, &mut on_item)?;
        }
        self.feed_lines(chunk, &mut on_item)
    }

    fn feed_lines(
        &mut self,
        mut chunk: &[u8],
        on_item: &mut impl FnMut(SseRef<'_>),
    ) -> Result<(), SseError> {
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
        }
        while let Some(end) = memchr::memchr2(b'\n', b'\r', chunk) {
            let line_end = chunk[end];
            if self.partial.is_empty() {
                self.process_line(&chunk[..end], on_item)?;
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(&chunk[..end]);
                self.process_line(&line, on_item)?;
                // Keep the allocation for the next partial line.
                line.clear();
                self.partial = line;
            }
            chunk = &chunk[end + 1..];
            if line_end == b'\r' {
                match chunk.first() {
                    Some(b'\n') => chunk = &chunk[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        if self.partial.len() + chunk.len() + self.data.len() > self.max_event_bytes {
            return Err(SseError::EventTooLarge {
                limit: self.max_event_bytes,
            });
        }
        self.partial.extend_from_slice(chunk);
        Ok(())
    }

    fn process_line(
        &mut self,
        line: &[u8],
        on_item: &mut impl FnMut(SseRef<'_>),
    ) -> Result<(), SseError> {
        if line.is_empty() {
            self.dispatch(on_item);
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(());
        }
        let (name, value) = match memchr::memchr(b':', line) {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match name {
            b"data" => {
                if self.data.len() + value.len() + 1 > self.max_event_bytes {
                    return Err(SseError::EventTooLarge {
                        limit: self.max_event_bytes,
                    });
                }
                push_utf8(&mut self.data, value);
                self.data.push('\n');
            }
            b"event" => {
                self.event_type.clear();
                push_utf8(&mut self.event_type, value);
            }
            // An id containing NUL is ignored (the standard's rule).
            b"id" if !value.contains(&0) => {
                self.last_id.clear();
                push_utf8(&mut self.last_id, value);
            }
            // Digits only; a value that overflows u64 is as good as absent.
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                if let Ok(ms) = std::str::from_utf8(value).unwrap_or("").parse::<u64>() {
                    on_item(SseRef::Retry(Duration::from_millis(ms)));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, on_item: &mut impl FnMut(SseRef<'_>)) {
        if !self.data.is_empty() {
            // Every data line added a newline; the last one is not part of the data.
            let data = &self.data[..self.data.len() - 1];
            let event = if self.event_type.is_empty() {
                "message"
            } else {
                &self.event_type
            };
            on_item(SseRef::Event {
                id: &self.last_id,
                event,
                data,
            });
        }
        // The buffers are kept for the next event.
        self.data.clear();
        self.event_type.clear();
    }
}

/// An item as the parser dispatches it, borrowed from the parser's buffers (see
/// [`SseParser::feed_with`]); [`SseRef::to_owned`] makes an [`SseItem`] of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseRef<'a> {
    /// A dispatched event: the last event id, the type, the data lines joined with `\n`.
    Event {
        /// See [`SseEvent::id`].
        id: &'a str,
        /// See [`SseEvent::event`].
        event: &'a str,
        /// See [`SseEvent::data`].
        data: &'a str,
    },
    /// The server set the reconnection time.
    Retry(Duration),
}

impl SseRef<'_> {
    /// The owned item.
    pub fn to_owned(self) -> SseItem {
        match self {
            SseRef::Event { id, event, data } => SseItem::Event(SseEvent {
                id: id.to_owned(),
                event: event.to_owned(),
                data: data.to_owned(),
            }),
            SseRef::Retry(delay) => SseItem::Retry(delay),
        }
    }
}

/// Appends `bytes` as text: validated in one pass when it is UTF-8 (the norm), with
/// replacement characters otherwise.
fn push_utf8(out: &mut String, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(text) => out.push_str(text),
        Err(_) => out.push_str(&String::from_utf8_lossy(bytes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_chunks(chunks: &[&[u8]]) -> Vec<SseItem> {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        for chunk in chunks {
            parser.feed(chunk, &mut out).unwrap();
        }
        out
    }

    /// Parses `input` whole and split at every possible byte position (two chunks), and at
    /// every byte (one chunk per byte); all must agree.
    fn parse_all_splits(input: &[u8]) -> Vec<SseItem> {
        let whole = parse_chunks(&[input]);
        for split in 0..=input.len() {
            let (a, b) = input.split_at(split);
            assert_eq!(parse_chunks(&[a, b]), whole, "split at {split}");
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(parse_chunks(&bytes), whole, "byte by byte");
        whole
    }

    fn ev(id: &str, event: &str, data: &str) -> SseItem {
        SseItem::Event(SseEvent {
            id: id.into(),
            event: event.into(),
            data: data.into(),
        })
    }

    #[test]
    fn all_three_line_endings() {
        for nl in ["\n", "\r\n", "\r"] {
            let input = format!("data: a{nl}data: b{nl}{nl}data: c{nl}{nl}");
            assert_eq!(
                parse_all_splits(input.as_bytes()),
                vec![ev("", "message", "a\nb"), ev("", "message", "c")],
                "line ending {nl:?}"
            );
        }
    }

    #[test]
    fn cr_then_lf_in_the_next_chunk_is_one_line_ending() {
        let out = parse_chunks(&[b"data: x\r", b"\n\r", b"\n"]);
        assert_eq!(out, vec![ev("", "message", "x")]);
    }

    #[test]
    fn comments_and_unknown_fields_are_ignored() {
        let input = b": keepalive\n\nfoo: bar\ndata: x\n: mid-event comment\n\n";
        assert_eq!(parse_all_splits(input), vec![ev("", "message", "x")]);
    }

    #[test]
    fn field_without_colon_has_empty_value() {
        // `data` alone appends an empty line: two give "\n", one gives an empty (but
        // dispatched) event, because the data buffer was not empty before the trailing LF went.
        let input = b"data\ndata\n\ndata\n\n";
        assert_eq!(
            parse_all_splits(input),
            vec![ev("", "message", "\n"), ev("", "message", "")]
        );
    }

    #[test]
    fn only_one_leading_space_is_removed() {
        let input = b"data:no-space\n\ndata:  two-spaces\n\n";
        assert_eq!(
            parse_all_splits(input),
            vec![
                ev("", "message", "no-space"),
                ev("", "message", " two-spaces")
            ]
        );
    }

    #[test]
    fn event_type_and_id_persistence() {
        let input = b"id: 1\nevent: update\ndata: a\n\ndata: b\n\nid\ndata: c\n\n";
        assert_eq!(
            parse_all_splits(input),
            vec![
                ev("1", "update", "a"),
                ev("1", "message", "b"),
                ev("", "message", "c")
            ]
        );
    }

    #[test]
    fn id_with_nul_is_ignored() {
        let input = b"id: 5\ndata: a\n\nid: 6\x007\ndata: b\n\n";
        assert_eq!(
            parse_all_splits(input),
            vec![ev("5", "message", "a"), ev("5", "message", "b")]
        );
    }

    #[test]
    fn id_without_data_still_sets_the_last_id() {
        let input = b"id: 9\n\ndata: a\n\n";
        assert_eq!(parse_all_splits(input), vec![ev("9", "message", "a")]);
    }

    #[test]
    fn retry_takes_digits_only_and_needs_no_data() {
        let input = b"retry: 1500\n\nretry: 1.5\nretry: -1\nretry:\nretry: 20x\ndata: a\n\n";
        assert_eq!(
            parse_all_splits(input),
            vec![
                SseItem::Retry(Duration::from_millis(1500)),
                ev("", "message", "a")
            ]
        );
    }

    #[test]
    fn incomplete_event_at_end_is_discarded() {
        assert_eq!(
            parse_all_splits(b"data: a\n\ndata: b\n"),
            vec![ev("", "message", "a")]
        );
        assert_eq!(
            parse_all_splits(b"data: a\n\ndata: b"),
            vec![ev("", "message", "a")]
        );
    }

    #[test]
    fn leading_bom_is_stripped_once_even_when_split() {
        let input = b"\xEF\xBB\xBFdata: a\n\n";
        assert_eq!(parse_all_splits(input), vec![ev("", "message", "a")]);
        // A second BOM is content: it makes the first field name unknown.
        let twice = b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\ndata: b\n\n";
        assert_eq!(parse_all_splits(twice), vec![ev("", "message", "b")]);
        // A stream shorter than a BOM that starts like one must not be swallowed forever.
        assert_eq!(parse_chunks(&[b"\xEF", b"\xBB", b"x\n"]), vec![]);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        let input = b"data: a\xFFb\n\ndata: after\n\n";
        assert_eq!(
            parse_all_splits(input),
            vec![ev("", "message", "a\u{FFFD}b"), ev("", "message", "after")]
        );
    }

    #[test]
    fn multibyte_characters_split_across_chunks_survive() {
        let input = "data: é🟢\n\n".as_bytes();
        assert_eq!(parse_all_splits(input), vec![ev("", "message", "é🟢")]);
    }

    #[test]
    fn oversized_event_is_an_error() {
        let mut parser = SseParser::with_limit(16);
        let mut out = Vec::new();
        assert!(parser.feed(b"data: 0123456789\n", &mut out).is_ok());
        assert_eq!(
            parser.feed(b"data: 0123456789\n", &mut out),
            Err(SseError::EventTooLarge { limit: 16 })
        );
        let mut parser = SseParser::with_limit(16);
        assert!(
            parser.feed(&[b'x'; 32], &mut out).is_err(),
            "an endless line too"
        );
    }

    #[test]
    fn innominatus_style_stream() {
        let input = b"data: {\"type\":\"connected\",\"client_id\":\"client-1\"}\n\n: keepalive\n\ndata: {\"type\":\"resource.active\"}\n\n";
        let out = parse_all_splits(input);
        assert_eq!(out.len(), 2);
        assert!(
            matches!(&out[1], SseItem::Event(e) if e.data.contains("resource.active") && e.id.is_empty())
        );
    }

    /// The measurements behind replacing eventsource-stream 0.2.3 (docs/performance.md):
    /// the same inputs through both parsers. Each call of theirs runs under `catch_unwind` on
    /// a finite input, so a panic or a stall shows up as a result, never as a hung test.
    mod against_eventsource_stream {
        use std::convert::Infallible;
        use std::panic::{AssertUnwindSafe, catch_unwind};

        use eventsource_stream::EventStream;
        use futures::StreamExt;

        use super::*;

        /// One event as eventsource-stream reports it: `(data, retry)`.
        type Theirs = (String, Option<Duration>);

        /// What eventsource-stream makes of `chunks`: `Err` if it panicked, else its events
        /// and whether it ended with an error.
        fn theirs(chunks: &[&[u8]]) -> Result<(Vec<Theirs>, bool), String> {
            let owned: Vec<Vec<u8>> = chunks.iter().map(|c| c.to_vec()).collect();
            catch_unwind(AssertUnwindSafe(|| {
                let stream = futures::stream::iter(owned.into_iter().map(Ok::<_, Infallible>));
                let results: Vec<_> =
                    futures::executor::block_on(EventStream::new(stream).collect());
                let failed = results.iter().any(Result::is_err);
                let events = results
                    .into_iter()
                    .filter_map(Result::ok)
                    .map(|e| (e.data, e.retry))
                    .collect();
                (events, failed)
            }))
            .map_err(|panic| {
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default()
            })
        }

        fn ours(chunks: &[&[u8]]) -> Vec<SseItem> {
            parse_chunks(chunks)
        }

        #[test]
        fn a_leading_bom_panics_theirs_and_is_stripped_by_ours() {
            let input: &[&[u8]] = &[b"\xEF\xBB\xBFdata: a\n\n"];
            let panic = theirs(input).expect_err("eventsource-stream 0.2.3 panics");
            assert!(panic.contains("char boundary"), "{panic}");
            assert_eq!(ours(input), vec![ev("", "message", "a")]);
        }

        #[test]
        fn a_bom_split_across_chunks_panics_theirs_too() {
            let input: &[&[u8]] = &[b"\xEF\xBB", b"\xBFdata: a\n\n"];
            assert!(theirs(input).is_err());
            assert_eq!(ours(input), vec![ev("", "message", "a")]);
        }

        #[test]
        fn one_invalid_byte_stalls_theirs_for_the_rest_of_the_stream() {
            // A live stream: the invalid byte, then more good events. Theirs delivers none of
            // them (it holds everything from the bad byte on, growing, until the stream ends);
            // ours replaces the byte and delivers all three.
            let input: &[&[u8]] = &[b"data: a\xFFb\n\n", b"data: after\n\n", b"data: more\n\n"];
            let (events, failed) = theirs(input).expect("no panic here");
            assert!(events.is_empty(), "{events:?}");
            assert!(failed, "only the end of the stream reports the bad byte");
            assert_eq!(
                ours(input),
                vec![
                    ev("", "message", "a\u{FFFD}b"),
                    ev("", "message", "after"),
                    ev("", "message", "more")
                ]
            );
        }

        #[test]
        fn a_retry_only_block_is_lost_by_theirs() {
            // Our server's first frame sets `retry:` in a block of its own.
            let input: &[&[u8]] = &[b"retry: 1500\n\ndata: a\n\n"];
            let (events, _) = theirs(input).unwrap();
            assert_eq!(events, vec![("a".to_owned(), None)], "the hint is gone");
            assert_eq!(
                ours(input),
                vec![
                    SseItem::Retry(Duration::from_millis(1500)),
                    ev("", "message", "a")
                ]
            );
        }

        #[test]
        fn both_agree_on_ordinary_streams() {
            let input: &[&[u8]] = &[
                b"id: 1\nevent: x\ndata: a\ndata: b\n\n: keepalive\n\nda",
                b"ta: c\r\n\r\nid: 2\rdata: d\r\r\n",
            ];
            let (events, failed) = theirs(input).unwrap();
            assert!(!failed);
            let mine: Vec<Theirs> = ours(input)
                .into_iter()
                .filter_map(|i| match i {
                    SseItem::Event(e) => Some((e.data, None)),
                    SseItem::Retry(_) => None,
                })
                .collect();
            assert_eq!(events, mine);
        }
    }
}
