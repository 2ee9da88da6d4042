//! nginx with the nchan module as a child process: an SSE server nobody here wrote, for the
//! tests in `tests/e2e/nchan.rs`. Configured from `nchan-test.conf` (next to this file).
//!
//! - The port is race-free: the test binds `127.0.0.1:0` itself and hands the listening socket
//!   to nginx as its stdin, named in the `NGINX` environment variable (`NGINX="0;"`), nginx's
//!   own protocol for inheriting listening sockets (it is how its binary upgrade passes them
//!   on). The config listens on the same address, so nginx adopts that socket instead of
//!   binding a new one, and no other process can take the port in between.
//! - Everything nginx writes (config, pid, logs, temp paths) is in a private temp dir; `-e`
//!   keeps it from opening the system error log at start-up. Run as root, its worker is
//!   `nobody` and writes nothing.
//! - The master runs in the foreground (`daemon off`, `master_process on`) as our child, and
//!   the guard stops it on drop: SIGTERM, which ends the worker too, and if that takes more
//!   than a few seconds, SIGKILL to the workers and the master.
//!
//! Where nginx or the module is missing, [`require`] fails the test when `CI` is set, and
//! otherwise skips it with a message on stderr.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};
use wait_timeout::ChildExt;

/// The configuration template.
const TEMPLATE: &str = include_str!("nchan-test.conf");
/// The module's file name (Debian's libnginx-mod-nchan and builds from source alike).
const MODULE: &str = "ngx_nchan_module.so";
/// Where Debian puts nginx modules, if `nginx -V` does not say.
const DEBIAN_MODULES: &str = "/usr/lib/nginx/modules";

/// An nginx binary and the nchan module it can load.
#[derive(Debug, Clone)]
pub struct Installed {
    nginx: PathBuf,
    module: PathBuf,
}

/// Finds nginx (on `PATH`, or in `/usr/sbin`, which is not on a normal user's `PATH` on
/// Debian) and the nchan module in nginx's modules directory; otherwise says what is missing.
pub fn installed() -> Result<Installed, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let nginx = std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|candidate| candidate.is_file())
        .ok_or("nginx is not installed (no nginx on PATH or in /usr/sbin)")?;
    // `nginx -V` prints its build options, among them `--modules-path=DIR`, on stderr.
    let version = Command::new(&nginx)
        .arg("-V")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", nginx.display()))?;
    let options = String::from_utf8_lossy(&version.stderr);
    let modules = options
        .split_whitespace()
        .find_map(|option| option.strip_prefix("--modules-path="))
        .unwrap_or(DEBIAN_MODULES);
    let module = Path::new(modules).join(MODULE);
    if !module.is_file() {
        return Err(format!(
            "the nchan module is not installed ({} not found)",
            module.display()
        ));
    }
    Ok(Installed { nginx, module })
}

/// nginx and nchan for a test, or `None` when they are missing outside CI (the reason is
/// printed on stderr, past the test harness's capture, so a skip is never silent). With `CI`
/// set (to anything but `false` or `0`), a missing piece fails the test: CI installs them
/// (`.ci/run`), and a test that cannot run must not pass there.
pub fn require(test: &str) -> Option<Installed> {
    let missing = match installed() {
        Ok(installed) => return Some(installed),
        Err(missing) => missing,
    };
    let hint = "install nginx and libnginx-mod-nchan, e.g. `sudo .ci/install-packages nginx libnginx-mod-nchan` on Debian";
    let in_ci = std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"));
    assert!(
        !in_ci,
        "{test}: {missing}; CI is set, so this test may not be skipped: {hint}"
    );
    // Written to the real stderr: `eprintln!` would be captured and hidden for a passing test.
    let _ = writeln!(std::io::stderr(), "skipping {test}: {missing}; {hint}");
    None
}

/// A running nginx + nchan; stopped on drop.
pub struct Nchan {
    child: Child,
    /// `http://127.0.0.1:PORT`, to pass as `--server`.
    pub url: String,
    addr: String,
    dir: tempfile::TempDir,
}

impl Nchan {
    /// Starts nginx with `nchan-test.conf`, answering `GET /api/applications` with
    /// `applications` (JSON), and waits (with a deadline) until it answers.
    pub fn start(installed: &Installed, applications: &str) -> Self {
        assert!(
            !applications.contains(['\'', '$', '\\', '\n']),
            "the applications answer goes into a quoted nginx string: {applications}"
        );
        let dir = tempfile::tempdir().expect("temp dir for nginx");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let config = TEMPLATE
            .replace("@NCHAN_MODULE@", path_str(&installed.module))
            .replace("@DIR@", path_str(dir.path()))
            .replace("@PORT@", &addr.port().to_string())
            .replace("@APPLICATIONS@", applications);
        let config_path = dir.path().join("nginx.conf");
        std::fs::write(&config_path, config).expect("write nginx.conf");
        let stderr = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
        let mut cmd = Command::new(&installed.nginx);
        cmd.arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&config_path)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .env("NGINX", "0;")
            .stdin(Stdio::from(OwnedFd::from(listener)))
            .stdout(Stdio::null())
            .stderr(stderr);
        let child = cmd.spawn().expect("spawn nginx");
        // The command holds our copy of the socket: dropped, nginx's is the only one, and
        // connections fail at once if nginx exits.
        drop(cmd);
        let mut nchan = Nchan {
            child,
            url: format!("http://{addr}"),
            addr: addr.to_string(),
            dir,
        };
        nchan.wait_ready();
        nchan
    }

    /// Waits until `GET /ready` answers 204. The socket listens from the start, so a request
    /// waits in the backlog until nginx takes it; a request that fails (nginx exited and the
    /// socket closed) or an nginx that exited fails the test with its logs.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("nginx exited ({status}) at start-up:\n{}", self.logs());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "nginx did not answer within 30s:\n{}",
                self.logs()
            );
            match self.request(
                "GET /ready HTTP/1.1",
                &[],
                "",
                left.min(Duration::from_secs(2)),
            ) {
                Ok((204, _)) => return,
                Ok((status, body)) => panic!("GET /ready answered {status}: {body}"),
                // A timeout: nginx is not serving yet; anything else: it exited (see above).
                Err(_) => {}
            }
        }
    }

    /// Publishes one message to a channel (`POST /pub/<channel>`) and returns the id nchan gave
    /// it (`<unix seconds>:<n>`), which is the SSE `id:` subscribers see.
    pub fn publish(&self, channel: &str, body: &str) -> String {
        let (status, answer) = self
            .request(
                &format!("POST /pub/{channel} HTTP/1.1"),
                &["Content-Type: application/json"],
                body,
                Duration::from_secs(10),
            )
            .unwrap_or_else(|e| panic!("publish to nchan: {e}\n{}", self.logs()));
        assert!(
            status == 201 || status == 202,
            "publish answered {status}: {answer}"
        );
        let info: serde_json::Value = serde_json::from_str(&answer)
            .unwrap_or_else(|e| panic!("channel info is not JSON ({e}): {answer}"));
        info["last_message_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no last_message_id: {answer}"))
            .to_owned()
    }

    /// The access log so far, one line per finished request (format `ctl` in the template).
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }

    /// Waits (with a deadline) until the access log has a line for which `want` holds; nginx
    /// writes a line when a request ends, so a stream's appears once its client has gone.
    /// Returns the whole log.
    #[track_caller]
    pub fn wait_for_access(&self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let log = self.access_log();
            if log.lines().any(&want) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "nginx never logged {what}:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Both logs and nginx's stderr, for failure messages.
    pub fn logs(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!(
            "--- nginx stderr ---\n{}--- error.log ---\n{}--- access.log ---\n{}",
            read("stderr.log"),
            read("error.log"),
            read("access.log")
        )
    }

    /// One HTTP/1.1 request on its own connection; returns the status and body.
    fn request(
        &self,
        request_line: &str,
        headers: &[&str],
        body: &str,
        timeout: Duration,
    ) -> std::io::Result<(u16, String)> {
        let mut stream = TcpStream::connect(&self.addr)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let mut head = format!(
            "{request_line}\r\nHost: {}\r\nAccept: application/json\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        for header in headers {
            head.push_str(header);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        stream.write_all(body.as_bytes())?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let bad = || std::io::Error::other(format!("not an HTTP answer: {response:?}"));
        let (head, body) = response.split_once("\r\n\r\n").ok_or_else(bad)?;
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad)?;
        Ok((status, body.to_owned()))
    }
}

impl Drop for Nchan {
    fn drop(&mut self) {
        let workers = children(self.child.id());
        if let Ok(None) = self.child.try_wait() {
            if let Some(pid) = Pid::from_raw(self.child.id() as i32) {
                let _ = kill_process(pid, Signal::TERM);
            }
            if let Ok(Some(_)) = self.child.wait_timeout(Duration::from_secs(5)) {
                return;
            }
        }
        // The master is gone or stuck: no worker may outlive the test.
        for worker in workers {
            if let Some(pid) = Pid::from_raw(worker as i32) {
                let _ = kill_process(pid, Signal::KILL);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// The processes whose parent is `pid` (nginx's workers), from `/proc`.
fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat"))
                .ok()
                .and_then(|stat| {
                    // `pid (comm) state ppid ...`; comm may hold spaces, so split after ')'.
                    let rest = &stat[stat.rfind(')')? + 1..];
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(pid)
        })
        .collect()
}
