//! One module per subcommand, and the dispatcher that runs them.
//!
//! Client commands run on a current-thread runtime built here; `ctl server` builds its own
//! multi-thread runtime. Every failure comes back as an [`Error`], printed once, here.
//!
//! Settings are resolved per command: commands that talk to a server read the config file
//! ([`Settings::resolve`]); `validate` does not ([`Settings::resolve_local`]); `completion`,
//! `man` and `server` need no client settings at all.

pub mod completion;
pub mod config;
pub mod delete;
pub mod deploy;
mod follow;
pub mod list;
mod local;
pub mod server;
pub mod status;
pub mod validate;
pub mod values;
pub mod watch;

use tokio::time::Instant;

use crate::cli::{Cli, Command};
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::render::{JSON_SCHEMA_VERSION, Reporter, WatchResult};
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
    let global = &cli.global;
    let settings = || {
        let settings = Settings::resolve(global, &env)?;
        if settings.tls.insecure {
            // Every run, not once: a CI log must show it on every job that runs this way.
            eprintln!("{}", crate::client::tls::INSECURE_WARNING);
        }
        Ok::<_, Error>(settings)
    };
    match cli.command {
        Command::Server(args) => server::run(args)
            .map(|()| ExitStatus::Success)
            .map_err(Error::from),
        Command::Completion(args) => completion::run(&args),
        Command::Man(args) => completion::man(&args),
        Command::Config(args) => config::run(&args, global, &env),
        Command::Validate(args) => validate::run(&args, &Settings::resolve_local(global, &env)?),
        Command::Deploy(args) => client_runtime()?.block_on(deploy::run(args, settings()?)),
        Command::Watch(args) => client_runtime()?.block_on(watch::run(args, settings()?)),
        Command::Status(args) => client_runtime()?.block_on(status::run(args, settings()?)),
        Command::List(args) => client_runtime()?.block_on(list::run(args, settings()?)),
        Command::Delete(args) => client_runtime()?.block_on(delete::run(args, settings()?)),
    }
}

fn client_runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Io)
}

/// Application names are DNS labels (PROTOCOL.md A.2); checking before any request keeps a
/// typo from becoming a confusing 404 and keeps names safe to put in a URL path.
pub(crate) fn check_app_name(app: &str) -> Result<(), Error> {
    if crate::spec::is_dns_label(app) {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "{app:?} is not a valid application name (lowercase letters, digits and '-', at most 63)"
        )))
    }
}

/// The JSON contract says a watching command (`deploy -w`, `watch`, `delete -w`) ends stdout
/// with exactly one `watch.result` line. When it fails before the watch loop could write one
/// (the server rejected the spec, is unreachable, does not know the app), this writes it, with
/// `"outcome":"error"`, the exit code the process is about to end with and the error text,
/// and hands the error back to be printed on stderr as usual.
///
/// Usage errors and invalid specs (exit 2) get no line: nothing was sent, and stdout stays
/// empty. A broken stdout gets none either. In text mode nothing is written.
pub(crate) fn with_result_line(
    reporter: &mut Reporter,
    app: &str,
    deployment_id: Option<&str>,
    started: Instant,
    error: Error,
) -> Error {
    let status = error.exit_status();
    if status == ExitStatus::Usage || matches!(error, Error::Io(_)) {
        return error;
    }
    let result = WatchResult {
        kind: "watch.result",
        schema_version: JSON_SCHEMA_VERSION,
        outcome: "error",
        app_name: app,
        deployment_id,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        exit_code: status.code(),
        error: Some(error.to_string()),
        resources: Vec::new(),
    };
    // A stdout that cannot take the line (a reader gone away) must not hide the real failure.
    let _ = reporter.output("", &result);
    error
}
