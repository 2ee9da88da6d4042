//! The command line as clap sees it: what a user can type, and the help they read.
//!
//! Nothing below this layer reads clap types: [`crate::settings::Settings::resolve`] turns
//! [`GlobalArgs`] into validated settings once, and each command receives its own args struct.

use std::ffi::OsString;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

pub use crate::commands::completion::{CompletionArgs, ManArgs};
pub use crate::commands::config::ConfigArgs;
pub use crate::commands::delete::DeleteArgs;
pub use crate::commands::deploy::DeployArgs;
pub use crate::commands::list::ListArgs;
pub use crate::commands::server::ServerArgs;
pub use crate::commands::status::StatusArgs;
pub use crate::commands::validate::ValidateArgs;
pub use crate::commands::watch::WatchArgs;

/// Deploy Score workload specs to a platform server and watch them roll out live.
#[derive(Debug, Parser)]
#[command(name = "ctl", version, about, long_about = None)]
#[command(after_help = after_help())]
pub struct Cli {
    /// Options shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Parses the process's command line; on a usage error prints clap's message and exits
    /// with status 2 (or 0 for `--help` and `--version`).
    pub fn parse_args() -> Cli {
        Cli::try_parse_args(std::env::args_os()).unwrap_or_else(|e| e.exit())
    }

    /// Parses `args` (the program name first) against [`command`].
    pub fn try_parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let mut cmd = command();
        let mut matches = cmd.try_get_matches_from_mut(args)?;
        reject_client_options(&mut cmd, &matches)?;
        reject_watch_options_without_watch(&mut cmd, &matches)?;
        Cli::from_arg_matches_mut(&mut matches).map_err(|e| e.format(&mut cmd))
    }
}

/// Commands that talk to no platform server and write no events: the client's options mean
/// nothing to them, so their help leaves them out and they refuse them when typed.
const LOCAL_COMMANDS: [&str; 3] = ["completion", "man", "server"];

/// The global options that only the client commands read (ids of [`GlobalArgs`] fields).
/// `--verbose` is not among them: every command's errors honour it.
const CLIENT_OPTIONS: [&str; 11] = [
    "server",
    "api_key",
    "output",
    "color",
    "quiet",
    "icons",
    "timestamps",
    "context",
    "config",
    "certificate_authority",
    "insecure_skip_tls_verify",
];

/// Client commands that talk to no server (`validate` checks files locally): the options that
/// choose and reach a server mean nothing to them, so their help leaves those out. Typed, they
/// are accepted and ignored, so a command line built for the other commands still works.
const OFFLINE_COMMANDS: [&str; 1] = ["validate"];

/// The global options that choose and reach a server (ids of [`GlobalArgs`] fields).
const SERVER_OPTIONS: [&str; 6] = [
    "server",
    "api_key",
    "context",
    "config",
    "certificate_authority",
    "insecure_skip_tls_verify",
];

/// The command line definition: [`Cli`] with the client's options hidden from the help of the
/// `LOCAL_COMMANDS`, and the server options from that of the `OFFLINE_COMMANDS`. Parsing, `--help` and the man page use it; the completion scripts use
/// [`documented_command`].
pub fn command() -> clap::Command {
    let mut cmd = Cli::command();
    // A subcommand that defines an option itself does not receive the global one of the same
    // name: give each local command a hidden copy, so it still parses (and can be refused
    // with a clear message below) but is not listed.
    let hidden: Vec<clap::Arg> = cmd
        .get_arguments()
        .filter(|a| CLIENT_OPTIONS.contains(&a.get_id().as_str()))
        .map(|a| a.clone().global(false).hide(true))
        .collect();
    for name in LOCAL_COMMANDS {
        cmd = cmd.mut_subcommand(name, |sub| sub.args(hidden.iter().cloned()));
    }
    let server_only = || {
        hidden
            .iter()
            .filter(|a| SERVER_OPTIONS.contains(&a.get_id().as_str()))
            .cloned()
    };
    for name in OFFLINE_COMMANDS {
        cmd = cmd.mut_subcommand(name, |sub| sub.args(server_only()));
    }
    cmd
}

/// The command line as the completion scripts describe it: like
/// [`command`], but the local commands have no client options at all rather than hidden ones
/// (completion generators list hidden options too). Not for parsing: the client options are
/// not global here, so one typed after a subcommand would not reach [`GlobalArgs`].
pub fn documented_command() -> clap::Command {
    let mut cmd = Cli::command();
    let is_client = |a: &clap::Arg| CLIENT_OPTIONS.contains(&a.get_id().as_str());
    let client: Vec<clap::Arg> = cmd
        .get_arguments()
        .filter(|a| is_client(a))
        .map(|a| a.clone().global(false))
        .collect();
    cmd = cmd.mut_args(|a| if is_client(&a) { a.global(false) } else { a });
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|sub| sub.get_name().to_owned())
        .collect();
    // In their order: each one mutated moves to the end.
    for name in names {
        let local = LOCAL_COMMANDS.contains(&name.as_str());
        let offline = OFFLINE_COMMANDS.contains(&name.as_str());
        cmd = cmd.mut_subcommand(&name, |sub| {
            if local {
                sub
            } else {
                sub.args(
                    client
                        .iter()
                        .filter(|a| !(offline && SERVER_OPTIONS.contains(&a.get_id().as_str())))
                        .cloned(),
                )
            }
        });
    }
    cmd
}

/// A client option typed on the command line of a [`LOCAL_COMMANDS`] one is a mistake worth
/// stopping for: `ctl server --api-key K` would otherwise start a server that ignores the
/// key its operator meant to set. Values from the environment (`CTL_SERVER`, ...) are not
/// typed, so a shell set up for the client still runs the server.
fn reject_client_options(cmd: &mut clap::Command, matches: &ArgMatches) -> Result<(), clap::Error> {
    let Some((name, sub_matches)) = matches.subcommand() else {
        return Ok(());
    };
    if !LOCAL_COMMANDS.contains(&name) {
        return Ok(());
    }
    for id in CLIENT_OPTIONS {
        if sub_matches.value_source(id) != Some(ValueSource::CommandLine) {
            continue;
        }
        let sub = cmd
            .find_subcommand_mut(name)
            .expect("the matched subcommand is defined");
        let long = sub
            .get_arguments()
            .find(|a| a.get_id() == id)
            .and_then(|a| a.get_long())
            .unwrap_or(id)
            .to_owned();
        let hint = if name == "server" && id == "api_key" {
            " (the server's keys are set with --key or --api-keys-file)"
        } else {
            ""
        };
        return Err(sub.error(
            clap::error::ErrorKind::ArgumentConflict,
            format!(
                "--{long} is an option of the client commands; `ctl {name}` does not take it{hint}"
            ),
        ));
    }
    Ok(())
}

/// The options of `ctl deploy` that only tune watching (ids of [`DeployArgs`] fields).
const DEPLOY_WATCH_OPTIONS: [&str; 5] = [
    "all",
    "timeout",
    "idle_timeout",
    "retry_budget",
    "max_event_size",
];

/// `ctl deploy app.yaml --timeout 30s` without `-w` submits and exits at once: the timeout the
/// user asked for would silently do nothing. Such an option typed without `-w` (or `--local`,
/// which implies it) is a usage error. Values from the environment (`CTL_IDLE_TIMEOUT`, ...)
/// are not typed, so a shell set up for watching still submits.
fn reject_watch_options_without_watch(
    cmd: &mut clap::Command,
    matches: &ArgMatches,
) -> Result<(), clap::Error> {
    let Some(("deploy", sub_matches)) = matches.subcommand() else {
        return Ok(());
    };
    if sub_matches.get_flag("watch") || sub_matches.get_flag("local") {
        return Ok(());
    }
    let Some(id) = DEPLOY_WATCH_OPTIONS
        .into_iter()
        .find(|id| sub_matches.value_source(id) == Some(ValueSource::CommandLine))
    else {
        return Ok(());
    };
    let sub = cmd
        .find_subcommand_mut("deploy")
        .expect("deploy is defined");
    let long = sub
        .get_arguments()
        .find(|a| a.get_id() == id)
        .and_then(|a| a.get_long())
        .unwrap_or(id)
        .to_owned();
    Err(sub.error(
        clap::error::ErrorKind::ArgumentConflict,
        format!(
            "--{long} only applies while watching: add -w (or --local) to follow the deployment, or leave it out"
        ),
    ))
}

/// Options that apply to every command. They are `global`, so `ctl deploy app.yaml -o json`
/// works as well as `ctl -o json deploy app.yaml`; every help lists them under their own
/// heading, apart from the command's own options.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Platform server base URL [default: http://localhost:8081]
    #[arg(long, global = true, env = "CTL_SERVER", value_name = "URL")]
    pub server: Option<String>,

    /// API key sent as `Authorization: Bearer` (falls back to IDP_API_KEY)
    #[arg(
        long,
        global = true,
        env = "CTL_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub api_key: Option<String>,

    /// Output format: human-readable text, or one JSON object per line on stdout
    #[arg(short, long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// When to use colour
    #[arg(
        long,
        global = true,
        value_enum,
        env = "CTL_COLOR",
        default_value_t = ColorChoice::Auto
    )]
    pub color: ColorChoice,

    /// More detail: event ids, providers and data; repeat (-vv) for full error chains
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Print only the essential output (event lines or JSON); no banners or notes
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Line markers: emoji, or plain ASCII such as `[ok]` (auto: ASCII under a non-UTF-8 locale)
    #[arg(
        long,
        global = true,
        value_enum,
        env = "CTL_ICONS",
        default_value_t = IconChoice::Auto
    )]
    pub icons: IconChoice,

    /// Timestamp column of event lines
    #[arg(
        long,
        global = true,
        value_enum,
        env = "CTL_TIMESTAMPS",
        default_value_t = TimestampChoice::Local
    )]
    pub timestamps: TimestampChoice,

    /// Named context from the config file: its server and API key (overrides current-context)
    #[arg(long, global = true, env = "CTL_CONTEXT", value_name = "NAME")]
    pub context: Option<String>,

    /// Config file [default: $XDG_CONFIG_HOME/ctl/config.yaml, i.e. ~/.config/ctl/config.yaml]
    #[arg(long, global = true, env = "CTL_CONFIG", value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,

    /// PEM file of the certificate authorities to trust for an https server, instead of the
    /// system's
    #[arg(long, global = true, env = "CTL_CA_CERT", value_name = "FILE")]
    pub certificate_authority: Option<std::path::PathBuf>,

    /// Do not check the https server's certificate (insecure: for test servers only; warns on
    /// every run)
    #[arg(
        long,
        global = true,
        env = "CTL_INSECURE_SKIP_TLS_VERIFY",
        value_parser = clap::builder::BoolishValueParser::new(),
        conflicts_with = "certificate_authority"
    )]
    pub insecure_skip_tls_verify: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Submit a Score spec to the platform server, and optionally watch it deploy
    Deploy(DeployArgs),
    /// Follow an application's events, or one deployment to its end
    Watch(WatchArgs),
    /// Show an application: its latest deployment and its resources
    Status(StatusArgs),
    /// List applications (-o wide for more columns, -o json for scripts)
    List(ListArgs),
    /// Delete an application and its resources, optionally watching the teardown
    Delete(DeleteArgs),
    /// Check Score spec files locally, without a server (exit 0 if valid, 2 if not)
    Validate(ValidateArgs),
    /// Print a shell completion script to stdout
    Completion(CompletionArgs),
    /// Print the man page (roff) to stdout
    Man(ManArgs),
    /// Run the bundled reference platform server
    Server(ServerArgs),
    /// Show the config file's contexts, or switch the current one
    Config(ConfigArgs),
}

/// How results are written to stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Timestamped lines with icons, for people.
    Text,
    /// One JSON object per line (NDJSON), for scripts.
    Json,
    /// Text with more columns (`ctl list`, `ctl status`); other commands treat it as text.
    Wide,
}

/// Whether to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when writing to a terminal, unless NO_COLOR is set or TERM=dumb.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// Which markers start each line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IconChoice {
    /// Emoji, unless the locale (LC_ALL, LC_CTYPE, LANG) names a non-UTF-8 character set.
    Auto,
    /// Always emoji.
    Unicode,
    /// Always plain ASCII markers.
    Ascii,
}

/// How event lines are timestamped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TimestampChoice {
    /// `[15:04:01]` in local time.
    Local,
    /// `[14:04:01]` in UTC.
    Utc,
    /// `[+12.3s]` since the command started.
    Relative,
    /// No timestamp.
    None,
}

fn after_help() -> String {
    let mut text = crate::exit::ExitStatus::help_table();
    text.push_str(
        "\nEnvironment:\n  CTL_SERVER, CTL_API_KEY (or IDP_API_KEY), CTL_COLOR, CTL_IDLE_TIMEOUT, NO_COLOR\n",
    );
    text.push_str(
        "  CTL_CA_CERT, CTL_INSECURE_SKIP_TLS_VERIFY, HTTPS_PROXY, HTTP_PROXY, NO_PROXY (TLS and proxies)\n",
    );
    text.push_str(
        "  CTL_CONTEXT, CTL_CONFIG (config file contexts; see docs/configuration.md)\n\n\
         Precedence: command-line flag > environment variable > config file context > default\n",
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
        command().debug_assert();
    }

    #[test]
    fn local_commands_leave_the_client_options_out_of_their_help() {
        // Built as parsing builds it, so the global options have reached the subcommands.
        let mut cmd = command();
        cmd.build();
        let server = cmd.find_subcommand_mut("server").unwrap();
        let help = server.render_long_help().to_string();
        for option in [
            "--api-key <KEY>",
            "--output",
            "--server <URL>",
            "--context",
            "--icons",
        ] {
            assert!(!help.contains(option), "{option} in `ctl server --help`");
        }
        assert!(help.contains("--verbose"));
        assert!(help.contains("--key <KEY>"));
        let help = command().render_long_help().to_string();
        assert!(
            help.contains("--api-key"),
            "the top level still documents it"
        );
        let deploy = cmd.find_subcommand_mut("deploy").unwrap();
        assert!(deploy.render_long_help().to_string().contains("--api-key"));
    }

    #[test]
    fn local_commands_refuse_typed_client_options() {
        for args in [
            &["ctl", "server", "--api-key", "k"][..],
            &["ctl", "--output", "json", "server"],
            &["ctl", "completion", "bash", "--server", "http://x"],
            &["ctl", "man", "-q"],
        ] {
            let err = Cli::try_parse_args(args).unwrap_err();
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::ArgumentConflict,
                "{args:?}"
            );
            assert!(
                err.to_string().contains("option of the client commands"),
                "{err}"
            );
        }
        let err = Cli::try_parse_args(["ctl", "server", "--api-key", "k"]).unwrap_err();
        assert!(
            err.to_string().contains("--key or --api-keys-file"),
            "{err}"
        );
        // Not the key itself.
        assert!(!err.to_string().contains(" k "), "{err}");
        // -v applies everywhere, and client commands keep their options.
        assert_eq!(
            Cli::try_parse_args(["ctl", "server", "-vv"])
                .unwrap()
                .global
                .verbose,
            2
        );
        assert!(Cli::try_parse_args(["ctl", "watch", "app", "--server", "http://x"]).is_ok());
    }

    #[test]
    fn watch_options_of_deploy_need_watch() {
        for option in [
            &["--all"][..],
            &["--timeout", "5s"],
            &["--idle-timeout", "5s"],
            &["--retry-budget", "5s"],
            &["--max-event-size", "4KiB"],
        ] {
            let mut args = vec!["ctl", "deploy", "app.yaml"];
            args.extend_from_slice(option);
            let err = Cli::try_parse_args(&args).unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
            assert_eq!(err.exit_code(), 2);
            assert!(
                err.to_string()
                    .contains(&format!("{} only applies while watching", option[0])),
                "{err}"
            );
            for watch in ["-w", "--local"] {
                let mut ok = args.clone();
                ok.push(watch);
                assert!(Cli::try_parse_args(&ok).is_ok(), "{ok:?}");
            }
        }
        assert!(Cli::try_parse_args(["ctl", "deploy", "app.yaml"]).is_ok());
    }

    #[test]
    fn since_takes_event_ids_only() {
        for good in ["42", "1731430000123456789", "1796224518:11"] {
            let cli = Cli::try_parse_args(["ctl", "watch", "shop", "--since", good]);
            assert!(cli.is_ok(), "{good}");
        }
        for bad in ["abc", "", "-1", "4 2", "12:", ":3", "1:2:3", "0x10"] {
            let since = format!("--since={bad}");
            let err = Cli::try_parse_args(["ctl", "watch", "shop", &since]).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad}");
            assert!(
                err.to_string().contains("expected an event id"),
                "{bad}: {err}"
            );
        }
    }

    /// Each command's help: its own options first, the global ones under their own heading;
    /// `validate`, which talks to no server, lists no server options.
    #[test]
    fn help_puts_global_options_under_their_own_heading() {
        let mut cmd = command();
        cmd.build();
        let deploy = cmd
            .find_subcommand_mut("deploy")
            .unwrap()
            .render_help()
            .to_string();
        let (own, global) = deploy
            .split_once("Global options:")
            .unwrap_or_else(|| panic!("no global heading:\n{deploy}"));
        assert!(
            own.contains("--watch") && own.contains("--timeout"),
            "{deploy}"
        );
        assert!(
            !own.contains("--api-key") && !own.contains("--output"),
            "{deploy}"
        );
        assert!(
            global.contains("--api-key") && global.contains("--output"),
            "{deploy}"
        );
        assert!(!global.contains("--watch"), "{deploy}");

        let validate = cmd
            .find_subcommand_mut("validate")
            .unwrap()
            .render_long_help()
            .to_string();
        for option in SERVER_OPTIONS {
            let flag = format!("--{}", option.replace('_', "-"));
            assert!(
                !validate.contains(&flag),
                "{flag} in `ctl validate --help`:\n{validate}"
            );
        }
        assert!(validate.contains("--output"), "{validate}");
        // Still accepted, so a shared command line works.
        assert!(Cli::try_parse_args(["ctl", "validate", "a.yaml", "--server", "http://x"]).is_ok());
        assert!(Cli::try_parse_args(["ctl", "--server", "http://x", "validate", "a.yaml"]).is_ok());
    }

    #[test]
    fn global_options_work_after_the_subcommand() {
        let cli =
            Cli::try_parse_args(["ctl", "deploy", "app.yaml", "-w", "-o", "json", "-vv"]).unwrap();
        assert_eq!(cli.global.output, OutputFormat::Json);
        assert_eq!(cli.global.verbose, 2);
    }

    #[test]
    fn help_lists_every_exit_code() {
        let help = command().render_long_help().to_string();
        for status in crate::exit::ExitStatus::ALL {
            assert!(
                help.contains(status.meaning()),
                "{status:?} missing from --help"
            );
        }
    }
}
