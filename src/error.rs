//! The top-level error: every way a command can fail, the exit status it ends with, and the
//! words the user reads.
//!
//! Outcomes that are not failures of `ctl` itself (the deployment failed, `--timeout` elapsed,
//! Ctrl-C) are not errors: commands return them as an [`ExitStatus`] after printing what
//! happened. Exit codes are chosen here by matching on variants, never by inspecting messages.

use std::fmt::Write as _;

use crate::exit::ExitStatus;
use crate::render::text::sanitize;
use crate::server::ServerError;

/// Every way a `ctl` command can fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec could not be read or is invalid; nothing was sent.
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),

    /// Bad arguments or configuration that clap could not catch.
    #[error("{0}")]
    Usage(String),

    /// The server answered 4xx: validation, authentication, not found.
    #[error("the server rejected the request ({status}): {message}")]
    Rejected {
        /// HTTP status code.
        status: u16,
        /// The server's own message (from a JSON error envelope or a text body).
        message: String,
    },

    /// What the command was asked to follow does not exist on the server (an app, a
    /// deployment, or a deployment of another app): exit 4, like any other "not found", but
    /// said in our words with what to do instead.
    #[error("{what}")]
    NotFound {
        /// What is missing, as a sentence.
        what: String,
        /// What to do instead.
        hint: String,
    },

    /// The server could not be reached at all.
    #[error("cannot reach the server at {url}")]
    Unreachable {
        /// The URL that was tried.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },

    /// A TLS connection could not be set up: the server's certificate was refused, or the
    /// handshake failed. Not "unreachable": the server answered, and the fix is a flag or a
    /// certificate, not starting a server.
    #[error("cannot connect securely to {url}: {problem}")]
    Tls {
        /// The server URL (without credentials).
        url: String,
        /// What failed.
        problem: crate::client::tls::TlsProblem,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },

    /// The server answered 5xx, or something that is not the protocol.
    #[error("server error{}: {message}", status.map(|s| format!(" ({s})")).unwrap_or_default())]
    Server {
        /// HTTP status code, when there was a response.
        status: Option<u16>,
        /// What went wrong.
        message: String,
    },

    /// The event-stream request was answered, but not with a stream: `204 No Content` (a
    /// server's way of telling clients to stop reconnecting), another `2xx`, or `200` with a
    /// media type other than `text/event-stream`. Final: never retried.
    #[error("{message}")]
    NoStream {
        /// HTTP status code.
        status: u16,
        /// What the server answered, in words.
        message: String,
    },

    /// The event stream was lost and could not be re-established within the retry budget.
    #[error("lost the event stream: {0}")]
    StreamLost(String),

    /// The bundled server failed (bind, storage, configuration).
    #[error(transparent)]
    ServerRun(#[from] ServerError),

    /// Writing output or reading input failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The application `app` is not on the server: said the same way by every command that
    /// names one (`watch`, `status`), with where to look instead.
    pub fn unknown_app(app: &str) -> Error {
        Error::NotFound {
            what: format!("the server has no application {:?}", sanitize(app)),
            hint: "`ctl list` shows the applications it has".to_owned(),
        }
    }

    /// The exit status this error ends the process with.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Error::Spec(_) | Error::Usage(_) => ExitStatus::Usage,
            // A server that cannot start because of its configuration is a usage error; one
            // that cannot bind or store is an unavailable service.
            Error::ServerRun(
                ServerError::OpenAccess { .. }
                | ServerError::NoDataDir
                | ServerError::Catalogue(_)
                | ServerError::Keys(_)
                | ServerError::Tls(_),
            ) => ExitStatus::Usage,
            Error::Rejected { .. } | Error::NotFound { .. } => ExitStatus::Rejected,
            Error::Unreachable { .. }
            | Error::Tls { .. }
            | Error::Server { .. }
            | Error::StreamLost(_)
            | Error::NoStream { .. }
            | Error::ServerRun(_)
            | Error::Io(_) => ExitStatus::Unavailable,
        }
    }

    /// A suggestion for what to do next, when there is an obvious one.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Unreachable { .. } => Some(
                "is the server running? Start one with `ctl server`, or try `ctl deploy FILE -w --local`"
                    .to_owned(),
            ),
            Error::NotFound { hint, .. } => Some(hint.clone()),
            Error::Tls { problem, .. } => Some(problem.hint()),
            Error::Rejected { status: 401, .. } => {
                Some("pass an API key with --api-key or CTL_API_KEY".to_owned())
            }
            Error::Rejected { status: 403, .. } => {
                Some("the API key's team is not allowed to use this application".to_owned())
            }
            _ => None,
        }
    }

    /// The full text printed on stderr: `error: <sentence>`, each cause on its own line, then
    /// the hint. `verbose >= 2` adds the debug representation.
    ///
    /// Each part is cleaned of control characters first: a sentence often carries a server's
    /// own text (an error body), which must not be able to move the cursor, recolour the
    /// terminal or forge lines of its own.
    pub fn render(&self, verbose: u8) -> String {
        let sentence = self.to_string();
        let sentence = match self {
            // A spec error is several lines (the message, the offending line, a caret under
            // it): cleaned line by line, so that its layout survives.
            Error::Spec(_) => sentence
                .lines()
                .map(sanitize)
                .collect::<Vec<_>>()
                .join("\n"),
            _ => sanitize(&sentence).into_owned(),
        };
        let mut out = format!("error: {sentence}\n");
        let mut source = std::error::Error::source(self);
        // `transparent` variants already printed their inner error as the sentence.
        if matches!(self, Error::Spec(_) | Error::ServerRun(_)) {
            source = source.and_then(std::error::Error::source);
        }
        while let Some(cause) = source {
            let _ = writeln!(out, "  caused by: {}", sanitize(&cause.to_string()));
            source = cause.source();
        }
        if let Some(hint) = self.hint() {
            let _ = writeln!(out, "hint: {}", sanitize(&hint));
        }
        if verbose >= 2 {
            let _ = writeln!(out, "debug: {}", sanitize(&format!("{self:?}")));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_error_keeps_its_lines_and_caret_and_stays_clean() {
        let err = crate::spec::parse("metadata:\n  name: \"a\\e[31m\\n\"\n", "app.yaml")
            .expect_err("invalid name");
        let text = Error::Spec(err).render(0);
        assert!(!text.contains('\x1b'), "{text:?}");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text:?}");
        assert!(
            lines[0].starts_with("error: app.yaml:2:9: metadata.name must be a valid DNS label")
        );
        assert_eq!(lines[1], "  |");
        assert!(lines[2].starts_with("2 |   name: "), "{text:?}");
        assert_eq!(lines[3], "  |         ^");
    }

    #[test]
    fn a_servers_text_cannot_drive_the_terminal() {
        let error = Error::Server {
            status: Some(500),
            message: "\x1b[2J\x1b[31mError storing application\x1b[0m\nerror: forged line\r\n"
                .to_owned(),
        };
        let text = error.render(0);
        assert!(!text.contains('\x1b'), "{text:?}");
        assert_eq!(text.lines().count(), 1, "{text:?}");
        assert!(
            text.starts_with(
                "error: server error (500): Error storing application error: forged line"
            ),
            "{text:?}"
        );
    }
}
