//! The top-level error: every failure a command can end with, its exit status and its wording.
//! (Filled in with the client.)

use crate::exit::ExitStatus;

/// Every way a `ctl` command can fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec could not be read or is invalid.
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
}

impl Error {
    /// The exit status this error ends the process with.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Error::Spec(_) => ExitStatus::Usage,
        }
    }
}
