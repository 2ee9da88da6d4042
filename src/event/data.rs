//! An event's `data` object, and reading single keys of it without building it.
//!
//! Events built in this process (the server's) hold a map. Events read from a stream keep the
//! object as JSON text: building a map of owned keys and values for every event was about a
//! third of what parsing an event cost, while a text-mode watch reads two to four keys of most
//! events. While the event is parsed, each key and its value's JSON text (checked by
//! serde_json) are copied into one string and their places noted in a small index, so
//! [`Data::str`] and [`Data::u64`] find a key without parsing anything again. Anything that
//! needs the whole object ([`Data::get`], [`Data::iter`], serialising it) parses it once, on
//! first use, and keeps the map. Objects the index cannot hold (many keys, escaped keys) are
//! read into a map straight away.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::ops::{Index, Range};
use std::sync::OnceLock;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// An event's `data`: a JSON object of type-specific keys (see
/// [`EventKind`](super::EventKind) for which).
///
/// Reading one with serde needs serde_json reading text in memory (`from_str`, `from_slice`),
/// which lends out the values while they are copied; `from_reader` and `from_value` cannot.
#[derive(Clone, Default)]
pub struct Data(Repr);

#[derive(Clone)]
enum Repr {
    /// Built in this process, or changed after it was received.
    Map(Map<String, Value>),
    /// As received: the object as compact JSON text, where each key is in it, and the whole
    /// object once something needed it.
    Received {
        text: Box<str>,
        keys: Keys,
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
            Repr::Received { keys, .. } => keys.len == 0,
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

    /// Where the value of `key` is: in the received text while it has not been parsed, in
    /// the map otherwise.
    fn lookup(&self, key: &str) -> Found<'_> {
        match &self.0 {
            Repr::Received { text, keys, map } if map.get().is_none() => {
                Found::Text(keys.get(text, key))
            }
            _ => Found::Value(self.as_map().get(key)),
        }
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
/// more is read into a map instead.
const INDEXED_KEYS: usize = 10;

/// Where each key and value of a received object is, as byte offsets into its text.
#[derive(Clone, Default)]
pub(super) struct Keys {
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
    /// Notes a key (the bytes between its quotes) and its value, as byte ranges of the object's
    /// text. `false` when there is no room: [`INDEXED_KEYS`] keys already, or text past 64 KiB.
    pub(super) fn note(&mut self, key: Range<usize>, value: Range<usize>) -> bool {
        let Some(span) = self.spans.get_mut(self.len) else {
            return false;
        };
        let offset = |at: usize| u16::try_from(at).ok();
        let (Some(k0), Some(k1), Some(v0), Some(v1)) = (
            offset(key.start),
            offset(key.end),
            offset(value.start),
            // Room for the closing brace too.
            offset(value.end + 1),
        ) else {
            return false;
        };
        *span = Span {
            key: (k0, k1),
            value: (v0, v1 - 1),
        };
        self.len += 1;
        true
    }

    /// Appends `"key":value` to the object text `text` and notes where both are. `false`
    /// (and nothing appended) when there is no room: [`INDEXED_KEYS`] keys already, or text
    /// past 64 KiB.
    fn push(&mut self, text: &mut String, key: &str, value: &str) -> bool {
        let key_start = text.len() + usize::from(self.len > 0) + 1;
        let value_start = key_start + key.len() + 2;
        let noted = self.note(
            key_start..key_start + key.len(),
            value_start..value_start + value.len(),
        );
        if noted {
            if self.len > 1 {
                text.push(',');
            }
            text.push('"');
            text.push_str(key);
            text.push_str("\":");
            text.push_str(value);
        }
        noted
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

/// Parses the text of a received object.
fn parse_object(text: &str) -> Map<String, Value> {
    // Cannot fail: the text is an object built from keys and values serde_json read and
    // checked. An empty map is the harmless answer if it did.
    serde_json::from_str(text).unwrap_or_default()
}

impl Data {
    /// Received data whose text and index were read by [`super::fast`].
    pub(super) fn indexed(text: &str, keys: Keys) -> Data {
        Data(Repr::Received {
            text: Box::from(text),
            keys,
            map: OnceLock::new(),
        })
    }
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
    /// Reads the object into text and an index (see the module's introduction). Values are
    /// borrowed from the input while they are copied, so this reads from serde_json text in
    /// memory (`from_str`, `from_slice`), which is how events arrive.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(Object)
    }
}

/// Reads a received `data` object.
struct Object;

impl<'de> Visitor<'de> for Object {
    type Value = Data;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, access: A) -> Result<Data, A::Error> {
        // The text is put together in a buffer kept for the next event, then copied into an
        // allocation of its exact size.
        thread_local! {
            static BUFFER: RefCell<String> = const { RefCell::new(String::new()) };
        }
        BUFFER.with(|buffer| match buffer.try_borrow_mut() {
            Ok(mut buffer) => read_object(access, &mut buffer),
            // Only if reading an object could start reading another on the same thread.
            Err(_) => read_object(access, &mut String::new()),
        })
    }
}

/// [`Object::visit_map`], putting the text together in `text`.
fn read_object<'de, A: MapAccess<'de>>(mut access: A, text: &mut String) -> Result<Data, A::Error> {
    text.clear();
    text.push('{');
    let mut keys = Keys::default();
    // Set once the object turns out not to fit the index.
    let mut map: Option<Map<String, Value>> = None;
    while let Some(key) = access.next_key::<Key<'de>>()? {
        let value: &'de RawValue = access.next_value()?;
        if !plainly_valid(value.get()) {
            // Reading it as raw text checked only its syntax: a value can still be no `Value`
            // (a number out of range, a lone surrogate, nesting too deep), which the map
            // refused when it was built here. Refused here too, so the event is reported as
            // malformed instead of its data turning out empty later.
            serde_json::from_str::<Value>(value.get()).map_err(de::Error::custom)?;
        }
        if map.is_none() {
            if let Key::Plain(key) = key {
                if keys.push(text, key, value.get()) {
                    continue;
                }
            }
            text.push('}');
            map = Some(serde_json::from_str(text).map_err(de::Error::custom)?);
        }
        if let Some(map) = &mut map {
            let value = serde_json::from_str(value.get()).map_err(de::Error::custom)?;
            map.insert(key.into_owned(), value);
        }
    }
    text.push('}');
    Ok(Data(match map {
        Some(map) => Repr::Map(map),
        None => Repr::Received {
            text: Box::from(text.as_str()),
            keys,
            map: OnceLock::new(),
        },
    }))
}

/// Whether the JSON text of a value is certainly a valid `Value`, without parsing it: a
/// string without escapes, a literal, or an integer short enough to be exact. Everything else
/// is parsed once to check it.
fn plainly_valid(raw: &str) -> bool {
    match raw.as_bytes().first() {
        Some(b'"') => !raw.contains('\\'),
        Some(b't' | b'f' | b'n') => true,
        Some(b'-' | b'0'..=b'9') => {
            raw.len() <= 20 && raw.bytes().all(|b| b.is_ascii_digit() || b == b'-')
        }
        _ => false,
    }
}

/// A key as received: borrowed from the input when written without escapes.
enum Key<'de> {
    Plain(&'de str),
    Escaped(String),
}

impl Key<'_> {
    fn into_owned(self) -> String {
        match self {
            Key::Plain(key) => key.to_owned(),
            Key::Escaped(key) => key,
        }
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::Plain(key))
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key<'de>, E> {
                Ok(Key::Escaped(key.to_owned()))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
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

        let long = format!(r#"{{"a":1,"long":"{}","b":2}}"#, "x".repeat(70_000));
        let data = assert_reads_match_the_map(&long, &["a", "long", "b"]);
        assert_eq!(data.u64("b"), Some(2));
        assert!(parsed(&data));
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

    /// Values whose syntax is right but that are no `Value` are refused, as the map refused
    /// them, both by serde and by the fast path (through `Event::from_json`).
    #[test]
    fn values_that_cannot_be_read_are_refused() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let long = format!("1{}", "0".repeat(400));
        for value in ["1e400", r#""\ud800""#, &deep, &long] {
            let text = format!(r#"{{"a":"x","b":{value}}}"#);
            assert!(serde_json::from_str::<Data>(&text).is_err(), "{text}");
            let event = format!(r#"{{"type":"resource.active","data":{text}}}"#);
            assert!(super::super::Event::from_json(&event).is_err(), "{event}");
        }
        // Integers that are long but in range are read, as the map reads them.
        let text = r#"{"a":18446744073709551616,"b":-9223372036854775809}"#;
        let data = assert_reads_match_the_map(text, &["a", "b"]);
        assert_eq!(data.str("a").as_deref(), Some("1.8446744073709552e+19"));
    }

    #[test]
    fn only_objects_are_data() {
        for (text, kind) in [
            ("[1]", "sequence"),
            ("\"x\"", "string"),
            ("3", "integer"),
            ("null", "null"),
            ("true", "boolean"),
        ] {
            let err = serde_json::from_str::<Data>(text).unwrap_err().to_string();
            assert!(err.contains(kind) && err.contains("a JSON object"), "{err}");
        }
    }
}
