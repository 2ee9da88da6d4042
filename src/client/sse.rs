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
//! - the last event ID buffer: an `id` field sets it (an empty value resets it), an event
//!   without one keeps the previous id, an `id` containing NUL is ignored, and the buffer becomes
//!   the stream's last event ID at the blank line that ends the block, whether or not the block
//!   dispatched an event (a block with an id and no data is reported as [`SseRef::Id`]);
//! - `retry` is honoured only when it is ASCII digits, and takes effect even in a block that
//!   carries no data (it is reported as its own item);
//! - an incomplete event at the end of the stream is discarded (and so is its `id`).
//!
//! Invalid UTF-8 is decoded with replacement characters rather than stalling the stream. One
//! event larger than [`SseParser::max_event_bytes`] is skipped: the parser stops buffering it,
//! discards the rest of it up to its blank line, reports it as [`SseRef::Skipped`] and goes on
//! with the next event, so a hostile or broken server cannot make the client buffer without
//! bound, and one oversized event does not cost the connection.
//!
//! The parser never sees the network: the watcher feeds it chunks, which keeps it testable with
//! any split of the input. The last event ID outlives a connection: the watcher seeds each new
//! parser with it ([`SseParser::with_last_event_id`]).
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
    /// The last event id at dispatch time (persists across events; empty if never set, or
    /// reset by an empty `id:`).
    pub id: String,
    /// Whether the event's own block carried an `id:` field: otherwise `id` is inherited from
    /// an earlier event and says nothing about this one's identity.
    pub own_id: bool,
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
    /// A block that set the last event id and dispatched no event: the stream's last event id
    /// is now this (empty: reset, no `Last-Event-ID` on the next reconnect).
    Id(String),
    /// The server set the reconnection time.
    Retry(Duration),
    /// An event larger than the limit was skipped.
    Skipped {
        /// The last event id after the skipped block (its own, if it had an `id:` field).
        id: String,
        /// Whether the skipped block carried its own `id:` field.
        own_id: bool,
        /// The limit it exceeded, in bytes.
        limit: usize,
    },
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Incremental parser state for one connection. Create a new one per connection, seeded with
/// the last event id of the previous one ([`SseParser::with_last_event_id`]).
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
    /// The standard's last event ID buffer.
    last_id: String,
    /// Whether the current block had an `id` field (accepted, i.e. without NUL).
    own_id: bool,
    /// The current block grew past the limit: its data is being discarded up to its blank line.
    skipping: bool,
    /// The rest of the current line is being discarded (it alone was past the limit).
    discard_line: bool,
    max_event_bytes: usize,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::new()
    }
}

impl SseParser {
    /// Default limit for one event: generous for real events (a few hundred bytes), small
    /// enough that a broken stream cannot exhaust memory. `--max-event-size` changes it.
    pub const DEFAULT_MAX_EVENT_BYTES: usize = 1 << 20;

    /// A parser with the default event size limit.
    pub fn new() -> Self {
        Self::with_limit(Self::DEFAULT_MAX_EVENT_BYTES)
    }

    /// A parser that skips events larger than `max_event_bytes`.
    pub fn with_limit(max_event_bytes: usize) -> Self {
        SseParser {
            partial: Vec::new(),
            at_start: true,
            after_cr: false,
            data: String::new(),
            event_type: String::new(),
            last_id: String::new(),
            own_id: false,
            skipping: false,
            discard_line: false,
            max_event_bytes,
        }
    }

    /// Starts the last event ID buffer at `id` (the previous connection's last event id), so
    /// that events of a resumed stream without an `id:` field inherit it, as they would have
    /// on the old connection.
    pub fn with_last_event_id(mut self, id: &str) -> Self {
        id.clone_into(&mut self.last_id);
        self
    }

    /// The size limit for one event.
    pub fn max_event_bytes(&self) -> usize {
        self.max_event_bytes
    }

    /// Feeds one chunk, appending every complete item to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<SseItem>) {
        self.feed_with(chunk, |item| out.push(item.to_owned()));
    }

    /// Feeds one chunk, handing every complete item to `on_item` as it is dispatched, borrowed
    /// from the parser: the hot path of a fast stream, where allocating an id, a type and a
    /// data string for every event would cost more than parsing them.
    pub fn feed_with(&mut self, mut chunk: &[u8], mut on_item: impl FnMut(SseRef<'_>)) {
        if self.at_start {
            // The BOM may arrive split across chunks: hold back a prefix of it until we know.
            let mut head = std::mem::take(&mut self.partial);
            let take = chunk.len().min(BOM.len().saturating_sub(head.len()));
            head.extend_from_slice(&chunk[..take]);
            if head.len() < BOM.len() && BOM.starts_with(&head) {
                self.partial = head;
                return;
            }
            self.at_start = false;
            chunk = &chunk[take..];
            let head = head.strip_prefix(BOM).unwrap_or(&head).to_vec();
            self.feed_lines(&head, &mut on_item);
        }
        self.feed_lines(chunk, &mut on_item);
    }

    fn feed_lines(&mut self, mut chunk: &[u8], on_item: &mut impl FnMut(SseRef<'_>)) {
        if chunk.is_empty() {
            // Nothing to read, and a CR just before may still be followed by its LF.
            return;
        }
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
        }
        while let Some(end) = memchr::memchr2(b'\n', b'\r', chunk) {
            let line_end = chunk[end];
            if self.discard_line {
                // The end of a line too long to keep: it was no blank line, and no field of it
                // can be read.
                self.discard_line = false;
            } else if self.partial.is_empty() {
                self.process_line(&chunk[..end], on_item);
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(&chunk[..end]);
                self.process_line(&line, on_item);
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
        if self.discard_line || chunk.is_empty() {
            // Nothing more to buffer. (Measuring the event again here, with no new bytes,
            // would depend on where the chunk ended: data decoded with replacement characters
            // can be longer than the line it came from.)
            return;
        }
        if self.data.len() + self.partial.len() + chunk.len() > self.max_event_bytes {
            // This line alone, or on top of the event's data so far, is past the limit: stop
            // buffering it. A comment is no part of any event and only goes; anything else
            // costs the event it belongs to. (The same measure as in `process_line`, which
            // sees the line whole, so how the bytes were split changes nothing.)
            let comment = self.partial.first().or(chunk.first()) == Some(&b':');
            self.partial.clear();
            self.discard_line = true;
            if !comment {
                self.skip();
            }
            return;
        }
        self.partial.extend_from_slice(chunk);
    }

    /// Gives up on the current event: its data is dropped, and so is every later data line up
    /// to the blank line that ends it.
    fn skip(&mut self) {
        self.skipping = true;
        self.data.clear();
        // Give back the memory of an event that came close to the limit.
        self.data.shrink_to(1024);
    }

    fn process_line(&mut self, line: &[u8], on_item: &mut impl FnMut(SseRef<'_>)) {
        if line.is_empty() {
            self.dispatch(on_item);
            return;
        }
        if line[0] == b':' {
            return;
        }
        if self.data.len() + line.len() > self.max_event_bytes {
            // The limit counts the data so far plus this line as received.
            self.skip();
            return;
        }
        let (name, value) = match memchr::memchr(b':', line) {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match name {
            b"data" if self.skipping => {}
            b"data" => {
                push_utf8(&mut self.data, value);
                self.data.push('\n');
            }
            b"event" => {
                self.event_type.clear();
                push_utf8(&mut self.event_type, value);
            }
            // An id containing NUL is ignored (the standard's rule); an empty one resets.
            b"id" if !value.contains(&0) => {
                self.last_id.clear();
                push_utf8(&mut self.last_id, value);
                self.own_id = true;
            }
            // Digits only; a value that overflows u64 is as good as absent.
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                if let Ok(ms) = std::str::from_utf8(value).unwrap_or("").parse::<u64>() {
                    on_item(SseRef::Retry(Duration::from_millis(ms)));
                }
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, on_item: &mut impl FnMut(SseRef<'_>)) {
        if self.skipping {
            on_item(SseRef::Skipped {
                id: &self.last_id,
                own_id: self.own_id,
                limit: self.max_event_bytes,
            });
        } else if !self.data.is_empty() {
            // Every data line added a newline; the last one is not part of the data.
            let data = &self.data[..self.data.len() - 1];
            let event = if self.event_type.is_empty() {
                "message"
            } else {
                &self.event_type
            };
            on_item(SseRef::Event {
                id: &self.last_id,
                own_id: self.own_id,
                event,
                data,
            });
        } else if self.own_id {
            // No event, but the block's id is the stream's last event id from now on.
            on_item(SseRef::Id(&self.last_id));
        }
        // The buffers are kept for the next event.
        self.data.clear();
        self.event_type.clear();
        self.own_id = false;
        self.skipping = false;
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
        /// See [`SseEvent::own_id`].
        own_id: bool,
        /// See [`SseEvent::event`].
        event: &'a str,
        /// See [`SseEvent::data`].
        data: &'a str,
    },
    /// See [`SseItem::Id`].
    Id(&'a str),
    /// The server set the reconnection time.
    Retry(Duration),
    /// See [`SseItem::Skipped`].
    Skipped {
        /// The last event id after the skipped block.
        id: &'a str,
        /// Whether the skipped block carried its own `id:` field.
        own_id: bool,
        /// The limit it exceeded, in bytes.
        limit: usize,
    },
}

impl SseRef<'_> {
    /// The owned item.
    pub fn to_owned(self) -> SseItem {
        match self {
            SseRef::Event {
                id,
                own_id,
                event,
                data,
            } => SseItem::Event(SseEvent {
                id: id.to_owned(),
                own_id,
                event: event.to_owned(),
                data: data.to_owned(),
            }),
            SseRef::Id(id) => SseItem::Id(id.to_owned()),
            SseRef::Retry(delay) => SseItem::Retry(delay),
            SseRef::Skipped { id, own_id, limit } => SseItem::Skipped {
                id: id.to_owned(),
                own_id,
                limit,
            },
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
        parse_limited(SseParser::DEFAULT_MAX_EVENT_BYTES, chunks)
    }

    fn parse_limited(limit: usize, chunks: &[&[u8]]) -> Vec<SseItem> {
        let mut parser = SseParser::with_limit(limit);
        let mut out = Vec::new();
        for chunk in chunks {
            parser.feed(chunk, &mut out);
        }
        out
    }

    /// Parses `input` whole and split at every possible byte position (two chunks), and at
    /// every byte (one chunk per byte); all must agree.
    fn parse_all_splits(input: &[u8]) -> Vec<SseItem> {
        all_splits_limited(SseParser::DEFAULT_MAX_EVENT_BYTES, input)
    }

    fn all_splits_limited(limit: usize, input: &[u8]) -> Vec<SseItem> {
        let whole = parse_limited(limit, &[input]);
        for split in 0..=input.len() {
            let (a, b) = input.split_at(split);
            assert_eq!(parse_limited(limit, &[a, b]), whole, "split at {split}");
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(parse_limited(limit, &bytes), whole, "byte by byte");
        whole
    }

    /// An event whose id, if any, is inherited from an earlier block.
    fn ev(id: &str, event: &str, data: &str) -> SseItem {
        SseItem::Event(SseEvent {
            id: id.into(),
            own_id: false,
            event: event.into(),
            data: data.into(),
        })
    }

    /// An event whose own block set the id.
    fn own(id: &str, event: &str, data: &str) -> SseItem {
        SseItem::Event(SseEvent {
            id: id.into(),
            own_id: true,
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
                own("1", "update", "a"),
                ev("1", "message", "b"),
                own("", "message", "c")
            ]
        );
    }

    #[test]
    fn id_with_nul_is_ignored() {
        let input = b"id: 5\ndata: a\n\nid: 6\x007\ndata: b\n\n";
        assert_eq!(
            parse_all_splits(input),
            vec![own("5", "message", "a"), ev("5", "message", "b")]
        );
        // A block whose only id has a NUL sets nothing, so it reports nothing.
        assert_eq!(
            parse_all_splits(b"id: 1\x00\n\ndata: c\n\n"),
            vec![ev("", "message", "c")]
        );
    }

    #[test]
    fn id_without_data_still_sets_the_last_id() {
        let input = b"id: 9\n\ndata: a\n\n";
        assert_eq!(
            parse_all_splits(input),
            vec![SseItem::Id("9".into()), ev("9", "message", "a")]
        );
    }

    #[test]
    fn an_empty_id_resets_the_last_id_with_or_without_data() {
        let input = b"id: 3\ndata: a\n\nid:\n\ndata: b\n\nid: 4\nid\ndata: c\n\n";
        assert_eq!(
            parse_all_splits(input),
            vec![
                own("3", "message", "a"),
                SseItem::Id(String::new()),
                ev("", "message", "b"),
                own("", "message", "c"),
            ]
        );
    }

    #[test]
    fn an_id_takes_effect_only_at_the_blank_line() {
        // The stream ends inside the block: neither the event nor its id happened.
        assert_eq!(
            parse_all_splits(b"data: a\n\nid: 5\ndata: b\n"),
            vec![ev("", "message", "a")]
        );
        assert_eq!(parse_all_splits(b"id: 5\n"), vec![]);
    }

    #[test]
    fn a_seeded_parser_continues_the_previous_connections_id() {
        let mut parser = SseParser::new().with_last_event_id("7");
        let mut out = Vec::new();
        parser.feed(b"data: a\n\nid: 8\ndata: b\n\n", &mut out);
        assert_eq!(out, vec![ev("7", "message", "a"), own("8", "message", "b")]);
    }

    #[test]
    fn id_values_keep_every_byte_but_cr_lf_and_nul() {
        // Control characters, spaces, non-ASCII: all kept as received (one leading space goes).
        let input = "id:  a\tb\u{1}é \ndata: x\n\n".as_bytes();
        assert_eq!(
            parse_all_splits(input),
            vec![own(" a\tb\u{1}é ", "message", "x")]
        );
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

    fn skipped(id: &str, own_id: bool, limit: usize) -> SseItem {
        SseItem::Skipped {
            id: id.into(),
            own_id,
            limit,
        }
    }

    #[test]
    fn an_oversized_event_is_skipped_and_the_stream_goes_on() {
        // Data lines that add up past the limit, in a block with its own id.
        let input = b"id: 1\ndata: small\n\nid: 2\ndata: 0123456789\ndata: 0123456789\ndata: 0123456789\nevent: x\n\ndata: after\n\n";
        assert_eq!(
            all_splits_limited(30, input),
            vec![
                own("1", "message", "small"),
                skipped("2", true, 30),
                ev("2", "message", "after")
            ]
        );
        // One line longer than the limit, without an id of its own: the id is inherited.
        let long = format!("id: 1\n\ndata: {}\n\ndata: after\n\n", "x".repeat(100));
        assert_eq!(
            all_splits_limited(40, long.as_bytes()),
            vec![
                SseItem::Id("1".into()),
                skipped("1", false, 40),
                ev("1", "message", "after")
            ]
        );
        // Exactly at the limit is allowed: `data: ` (6) + 34 bytes is 40.
        let fits = format!("data: {}\n\n", "y".repeat(34));
        assert_eq!(
            all_splits_limited(40, fits.as_bytes()),
            vec![ev("", "message", &"y".repeat(34))]
        );
    }

    #[test]
    fn an_endless_line_is_discarded_without_being_buffered() {
        let mut parser = SseParser::with_limit(1024);
        let mut out = Vec::new();
        parser.feed(b"id: 3\ndata: ", &mut out);
        for _ in 0..1000 {
            parser.feed(&[b'x'; 1000], &mut out);
            assert!(parser.partial.len() <= 1024, "{}", parser.partial.len());
        }
        assert!(out.is_empty());
        parser.feed(b"\n\ndata: ok\n\n", &mut out);
        assert_eq!(
            out,
            vec![skipped("3", true, 1024), ev("3", "message", "ok")]
        );
    }

    #[test]
    fn a_long_comment_is_dropped_without_costing_an_event() {
        let input = format!(": {}\ndata: a\n\n", "p".repeat(100));
        assert_eq!(
            all_splits_limited(40, input.as_bytes()),
            vec![ev("", "message", "a")]
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
                    _ => None,
                })
                .collect();
            assert_eq!(events, mine);
        }
    }

    #[test]
    fn where_a_chunk_ends_does_not_decide_whether_an_event_is_skipped() {
        // Found by the property tests: four invalid bytes make a 25-byte line decode to 28
        // bytes of data, past a limit of 26 the line itself was within. A chunk ending right
        // after that line used to measure the event again and skip it.
        let mut bytes = b"data:".to_vec();
        bytes.extend([0x80; 4]);
        bytes.extend("é€😀message\n\n".as_bytes());
        let whole = parse_limited(26, &[&bytes]);
        assert_eq!(whole.len(), 1, "{whole:?}");
        let cut = bytes.len() - 1;
        assert_eq!(parse_limited(26, &[&bytes[..cut], &bytes[cut..]]), whole);
    }

    #[test]
    fn an_empty_chunk_between_cr_and_lf_leaves_them_one_line_ending() {
        // Found by the property tests: the empty chunk used to forget the CR, so the LF
        // became a blank line and dispatched the event early.
        assert_eq!(parse_chunks(&[b"data: a\r", b"", b"\n"]), vec![]);
        assert_eq!(
            parse_chunks(&[b"data: a\r", b"", b"\n", b"", b"\n"]),
            vec![ev("", "message", "a")]
        );
    }
}

/// Property tests: whatever the bytes and wherever the network cuts them, the parser yields
/// what it yields for the whole input at once.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use proptest::sample::Index;

    use super::*;

    /// Pieces of event streams and of what breaks them: field names, every line ending, a
    /// byte-order mark, multi-byte and invalid UTF-8, NUL, digits, and arbitrary bytes.
    fn piece() -> impl Strategy<Value = Vec<u8>> {
        let fixed: Vec<&'static [u8]> = vec![
            b"data: ",
            b"data:",
            b"data",
            b"id: ",
            b"id:",
            b"event: ",
            b"event:",
            b"retry: ",
            b"retry:",
            b":",
            b": keepalive",
            b" ",
            b"\n",
            b"\r",
            b"\r\n",
            b"\n\n",
            b"\xEF\xBB\xBF",
            "é€😀".as_bytes(),
            b"\xC3",
            b"\xFF",
            b"\0",
            b"12",
            b"x",
            b"message",
        ];
        prop_oneof![
            3 => prop::sample::select(fixed).prop_map(<[u8]>::to_vec),
            1 => prop::collection::vec(any::<u8>(), 0..6),
        ]
    }

    /// A byte stream made of [`piece`]s.
    fn stream() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(piece(), 0..48).prop_map(|pieces| pieces.concat())
    }

    /// Feeds `input` cut at `cuts` (positions taken modulo its length, any order).
    fn parse_cut(limit: usize, last_id: &str, input: &[u8], cuts: &[Index]) -> Vec<SseItem> {
        let mut at: Vec<usize> = cuts.iter().map(|i| i.index(input.len() + 1)).collect();
        at.push(0);
        at.push(input.len());
        at.sort_unstable();
        let mut parser = SseParser::with_limit(limit).with_last_event_id(last_id);
        let mut out = Vec::new();
        for pair in at.windows(2) {
            parser.feed(&input[pair[0]..pair[1]], &mut out);
        }
        out
    }

    proptest! {
        #![proptest_config(crate::proptests::config(256))]

        #[test]
        fn any_cut_of_any_stream_yields_the_items_of_the_whole(
            input in stream(),
            cuts in prop::collection::vec(any::<Index>(), 0..12),
            last_id in prop::sample::select(vec!["", "7"]),
        ) {
            let whole = parse_cut(SseParser::DEFAULT_MAX_EVENT_BYTES, last_id, &input, &[]);
            prop_assert_eq!(
                parse_cut(SseParser::DEFAULT_MAX_EVENT_BYTES, last_id, &input, &cuts),
                whole
            );
        }

        /// With a small event limit, so that skipping oversized events is cut as well.
        #[test]
        fn any_cut_agrees_with_the_whole_when_events_are_skipped(
            input in stream(),
            cuts in prop::collection::vec(any::<Index>(), 0..12),
            limit in 1usize..48,
        ) {
            let whole = parse_cut(limit, "", &input, &[]);
            prop_assert_eq!(parse_cut(limit, "", &input, &cuts), whole);
        }

        /// Arbitrary bytes, fed one at a time.
        #[test]
        fn arbitrary_bytes_fed_one_at_a_time_yield_the_items_of_the_whole(
            input in prop::collection::vec(any::<u8>(), 0..256),
        ) {
            let whole = parse_cut(SseParser::DEFAULT_MAX_EVENT_BYTES, "", &input, &[]);
            let mut parser = SseParser::new();
            let mut out = Vec::new();
            for byte in input.chunks(1) {
                parser.feed(byte, &mut out);
            }
            prop_assert_eq!(out, whole);
        }
    }
}
