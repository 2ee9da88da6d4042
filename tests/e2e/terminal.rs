//! Terminal and CI output end to end: which stream holds what, colour decisions, icons and
//! timestamps, the heartbeat of a silent wait, GitHub Actions markers, and the live progress
//! rows drawn in a real pseudo-terminal whose screen is read back with a VT parser.
//!
//! Nothing here waits on a clock: a test waits (with a deadline) until a line or a screen
//! shows up, and a deployment that would run for an hour is ended with SIGINT.

use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wait_timeout::ChildExt;

use crate::support::{ServerProcess, clean_env, ctl, ctl_bin, repo, temp_yaml};

const FAST: &str = "tests/fixtures/providers-fast.yaml";

/// How long any single wait may take before the test fails (a safety net, not a timing).
const LIMIT: Duration = Duration::from_secs(60);

/// A failing spec: `db` fails at its second step with the server's quota message.
const BROKEN: &str = "apiVersion: score.dev/v1b1\nmetadata:\n  name: broken-app\ncontainers:\n  web:\n    image: nginx\nresources:\n  db:\n    type: broken\n  cache:\n    type: redis\n";

/// A spec whose `s` resource stays in its one-hour step until the watch is interrupted.
fn slow_spec(name: &str) -> tempfile::NamedTempFile {
    temp_yaml(&format!(
        "apiVersion: score.dev/v1b1\nmetadata:\n  name: {name}\ncontainers:\n  web:\n    image: nginx\nresources:\n  database:\n    type: postgres\n  s:\n    type: slow\n"
    ))
}

fn fast_server() -> ServerProcess {
    let providers = repo(FAST);
    ServerProcess::start(&["--providers", providers.to_str().unwrap()])
}

/// `ctl ARGS` as a plain `Command` with the clean test environment.
fn ctl_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(ctl_bin());
    cmd.args(args).current_dir(repo(""));
    clean_env(&mut cmd);
    cmd
}

// ---------------------------------------------------------------------------------------------
// A child whose output is read as it comes
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Output {
    bytes: Vec<u8>,
    closed: bool,
}

/// A running `ctl` whose stderr (or pseudo-terminal) is collected by a reader thread; the test
/// waits on conditions over what has arrived. The child is killed and reaped on drop.
struct Live {
    child: Option<Child>,
    /// The pty master's write side: what the user types.
    keyboard: Option<File>,
    output: Arc<(Mutex<Output>, Condvar)>,
    reader: Option<JoinHandle<()>>,
}

/// Where a [`Live`] child's output is read from.
enum Source {
    /// The master side of the pseudo-terminal the child writes to.
    Pty(File),
    /// The child's piped stderr.
    Stderr,
}

impl Live {
    /// Spawns `cmd` (whose stdio is already set up) and reads its output until it ends.
    fn spawn(mut cmd: Command, source: Source) -> Self {
        let mut child = cmd.spawn().expect("spawn ctl");
        // The command holds copies of the child's stdio (a pty slave): drop them, so the
        // source ends when the child exits.
        drop(cmd);
        let mut keyboard = None;
        let mut source: Box<dyn Read + Send> = match source {
            Source::Pty(master) => {
                keyboard = Some(master.try_clone().unwrap());
                Box::new(master)
            }
            Source::Stderr => Box::new(child.stderr.take().expect("piped stderr")),
        };
        let output = Arc::new((Mutex::new(Output::default()), Condvar::new()));
        let sink = Arc::clone(&output);
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                // A pty master reports EIO once the last slave is closed: that is the end too.
                let n = source.read(&mut buf).unwrap_or(0);
                let (lock, ready) = &*sink;
                let mut out = lock.lock().unwrap();
                if n == 0 {
                    out.closed = true;
                    ready.notify_all();
                    return;
                }
                out.bytes.extend_from_slice(&buf[..n]);
                ready.notify_all();
            }
        });
        Live {
            child: Some(child),
            keyboard,
            output,
            reader: Some(reader),
        }
    }

    /// Waits until `done` holds for the output so far, and returns that output.
    fn wait_for(&self, what: &str, done: impl Fn(&[u8]) -> bool) -> Vec<u8> {
        let deadline = Instant::now() + LIMIT;
        let (lock, ready) = &*self.output;
        let mut out = lock.lock().unwrap();
        loop {
            if done(&out.bytes) {
                return out.bytes.clone();
            }
            let now = Instant::now();
            if out.closed || now >= deadline {
                panic!(
                    "never saw {what}; output so far:\n{}",
                    String::from_utf8_lossy(&out.bytes)
                );
            }
            out = ready.wait_timeout(out, deadline - now).unwrap().0;
        }
    }

    /// Sends SIGINT, as Ctrl-C would.
    fn interrupt(&self) {
        let child = self.child.as_ref().unwrap();
        rustix::process::kill_process(
            rustix::process::Pid::from_child(child),
            rustix::process::Signal::INT,
        )
        .expect("send SIGINT");
    }

    /// Presses Ctrl-C on the terminal: the terminal echoes `^C` where the cursor rests (the
    /// child has no controlling terminal, so the key itself signals nobody), then SIGINT
    /// arrives, as it would from the shell's terminal.
    fn press_ctrl_c(&self) {
        let keyboard = self.keyboard.as_ref().expect("a terminal");
        std::io::Write::write_all(&mut &*keyboard, b"\x03").unwrap();
        self.wait_for("the ^C echo", |bytes| bytes.windows(2).any(|w| w == b"^C"));
        self.interrupt();
    }

    /// Waits for the child to exit and for its output to end; returns exit code and output.
    fn finish(mut self) -> (Option<i32>, Vec<u8>) {
        let mut child = self.child.take().unwrap();
        let status = match child.wait_timeout(LIMIT).unwrap() {
            Some(status) => status,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("ctl did not exit within {LIMIT:?}");
            }
        };
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        let bytes = std::mem::take(&mut self.output.0.lock().unwrap().bytes);
        (status.code(), bytes)
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A pseudo-terminal and its screen
// ---------------------------------------------------------------------------------------------

const ROWS: u16 = 60;
const COLS: u16 = 120;

/// Opens a pseudo-terminal of `ROWS` × `COLS`; returns (master, slave).
fn pty() -> (File, File) {
    use rustix::fs::{Mode, OFlags};
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
        .expect("open a pseudo-terminal");
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let slave: OwnedFd = rustix::fs::open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .unwrap();
    rustix::termios::tcsetwinsize(
        &slave,
        rustix::termios::Winsize {
            ws_row: ROWS,
            ws_col: COLS,
            ws_xpixel: 0,
            ws_ypixel: 0,
        },
    )
    .unwrap();
    (File::from(master), File::from(slave))
}

/// Runs `ctl ARGS` with stdout and stderr on one pseudo-terminal, like a user's shell.
fn in_terminal(args: &[&str], env: &[(&str, &str)]) -> Live {
    let (master, slave) = pty();
    let mut cmd = ctl_command(args);
    cmd.env("TERM", "xterm-256color")
        .stdin(Stdio::null())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave);
    for (key, value) in env {
        cmd.env(key, value);
    }
    Live::spawn(cmd, Source::Pty(master))
}

/// What a terminal shows after receiving `bytes`: its rows, trailing blanks trimmed.
fn screen(bytes: &[u8]) -> String {
    let mut parser = vt100::Parser::new(ROWS, COLS, 0);
    parser.process(bytes);
    let rows: Vec<String> = parser
        .screen()
        .rows(0, COLS)
        .map(|row| row.trim_end().to_owned())
        .collect();
    rows.join("\n").trim_end().to_owned()
}

/// Spinner frames of the progress rows (Unicode set).
const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/// Asserts that every event line on the screen is whole: it starts with its timestamp, so no
/// progress row was drawn into it and no line began in the middle of a row.
#[track_caller]
fn assert_event_lines_whole(screen: &str) {
    for line in screen.lines() {
        let is_event = [
            "Resource ",
            "Step ",
            "Workflow ",
            "Provider ",
            "Deployment started",
        ]
        .iter()
        .any(|marker| line.contains(marker))
            && !line.contains("Deployment failed after")
            && !line.contains("Deployment completed in");
        if is_event {
            assert!(
                line.starts_with('[') && line.as_bytes().get(9) == Some(&b']'),
                "torn line {line:?} in:\n{screen}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Live progress in a pseudo-terminal
// ---------------------------------------------------------------------------------------------

#[test]
fn progress_rows_show_while_deploying_and_are_gone_from_the_final_screen() {
    let server = fast_server();
    let spec = slow_spec("sloth");
    let live = in_terminal(
        &[
            "deploy",
            spec.path().to_str().unwrap(),
            "-w",
            "--server",
            &server.url,
        ],
        &[],
    );
    // While it runs: a header row and one row per resource, under the event log.
    let running = live.wait_for("the progress rows", |bytes| {
        let s = screen(bytes);
        s.contains("sloth: 1/2 resources active ·")
            && s.contains("s (slow)             provisioning · step 1/1 wait-forever ·")
            && s.contains("✓ database (postgres)  active")
    });
    let running = screen(&running);
    let lines: Vec<&str> = running.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.contains("resources active ·"))
        .unwrap();
    let last_event = lines
        .iter()
        .rposition(|l| l.starts_with('['))
        .unwrap_or_else(|| panic!("no event line in:\n{running}"));
    assert!(header > last_event, "rows under the log:\n{running}");
    assert!(
        SPINNER.iter().any(|c| lines[header].starts_with(*c)),
        "spinner on the header row: {:?}",
        lines[header]
    );
    assert_event_lines_whole(&running);

    // Ctrl-C: the watch ends, the rows go (the echoed `^C` with them), the footer and the
    // reattach hint stay.
    live.press_ctrl_c();
    let (code, bytes) = live.finish();
    assert_eq!(code, Some(130), "{}", screen(&bytes));
    let last = screen(&bytes);
    assert!(last.contains("Resource active: database"), "{last}");
    assert!(
        last.contains("Workflow started: provision-slow (1 step)"),
        "{last}"
    );
    assert!(last.contains("Interrupted after"), "{last}");
    assert!(last.contains("ctl watch sloth --deployment"), "{last}");
    assert!(
        !last.contains("resources active ·") && !last.contains("· step 1/1"),
        "a progress row was left on the screen:\n{last}"
    );
    assert!(
        !last.chars().any(|c| SPINNER.contains(&c)),
        "a spinner was left on the screen:\n{last}"
    );
    assert_event_lines_whole(&last);
}

#[test]
fn a_finished_deployment_leaves_the_event_log_and_the_footer() {
    let server = fast_server();
    let live = in_terminal(
        &[
            "deploy",
            "tests/fixtures/app-fast.yaml",
            "-w",
            "--server",
            &server.url,
        ],
        &[],
    );
    let (code, bytes) = live.finish();
    let last = screen(&bytes);
    assert_eq!(code, Some(0), "{last}");
    let lines: Vec<&str> = last.lines().collect();
    // The screen ends with the footer: rule, outcome, rule.
    let n = lines.len();
    assert!(n >= 3, "{last}");
    assert!(lines[n - 1].starts_with('━'), "{last}");
    assert!(
        lines[n - 2].starts_with("✅ Deployment completed in"),
        "{last}"
    );
    assert!(lines[n - 3].starts_with('━'), "{last}");
    // Above it, the banner and the whole event log, in order and intact.
    assert!(
        last.contains("📤 Submitting Score specification: shop"),
        "{last}"
    );
    let active_db = last
        .find("Resource active: database")
        .expect("database line");
    let active_cache = last.find("Resource active: cache").expect("cache line");
    let completed = last
        .find("🎉 Deployment completed")
        .expect("terminal event");
    assert!(active_db < completed && active_cache < completed, "{last}");
    assert!(!last.contains("resources active"), "leftover rows:\n{last}");
    assert!(!last.chars().any(|c| SPINNER.contains(&c)), "{last}");
    assert_event_lines_whole(&last);
    // Colour is on in a terminal: the raw output has escape codes.
    assert!(bytes.contains(&0x1b));
}

#[test]
fn ctl_progress_never_turns_the_rows_off_on_a_terminal() {
    let server = fast_server();
    let spec = slow_spec("plain");
    let live = in_terminal(
        &[
            "deploy",
            spec.path().to_str().unwrap(),
            "-w",
            "--server",
            &server.url,
        ],
        &[("CTL_PROGRESS", "never"), ("CTL_HEARTBEAT", "100ms")],
    );
    // Without rows the heartbeat takes over, so its line proves the rows are off.
    let seen = live.wait_for("a heartbeat line", |bytes| {
        screen(bytes).contains("still waiting (")
    });
    let text = screen(&seen);
    assert!(!text.contains("resources active ·"), "{text}");
    live.interrupt();
    let (code, _) = live.finish();
    assert_eq!(code, Some(130));
}

#[test]
fn ctl_progress_always_draws_rows_without_a_terminal() {
    let server = fast_server();
    let spec = slow_spec("forced");
    let mut cmd = ctl_command(&[
        "deploy",
        spec.path().to_str().unwrap(),
        "-w",
        "--server",
        &server.url,
    ]);
    cmd.env("CTL_PROGRESS", "always")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let live = Live::spawn(cmd, Source::Stderr);
    live.wait_for("forced progress rows on stderr", |bytes| {
        String::from_utf8_lossy(bytes).contains("s (slow)")
    });
    live.interrupt();
    let (code, bytes) = live.finish();
    assert_eq!(code, Some(130));
    let raw = String::from_utf8_lossy(&bytes);
    assert!(raw.contains("forced: "), "{raw}");
    assert!(raw.contains("\x1b["), "cursor control expected: {raw:?}");
}

// ---------------------------------------------------------------------------------------------
// Streams, colour, icons, timestamps (no terminal)
// ---------------------------------------------------------------------------------------------

/// `[HH:MM:SS] ` event lines of the text output.
fn event_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| l.starts_with('[') && l.as_bytes().get(9) == Some(&b']'))
        .collect()
}

#[test]
fn stderr_holds_the_human_text_and_quiet_silences_it() {
    let server = fast_server();
    let args = [
        "deploy",
        "tests/fixtures/app-fast.yaml",
        "-w",
        "--server",
        server.url.as_str(),
    ];
    let run = ctl(&args).run();
    run.assert_code(0);
    // stdout: the event log and its footer, nothing else.
    assert!(!event_lines(&run.stdout).is_empty(), "{}", run.stdout);
    for line in run.stdout.lines() {
        assert!(
            line.starts_with('[')
                || line.starts_with('━')
                || line.contains("Deployment completed in"),
            "not an event or footer line on stdout: {line:?}"
        );
    }
    // stderr: the banners.
    assert!(
        run.stderr
            .contains("📤 Submitting Score specification: shop"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("Watching deployment: shop"),
        "{}",
        run.stderr
    );

    // A fresh server, so the quiet run deploys from scratch too (a redeploy publishes less).
    let fresh = fast_server();
    let quiet = ctl(&[
        "deploy",
        "tests/fixtures/app-fast.yaml",
        "-w",
        "--server",
        fresh.url.as_str(),
        "--quiet",
    ])
    .run();
    quiet.assert_code(0);
    assert_eq!(quiet.stderr, "", "--quiet leaves stderr empty on success");
    assert_eq!(
        event_lines(&quiet.stdout).len(),
        event_lines(&run.stdout).len(),
        "--quiet keeps the event log"
    );
    assert!(quiet.stdout.contains("Deployment completed in"));
}

/// Without `-w`, the submission's answer is the command's result: `--quiet` keeps it, as the
/// deployment id alone, and drops only the notes.
#[test]
fn quiet_deploy_prints_the_deployment_id_alone() {
    let server = fast_server();
    let run = ctl(&[
        "deploy",
        "tests/fixtures/app-fast.yaml",
        "-q",
        "--server",
        server.url.as_str(),
    ])
    .run();
    run.assert_code(0);
    assert_eq!(run.stderr, "", "no banner or note");
    let id = run
        .stdout
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("{:?}", run.stdout));
    assert!(
        !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()),
        "stdout is the deployment id: {:?}",
        run.stdout
    );
    // The id is the deployment's: it can be followed.
    ctl(&[
        "watch",
        "shop",
        "--deployment",
        id,
        "--server",
        server.url.as_str(),
    ])
    .run()
    .assert_code(0);
}

#[test]
fn no_escape_codes_without_a_terminal_unless_forced() {
    let server = fast_server();
    let deploy = |extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec![
            "deploy",
            "tests/fixtures/app-fast.yaml",
            "-w",
            "--server",
            server.url.as_str(),
        ];
        args.extend_from_slice(extra);
        // A terminal type that supports colour: only the missing terminal turns it off.
        let mut cmd = ctl(&args).env("TERM", "xterm-256color");
        for (key, value) in env {
            cmd = cmd.env(key, value);
        }
        let run = cmd.run();
        run.assert_code(0);
        run
    };
    let coloured =
        |run: &crate::support::Run| run.stdout.contains('\x1b') && run.stderr.contains('\x1b');
    let plain =
        |run: &crate::support::Run| !run.stdout.contains('\x1b') && !run.stderr.contains('\x1b');

    let piped = deploy(&[], &[]);
    assert!(plain(&piped), "{:?}\n{:?}", piped.stdout, piped.stderr);
    let always = deploy(&["--color", "always"], &[]);
    assert!(
        coloured(&always),
        "{:?}\n{:?}",
        always.stdout,
        always.stderr
    );
    let forced = deploy(&[], &[("CLICOLOR_FORCE", "1")]);
    assert!(coloured(&forced));
    let no_color = deploy(&[], &[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")]);
    assert!(plain(&no_color), "NO_COLOR wins over CLICOLOR_FORCE");
    let flag_wins = deploy(&["--color", "always"], &[("NO_COLOR", "1")]);
    assert!(coloured(&flag_wins), "--color always wins over NO_COLOR");
    let env_choice = deploy(&[], &[("CTL_COLOR", "always")]);
    assert!(coloured(&env_choice));
    // JSON output is never coloured.
    let json = deploy(&["-o", "json", "--color", "always"], &[]);
    assert!(!json.stdout.contains('\x1b'), "{}", json.stdout);
}

#[test]
fn icons_fall_back_to_ascii_and_timestamps_follow_the_flag() {
    let server = fast_server();
    let deploy = |extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec![
            "deploy",
            "tests/fixtures/app-fast.yaml",
            "-w",
            "--server",
            server.url.as_str(),
        ];
        args.extend_from_slice(extra);
        let mut cmd = ctl(&args);
        for (key, value) in env {
            cmd = cmd.env(key, value);
        }
        let run = cmd.run();
        run.assert_code(0);
        run
    };
    let ascii = deploy(&["--icons", "ascii"], &[]);
    assert!(ascii.stdout.is_ascii(), "{}", ascii.stdout);
    assert!(ascii.stderr.is_ascii(), "{}", ascii.stderr);
    // Every deploy of the same app (redeploys included) starts with `deployment.started`.
    assert!(
        ascii
            .stdout
            .contains("[>>]   Deployment started: 2 resources"),
        "{}",
        ascii.stdout
    );
    let c_locale = deploy(&[], &[("LC_ALL", "C")]);
    assert!(
        c_locale.stdout.is_ascii(),
        "a non-UTF-8 locale: {}",
        c_locale.stdout
    );
    let latin1 = deploy(&[], &[("LC_ALL", ""), ("LC_CTYPE", "de_DE.ISO-8859-1")]);
    assert!(latin1.stdout.is_ascii(), "{}", latin1.stdout);
    let forced = deploy(&["--icons", "unicode"], &[("LC_ALL", "C")]);
    assert!(
        forced.stdout.contains("📦 Deployment started"),
        "{}",
        forced.stdout
    );

    let none = deploy(&["--timestamps", "none"], &[]);
    assert!(
        none.stdout
            .lines()
            .any(|l| l == "📦 Deployment started: 2 resources"),
        "{}",
        none.stdout
    );
    let relative = deploy(&["--timestamps", "relative"], &[]);
    assert!(
        relative
            .stdout
            .lines()
            .any(|l| l.starts_with("[+") && l.ends_with("Deployment started: 2 resources")),
        "{}",
        relative.stdout
    );
    let utc = deploy(&["--timestamps", "utc"], &[("TZ", "Asia/Kolkata")]);
    assert!(!event_lines(&utc.stdout).is_empty(), "{}", utc.stdout);
}

#[test]
fn heartbeat_keeps_a_quiet_wait_without_a_terminal_alive() {
    let server = fast_server();
    let spec = slow_spec("patient");
    let mut cmd = ctl_command(&[
        "deploy",
        spec.path().to_str().unwrap(),
        "-w",
        "--quiet",
        "--server",
        &server.url,
    ]);
    cmd.env("CTL_HEARTBEAT", "100ms")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let live = Live::spawn(cmd, Source::Stderr);
    // The heartbeat names what the wait is on: the slow resource and its step.
    let seen = live.wait_for("a heartbeat naming the slow step", |bytes| {
        String::from_utf8_lossy(bytes).contains("s (slow) at step 1/1 wait-forever; ")
    });
    let text = String::from_utf8_lossy(&seen).into_owned();
    let line = text
        .lines()
        .find(|l| l.contains("s (slow) at step 1/1 wait-forever; "))
        .unwrap_or_else(|| panic!("{text}"));
    let rest = line
        .strip_prefix("still waiting (")
        .unwrap_or_else(|| panic!("{line}"));
    let (elapsed, rest) = rest.split_once("): ").unwrap_or_else(|| panic!("{line}"));
    assert!(
        elapsed.ends_with('s') && !elapsed.contains('\x1b'),
        "{line}"
    );
    let counts = rest
        .rsplit_once("; ")
        .and_then(|(_, counts)| counts.strip_suffix(" resources active"))
        .unwrap_or_else(|| panic!("{line}"));
    let (active, total) = counts.split_once('/').unwrap();
    assert!(active.parse::<u32>().unwrap() <= 1, "{line}");
    assert_eq!(total, "2", "{line}");
    live.interrupt();
    let (code, _) = live.finish();
    assert_eq!(code, Some(130));
}

#[test]
fn github_actions_markers_appear_only_under_github_actions() {
    let server = fast_server();
    let spec = temp_yaml(BROKEN);
    let path = spec.path().to_str().unwrap().to_owned();
    let deploy = |extra: &[&str], github: bool| {
        let mut args = vec![
            "deploy",
            path.as_str(),
            "-w",
            "--server",
            server.url.as_str(),
        ];
        args.extend_from_slice(extra);
        let mut cmd = ctl(&args);
        if github {
            cmd = cmd.env("GITHUB_ACTIONS", "true");
        }
        let run = cmd.run();
        run.assert_code(1);
        run
    };

    let actions = deploy(&[], true);
    let lines: Vec<&str> = actions.stdout.lines().collect();
    let group = lines
        .iter()
        .position(|l| *l == "::group::Deployment events: broken-app")
        .unwrap_or_else(|| panic!("no group in:\n{}", actions.stdout));
    let end = lines
        .iter()
        .position(|l| *l == "::endgroup::")
        .unwrap_or_else(|| panic!("no endgroup in:\n{}", actions.stdout));
    let first_event = lines.iter().position(|l| l.starts_with('[')).unwrap();
    let last_event = lines.iter().rposition(|l| l.starts_with('[')).unwrap();
    let footer = lines
        .iter()
        .position(|l| l.starts_with("❌ Deployment failed after"))
        .unwrap();
    assert!(
        group < first_event && last_event < end && end < footer,
        "the event log is folded, the footer is not:\n{}",
        actions.stdout
    );
    let error = lines
        .iter()
        .find(|l| l.starts_with("::error "))
        .unwrap_or_else(|| panic!("no annotation in:\n{}", actions.stdout));
    assert!(
        error.starts_with("::error title=Deployment of broken-app failed::db (broken) failed at step 2/2 configure: quota exceeded"),
        "{error}"
    );

    // The footer names the failed resource, the failing step and the server's error text.
    let footer_block = lines[footer..].join("\n");
    assert!(lines[footer].contains(": db"), "{footer_block}");
    assert!(
        footer_block.contains(
            "db (broken) failed at step 2/2 configure: quota exceeded: no more than 5 databases per team"
        ),
        "{footer_block}"
    );

    let plain = deploy(&[], false);
    for text in [&plain.stdout, &plain.stderr] {
        assert!(!text.lines().any(|l| l.starts_with("::")), "{text}");
    }
    assert!(
        plain
            .stdout
            .contains("db (broken) failed at step 2/2 configure")
    );

    let json = deploy(&["-o", "json"], true);
    for text in [&json.stdout, &json.stderr] {
        assert!(
            !text.lines().any(|l| l.starts_with("::")),
            "no markers in JSON mode: {text}"
        );
    }
}
