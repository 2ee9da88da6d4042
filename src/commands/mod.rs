//! One module per subcommand, and the dispatcher that runs them.
//!
//! Client commands run on a current-thread runtime built here; `ctl server` builds its own
//! multi-thread runtime. Every failure comes back as an [`Error`], printed once, here.

pub mod deploy;
mod follow;
mod local;
pub mod server;
pub mod watch;

use crate::cli::{Cli, Command};
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::settings::{Environment, Settings};

/// Runs a parsed command line to its exit status. Errors are printed on stderr here.
pub fn run(cli: Cli) -> ExitStatus {
    let verbose = cli.global.verbose;
    match dispatch(cli) {
        Ok(status) => status,
        // `ctl ... | head`: the reader went away; that is not our failure.
        Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitStatus::Success,
        Err(e) => {
            eprint!("{}", e.render(verbose));
            e.exit_status()
        }
    }
}

fn dispatch(cli: Cli) -> Result<ExitStatus, Error> {
    let env = Environment::from_process();
    let settings = Settings::resolve(&cli.global, &env)?;
    match cli.command {
        Command::Server(args) => server::run(args)
            .map(|()| ExitStatus::Success)
            .map_err(Error::from),
        Command::Deploy(args) => client_runtime()?.block_on(deploy::run(args, settings)),
        Command::Watch(args) => client_runtime()?.block_on(watch::run(args, settings)),
    }
}

fn client_runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Io)
}
