#![allow(dead_code)] // helpers are shared by several test modules; not all use every one
//! Test support: the real `ctl server` as a child process, and a `ctl` command builder with a
//! clean, deterministic environment.
//!
//! Every child is owned by a guard that kills and reaps it on drop, so a failing test leaves
//! nothing running. Nothing here sleeps to synchronise: the server is ready when it prints its
//! readiness line, and waits have deadlines.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wait_timeout::ChildExt;

pub mod background;
pub mod connect_proxy;
pub mod hung;
pub mod innominatus;
pub mod nchan;
pub mod pki;
pub mod proxy;
pub mod redirect;
pub mod whatwg;

/// Path of the `ctl` binary under test.
pub fn ctl_bin() -> &'static str {
    env!("CARGO_BIN_EXE_ctl")
}

/// The repository root (for examples and fixtures).
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A running `ctl server` child process.
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    stderr: Arc<Mutex<Vec<String>>>,
    _data_dir: Option<tempfile::TempDir>,
}

impl ServerProcess {
    /// Starts `ctl server --listen 127.0.0.1:0 --in-memory` plus `extra` arguments and waits
    /// (with a deadline) for its readiness line.
    pub fn start(extra: &[&str]) -> Self {
        let mut args = vec!["--in-memory"];
        args.extend_from_slice(extra);
        Self::start_raw(&args, None)
    }

    /// [`ServerProcess::start`] with variables added to the server's environment.
    pub fn start_with_env(extra: &[&str], env: &[(&str, &str)]) -> Self {
        let mut args = vec!["--in-memory"];
        args.extend_from_slice(extra);
        match Self::try_start_with_env("127.0.0.1:0", &args, env) {
            Ok(server) => server,
            Err(stderr) => panic!("server did not print its readiness line; stderr:\n{stderr}"),
        }
    }

    /// Starts a server on a data directory (for restart tests).
    pub fn start_with_data_dir(dir: tempfile::TempDir, extra: &[&str]) -> Self {
        let path = dir.path().to_str().unwrap().to_owned();
        let mut args = vec!["--data-dir", path.as_str()];
        args.extend_from_slice(extra);
        Self::start_raw(&args, Some(dir))
    }

    /// Starts a server on a data directory and a given port (a restart where the previous one
    /// listened). The port may still be held for a moment by the old process: binding is
    /// retried until a deadline.
    pub fn start_at(port: u16, dir: tempfile::TempDir, extra: &[&str]) -> Self {
        let path = dir.path().to_str().unwrap().to_owned();
        let listen = format!("127.0.0.1:{port}");
        let mut args = vec!["--data-dir", path.as_str()];
        args.extend_from_slice(extra);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            match Self::try_start(&listen, &args) {
                Ok(mut server) => {
                    server._data_dir = Some(dir);
                    return server;
                }
                Err(stderr) if std::time::Instant::now() < deadline => {
                    assert!(stderr.contains("cannot listen"), "server failed: {stderr}");
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(stderr) => panic!("could not restart on port {port}: {stderr}"),
            }
        }
    }

    fn start_raw(args: &[&str], data_dir: Option<tempfile::TempDir>) -> Self {
        match Self::try_start("127.0.0.1:0", args) {
            Ok(mut server) => {
                server._data_dir = data_dir;
                server
            }
            Err(stderr) => panic!("server did not print its readiness line; stderr:\n{stderr}"),
        }
    }

    /// Spawns `ctl server --listen LISTEN ARGS` and waits for its readiness line; on failure
    /// (it exited, or said nothing in time) returns its stderr.
    fn try_start(listen: &str, args: &[&str]) -> Result<Self, String> {
        Self::try_start_with_env(listen, args, &[])
    }

    /// [`ServerProcess::try_start`] with `env` added after the environment is cleaned.
    fn try_start_with_env(
        listen: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Self, String> {
        let mut cmd = Command::new(ctl_bin());
        cmd.args(["server", "--listen", listen])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        clean_env(&mut cmd);
        cmd.envs(env.iter().copied());
        let mut child = cmd.spawn().expect("spawn ctl server");
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let sink = Arc::clone(&lines);
        // Drain stderr for the whole life of the server, so it can never block on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send(addr.to_owned());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let mut guard = ServerProcess {
            child,
            url: String::new(),
            stderr: lines,
            _data_dir: None,
        };
        // The reader thread drops the sender at EOF, so a server that exits ends the wait.
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(url) => {
                guard.url = url;
                Ok(guard)
            }
            Err(_) => {
                let _ = guard.child.kill();
                let _ = guard.child.wait();
                Err(guard.stderr_text())
            }
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the server wrote on stderr so far.
    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.url.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// Kills the server with SIGKILL and reaps it; returns its data directory.
    pub fn kill(mut self) -> Option<tempfile::TempDir> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self._data_dir.take()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Removes everything from the environment that could change `ctl`'s behaviour, and fixes
/// what makes output deterministic.
pub fn clean_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("CTL_")
            || key == "IDP_API_KEY"
            || key == "NO_COLOR"
            || key == "CLICOLOR_FORCE"
            || key == "GITHUB_ACTIONS"
            || key == "RUST_LOG"
            // A proxy from the machine's environment would sit between every test and its
            // server; the proxy tests set their own.
            || matches!(
                key.to_ascii_uppercase().as_str(),
                "HTTP_PROXY" | "HTTPS_PROXY" | "ALL_PROXY" | "NO_PROXY" | "REQUEST_METHOD"
            )
        {
            cmd.env_remove(&key);
        }
    }
    // No user config file (`~/.config/ctl/config.yaml`): contexts are tested with files the
    // tests write.
    cmd.env_remove("XDG_CONFIG_HOME").env_remove("HOME");
    // A UTF-8 locale, so icons are emoji whatever the machine's locale (`--icons auto`).
    cmd.env("TZ", "UTC")
        .env("TERM", "dumb")
        .env("LC_ALL", "C.UTF-8");
}

/// The outcome of a finished `ctl` run.
#[derive(Debug)]
pub struct Run {
    /// Exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Asserts the exit code, showing both streams on failure.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "unexpected exit code\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// A `ctl` invocation with a clean environment.
pub struct Ctl {
    cmd: Command,
}

/// Starts building a `ctl` command.
pub fn ctl(args: &[&str]) -> Ctl {
    let mut cmd = Command::new(ctl_bin());
    cmd.args(args).current_dir(repo(""));
    clean_env(&mut cmd);
    Ctl { cmd }
}

impl Ctl {
    /// Adds arguments.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.cmd.args(args);
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.cmd.env(key, value);
        self
    }

    /// Runs to completion (killed after `limit` as a safety net, never as synchronisation).
    pub fn run_with_limit(mut self, limit: Duration) -> Run {
        self.cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = self.cmd.spawn().expect("spawn ctl");
        let guard = ChildGuard(Some(child));
        wait_output(guard, limit)
    }

    /// Runs with the default safety limit.
    pub fn run(self) -> Run {
        self.run_with_limit(Duration::from_secs(60))
    }
}

struct ChildGuard(Option<Child>);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn wait_output(mut guard: ChildGuard, limit: Duration) -> Run {
    let mut child = guard.0.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let err = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let status = match child.wait_timeout(limit).unwrap() {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "ctl did not finish within {limit:?}; stderr so far: {}",
                err.join().unwrap_or_default()
            );
        }
    };
    Run {
        code: status.code(),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// Writes `text` to a temporary YAML file and returns it (kept alive by the caller).
pub fn temp_yaml(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
    std::io::Write::write_all(&mut f, text.as_bytes()).unwrap();
    f
}
