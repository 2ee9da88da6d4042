//! The command line as clap sees it: what a user can type, and the help they read.
//!
//! Nothing below this layer reads clap types: [`crate::settings::Settings::resolve`] turns
//! [`GlobalArgs`] into validated settings once, and each command receives its own args struct.

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use crate::commands::completion::{CompletionArgs, ManArgs};
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

/// Options that apply to every command. They are `global`, so `ctl deploy app.yaml -o json`
/// works as well as `ctl -o json deploy app.yaml`.
#[derive(Debug, Clone, Args)]
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
        "  CTL_CONTEXT, CTL_CONFIG (config file contexts; see docs/configuration.md)\n\n\
         Precedence: command-line flag > environment variable > config file context > default\n",
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_work_after_the_subcommand() {
        let cli =
            Cli::try_parse_from(["ctl", "deploy", "app.yaml", "-w", "-o", "json", "-vv"]).unwrap();
        assert_eq!(cli.global.output, OutputFormat::Json);
        assert_eq!(cli.global.verbose, 2);
    }

    #[test]
    fn help_lists_every_exit_code() {
        let help = Cli::command().render_long_help().to_string();
        for status in crate::exit::ExitStatus::ALL {
            assert!(
                help.contains(status.meaning()),
                "{status:?} missing from --help"
            );
        }
    }
}
