//! The top-level error: every way a command can fail, the exit status it ends with, and the
//! words the user reads.
//!
//! Outcomes that are not failures of `ctl` itself (the deployment failed, `--timeout` elapsed,
//! Ctrl-C) are not errors: commands return them as an [`ExitStatus`] after printing what
//! happened. Exit codes are chosen here by matching on variants, never by inspecting messages.

use std::fmt::Write as _;

use crate::exit::ExitStatus;
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
            Error::Rejected { .. } => ExitStatus::Rejected,
            Error::Unreachable { .. }
            | Error::Tls { .. }
            | Error::Server { .. }
            | Error::StreamLost(_)
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
    pub fn render(&self, verbose: u8) -> String {
        let mut out = format!("error: {self}\n");
        let mut source = std::error::Error::source(self);
        // `transparent` variants already printed their inner error as the sentence.
        if matches!(self, Error::Spec(_) | Error::ServerRun(_)) {
            source = source.and_then(std::error::Error::source);
        }
        while let Some(cause) = source {
            let _ = writeln!(out, "  caused by: {cause}");
            source = cause.source();
        }
        if let Some(hint) = self.hint() {
            let _ = writeln!(out, "hint: {hint}");
        }
        if verbose >= 2 {
            let _ = writeln!(out, "debug: {self:?}");
        }
        out
    }
}
