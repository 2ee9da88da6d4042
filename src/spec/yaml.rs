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

/// The byte offset of the first collection in `text` that opens more than [`MAX_DEPTH`] levels
/// deep, or `None`, found in one linear pass.
///
/// This is a tokenizer that follows libyaml's scanner as far as nesting is concerned: where a
/// token starts, what ends a plain scalar (in block and flow context, over several lines), quoted
/// scalars, comments, block scalars and their indentation, the block indentation stack (as
/// `- `, `? ` and `key:` open block collections) and the flow level. It must never count less
/// than libyaml would: a text that made it lose track (a quote it took for text, a comment it
/// took for a quote) could hide deep nesting from it, and a deep flow nesting is exactly what
/// costs libyaml time that grows with depth times length. Where it is unsure it counts more. It
/// stops at the first thing libyaml would refuse too, since libyaml stops there as well.
fn too_deep(text: &str) -> Option<usize> {
    deeper_than(text, MAX_DEPTH)
}

/// [`too_deep`] with another limit.
fn deeper_than(text: &str, limit: usize) -> Option<usize> {
    Depth::new(text.as_bytes(), limit).scan()
}

/// State of [`too_deep`].
struct Depth<'a> {
    bytes: &'a [u8],
    /// The next byte to look at.
    at: usize,
    /// Where the current line starts.
    line: usize,
    /// Columns of the open block collections (libyaml's indentation stack).
    indents: Vec<usize>,
    /// Open flow collections.
    flow: usize,
    /// Where a token that could be a simple key started, in block context on the current line.
    key: Option<usize>,
    /// The deepest nesting allowed.
    limit: usize,
}

impl<'a> Depth<'a> {
    fn new(bytes: &'a [u8], limit: usize) -> Self {
        Depth {
            bytes,
            at: 0,
            line: 0,
            indents: Vec::new(),
            flow: 0,
            key: None,
            limit,
        }
    }

    fn peek(&self, offset: usize) -> Option<u8> {
        self.bytes.get(self.at + offset).copied()
    }

    /// The length of the line break at `at` (LF, CR, and the NEL, LS and PS that libyaml also
    /// counts as breaks), or 0.
    fn break_len(&self, at: usize) -> usize {
        match self.bytes.get(at..) {
            Some([b'\r', b'\n', ..]) => 2,
            Some([b'\n' | b'\r', ..]) => 1,
            Some([0xc2, 0x85, ..]) => 2,
            Some([0xe2, 0x80, 0xa8 | 0xa9, ..]) => 3,
            _ => 0,
        }
    }

    /// Whether the byte at `offset` from here is a blank, a break or the end (libyaml's BLANKZ).
    fn blankz(&self, offset: usize) -> bool {
        matches!(self.peek(offset), None | Some(b' ' | b'\t'))
            || self.break_len(self.at + offset) > 0
    }

    fn column(&self) -> usize {
        self.at - self.line
    }

    /// Past a line break at `at`.
    fn newline(&mut self) {
        self.at += self.break_len(self.at).max(1);
        self.line = self.at;
        self.key = None;
    }

    fn too_deep(&self) -> bool {
        self.indents.len() + self.flow > self.limit
    }

    /// Opens a block collection at `column` unless one is open there already.
    fn roll(&mut self, column: usize) -> bool {
        if self.flow == 0 && self.indents.last().is_none_or(|&top| top < column) {
            self.indents.push(column);
        }
        self.too_deep()
    }

    /// The column a plain scalar's continuation lines must pass, and a block scalar's content
    /// must reach at least: one more than the innermost block collection's.
    fn content_indent(&self) -> usize {
        self.indents.last().map_or(0, |&top| top + 1)
    }

    fn scan(mut self) -> Option<usize> {
        loop {
            // Blanks, breaks and comments between tokens.
            loop {
                match self.peek(0) {
                    Some(b' ' | b'\t') => self.at += 1,
                    Some(b'#') => self.skip_line(),
                    Some(_) if self.break_len(self.at) > 0 => self.newline(),
                    _ => break,
                }
            }
            let b = self.peek(0)?;
            let column = self.column();
            let start = self.at;
            if self.flow == 0 {
                while self.indents.last().is_some_and(|&top| top > column) {
                    self.indents.pop();
                }
            }
            if column == 0 && self.document_marker() {
                self.indents.clear();
                self.flow = 0;
                self.at += 3;
                continue;
            }
            if column == 0 && b == b'%' {
                self.skip_line();
                continue;
            }
            let block = self.flow == 0;
            match b {
                b'[' | b'{' => {
                    if block && self.key.is_none() {
                        self.key = Some(column);
                    }
                    self.flow += 1;
                    self.at += 1;
                    if self.too_deep() {
                        return Some(start);
                    }
                }
                b']' | b'}' => {
                    self.flow = self.flow.saturating_sub(1);
                    self.at += 1;
                }
                b',' => self.at += 1,
                b'-' if self.blankz(1) => {
                    self.at += 1;
                    if block && self.roll(column) {
                        return Some(start);
                    }
                    self.key = None;
                }
                b'?' if !block || self.blankz(1) => {
                    self.at += 1;
                    if block && self.roll(column) {
                        return Some(start);
                    }
                    self.key = None;
                }
                b':' if !block || self.blankz(1) => {
                    self.at += 1;
                    if block && self.roll(self.key.unwrap_or(column)) {
                        return Some(start);
                    }
                    self.key = None;
                }
                b'|' | b'>' if block => {
                    if !self.block_scalar() {
                        return None;
                    }
                }
                b'\'' | b'"' => {
                    if block && self.key.is_none() {
                        self.key = Some(column);
                    }
                    self.quoted(b);
                }
                b'&' | b'!' | b'*' => {
                    // Anchors and tags come before a node (which may be a key); an alias is one.
                    if block && self.key.is_none() {
                        self.key = Some(column);
                    }
                    self.at += 1;
                    // libyaml's anchor names are letters, digits, '-' and '_'. A tag may hold
                    // more, but stopping it at a bracket can only count a level too many.
                    let name = |c: u8| {
                        if b == b'!' {
                            !matches!(c, b',' | b'[' | b']' | b'{' | b'}')
                        } else {
                            c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
                        }
                    };
                    while !self.blankz(0) && self.peek(0).is_some_and(name) {
                        self.at += 1;
                    }
                }
                _ => {
                    if block && self.key.is_none() {
                        self.key = Some(column);
                    }
                    self.plain();
                }
            }
        }
    }

    /// `---` or `...` followed by a blank, a break or the end, at the start of a line.
    fn document_marker(&self) -> bool {
        let rest = &self.bytes[self.at..];
        (rest.starts_with(b"---") || rest.starts_with(b"...")) && self.blankz(3)
    }

    /// To the end of the line (not past its break).
    fn skip_line(&mut self) {
        while self.at < self.bytes.len() && self.break_len(self.at) == 0 {
            self.at += 1;
        }
    }

    /// A single- or double-quoted scalar, over as many lines as it takes.
    fn quoted(&mut self, quote: u8) {
        self.at += 1;
        while let Some(b) = self.peek(0) {
            if quote == b'"' && b == b'\\' {
                // An escaped character, or an escaped line break.
                self.at += 1;
                if self.break_len(self.at) > 0 {
                    self.newline();
                } else {
                    self.at += 1;
                }
            } else if b == quote {
                if quote == b'\'' && self.peek(1) == Some(b'\'') {
                    self.at += 2;
                } else {
                    self.at += 1;
                    return;
                }
            } else if self.break_len(self.at) > 0 {
                self.newline();
            } else {
                self.at += 1;
            }
        }
    }

    /// A plain scalar, with its continuation lines (libyaml's `scan_plain_scalar`).
    fn plain(&mut self) {
        let indent = self.content_indent();
        loop {
            // The text of one line.
            while let Some(b) = self.peek(0) {
                if self.blankz(0) {
                    break;
                }
                let flow = self.flow > 0;
                let ends_at_colon = b == b':'
                    && (self.blankz(1)
                        || (flow
                            && matches!(
                                self.peek(1),
                                Some(b',' | b'?' | b'[' | b']' | b'{' | b'}')
                            )));
                if ends_at_colon || (flow && matches!(b, b',' | b'[' | b']' | b'{' | b'}')) {
                    return;
                }
                self.at += 1;
            }
            // Blanks and breaks; the scalar goes on after them unless what follows ends it.
            let mut broke = false;
            loop {
                match self.peek(0) {
                    Some(b' ' | b'\t') => self.at += 1,
                    Some(_) if self.break_len(self.at) > 0 => {
                        // The break belongs to the scalar only if it continues; either way the
                        // position is the same for the next token.
                        self.at += self.break_len(self.at);
                        self.line = self.at;
                        broke = true;
                    }
                    _ => break,
                }
            }
            if broke {
                self.key = None;
            }
            match self.peek(0) {
                None | Some(b'#') => return,
                Some(_) if broke && self.column() == 0 && self.document_marker() => return,
                // In block context a line indented no more than the collection ends it.
                Some(_) if broke && self.flow == 0 && self.column() < indent => return,
                Some(_) => {}
            }
        }
    }

    /// A block scalar from its `|` or `>`: the header, then every content line. `false` when the
    /// header is one libyaml refuses (which ends its parsing too).
    fn block_scalar(&mut self) -> bool {
        self.at += 1;
        let mut increment = 0;
        while let Some(b) = self.peek(0) {
            match b {
                b'+' | b'-' => {}
                b'1'..=b'9' => increment = usize::from(b - b'0'),
                _ => break,
            }
            self.at += 1;
        }
        while matches!(self.peek(0), Some(b' ' | b'\t')) {
            self.at += 1;
        }
        if self.peek(0) == Some(b'#') {
            self.skip_line();
        }
        if self.at < self.bytes.len() && self.break_len(self.at) == 0 {
            return false;
        }
        let top = self.indents.last().copied();
        let mut indent = match (increment, top) {
            (0, _) => 0,
            (m, Some(top)) => top + m,
            (m, None) => m,
        };
        // Content: empty lines, and lines indented at least `indent` (found from the first
        // non-empty line when not given).
        while self.at < self.bytes.len() {
            self.newline();
            let spaces = self.bytes[self.at..]
                .iter()
                .take_while(|&&b| b == b' ')
                .count();
            let empty =
                self.break_len(self.at + spaces) > 0 || self.at + spaces == self.bytes.len();
            if empty {
                self.at += spaces;
                continue;
            }
            if indent == 0 {
                indent = spaces.max(self.content_indent()).max(1);
            }
            if spaces < indent {
                self.at += spaces;
                self.line = self.at - spaces;
                return true;
            }
            self.skip_line();
        }
        true
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

    /// Collections on the deepest path of a value.
    fn depth(value: &serde_yaml::Value) -> usize {
        match value {
            serde_yaml::Value::Sequence(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
            serde_yaml::Value::Mapping(map) => {
                1 + map
                    .iter()
                    .map(|(k, v)| depth(k).max(depth(v)))
                    .max()
                    .unwrap_or(0)
            }
            serde_yaml::Value::Tagged(tagged) => depth(&tagged.value),
            _ => 0,
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;
        use super::depth;

        /// Flow collections holding scalars that contain quotes, brackets and '#', under a
        /// block key, after a comment ended by any of libyaml's line breaks.
        fn flow(levels: u32) -> impl Strategy<Value = String> {
            let scalar = prop::sample::select(vec![
                "x",
                "say \"hi",
                "it's",
                "\"a # ]\"",
                "'b'' ]}'",
                "\"\\\" ]\"",
                "a#b",
                "&n v",
                "!t w",
                "*n",
                "-1",
                ":x",
            ])
            .prop_map(str::to_owned);
            scalar.prop_recursive(levels, 256, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4)
                        .prop_map(|items| format!("[{}]", items.join(", "))),
                    prop::collection::vec(inner, 0..4).prop_map(|items| {
                        let entries: Vec<String> = items
                            .iter()
                            .enumerate()
                            .map(|(i, v)| format!("k{i}: {v}"))
                            .collect();
                        format!("{{{}}}", entries.join(", "))
                    }),
                ]
            })
        }

        fn config() -> ProptestConfig {
            let cases = std::env::var("PROPTEST_CASES")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(32);
            ProptestConfig {
                cases,
                failure_persistence: None,
                ..ProptestConfig::default()
            }
        }

        proptest! {
            #![proptest_config(config())]

            /// The pre-scan never counts less nesting than the parser builds: were it to, a
            /// document could hide deep nesting from it.
            #[test]
            fn the_depth_scan_never_counts_less_than_the_parser(
                value in flow(12),
                lead in prop::sample::select(vec!["", "# c\n", "# c\u{85}", "# c\u{2028}", "a: x\n  \"y\n", "- |\n  \"[[\n"]),
                key in prop::sample::select(vec!["k: ", "- ", "? k\n: ", "\"k # \": ", "&a !t "]),
            ) {
                let text = format!("{lead}{key}{value}\n");
                if let Ok(parsed) = serde_yaml::from_str::<serde_yaml::Value>(&text) {
                    let built = depth(&parsed);
                    prop_assert!(
                        deeper_than(&text, built - 1).is_some(),
                        "{text:?} nests {built} deep"
                    );
                }
            }
        }
    }

    #[test]
    fn paths_render_as_people_write_them() {
        let mut path = keys(&["workflows", "deploy", "steps"]);
        path.push(Seg::Index(2));
        assert_eq!(Dotted(&path).to_string(), "workflows.deploy.steps[2]");
        assert_eq!(Dotted(&keys(&["a\u{1b}"])).to_string(), "a\\u{1b}");
    }
}
