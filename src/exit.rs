//! The exit-code table: the one place exit numbers are defined.
//!
//! The README, `ctl --help` and `docs/exit-codes.md` print this table; a test keeps them in
//! agreement with [`ExitStatus::ALL`].

use std::process::ExitCode;

/// What a `ctl` run ended with, as seen by a shell or CI job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitStatus {
    /// Submitted (without `-w`), or the deployment finished successfully.
    Success,
    /// The deployment finished and failed.
    DeploymentFailed,
    /// Usage error or invalid spec; nothing was sent.
    Usage,
    /// `--timeout` elapsed; the deployment may still be running.
    Timeout,
    /// The server rejected the request (4xx: validation, auth, not found).
    Rejected,
    /// Server unreachable, server error (5xx), or the stream was lost for good.
    Unavailable,
    /// Interrupted (Ctrl-C); the deployment continues on the server.
    Interrupted,
}

impl ExitStatus {
    /// Every status, in table order.
    pub const ALL: [ExitStatus; 7] = [
        ExitStatus::Success,
        ExitStatus::DeploymentFailed,
        ExitStatus::Usage,
        ExitStatus::Timeout,
        ExitStatus::Rejected,
        ExitStatus::Unavailable,
        ExitStatus::Interrupted,
    ];

    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::DeploymentFailed => 1,
            ExitStatus::Usage => 2,
            ExitStatus::Timeout => 3,
            ExitStatus::Rejected => 4,
            ExitStatus::Unavailable => 5,
            // 128 + SIGINT, as shells report a process killed by Ctrl-C.
            ExitStatus::Interrupted => 130,
        }
    }

    /// One line for the exit-code table.
    pub fn meaning(self) -> &'static str {
        match self {
            ExitStatus::Success => {
                "submitted (without -w), or the deployment finished successfully"
            }
            ExitStatus::DeploymentFailed => "the deployment finished and failed",
            ExitStatus::Usage => "usage error or invalid spec (nothing was sent)",
            ExitStatus::Timeout => "--timeout elapsed; the deployment may still be running",
            ExitStatus::Rejected => {
                "the server rejected the request (4xx: validation, auth, not found)"
            }
            ExitStatus::Unavailable => {
                "server unreachable, server error (5xx), or the stream was lost for good"
            }
            ExitStatus::Interrupted => {
                "interrupted (Ctrl-C); the deployment continues on the server"
            }
        }
    }

    /// The table as plain text, for `--help`.
    pub fn help_table() -> String {
        let mut out = String::from("Exit codes:\n");
        for status in ExitStatus::ALL {
            out.push_str(&format!("  {:>3}  {}\n", status.code(), status.meaning()));
        }
        out
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(status.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README and docs/exit-codes.md print the table; they must say what the code does.
    #[test]
    fn documented_tables_match_the_enum() {
        for (name, text) in [
            ("README.md", include_str!("../README.md")),
            ("docs/exit-codes.md", include_str!("../docs/exit-codes.md")),
        ] {
            let rows: Vec<(u8, String)> = text
                .lines()
                .filter_map(|l| {
                    let cells: Vec<&str> = l.trim().trim_matches('|').split('|').collect();
                    let code = cells.first()?.trim().parse().ok()?;
                    Some((code, cells.get(1)?.trim().to_owned()))
                })
                .collect();
            let expected: Vec<(u8, String)> = ExitStatus::ALL
                .iter()
                .map(|s| (s.code(), s.meaning().to_owned()))
                .collect();
            assert_eq!(rows, expected, "{name} exit-code table is stale");
        }
    }

    #[test]
    fn codes_are_distinct() {
        let mut codes: Vec<u8> = ExitStatus::ALL.iter().map(|s| s.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ExitStatus::ALL.len());
    }
}
