//! Spec errors that point at the offending place: `file:line:column`, the line, a caret.
//!
//! Two renderings of one error: [`SpecError::message`] is the bare text of PROTOCOL.md A.2 that a
//! server sends back, and `Display` is what a person reads in a terminal, compiler style. This
//! module owns both and must stay plain text: no colour codes, and nothing from the spec text is
//! printed without neutralising control characters first.

use std::fmt;
use std::io;

/// At most this many characters of the offending line are shown on each side of the caret.
const SNIPPET_SIDE: usize = 60;

/// Names quoted in messages are cut after this many characters (a DNS label has at most 63).
const SHOWN_MAX: usize = 64;

/// Why a spec could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file (or standard input) could not be read.
    #[error("cannot read spec {path}: {}", describe_io(source))]
    Read {
        /// The path as given (`<stdin>` for `-`).
        path: String,
        /// The I/O error.
        source: io::Error,
    },
    /// The spec is larger than [`super::MAX_SPEC_BYTES`].
    #[error(
        "spec {origin} is larger than {limit} bytes (1 MiB); a Score spec is a small text file"
    )]
    TooLarge {
        /// Where the spec came from.
        origin: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// The text is not YAML, has the wrong shape, or breaks a validation rule.
    #[error("{0}")]
    Invalid(Box<Located>),
}

/// What kind of problem a [`SpecError`] is, for callers that order or classify errors (a server
/// reports A.2 step 1 errors before its own resource checks, and those before the name rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecErrorKind {
    /// The spec could not be read.
    Read,
    /// The spec is over the size limit.
    TooLarge,
    /// Not well-formed YAML (or not UTF-8, or beyond a parser limit): A.2 step 1.
    Syntax,
    /// Well-formed YAML of the wrong shape: empty, not a mapping, a duplicate key, a value of the
    /// wrong type. Still A.2 step 1 ("YAML parse/type error").
    Structure,
    /// A Score validation rule (a missing or invalid name, no containers, no image, no type).
    Rule,
}

/// An error message with the place in the spec it is about, when known.
#[derive(Debug)]
pub struct Located {
    origin: String,
    kind: SpecErrorKind,
    detail: String,
    position: Option<(usize, usize)>,
    snippet: Option<Snippet>,
}

/// The offending line as shown under the message: the (possibly shortened) text and the
/// whitespace that puts a caret under the offending column.
#[derive(Debug)]
struct Snippet {
    text: String,
    pad: String,
}

impl SpecError {
    /// An error about `text` at an optional place; the snippet is cut from `text` at the place's
    /// byte offset, while the line and column shown are the ones the place carries.
    pub(crate) fn at(
        origin: &str,
        text: &str,
        kind: SpecErrorKind,
        detail: impl Into<String>,
        place: Option<Place>,
    ) -> Self {
        SpecError::Invalid(Box::new(Located {
            origin: origin.to_owned(),
            kind,
            detail: detail.into(),
            position: place.map(|p| (p.line, p.column)),
            snippet: place.and_then(|p| snippet(text, p.index)),
        }))
    }

    /// The bare message, without `file:line:column`, as a server returns it: the PROTOCOL.md A.2
    /// texts (`metadata.name is required in Score specification`, ...). YAML errors read
    /// `Error parsing YAML: <what> at line L column C`, as A.2 step 1 has them.
    pub fn message(&self) -> String {
        match self {
            SpecError::Read { .. } | SpecError::TooLarge { .. } => self.to_string(),
            SpecError::Invalid(located) => match (located.kind, located.position) {
                (SpecErrorKind::Rule, _) => located.detail.clone(),
                (_, Some((line, column))) => format!(
                    "Error parsing YAML: {} at line {line} column {column}",
                    located.detail
                ),
                (_, None) => format!("Error parsing YAML: {}", located.detail),
            },
        }
    }

    /// What kind of problem this is.
    pub fn kind(&self) -> SpecErrorKind {
        match self {
            SpecError::Read { .. } => SpecErrorKind::Read,
            SpecError::TooLarge { .. } => SpecErrorKind::TooLarge,
            SpecError::Invalid(located) => located.kind,
        }
    }

    /// The 1-based line and column the error is about, when known.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            SpecError::Invalid(located) => located.position,
            _ => None,
        }
    }
}

/// Where in the text an error is: 1-based line and column (columns count characters, as editors
/// do), and the byte offset into the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Place {
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) index: usize,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origin = escape_controls(&self.origin);
        match self.position {
            Some((line, column)) => write!(f, "{origin}:{line}:{column}: ")?,
            None => write!(f, "{origin}: ")?,
        }
        if self.kind == SpecErrorKind::Syntax {
            f.write_str("invalid YAML: ")?;
        }
        f.write_str(&self.detail)?;
        if let (Some(snippet), Some((line, _))) = (&self.snippet, self.position) {
            let number = line.to_string();
            let gutter = " ".repeat(number.len());
            write!(f, "\n{gutter} |")?;
            // An empty line would leave a trailing blank after the bar.
            let shown = format!("{number} | {}", snippet.text);
            write!(f, "\n{}", shown.trim_end())?;
            write!(f, "\n{gutter} | {}^", snippet.pad)?;
        }
        Ok(())
    }
}

/// The line of `text` around byte `index`, and the padding that puts a caret under `index`.
///
/// Line breaks are the ones libyaml counts (LF, CR, CRLF, NEL, LS, PS), so the line shown is the
/// line numbered in the message. `None` if `index` is not a place in the text.
fn snippet(text: &str, index: usize) -> Option<Snippet> {
    if index > text.len() || !text.is_char_boundary(index) {
        return None;
    }
    let is_break = |c: char| matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}');
    let start = text[..index]
        .char_indices()
        .rev()
        .find(|&(_, c)| is_break(c))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let end = text[index..]
        .find(is_break)
        .map_or(text.len(), |i| index + i);
    let mut before = &text[start..index];
    if start == 0 {
        before = before.strip_prefix('\u{feff}').unwrap_or(before);
    }
    let after = &text[index..end];

    // Long lines (minified or hostile input) are cut around the caret so one error cannot flood
    // the terminal.
    let before_chars: Vec<char> = before.chars().collect();
    let (lead, before_kept) = if before_chars.len() > SNIPPET_SIDE {
        ("...", &before_chars[before_chars.len() - SNIPPET_SIDE..])
    } else {
        ("", &before_chars[..])
    };
    let after_chars: Vec<char> = after.chars().collect();
    let (after_kept, tail) = if after_chars.len() > SNIPPET_SIDE {
        (&after_chars[..SNIPPET_SIDE], "...")
    } else {
        (&after_chars[..], "")
    };

    let mut text_out = String::from(lead);
    let mut pad = " ".repeat(lead.len());
    for &c in before_kept {
        // Keep tabs in the padding so the caret lines up however wide the terminal draws them.
        pad.push(if c == '\t' { '\t' } else { ' ' });
        text_out.push(visible(c));
    }
    text_out.extend(after_kept.iter().map(|&c| visible(c)));
    text_out.push_str(tail);
    Some(Snippet {
        text: text_out,
        pad,
    })
}

/// A character that is safe to print: control characters (other than tab) become U+FFFD, so spec
/// text cannot move the cursor or inject terminal escape sequences.
fn visible(c: char) -> char {
    if c.is_control() && c != '\t' {
        '\u{fffd}'
    } else {
        c
    }
}

/// `s` with control characters escaped, so it prints on one line and cannot drive a terminal.
fn escape_controls(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A name from the spec as quoted inside a message: control characters escaped and, past
/// [`SHOWN_MAX`] characters, cut with "...", so a hostile key cannot make a huge message.
pub(crate) fn shown(s: &str) -> String {
    match s.char_indices().nth(SHOWN_MAX) {
        Some((cut, _)) => format!("{}...", escape_controls(&s[..cut])),
        None => escape_controls(s),
    }
}

/// An I/O error as a sentence, without Rust's " (os error N)" suffix: "No such file or
/// directory".
fn describe_io(err: &io::Error) -> String {
    let text = err.to_string();
    match err.raw_os_error() {
        Some(code) => text
            .strip_suffix(&format!(" (os error {code})"))
            .map_or_else(|| text.clone(), str::to_owned),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(text: &str, index: usize) -> (String, String) {
        let s = snippet(text, index).expect("snippet");
        (s.text, s.pad)
    }

    #[test]
    fn snippet_finds_the_line_for_every_line_break_kind() {
        for br in ["\n", "\r\n", "\r", "\u{85}", "\u{2028}"] {
            let text = format!("a: 1{br}bb: xyz{br}c: 3");
            let index = text.find("xyz").expect("present");
            assert_eq!(
                render(&text, index),
                ("bb: xyz".into(), "    ".into()),
                "{br:?}"
            );
        }
    }

    #[test]
    fn snippet_skips_a_byte_order_mark_and_keeps_tabs_in_the_padding() {
        let text = "\u{feff}a:\tb";
        let index = text.find('b').expect("present");
        assert_eq!(render(text, index), ("a:\tb".into(), "  \t".into()));
    }

    #[test]
    fn snippet_at_end_of_text_and_out_of_range() {
        assert_eq!(render("a: 1\n", 5), (String::new(), String::new()));
        assert!(snippet("a: 1", 99).is_none());
        assert!(snippet("é", 1).is_none(), "inside a character");
    }

    #[test]
    fn snippet_cuts_long_lines_around_the_caret() {
        let text = format!("k: {}X{}", "a".repeat(500), "b".repeat(500));
        let index = text.find('X').expect("present");
        let (shown, pad) = render(&text, index);
        assert_eq!(
            shown,
            format!("...{}X{}...", "a".repeat(60), "b".repeat(59))
        );
        assert_eq!(pad.len(), 63);
    }

    #[test]
    fn snippet_neutralises_control_characters() {
        let text = "name: \u{1b}[31mred";
        let (line, _) = render(text, 6);
        assert!(!line.contains('\u{1b}'));
        assert_eq!(shown("a\u{1b}b"), "a\\u{1b}b");
        assert_eq!(
            shown(&"x".repeat(100)),
            format!("{}...", "x".repeat(SHOWN_MAX))
        );
    }

    #[test]
    fn io_errors_read_as_sentences() {
        let err = io::Error::from_raw_os_error(2);
        assert_eq!(describe_io(&err), "No such file or directory");
        let custom = io::Error::other("boom");
        assert_eq!(describe_io(&custom), "boom");
    }
}
