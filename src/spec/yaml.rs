//! The YAML boundary of `spec`: text to a small tree of nodes, and a node's path back to its place
//! in the text.
//!
//! Every use of serde_yaml in the crate is in this file, so a swap to a maintained fork touches
//! one file. This layer knows YAML, not Score: it must never apply a Score rule or word a Score
//! message.
//!
//! serde_yaml's values carry no positions, but its errors do: an error raised while a node is being
//! deserialized is stamped with the start mark of that node (the innermost `fix_mark` wins). Both
//! position tricks here rest on that one fact:
//! - a duplicate key is reported from inside the deserialization of that key, so the error points
//!   at the second occurrence;
//! - [`locate`] walks the document again along a path and fails on purpose when it reaches the
//!   node, then reads the position off the error. It runs only on the error path, once.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess};

use super::error::{Place, shown};

/// A YAML node without position. Mapping entries keep document order; keys are scalars as text.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    Null,
    Bool(bool),
    /// An integer, as the number's canonical text (YAML's `0x1f` becomes `31`).
    Int(String),
    /// A float, as the number's canonical text.
    Float(String),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

impl Node {
    /// The value under `key`, if this is a mapping that has it.
    pub(super) fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// What this node is, for "found ..." in messages.
    pub(super) fn describe(&self) -> String {
        match self {
            Node::Null => "nothing (null)".to_owned(),
            Node::Bool(b) => format!("the boolean {b}"),
            Node::Int(n) | Node::Float(n) => format!("the number {n}"),
            Node::Str(_) => "a string".to_owned(),
            Node::Seq(_) => "a list".to_owned(),
            Node::Map(_) => "a mapping".to_owned(),
        }
    }
}

/// One step of a path from the document root: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Seg {
    Key(String),
    Index(usize),
}

/// A path rendered the way people write it: `containers.web.image`, `workflows.deploy.steps[2]`.
pub(super) struct Dotted<'a>(pub(super) &'a [Seg]);

impl fmt::Display for Dotted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => f.write_str(&shown(k))?,
                Seg::Key(k) => write!(f, ".{}", shown(k))?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// Which part of a mapping entry to point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum At {
    /// The key of the last path segment (`web` in `containers.web`).
    Key,
    /// The value at the path (the whole document for an empty path).
    Value,
}

/// Why text could not be turned into a [`Node`].
#[derive(Debug)]
pub(super) enum Failure {
    /// No document at all (empty, whitespace or comments only).
    Empty,
    /// More than one document (`---` separated); `second` is where the second one's content starts.
    MultipleDocuments { second: Option<Place> },
    /// The text is not well-formed YAML, or exceeds a parser limit (nesting, alias expansion).
    Syntax { detail: String, mark: Option<Place> },
    /// A key appears twice in one mapping; `mark` is the second occurrence, `first` the first.
    Duplicate {
        path: Vec<Seg>,
        key: String,
        mark: Option<Place>,
        first: Option<Place>,
    },
    /// A mapping key that is not a plain scalar (a list, a mapping, null or a tagged value).
    BadKey { path: Vec<Seg>, mark: Option<Place> },
}

/// Parses one YAML document into a [`Node`] tree, rejecting duplicate keys anywhere.
pub(super) fn parse(text: &str) -> Result<Node, Failure> {
    let (body, shift) = without_bom(text);
    let state = State::default();
    let result = NodeSeed(&state).deserialize(serde_yaml::Deserializer::from_str(body));
    let err = match result {
        Ok(node) => return Ok(node),
        Err(err) => err,
    };
    let mark = mark_of(&err, shift);
    if let Some(found) = state.found.borrow_mut().take() {
        return Err(match found {
            Found::Duplicate { path, key } => {
                let mut key_path = path.clone();
                key_path.push(Seg::Key(key.clone()));
                let first = locate(text, &key_path, At::Key);
                Failure::Duplicate {
                    path,
                    key,
                    mark,
                    first,
                }
            }
            Found::BadKey { path } => Failure::BadKey { path, mark },
        });
    }
    // serde_yaml reports these two without a position; tell them apart by how far we got rather
    // than by matching its message text. An empty stream fails before any node is visited; a
    // second document is only noticed after the first one was deserialized completely.
    if mark.is_none() && !state.visited.get() {
        return Err(Failure::Empty);
    }
    if mark.is_none() && state.completed.get() {
        return Err(Failure::MultipleDocuments {
            second: second_document(text),
        });
    }
    Err(syntax_failure(body, shift, &err, mark))
}

/// Finds where the node at `path` starts in `text` (its key or its value), or `None` when the path
/// does not exist. Meant for text that [`parse`] accepted: in broken text, nodes before the break
/// are still found, later ones are not.
pub(super) fn locate(text: &str, path: &[Seg], at: At) -> Option<Place> {
    if path.is_empty() && at == At::Key {
        return None;
    }
    let (body, shift) = without_bom(text);
    let hit = Cell::new(false);
    let seed = Locate {
        path,
        at,
        hit: &hit,
    };
    match seed.deserialize(serde_yaml::Deserializer::from_str(body)) {
        // Only our own deliberate failure carries the position we want; any other error (the path
        // crosses a scalar, the text is broken) means "not found".
        Err(err) if hit.get() => mark_of(&err, shift),
        _ => None,
    }
}

/// Where the content of the second document starts: serde_yaml's error for a multi-document
/// stream has no position, but its document iterator can reach the second one and [`Stop`] there.
fn second_document(text: &str) -> Option<Place> {
    let (body, shift) = without_bom(text);
    // Two steps only: after an error this iterator keeps yielding errors forever.
    let mut documents = serde_yaml::Deserializer::from_str(body);
    documents.next()?;
    let second = documents.next()?;
    let hit = Cell::new(false);
    match de::Deserializer::deserialize_any(second, Stop(&hit)) {
        Err(err) if hit.get() => mark_of(&err, shift),
        _ => None,
    }
}

/// The text serde_yaml is given, and how many bytes were cut off its front.
///
/// A UTF-8 byte order mark is cut off here: serde_yaml tells libyaml the encoding up front, so
/// libyaml's scanner sees the mark as a character, skips it, but counts it as a column. The first
/// line then sits one column to the right of the rest, and a top-level mapping of more than one
/// line fails to parse.
fn without_bom(text: &str) -> (&str, usize) {
    match text.strip_prefix('\u{feff}') {
        Some(body) => (body, text.len() - body.len()),
        None => (text, 0),
    }
}

/// The error's position as a [`Place`]; libyaml's index is a byte offset into the text it was
/// given, which starts `shift` bytes into ours.
fn mark_of(err: &serde_yaml::Error, shift: usize) -> Option<Place> {
    let location = err.location()?;
    Some(Place {
        line: location.line(),
        column: location.column(),
        index: location.index() + shift,
    })
}

/// The detail of a syntax error and its place.
///
/// libyaml's reader errors (a control character, bad UTF-8) carry no line or column, only a byte
/// offset, which serde_yaml reports as line 1 column 1 plus "at position N" in the text. Those are
/// turned into a real place here; everything else keeps the parser's own position.
fn syntax_failure(
    body: &str,
    shift: usize,
    err: &serde_yaml::Error,
    mark: Option<Place>,
) -> Failure {
    let message = err.to_string();
    let reader_error = message
        .rsplit_once(" at position ")
        .and_then(|(head, offset)| {
            let prefix = body.get(..offset.parse::<usize>().ok()?)?;
            Some((head, prefix))
        });
    if let Some((head, prefix)) = reader_error {
        let mut place = end_of(prefix);
        place.index += shift;
        return Failure::Syntax {
            detail: head.to_owned(),
            mark: Some(place),
        };
    }
    let detail = match mark {
        // The problem's own " at line L column C" is dropped (the position is rendered
        // separately); a second position, such as libyaml's context, is kept.
        Some(m) => message.replacen(&format!(" at line {} column {}", m.line, m.column), "", 1),
        None => message,
    };
    Failure::Syntax { detail, mark }
}

/// The place just after the last character of `text`, counting lines the way libyaml does (LF,
/// CR, CRLF, NEL, LS and PS each end a line) and columns in characters.
pub(super) fn end_of(text: &str) -> Place {
    let mut line = 1;
    let mut column = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}' => {
                line += 1;
                column = 1;
            }
            // libyaml does not count a leading byte order mark as a column.
            '\u{feff}' if line == 1 && column == 1 => {}
            _ => column += 1,
        }
    }
    Place {
        line,
        column,
        index: text.len(),
    }
}

/// What our own visitors found wrong; the serde error they return only carries the position.
enum Found {
    Duplicate { path: Vec<Seg>, key: String },
    BadKey { path: Vec<Seg> },
}

#[derive(Default)]
struct State {
    /// The path of the node being built, for messages (empty while at the root).
    path: RefCell<Vec<Seg>>,
    found: RefCell<Option<Found>>,
    visited: Cell<bool>,
    completed: Cell<bool>,
}

impl State {
    fn fail<E: de::Error>(&self, found: Found) -> E {
        *self.found.borrow_mut() = Some(found);
        E::custom("spec: rejected by the node builder")
    }
}

struct NodeSeed<'s>(&'s State);

impl<'de> DeserializeSeed<'de> for NodeSeed<'_> {
    type Value = Node;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor(self.0))
    }
}

struct NodeVisitor<'s>(&'s State);

impl NodeVisitor<'_> {
    fn leaf<E>(&self, node: Node) -> Result<Node, E> {
        self.0.visited.set(true);
        Ok(self.finished(node))
    }

    /// Notes when the root node is done: serde_yaml checks for a second document only after
    /// that, so an error without a position from then on means "more than one document".
    fn finished(&self, node: Node) -> Node {
        if self.0.path.borrow().is_empty() {
            self.0.completed.set(true);
        }
        node
    }
}

impl<'de> de::Visitor<'de> for NodeVisitor<'_> {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        self.leaf(Node::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        self.leaf(Node::Int(v.to_string()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        self.leaf(Node::Int(v.to_string()))
    }

    fn visit_i128<E>(self, v: i128) -> Result<Node, E> {
        self.leaf(Node::Int(v.to_string()))
    }

    fn visit_u128<E>(self, v: u128) -> Result<Node, E> {
        self.leaf(Node::Int(v.to_string()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        self.leaf(Node::Float(v.to_string()))
    }

    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        self.leaf(Node::Str(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        self.leaf(Node::Str(v))
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        self.leaf(Node::Null)
    }

    fn visit_none<E>(self) -> Result<Node, E> {
        self.leaf(Node::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        NodeSeed(self.0).deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        self.0.visited.set(true);
        let mut items = Vec::new();
        loop {
            self.0.path.borrow_mut().push(Seg::Index(items.len()));
            let item = seq.next_element_seed(NodeSeed(self.0))?;
            self.0.path.borrow_mut().pop();
            match item {
                Some(node) => items.push(node),
                None => break,
            }
        }
        Ok(self.finished(Node::Seq(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        self.0.visited.set(true);
        let mut entries = Vec::new();
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key_seed(KeySeed {
            state: self.0,
            seen: &seen,
        })? {
            seen.insert(key.clone());
            self.0.path.borrow_mut().push(Seg::Key(key.clone()));
            let value = map.next_value_seed(NodeSeed(self.0))?;
            self.0.path.borrow_mut().pop();
            entries.push((key, value));
        }
        Ok(self.finished(Node::Map(entries)))
    }

    /// A tagged value (`!something value`): serde_yaml presents it as an enum. Score gives tags no
    /// meaning, so keep the value and drop the tag.
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Node, A::Error> {
        use de::VariantAccess as _;
        let (_tag, variant): (IgnoredAny, _) = data.variant()?;
        variant.newtype_variant_seed(NodeSeed(self.0))
    }
}

/// Reads a mapping key as text and fails, at the key's own position, on a repeat.
struct KeySeed<'s, 'k> {
    state: &'s State,
    seen: &'k HashSet<String>,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_, '_> {
    type Value = String;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_any(self)
    }
}

impl KeySeed<'_, '_> {
    fn check<E: de::Error>(self, key: String) -> Result<String, E> {
        if self.seen.contains(&key) {
            let path = self.state.path.borrow().clone();
            return Err(self.state.fail(Found::Duplicate { path, key }));
        }
        Ok(key)
    }

    fn bad_key<E: de::Error>(self) -> E {
        let path = self.state.path.borrow().clone();
        self.state.fail(Found::BadKey { path })
    }
}

impl<'de> de::Visitor<'de> for KeySeed<'_, '_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        self.check(v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        self.check(v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        self.check(v.to_string())
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<String, E> {
        self.check(v.to_string())
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<String, E> {
        self.check(v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        self.check(v.to_string())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        self.check(v.to_owned())
    }

    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Err(self.bad_key())
    }

    fn visit_none<E: de::Error>(self) -> Result<String, E> {
        Err(self.bad_key())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<String, A::Error> {
        Err(self.bad_key())
    }

    fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<String, A::Error> {
        Err(self.bad_key())
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, _data: A) -> Result<String, A::Error> {
        Err(self.bad_key())
    }
}

/// Text of a scalar key, the same way [`KeySeed`] spells it, so paths match.
fn key_text(v: impl fmt::Display) -> String {
    v.to_string()
}

/// Walks to `path` and fails there on purpose (setting `hit`), so the error carries the position.
struct Locate<'p, 'h> {
    path: &'p [Seg],
    at: At,
    hit: &'h Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for Locate<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        match self.path.first() {
            None => d.deserialize_any(Stop(self.hit)),
            Some(Seg::Key(_)) => d.deserialize_map(self),
            Some(Seg::Index(_)) => d.deserialize_seq(self),
        }
    }
}

impl<'de> de::Visitor<'de> for Locate<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping or a list on the way to the node")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (Some(Seg::Key(wanted)), rest) = (self.path.first(), &self.path[1..]) else {
            return Ok(());
        };
        let stop_at_key = rest.is_empty() && self.at == At::Key;
        while let Some(found) = map.next_key_seed(KeyProbe {
            wanted,
            stop: stop_at_key,
            hit: self.hit,
        })? {
            if found {
                return map.next_value_seed(Locate {
                    path: rest,
                    at: self.at,
                    hit: self.hit,
                });
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let (Some(Seg::Index(wanted)), rest) = (self.path.first(), &self.path[1..]) else {
            return Ok(());
        };
        for _ in 0..*wanted {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
        }
        seq.next_element_seed(Locate {
            path: rest,
            at: self.at,
            hit: self.hit,
        })
        .map(|_| ())
    }
}

/// Compares a key with the wanted one; fails inside the key when it is the target itself.
struct KeyProbe<'w, 'h> {
    wanted: &'w str,
    stop: bool,
    hit: &'h Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for KeyProbe<'_, '_> {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl KeyProbe<'_, '_> {
    fn probe<E: de::Error>(self, key: String) -> Result<bool, E> {
        if key != self.wanted {
            return Ok(false);
        }
        if self.stop {
            self.hit.set(true);
            return Err(E::custom("spec: located"));
        }
        Ok(true)
    }
}

impl<'de> de::Visitor<'de> for KeyProbe<'_, '_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        self.probe(key_text(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
        self.probe(key_text(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
        self.probe(key_text(v))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<bool, E> {
        self.probe(key_text(v))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<bool, E> {
        self.probe(key_text(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<bool, E> {
        self.probe(key_text(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        self.probe(v.to_owned())
    }
}

/// Fails on whatever node it is given: the error then carries that node's start position.
struct Stop<'h>(&'h Cell<bool>);

impl Stop<'_> {
    fn stop<E: de::Error>(self) -> Result<(), E> {
        self.0.set(true);
        Err(E::custom("spec: located"))
    }
}

impl<'de> de::Visitor<'de> for Stop<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.stop()
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.stop()
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.stop()
    }

    fn visit_i128<E: de::Error>(self, _: i128) -> Result<(), E> {
        self.stop()
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
        self.stop()
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.stop()
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.stop()
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.stop()
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.stop()
    }

    fn visit_some<D: de::Deserializer<'de>>(self, _: D) -> Result<(), D::Error> {
        self.stop()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        self.stop()
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        self.stop()
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        self.stop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(path: &[&str]) -> Vec<Seg> {
        path.iter().map(|k| Seg::Key((*k).to_owned())).collect()
    }

    fn at(text: &str, path: &[Seg], at: At) -> Option<(usize, usize)> {
        locate(text, path, at).map(|p| (p.line, p.column))
    }

    const BLOCK: &str = "a: 1\nb:\n  c: [x, {d: 2}]\n  'e f': \"g\"\n  5: six\n";

    #[test]
    fn locate_finds_keys_and_values_in_block_style() {
        assert_eq!(at(BLOCK, &keys(&["a"]), At::Key), Some((1, 1)));
        assert_eq!(at(BLOCK, &keys(&["a"]), At::Value), Some((1, 4)));
        assert_eq!(at(BLOCK, &keys(&["b"]), At::Value), Some((3, 3)));
        assert_eq!(at(BLOCK, &keys(&["b", "e f"]), At::Key), Some((4, 3)));
        assert_eq!(at(BLOCK, &keys(&["b", "e f"]), At::Value), Some((4, 10)));
        // Numeric keys match by their text.
        assert_eq!(at(BLOCK, &keys(&["b", "5"]), At::Value), Some((5, 6)));
        let mut list = keys(&["b", "c"]);
        list.push(Seg::Index(1));
        assert_eq!(at(BLOCK, &list, At::Value), Some((3, 10)));
        list.push(Seg::Key("d".into()));
        assert_eq!(at(BLOCK, &list, At::Value), Some((3, 14)));
        assert_eq!(at(BLOCK, &[], At::Value), Some((1, 1)));
    }

    #[test]
    fn locate_gives_none_for_paths_that_do_not_exist() {
        assert_eq!(at(BLOCK, &keys(&["zz"]), At::Key), None);
        assert_eq!(
            at(BLOCK, &keys(&["a", "b"]), At::Value),
            None,
            "through a scalar"
        );
        let mut past_end = keys(&["b", "c"]);
        past_end.push(Seg::Index(7));
        assert_eq!(at(BLOCK, &past_end, At::Value), None);
        assert_eq!(at(BLOCK, &[], At::Key), None);
        assert_eq!(
            at("a: [", &keys(&["a"]), At::Key),
            Some((1, 1)),
            "before the break"
        );
        assert_eq!(
            at("a: [\nb: 1", &keys(&["b"]), At::Key),
            None,
            "after the break"
        );
    }

    #[test]
    fn parse_keeps_document_order_and_scalar_kinds() {
        let node = parse("z: 1\na: true\nm: 1.5\nn: ~\ns: text\nl: [1]\n").expect("valid");
        let Node::Map(entries) = &node else {
            panic!("a mapping")
        };
        let order: Vec<_> = entries.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(order, ["z", "a", "m", "n", "s", "l"]);
        assert_eq!(node.get("z"), Some(&Node::Int("1".into())));
        assert_eq!(node.get("a"), Some(&Node::Bool(true)));
        assert_eq!(node.get("m"), Some(&Node::Float("1.5".into())));
        assert_eq!(node.get("n"), Some(&Node::Null));
        assert_eq!(node.get("s"), Some(&Node::Str("text".into())));
        assert_eq!(node.get("l"), Some(&Node::Seq(vec![Node::Int("1".into())])));
    }

    #[test]
    fn reader_errors_get_a_real_position() {
        let Err(Failure::Syntax { detail, mark }) = parse("a: 1\nname: \u{1b}[31m") else {
            panic!("a syntax error")
        };
        assert_eq!(detail, "control characters are not allowed");
        let mark = mark.expect("a position");
        assert_eq!((mark.line, mark.column, mark.index), (2, 7, 11));
        // The byte order mark shifts the offset but not the column.
        let Err(Failure::Syntax { mark, .. }) = parse("\u{feff}a: \u{1b}") else {
            panic!("a syntax error")
        };
        let mark = mark.expect("a position");
        assert_eq!((mark.line, mark.column, mark.index), (1, 4, 6));
    }

    #[test]
    fn end_of_counts_lines_like_libyaml() {
        let place = end_of("a\r\nb\rc\u{2028}d\u{85}\u{e9}");
        assert_eq!((place.line, place.column), (5, 2));
        let place = end_of("\u{feff}ab");
        assert_eq!((place.line, place.column), (1, 3));
    }

    #[test]
    fn paths_render_as_people_write_them() {
        let mut path = keys(&["workflows", "deploy", "steps"]);
        path.push(Seg::Index(2));
        assert_eq!(Dotted(&path).to_string(), "workflows.deploy.steps[2]");
        assert_eq!(Dotted(&keys(&["a\u{1b}"])).to_string(), "a\\u{1b}");
    }
}
