//! `ctl completion SHELL` and `ctl man`: shell completions and the man page, generated at run
//! time from the same clap definitions the parser uses, so they cannot disagree with it.
//!
//! The generated files are committed (`completions/`, `docs/ctl.1`), and an end-to-end test
//! regenerates them and fails when they are stale. To refresh them after changing the CLI:
//!
//! ```sh
//! ctl completion bash > completions/ctl.bash    # and zsh, fish, powershell, elvish
//! ctl man > docs/ctl.1
//! ```
//!
//! (the README lists every file). Output is deterministic: environment-variable values are
//! never shown (`CTL_SERVER=...` set while generating would otherwise leak into the files), and
//! the man page carries no date.

use std::io::{self, Write};

use clap::Args;
use clap_complete::Shell;
use clap_mangen::Man;

use crate::error::Error;
use crate::exit::ExitStatus;

/// Arguments of `ctl completion`.
#[derive(Debug, Clone, Args)]
pub struct CompletionArgs {
    /// The shell to generate completions for
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: Shell,
}

/// Arguments of `ctl man` (none).
#[derive(Debug, Clone, Args)]
pub struct ManArgs {}

/// The file name each shell expects, as committed under `completions/`.
pub fn file_name(shell: Shell) -> String {
    match shell {
        Shell::Bash => "ctl.bash".to_owned(),
        Shell::Zsh => "_ctl".to_owned(),
        Shell::Fish => "ctl.fish".to_owned(),
        Shell::PowerShell => "_ctl.ps1".to_owned(),
        Shell::Elvish => "ctl.elv".to_owned(),
        // `Shell` is non-exhaustive; a shell added later gets clap_complete's own name.
        other => clap_complete::Generator::file_name(&other, "ctl"),
    }
}

/// Every shell `ctl completion` supports, in the order the README lists them.
pub const SHELLS: [Shell; 5] = [
    Shell::Bash,
    Shell::Zsh,
    Shell::Fish,
    Shell::PowerShell,
    Shell::Elvish,
];

/// `cmd` with the current values of environment variables hidden, so that a generated file
/// does not depend on who generates it.
fn without_env_values(cmd: clap::Command) -> clap::Command {
    cmd.mut_args(|a| a.hide_env_values(true))
        .mut_subcommands(without_env_values)
}

/// The clap definition the completion scripts are generated from (see
/// [`crate::cli::documented_command`]).
pub fn documented_command() -> clap::Command {
    without_env_values(crate::cli::documented_command())
}

/// The completion script for `shell`.
pub fn completion_script(shell: Shell) -> Vec<u8> {
    let mut cmd = documented_command();
    let mut out = Vec::new();
    // Generated into memory: clap_complete panics when its writer fails, and stdout may be a
    // closed pipe.
    clap_complete::generate(shell, &mut cmd, "ctl", &mut out);
    out
}

/// The man page, `ctl(1)`, in roff: the top-level sections, then one subsection per command
/// with its synopsis, description and options (global options are listed once, at the top).
pub fn man_page() -> io::Result<Vec<u8>> {
    // The parser's own definition: the man page leaves out hidden options, and lists the
    // global ones once.
    let mut cmd = without_env_values(crate::cli::command());
    cmd.build();
    let top = Man::new(cmd.clone()).manual("ctl manual");
    let mut out = Vec::new();
    top.render_title(&mut out)?;
    top.render_name_section(&mut out)?;
    top.render_synopsis_section(&mut out)?;
    top.render_description_section(&mut out)?;
    top.render_options_section(&mut out)?;
    writeln!(out, ".SH COMMANDS")?;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let sub = sub
            .clone()
            .mut_args(|a| if a.is_global_set() { a.hide(true) } else { a });
        let name = sub.get_name().to_owned();
        let page = Man::new(sub);
        writeln!(out, ".SS \"ctl {name}\"")?;
        let mut section = Vec::new();
        page.render_description_section(&mut section)?;
        page.render_synopsis_section(&mut section)?;
        page.render_options_section(&mut section)?;
        // Each part starts with its own `.SH`; inside COMMANDS they become paragraphs.
        for line in String::from_utf8_lossy(&section).lines() {
            match line {
                ".SH DESCRIPTION" => {}
                ".SH SYNOPSIS" => writeln!(out, ".PP\n\\fBUsage:\\fR")?,
                ".SH OPTIONS" => writeln!(out, ".PP\n\\fBOptions:\\fR")?,
                other => writeln!(out, "{other}")?,
            }
        }
    }
    // The reference sections a man page reader looks for, in place of clap_mangen's EXTRA
    // (the `--help` epilogue reflowed into one paragraph).
    writeln!(out, ".SH \"EXIT STATUS\"")?;
    for status in ExitStatus::ALL {
        definition(&mut out, &status.code().to_string(), status.meaning())?;
    }
    writeln!(out, ".SH ENVIRONMENT")?;
    for (names, meaning) in readme_table("Environment") {
        definition(&mut out, &names, &meaning)?;
    }
    writeln!(
        out,
        ".PP\nPrecedence: command\\-line flag > environment variable > config file context > default."
    )?;
    writeln!(out, ".SH FILES")?;
    for (file, meaning) in FILES {
        definition(&mut out, file, meaning)?;
    }
    top.render_version_section(&mut out)?;
    Ok(dedupe_preamble(&out))
}

/// The files `ctl` reads, for the man page's FILES section.
const FILES: [(&str, &str); 2] = [
    (
        "$XDG_CONFIG_HOME/ctl/config.yaml",
        "The config file: named contexts (server, API key, TLS) and the current one. ~/.config/ctl/config.yaml when XDG_CONFIG_HOME is unset; --config or CTL_CONFIG names another.",
    ),
    (
        "~/.innominatus/credentials",
        "The API key innominatus' own CLI stores at login; used when no flag, variable or context gives one.",
    ),
];

/// The README, whose tables are the reference the man page repeats: one source, so the two
/// cannot disagree (the committed man page is regenerated when the README changes).
const README: &str = include_str!("../../README.md");

/// The rows of the README's table under `## {title}`: first cell (names, without backticks)
/// and second cell (meaning).
fn readme_table(title: &str) -> Vec<(String, String)> {
    let heading = format!("## {title}");
    README
        .lines()
        .skip_while(|l| *l != heading)
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| l.starts_with("| `"))
        .filter_map(|row| {
            let inner = row.trim().trim_start_matches('|').trim_end_matches('|');
            let (names, meaning) = inner.split_once(" | ")?;
            Some((
                names.trim().replace('`', ""),
                meaning.trim().replace('`', ""),
            ))
        })
        .collect()
}

/// One `.TP` definition: the term in bold, the text indented under it.
fn definition(out: &mut Vec<u8>, term: &str, text: &str) -> io::Result<()> {
    writeln!(out, ".TP\n\\fB{}\\fR\n{}", roff(term), roff(text))
}

/// Text made safe for a roff line: backslashes escaped, hyphens literal, and a leading `.` or
/// `'` (a request) neutralised.
fn roff(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// Every clap_mangen `render_*` call starts with the same two-line quote-character preamble;
/// one, at the top, is enough.
fn dedupe_preamble(roff: &[u8]) -> Vec<u8> {
    const PREAMBLE: [&str; 2] = [".ie \\n(.g .ds Aq \\(aq", ".el .ds Aq '"];
    let text = String::from_utf8_lossy(roff);
    let mut seen = false;
    let mut out = String::with_capacity(text.len());
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line == PREAMBLE[0] && lines.peek() == Some(&PREAMBLE[1]) {
            lines.next();
            if seen {
                continue;
            }
            seen = true;
            out.push_str(line);
            out.push('\n');
            out.push_str(PREAMBLE[1]);
            out.push('\n');
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.into_bytes()
}

/// Runs `ctl completion`.
pub fn run(args: &CompletionArgs) -> Result<ExitStatus, Error> {
    write_stdout(&completion_script(args.shell))
}

/// Runs `ctl man`.
pub fn man(_args: &ManArgs) -> Result<ExitStatus, Error> {
    write_stdout(&man_page()?)
}

/// Generated files are data, not a command's story: written to stdout as they are, without
/// going through the Reporter's line handling. A closed pipe surfaces as `BrokenPipe`, which
/// ends the process quietly.
fn write_stdout(bytes: &[u8]) -> Result<ExitStatus, Error> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(bytes)?;
    stdout.flush()?;
    Ok(ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_generates_something_that_names_every_command() {
        for shell in SHELLS {
            let script = String::from_utf8(completion_script(shell)).unwrap();
            for command in ["deploy", "watch", "status", "list", "delete", "validate"] {
                assert!(script.contains(command), "{shell}: {command} missing");
            }
        }
    }

    #[test]
    fn man_page_documents_every_command_and_the_exit_codes() {
        let page = String::from_utf8(man_page().unwrap()).unwrap();
        assert!(page.contains("\n.TH ctl 1"), "{}", &page[..80]);
        assert_eq!(page.matches(".el .ds Aq").count(), 1, "one preamble");
        for command in [
            "deploy", "watch", "status", "list", "delete", "validate", "server",
        ] {
            assert!(
                page.contains(&format!(".SS \"ctl {command}\"")),
                "{command}"
            );
        }
        assert!(
            page.contains("\\-\\-deployment"),
            "watch options are listed"
        );
        for status in crate::exit::ExitStatus::ALL {
            assert!(page.contains(&status.code().to_string()));
        }
    }

    /// The reference sections a man page reader expects, filled from the exit-code table, the
    /// README's environment table and the files `ctl` reads, instead of clap_mangen's EXTRA.
    #[test]
    fn man_page_has_exit_status_environment_and_files_sections() {
        let page = String::from_utf8(man_page().unwrap()).unwrap();
        let section = |name: &str| -> String {
            let start = page
                .find(&format!("\n.SH {name}\n"))
                .unwrap_or_else(|| panic!("no {name} section"));
            let rest = &page[start + 1..];
            let end = rest[4..].find("\n.SH ").map_or(rest.len(), |i| i + 4);
            rest[..end].to_owned()
        };
        assert!(!page.contains(".SH EXTRA"), "no EXTRA section");
        let exit = section("\"EXIT STATUS\"");
        for status in ExitStatus::ALL {
            assert!(
                exit.contains(&format!(".TP\n\\fB{}\\fR\n", status.code())),
                "{status:?}: {exit}"
            );
        }
        let environment = section("ENVIRONMENT");
        let names = readme_table("Environment");
        assert!(names.len() >= 20, "{names:?}");
        for variable in [
            "CTL_SERVER",
            "NO_COLOR",
            "CTL_CONFIG",
            "RUST_LOG",
            "HTTPS_PROXY",
        ] {
            assert!(environment.contains(variable), "{variable}: {environment}");
        }
        assert!(environment.contains("Precedence"), "{environment}");
        let files = section("FILES");
        assert!(files.contains("config.yaml"), "{files}");
        assert!(files.contains("credentials"), "{files}");
    }

    #[test]
    fn roff_text_cannot_start_a_request() {
        assert_eq!(roff(".hidden"), "\\&.hidden");
        assert_eq!(roff("a\\b-c"), "a\\eb\\-c");
    }

    #[test]
    fn completions_offer_client_options_to_client_commands_only() {
        let fish = String::from_utf8(completion_script(Shell::Fish)).unwrap();
        let offers = |sub: &str, option: &str| {
            fish.lines().any(|l| {
                l.contains(&format!("__fish_ctl_using_subcommand {sub}\""))
                    && l.contains(&format!(" -l {option} "))
            })
        };
        for sub in ["deploy", "watch", "status", "list", "delete"] {
            assert!(offers(sub, "api-key"), "{sub} --api-key");
            assert!(offers(sub, "verbose"), "{sub} --verbose");
        }
        // `validate` talks to no server: its output options, not the server's.
        assert!(!offers("validate", "api-key") && !offers("validate", "server"));
        assert!(offers("validate", "output"));
        for sub in ["server", "completion", "man"] {
            assert!(!offers(sub, "api-key"), "{sub} --api-key");
            assert!(!offers(sub, "output"), "{sub} --output");
            assert!(offers(sub, "verbose"), "{sub} --verbose");
        }
        assert!(offers("server", "key"));
    }

    #[test]
    fn environment_values_never_reach_the_generated_files() {
        let cmd = documented_command();
        let server = cmd
            .get_arguments()
            .find(|a| a.get_id() == "server")
            .unwrap();
        assert!(server.is_hide_env_values_set());
    }
}
