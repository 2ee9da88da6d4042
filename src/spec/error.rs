//! Spec errors that point at the offending place: `file:line:column`, the line, a caret.

use std::fmt;

/// Why a spec could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error("cannot read spec {path}: {source}")]
    Read {
        /// The path as given.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not valid YAML, or has the wrong shape, or breaks a validation rule.
    #[error("{0}")]
    Invalid(Box<Located>),
}

/// A message with an optional position in the spec text.
#[derive(Debug)]
pub struct Located {
    /// Where the spec came from.
    pub origin: String,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
    /// The offending line of text, when known.
    pub line_text: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl SpecError {
    pub(crate) fn yaml(origin: &str, text: &str, err: &serde_yaml::Error) -> Self {
        let position = err.location().map(|l| (l.line(), l.column()));
        SpecError::invalid(origin, text, position, format!("Error parsing YAML: {err}"))
    }

    pub(crate) fn invalid(
        origin: &str,
        text: &str,
        position: Option<(usize, usize)>,
        message: impl Into<String>,
    ) -> Self {
        let line_text = position
            .and_then(|(line, _)| text.lines().nth(line.saturating_sub(1)).map(str::to_owned));
        SpecError::Invalid(Box::new(Located {
            origin: origin.to_owned(),
            position,
            line_text,
            message: message.into(),
        }))
    }

    /// The bare message, without position, as a server returns it (PROTOCOL.md A.2 texts).
    pub fn message(&self) -> String {
        match self {
            SpecError::Read { .. } => self.to_string(),
            SpecError::Invalid(located) => located.message.clone(),
        }
    }
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, col)) => write!(f, "{}:{line}:{col}: {}", self.origin, self.message)?,
            None => write!(f, "{}: {}", self.origin, self.message)?,
        }
        if let (Some(text), Some((line, col))) = (&self.line_text, self.position) {
            let gutter = line.to_string().len();
            write!(
                f,
                "\n{:gutter$} |\n{line} | {text}\n{:gutter$} | {:>col$}",
                "", "", "^"
            )?;
        }
        Ok(())
    }
}
