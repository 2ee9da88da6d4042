//! An event's `data` object, and reading single keys of it without building it.
//!
//! Events built in this process (the server's) hold a map. Events read from a stream keep the
//! object as the JSON text they arrived in: building a map of owned keys and values for every
//! event was about a third of what parsing an event cost, while a text-mode watch reads two to
//! four keys of most events and `--output json` often none. [`Data::str`] and [`Data::u64`]
//! read keys straight from the text, through an index of where each value is that the first of
//! them builds (one pass, no allocation). Anything that needs the whole object
//! ([`Data::get`], [`Data::iter`], serialising it) parses it once, on first use, and keeps the
//! map.

use std::borrow::Cow;
use std::fmt;
use std::ops::Index;
use std::sync::OnceLock;

use serde::de::{self, Unexpected};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// An event's `data`: a JSON object of type-specific keys (see
/// [`EventKind`](super::EventKind) for which).
#[derive(Clone, Default)]
pub struct Data(Repr);

#[derive(Clone)]
enum Repr {
    /// Built in this process, or changed after it was received.
    Map(Map<String, Value>),
    /// As received: the object's JSON text (checked to be an object), and what was built from
    /// it once something needed it.
    Received {
        text: Box<RawValue>,
        /// Where each value is; `None` for an object [`Keys`] cannot index.
        keys: OnceLock<Option<Keys>>,
        /// The whole object.
        map: OnceLock<Map<String, Value>>,
    },
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Map(Map::new())
    }
}

impl Data {
    /// An empty object.
    pub fn new() -> Self {
        Data::default()
    }

    /// The whole object as a map, parsed from the received text the first time it is needed.
    pub fn as_map(&self) -> &Map<String, Value> {
        match &self.0 {
            Repr::Map(map) => map,
            Repr::Received { text, map, .. } => map.get_or_init(|| parse_object(text)),
        }
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_map().get(key)
    }

    /// Every key and value, in key order.
    pub fn iter(&self) -> serde_json::map::Iter<'_> {
        self.as_map().iter()
    }

    /// Every key, in order.
    pub fn keys(&self) -> serde_json::map::Keys<'_> {
        self.as_map().keys()
    }

    /// Whether the object has no keys.
    pub fn is_empty(&self) -> bool {
        match &self.0 {
            Repr::Map(map) => map.is_empty(),
            // An object whose text holds nothing but its braces and whitespace.
            Repr::Received { text, .. } => text
                .get()
                .bytes()
                .all(|b| matches!(b, b'{' | b'}') || b.is_ascii_whitespace()),
        }
    }

    /// Sets `key` to `value`, replacing what was there.
    pub fn insert(&mut self, key: String, value: Value) {
        self.as_map_mut().insert(key, value);
    }

    /// The map, for changing it; a received object is parsed into one first.
    fn as_map_mut(&mut self) -> &mut Map<String, Value> {
        if let Repr::Received { text, map, .. } = &mut self.0 {
            let map = map.take().unwrap_or_else(|| parse_object(text));
            self.0 = Repr::Map(map);
        }
        match &mut self.0 {
            Repr::Map(map) => map,
            Repr::Received { .. } => unreachable!("replaced by a map above"),
        }
    }

    /// A value as text: strings as they are, numbers and booleans formatted, anything else
    /// (absent, null, arrays, objects) as `None`. Strings without escapes are borrowed.
    pub fn str(&self, key: &str) -> Option<Cow<'_, str>> {
        match self.lookup(key) {
            Found::Value(value) => value_str(value?),
            Found::Text(raw) => {
                let raw = raw?;
                if let Some(plain) = plain_string(raw) {
                    return Some(Cow::Borrowed(plain));
                }
                let value: Value = serde_json::from_str(raw).ok()?;
                value_str(&value).map(|s| Cow::Owned(s.into_owned()))
            }
        }
    }

    /// A value as an unsigned integer, from a JSON number or a numeric string.
    pub fn u64(&self, key: &str) -> Option<u64> {
        match self.lookup(key) {
            Found::Value(value) => value_u64(value?),
            Found::Text(raw) => {
                let raw = raw?;
                if raw.bytes().all(|b| b.is_ascii_digit()) {
                    // Too many digits for a u64 is `None`, as it is for the parsed number.
                    return raw.parse().ok();
                }
                if let Some(plain) = plain_string(raw) {
                    return plain.parse().ok();
                }
                value_u64(&serde_json::from_str(raw).ok()?)
            }
        }
    }

    /// Where the value of `key` is: in the received text while it has not been parsed (and
    /// can be indexed), in the map otherwise.
    fn lookup(&self, key: &str) -> Found<'_> {
        if let Repr::Received { text, keys, map } = &self.0 {
            if map.get().is_none() {
                if let Some(keys) = keys.get_or_init(|| Keys::of(text.get())) {
                    return Found::Text(keys.get(text.get(), key));
                }
            }
        }
        Found::Value(self.as_map().get(key))
    }
}

/// See [`Data::lookup`].
enum Found<'a> {
    /// The value's JSON text.
    Text(Option<&'a str>),
    /// The parsed value.
    Value(Option<&'a Value>),
}

/// How many keys [`Keys`] holds. Every event type of the protocol has fewer; an object with
/// more is parsed into a map instead.
const INDEXED_KEYS: usize = 10;

/// Where each key and value of a received object is, as byte offsets into its text.
#[derive(Clone)]
struct Keys {
    spans: [Span; INDEXED_KEYS],
    len: usize,
}

/// One key (the bytes between its quotes) and its value (the whole JSON value).
#[derive(Clone, Copy, Default)]
struct Span {
    key: (u16, u16),
    value: (u16, u16),
}

impl Keys {
    /// Indexes the JSON object `text`, or `None` when it cannot: more than [`INDEXED_KEYS`]
    /// keys, text longer than 64 KiB, a key written with escapes, or text that is not an
    /// object (which cannot happen: it was checked when the event was read). Those objects
    /// are read through the parsed map instead.
    fn of(text: &str) -> Option<Keys> {
        let offset = |at: usize| u16::try_from(at).ok();
        let mut keys = Keys {
            spans: [Span::default(); INDEXED_KEYS],
            len: 0,
        };
        let mut walk = Walk {
            bytes: text.as_bytes(),
            at: 0,
        };
        walk.expect(b'{')?;
        if walk.peek()? == b'}' {
            return Some(keys);
        }
        loop {
            walk.skip_whitespace();
            let key_start = walk.at + 1;
            walk.string()?;
            let key_end = walk.at - 1;
            if text.as_bytes().get(key_start..key_end)?.contains(&b'\\') {
                return None;
            }
            walk.expect(b':')?;
            walk.skip_whitespace();
            let value_start = walk.at;
            walk.value()?;
            let span = keys.spans.get_mut(keys.len)?;
            *span = Span {
                key: (offset(key_start)?, offset(key_end)?),
                value: (offset(value_start)?, offset(walk.at)?),
            };
            keys.len += 1;
            match walk.peek()? {
                b',' => walk.at += 1,
                b'}' => return Some(keys),
                _ => return None,
            }
        }
    }

    /// The JSON text of the value of `key`; the last of duplicate keys wins, as in a map.
    fn get<'a>(&self, text: &'a str, key: &str) -> Option<&'a str> {
        let range = |(start, end): (u16, u16)| usize::from(start)..usize::from(end);
        self.spans[..self.len]
            .iter()
            .rev()
            .find(|span| text.get(range(span.key)) == Some(key))
            .and_then(|span| text.get(range(span.value)))
    }
}

/// Parses received text that was checked to be a JSON object when it was read.
fn parse_object(text: &RawValue) -> Map<String, Value> {
    // Cannot fail: the text is valid JSON (serde_json checked it while reading the event) and
    // begins with `{` (checked in `Deserialize`). An empty map is the harmless answer if it did.
    serde_json::from_str(text.get()).unwrap_or_default()
}

impl From<Map<String, Value>> for Data {
    fn from(map: Map<String, Value>) -> Self {
        Data(Repr::Map(map))
    }
}

impl Index<&str> for Data {
    type Output = Value;

    /// The value of `key`, or `null` when absent (like [`Value`]'s indexing).
    fn index(&self, key: &str) -> &Value {
        static NULL: Value = Value::Null;
        self.get(key).unwrap_or(&NULL)
    }
}

impl PartialEq for Data {
    fn eq(&self, other: &Self) -> bool {
        self.as_map() == other.as_map()
    }
}

impl fmt::Debug for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_map().fmt(f)
    }
}

impl Serialize for Data {
    /// Always as the map: keys in order, compact, whatever spacing or order it arrived in.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.as_map().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Data {
    /// Keeps the object's text. Only JSON deserializers can do that (this type is read from
    /// streams and responses, never from other formats).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Box::<RawValue>::deserialize(deserializer)?;
        // Whitespace before the value is not part of a raw value; the first byte says its kind.
        match text.get().as_bytes().first() {
            Some(b'{') => Ok(Data(Repr::Received {
                text,
                keys: OnceLock::new(),
                map: OnceLock::new(),
            })),
            _ => Err(de::Error::invalid_type(
                unexpected(text.get()),
                &"a JSON object",
            )),
        }
    }
}

/// What a non-object JSON value is, for the error message.
fn unexpected(text: &str) -> Unexpected<'_> {
    match text.as_bytes().first() {
        Some(b'"') => Unexpected::Other("a string"),
        Some(b'[') => Unexpected::Seq,
        Some(b't' | b'f') => Unexpected::Other("a boolean"),
        Some(b'n') => Unexpected::Unit,
        _ => Unexpected::Other("a number"),
    }
}

/// [`Data::str`] of a parsed value.
fn value_str(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(s) => Some(Cow::Borrowed(s.as_str())),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => None,
    }
}

/// [`Data::u64`] of a parsed value.
fn value_u64(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// The contents of a JSON string literal that has no escapes (nearly all of them).
fn plain_string(raw: &str) -> Option<&str> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.contains('\\')).then_some(inner)
}

/// A cursor over JSON text that steps over whole values.
struct Walk<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Walk<'_> {
    fn skip_whitespace(&mut self) {
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    /// The next byte that is not whitespace, left in place.
    fn peek(&mut self) -> Option<u8> {
        self.skip_whitespace();
        self.bytes.get(self.at).copied()
    }

    /// Steps over `byte`, after any whitespace.
    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// Steps over a string literal starting here.
    fn string(&mut self) -> Option<()> {
        if self.bytes.get(self.at) != Some(&b'"') {
            return None;
        }
        self.at += 1;
        loop {
            let rest = self.bytes.get(self.at..)?;
            let quote = memchr::memchr(b'"', rest)?;
            self.at += quote + 1;
            // The quote ends the string unless an odd number of backslashes escapes it.
            let backslashes = rest[..quote]
                .iter()
                .rev()
                .take_while(|&&b| b == b'\\')
                .count();
            if backslashes % 2 == 0 {
                return Some(());
            }
        }
    }

    /// Steps over one value starting here.
    fn value(&mut self) -> Option<()> {
        match *self.bytes.get(self.at)? {
            b'"' => self.string(),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match *self.bytes.get(self.at)? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.at += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.at += 1;
                }
            }
            // A number, `true`, `false` or `null`: up to the next delimiter.
            _ => {
                let rest = self.bytes.get(self.at..)?;
                let len = rest
                    .iter()
                    .position(|b| matches!(b, b',' | b'}' | b']') || b.is_ascii_whitespace())
                    .unwrap_or(rest.len());
                self.at += len;
                (len > 0).then_some(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn received(text: &str) -> Data {
        serde_json::from_str(text).unwrap()
    }

    /// Whether the whole object has been parsed into a map.
    fn parsed(data: &Data) -> bool {
        match &data.0 {
            Repr::Map(_) => true,
            Repr::Received { map, .. } => map.get().is_some(),
        }
    }

    /// Reads every key both ways, from the text and from a map, and checks they agree.
    fn assert_reads_match_the_map(text: &str, keys: &[&str]) -> Data {
        let built = Data::from(serde_json::from_str::<Map<String, Value>>(text).unwrap());
        let data = received(text);
        for key in keys {
            assert_eq!(data.str(key), built.str(key), "str {key}");
            assert_eq!(data.u64(key), built.u64(key), "u64 {key}");
        }
        data
    }

    #[test]
    fn keys_read_from_the_text_match_the_parsed_map() {
        // INDEXED_KEYS keys, one of them twice.
        let text = r#"{ "s": "plain", "esc": "a\"b\u00e9\\", "big": 18446744073709551615,
            "huge": 18446744073709551616, "t": true, "z": null, "arr": [1, {"s": "no"}, "]"],
            "obj": {"s": "ne}s\"ted", "in": [[], {}]} , "dup": 1.5e3, "dup" : -2 }"#;
        let keys = [
            "s", "esc", "big", "huge", "t", "z", "arr", "obj", "dup", "in", "absent", "",
        ];
        let data = assert_reads_match_the_map(text, &keys);
        assert!(
            !parsed(&data),
            "answered from the text, without building the map"
        );
        // What the map itself answers, so that the comparison means something.
        let built = Data::from(serde_json::from_str::<Map<String, Value>>(text).unwrap());
        assert_eq!(built.str("esc").as_deref(), Some("a\"bé\\"));
        assert_eq!(built.u64("big"), Some(u64::MAX));
        assert_eq!(built.u64("huge"), None);
        assert_eq!(built.str("dup").as_deref(), Some("-2"));
        assert_eq!(built.str("t").as_deref(), Some("true"));
        assert_eq!(built.str("z"), None);
        assert_eq!(built.str("obj"), None);
    }

    #[test]
    fn objects_the_index_cannot_hold_are_read_through_the_map() {
        let escaped_key = r#"{"k\u0065y":"escaped","num_str":"17"}"#;
        let data = assert_reads_match_the_map(escaped_key, &["key", "num_str", "absent"]);
        assert_eq!(data.str("key").as_deref(), Some("escaped"));
        assert!(parsed(&data));

        let many: Map<String, Value> = (0..=INDEXED_KEYS)
            .map(|i| (format!("k{i}"), i.into()))
            .collect();
        let text = serde_json::to_string(&many).unwrap();
        let data = assert_reads_match_the_map(&text, &["k0", "k10", "k11"]);
        assert_eq!(data.u64("k10"), Some(10));
        assert!(parsed(&data));
    }

    #[test]
    fn text_that_is_no_object_is_not_indexed_and_never_panics() {
        for text in [
            "",
            "{",
            "{\"a\"",
            "{\"a\":",
            "{\"a\":\"x",
            "{\"a\":[1,",
            "{\"a\" 1}",
            "[]",
            "x",
            "{\"a\":1,}",
            "{\"a\":{]]]}",
            "{\"a\":1 \"b\":2}",
        ] {
            assert!(Keys::of(text).is_none(), "{text:?}");
        }
        let keys = Keys::of(r#"{"a":1}"#).unwrap();
        assert_eq!(keys.get(r#"{"a":1}"#, "a"), Some("1"));
        assert!(Keys::of("{}").is_some_and(|keys| keys.len == 0));
    }

    #[test]
    fn plain_strings_are_borrowed_from_the_text() {
        let data = received(r#"{"a":"plain","b":"tab\t","f":1.5e3,"n":42}"#);
        assert_eq!(data.str("f").as_deref(), Some("1500.0"));
        assert_eq!(data.u64("n"), Some(42));
        assert!(matches!(data.str("a"), Some(Cow::Borrowed("plain"))));
        assert!(matches!(data.str("b"), Some(Cow::Owned(s)) if s == "tab\t"));
    }

    #[test]
    fn the_whole_object_is_parsed_once_and_serialises_canonically() {
        let data = received(r#"{ "b" : [1, 2], "a" : "x" }"#);
        assert_eq!(data.get("b"), Some(&json!([1, 2])));
        assert!(parsed(&data));
        assert_eq!(data["a"], "x");
        assert_eq!(data["absent"], Value::Null);
        assert_eq!(data.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(
            serde_json::to_string(&data).unwrap(),
            r#"{"a":"x","b":[1,2]}"#
        );
        // Reads after parsing come from the map and agree.
        assert_eq!(data.str("a").as_deref(), Some("x"));
    }

    #[test]
    fn changing_received_data_keeps_what_was_received() {
        let mut data = received(r#"{"a":1}"#);
        data.insert("b".into(), json!(2));
        assert_eq!(
            data,
            Data::from(json!({"a": 1, "b": 2}).as_object().unwrap().clone())
        );
    }

    #[test]
    fn emptiness_is_read_from_the_text() {
        assert!(received("{}").is_empty());
        assert!(received("{ \n }").is_empty());
        assert!(!received(r#"{"a":{}}"#).is_empty());
        assert!(Data::new().is_empty());
    }

    #[test]
    fn only_objects_are_data() {
        for (text, kind) in [
            ("[1]", "sequence"),
            ("\"x\"", "a string"),
            ("3", "a number"),
            ("null", "null"),
            ("true", "a boolean"),
        ] {
            let err = serde_json::from_str::<Data>(text).unwrap_err().to_string();
            assert!(err.contains(kind) && err.contains("a JSON object"), "{err}");
        }
    }
}
