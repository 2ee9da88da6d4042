//! The YAML boundary of `spec`: text to a small tree of nodes, and a node's path back to its place
//! in the text.
//!
//! Every use of serde_yaml in the crate is in this file, so a swap to a maintained fork touches
//! one file. This layer knows YAML, not Score: it must never apply a Score rule or word a Score
//! message.
//!
//! It also adds what serde_yaml 0.9 leaves out or bounds too loosely: merge keys (`<<`) are
//! applied as the tree is built; nodes are counted as they are built, aliases in full, up to
//! [`MAX_NODES`] (serde_yaml's own limit counts alias jumps, not nodes); and nesting depth is
//! measured by a linear pre-scan up to [`MAX_DEPTH`] before libyaml sees the text.
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
    /// More than one document (`---` separated); `second` is where the second one's content
    /// starts, `documents` what could be read of each (up to [`MAX_DOCUMENTS`]).
    MultipleDocuments {
        second: Option<Place>,
        documents: Vec<Document>,
    },
    /// Collections nest deeper than [`MAX_DEPTH`]; `mark` is the collection that goes too deep.
    TooDeep { mark: Option<Place> },
    /// The document expands to more than [`MAX_NODES`] nodes; `mark` is where the count ran out.
    TooManyNodes { mark: Option<Place> },
    /// A merge key (`<<`) whose value is not a mapping or a list of mappings.
    BadMerge { path: Vec<Seg>, mark: Option<Place> },
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

/// Collections (mappings and lists, block or flow style) may nest at most this deep. A Score spec
/// nests about six levels; resource `params` may add a few. libyaml and serde_yaml spend time
/// that grows faster than the input on deep flow nesting before serde_yaml's own limit (128)
/// applies, so [`parse`] measures depth first, in one linear pass of its own.
pub(crate) const MAX_DEPTH: usize = 64;

/// A document may build at most this many nodes (scalars, lists and mappings), every use of an
/// alias counted in full. A Score spec has a few hundred; the bound stops alias expansion
/// ("billion laughs": a small text whose aliases expand to millions of nodes) while it happens.
pub(crate) const MAX_NODES: usize = 100_000;

/// At most this many documents of a multi-document file are read to name them in the error.
pub(super) const MAX_DOCUMENTS: usize = 20;

/// The entries of a mapping, in document order.
type Entries = Vec<(String, Node)>;

/// The key that merges mappings into the one it appears in (`<<: *base`).
const MERGE_KEY: &str = "<<";

/// One document of a multi-document file, as the error that refuses the file names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Document {
    /// The line its content starts on.
    pub(super) line: Option<usize>,
    /// Its `metadata.name`, when it has a string one.
    pub(super) name: Option<String>,
}

/// Parses one YAML document into a [`Node`] tree, rejecting duplicate keys anywhere, applying
/// merge keys, and refusing documents nested deeper than [`MAX_DEPTH`] or expanding to more
/// than [`MAX_NODES`] nodes.
pub(super) fn parse(text: &str) -> Result<Node, Failure> {
    let (body, shift) = without_bom(text);
    if let Some(index) = too_deep(body) {
        return Err(Failure::TooDeep {
            mark: Some(end_of(&text[..index + shift])),
        });
    }
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
            Found::TooManyNodes => Failure::TooManyNodes { mark },
            Found::BadMerge { path } => {
                let mut key_path = path;
                let mark = locate(text, &key_path, At::Key).or(mark);
                key_path.pop();
                Failure::BadMerge {
                    path: key_path,
                    mark,
                }
            }
        });
    }
    // serde_yaml reports these two without a position; tell them apart by how far we got rather
    // than by matching its message text. An empty stream fails before any node is visited; a
    // second document is only noticed after the first one was deserialized completely.
    if mark.is_none() && !state.visited.get() {
        return Err(Failure::Empty);
    }
    if mark.is_none() && state.completed.get() {
        // serde_yaml says the same when what follows the first document does not parse: then
        // the syntax error, with its place, is the better answer.
        let documents = documents(text)?;
        return Err(Failure::MultipleDocuments {
            second: second_document(text),
            documents,
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
    // Keys written in a mapping itself first; only a path that is not there is looked for
    // again through merge keys, where a merged value is written (under its anchor).
    locate_in(text, path, at, false).or_else(|| locate_in(text, path, at, true))
}

fn locate_in(text: &str, path: &[Seg], at: At, merges: bool) -> Option<Place> {
    let (body, shift) = without_bom(text);
    let hit = Cell::new(false);
    let seed = Locate {
        path,
        at,
        hit: &hit,
        merges,
    };
    match seed.deserialize(serde_yaml::Deserializer::from_str(body)) {
        // Only our own deliberate failure carries the position we want; any other error (the path
        // crosses a scalar, the text is broken) means "not found".
        Err(err) if hit.get() => mark_of(&err, shift),
        _ => None,
    }
}

/// What can be read of each document of a multi-document text, up to [`MAX_DOCUMENTS`]: where
/// it starts and its `metadata.name`, or the syntax error that ends the first document. Reading
/// stops at the first document that does not parse; all documents together share one
/// [`MAX_NODES`] budget.
fn documents(text: &str) -> Result<Vec<Document>, Failure> {
    let (body, shift) = without_bom(text);
    let mut found = Vec::new();
    let mut places = serde_yaml::Deserializer::from_str(body);
    let mut trees = serde_yaml::Deserializer::from_str(body);
    let mut built = 0;
    while found.len() < MAX_DOCUMENTS {
        let (Some(place), Some(tree)) = (places.next(), trees.next()) else {
            break;
        };
        let hit = Cell::new(false);
        let line = match de::Deserializer::deserialize_any(place, Stop(&hit)) {
            Err(err) if hit.get() => mark_of(&err, shift).map(|m| m.line),
            Err(err) => match mark_of(&err, shift) {
                Some(mark) => return Err(syntax_failure(body, shift, &err, Some(mark))),
                None => break,
            },
            Ok(()) => break,
        };
        let state = State::default();
        state.nodes.set(built);
        let name = match NodeSeed(&state).deserialize(tree) {
            Ok(node) => match node.get("metadata").and_then(|m| m.get("name")) {
                Some(Node::Str(name)) => Some(name.clone()),
                _ => None,
            },
            Err(_) => None,
        };
        built = state.nodes.get();
        found.push(Document { line, name });
        if built > MAX_NODES {
            break;
        }
    }
    Ok(found)
}

/// Whether `rest`, what follows a `|` or `>`, completes a block scalar header: indentation and
/// chomping indicators, then nothing but blanks or a comment (otherwise it is plain text).
fn block_header(rest: &[u8]) -> bool {
    let rest = match rest
        .iter()
        .position(|b| !matches!(b, b'0'..=b'9' | b'+' | b'-'))
    {
        Some(at) => &rest[at..],
        None => return true,
    };
    let text = rest.trim_ascii_start();
    text.is_empty() || (text.first() == Some(&b'#') && text.len() < rest.len())
}

/// The byte offset of the first collection in `text` that opens more than [`MAX_DEPTH`] levels
/// deep, found in one linear pass, or `None`.
///
/// This is not a YAML parser: it tracks just enough (quotes, comments, block scalars, flow
/// brackets, block indentation and the compact `- `, `? `, `: ` indicators) to count nesting the
/// way a parser would, or a little more. Text it misjudges still meets serde_yaml's own depth
/// limit; the point is that deep flow nesting, which is slow to parse, never reaches the parser.
fn too_deep(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let blank = |b: Option<&u8>| matches!(b, None | Some(b' ' | b'\t' | b'\r'));
    // Indentation columns of the open block collections.
    let mut indents: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    let mut quote: Option<u8> = None;
    // Inside a block scalar (`|`, `>`) whose indicator stood on a line indented this much.
    let mut block_scalar: Option<usize> = None;
    let mut start = 0;
    while start < bytes.len() {
        let end = memchr::memchr2(b'\n', b'\r', &bytes[start..]).map_or(bytes.len(), |i| start + i);
        let line = &bytes[start..end];
        let line_start = start;
        start = end + 1;
        let indent = line.iter().take_while(|&&b| b == b' ').count();
        let empty = line[indent..].iter().all(|b| matches!(b, b' ' | b'\t'));
        if let Some(parent) = block_scalar {
            if empty || indent > parent {
                continue;
            }
            block_scalar = None;
        }
        let mut i = indent;
        if quote.is_none() && flow == 0 {
            let content = &line[indent..];
            if empty || content.first() == Some(&b'#') {
                continue;
            }
            let marker = (content.starts_with(b"---") || content.starts_with(b"..."))
                && blank(content.get(3));
            if indent == 0 && marker {
                indents.clear();
                i = 3;
            } else {
                while indents.last().is_some_and(|&top| top > indent) {
                    indents.pop();
                }
                if indents.last() != Some(&indent) {
                    indents.push(indent);
                }
                // Compact collections: each `- `, `? ` or `: ` starting the line opens one more.
                while matches!(line.get(i), Some(b'-' | b'?' | b':')) && blank(line.get(i + 1)) {
                    i += 1;
                    while matches!(line.get(i), Some(b' ' | b'\t')) {
                        i += 1;
                    }
                    if indents.last().is_some_and(|&top| top < i) {
                        indents.push(i);
                    }
                    if indents.len() > MAX_DEPTH {
                        return Some(line_start + i.min(line.len()));
                    }
                }
                if indents.len() > MAX_DEPTH {
                    return Some(line_start + i.min(line.len()));
                }
            }
        }
        while i < line.len() {
            let b = line[i];
            if let Some(q) = quote {
                if q == b'"' && b == b'\\' {
                    i += 2;
                    continue;
                }
                if b == q {
                    if q == b'\'' && line.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    quote = None;
                }
                i += 1;
                continue;
            }
            let previous = if i == 0 { None } else { Some(line[i - 1]) };
            let after_blank = matches!(previous, None | Some(b' ' | b'\t'));
            let token_start = after_blank || matches!(previous, Some(b'[' | b'{' | b',' | b':'));
            match b {
                b'#' if after_blank => break,
                b'"' | b'\'' if token_start => quote = Some(b),
                // Inside flow context every bracket opens (a plain scalar cannot hold one); in
                // block context only one that starts a value does.
                b'[' | b'{' if flow > 0 || after_blank => {
                    flow += 1;
                    if indents.len() + flow > MAX_DEPTH {
                        return Some(line_start + i);
                    }
                }
                b']' | b'}' => flow = flow.saturating_sub(1),
                b'|' | b'>' if flow == 0 && after_blank && block_header(&line[i + 1..]) => {
                    block_scalar = Some(indent);
                    break;
                }
                _ => {}
            }
            i += 1;
        }
    }
    None
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
    // libyaml places an error at the end of a text without a final line break on a line of its
    // own, past the last one; point at the end of the last line instead.
    let end = end_of(body);
    let mark = mark.map(|m| {
        if m.line > end.line {
            Place {
                index: end.index + shift,
                ..end
            }
        } else {
            m
        }
    });
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
    TooManyNodes,
    BadMerge { path: Vec<Seg> },
}

#[derive(Default)]
struct State {
    /// The path of the node being built, for messages (empty while at the root).
    path: RefCell<Vec<Seg>>,
    found: RefCell<Option<Found>>,
    visited: Cell<bool>,
    completed: Cell<bool>,
    /// Nodes built so far, aliases counted in full each time they are used.
    nodes: Cell<usize>,
}

impl State {
    fn fail<E: de::Error>(&self, found: Found) -> E {
        *self.found.borrow_mut() = Some(found);
        E::custom("spec: rejected by the node builder")
    }

    /// Counts one more node, failing once [`MAX_NODES`] are built. Counted before a collection's
    /// children are read, so an expansion stops within the budget, not after it.
    fn count<E: de::Error>(&self) -> Result<(), E> {
        let built = self.nodes.get() + 1;
        self.nodes.set(built);
        if built > MAX_NODES {
            return Err(self.fail(Found::TooManyNodes));
        }
        Ok(())
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
    fn leaf<E: de::Error>(&self, node: Node) -> Result<Node, E> {
        self.0.visited.set(true);
        self.0.count()?;
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

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        self.leaf(Node::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        self.leaf(Node::Int(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        self.leaf(Node::Int(v.to_string()))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node, E> {
        self.leaf(Node::Int(v.to_string()))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
        self.leaf(Node::Int(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        self.leaf(Node::Float(v.to_string()))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        self.leaf(Node::Str(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        self.leaf(Node::Str(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        self.leaf(Node::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        self.leaf(Node::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        NodeSeed(self.0).deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        self.0.visited.set(true);
        self.0.count()?;
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
        self.0.count()?;
        let mut entries = Vec::new();
        let mut seen = HashSet::new();
        // A merge key's mappings and where in `entries` it stood.
        let mut merged: Option<(usize, Vec<Entries>)> = None;
        while let Some(key) = map.next_key_seed(KeySeed {
            state: self.0,
            seen: &seen,
        })? {
            seen.insert(key.clone());
            self.0.path.borrow_mut().push(Seg::Key(key.clone()));
            let value = map.next_value_seed(NodeSeed(self.0))?;
            if key == MERGE_KEY {
                let sources = merge_sources(value).ok_or_else(|| {
                    let path = self.0.path.borrow().clone();
                    self.0.fail(Found::BadMerge { path })
                })?;
                merged = Some((entries.len(), sources));
            } else {
                entries.push((key, value));
            }
            self.0.path.borrow_mut().pop();
        }
        if let Some((at, sources)) = merged {
            entries = apply_merge(entries, at, sources);
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

/// The mappings a merge key's value brings in, in order of precedence: one mapping, or a list of
/// mappings of which the first wins (YAML 1.1 merge key type). `None` for anything else.
fn merge_sources(value: Node) -> Option<Vec<Entries>> {
    match value {
        Node::Map(entries) => Some(vec![entries]),
        Node::Seq(items) => items
            .into_iter()
            .map(|item| match item {
                Node::Map(entries) => Some(entries),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// The mapping `explicit` with the merged `sources` spliced in where the merge key stood (`at`):
/// keys written in the mapping itself win, then earlier sources over later ones.
fn apply_merge(explicit: Entries, at: usize, sources: Vec<Entries>) -> Entries {
    let mut taken: HashSet<String> = explicit.iter().map(|(k, _)| k.clone()).collect();
    let mut result = Vec::with_capacity(explicit.len());
    let mut explicit = explicit.into_iter();
    result.extend(explicit.by_ref().take(at));
    for entries in sources {
        for (key, value) in entries {
            if taken.insert(key.clone()) {
                result.push((key, value));
            }
        }
    }
    result.extend(explicit);
    result
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
    /// Whether to look into the mappings merge keys bring in.
    merges: bool,
}

impl Locate<'_, '_> {
    fn same(&self) -> Self {
        Locate {
            path: self.path,
            at: self.at,
            hit: self.hit,
            merges: self.merges,
        }
    }
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
            match found {
                Probe::Wanted => {
                    return map.next_value_seed(Locate {
                        path: rest,
                        at: self.at,
                        hit: self.hit,
                        merges: self.merges,
                    });
                }
                // The same path, looked for in the merged mapping(s); not there, carry on.
                Probe::Merge if self.merges => map.next_value_seed(Merged(self.same()))?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
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
            merges: self.merges,
        })
        .map(|_| ())
    }
}

/// The value of a merge key, searched for a [`Locate`] path: one mapping, or a list of them.
struct Merged<'p, 'h>(Locate<'p, 'h>);

impl<'de> DeserializeSeed<'de> for Merged<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> de::Visitor<'de> for Merged<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping or a list of mappings to merge")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        de::Visitor::visit_map(self.0, map)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Merged(self.0.same()))?.is_some() {}
        Ok(())
    }
}

/// What a mapping key is to a [`Locate`] walk.
enum Probe {
    Wanted,
    Merge,
    Other,
}

/// Compares a key with the wanted one; fails inside the key when it is the target itself.
struct KeyProbe<'w, 'h> {
    wanted: &'w str,
    stop: bool,
    hit: &'h Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for KeyProbe<'_, '_> {
    type Value = Probe;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Probe, D::Error> {
        d.deserialize_any(self)
    }
}

impl KeyProbe<'_, '_> {
    fn probe<E: de::Error>(self, key: String) -> Result<Probe, E> {
        if key != self.wanted {
            return Ok(if key == MERGE_KEY {
                Probe::Merge
            } else {
                Probe::Other
            });
        }
        if self.stop {
            self.hit.set(true);
            return Err(E::custom("spec: located"));
        }
        Ok(Probe::Wanted)
    }
}

impl<'de> de::Visitor<'de> for KeyProbe<'_, '_> {
    type Value = Probe;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Probe, E> {
        self.probe(key_text(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Probe, E> {
        self.probe(key_text(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Probe, E> {
        self.probe(key_text(v))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Probe, E> {
        self.probe(key_text(v))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Probe, E> {
        self.probe(key_text(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Probe, E> {
        self.probe(key_text(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Probe, E> {
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
