//! The `ctl` binary: parse the command line, run it, exit with its status.
//! Everything else lives in the library (`src/lib.rs` has the map).

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = ctl::cli::Cli::parse_args();
    ctl::commands::run(cli).into()
}
