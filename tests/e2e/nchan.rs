//! `ctl watch` against a server nobody here wrote: nginx with the nchan module
//! (`support::nchan`). A real deployment's events, as `ctl server` emitted them, are published
//! to an nchan channel, part before `ctl watch APP` starts and the rest after nginx has closed
//! its stream (nchan's subscriber timeout, 1s in `nchan-test.conf`). The watch must reconnect
//! with the `Last-Event-ID` nchan gave (`<unix seconds>:<n>`), print every event exactly once,
//! in order, and exit with the deployment's outcome.
//!
//! nginx answers `GET /api/applications` from its config (the deployment is running), so
//! `ctl watch` follows that deployment to its terminal event; the stream is
//! `GET /api/events/stream?app=APP`, mapped to the nchan subscriber of channel APP.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use wait_timeout::ChildExt;

use crate::support::nchan::{self, Nchan};
use crate::support::{Run, ServerProcess, clean_env, ctl, ctl_bin, repo, temp_yaml};

const FAST: &str = "tests/fixtures/providers-fast.yaml";

/// A spec whose `broken` resource fails its workflow (see the fast catalogue).
const FAILING_SPEC: &str = "apiVersion: score.dev/v1b1\nmetadata:\n  name: ledger\ncontainers:\n  web:\n    image: nginx:1.27\nresources:\n  database:\n    type: postgres\n  queue:\n    type: broken\n";

/// A deployment as `ctl server` ran it: its id and its events, each the JSON text the server
/// sent (`deploy -o json` writes our server's events through as received), without the
/// per-connection `connected` frame.
struct Recorded {
    app: String,
    deployment: String,
    events: Vec<String>,
}

/// Deploys `spec` on the real server with the fast catalogue and records its events.
fn record(spec: &str, code: i32) -> Recorded {
    let providers = repo(FAST);
    let server = ServerProcess::start(&["--providers", providers.to_str().unwrap()]);
    let run = ctl(&["deploy", spec, "-w", "-o", "json", "--server", &server.url])
        .run_with_limit(Duration::from_secs(60));
    run.assert_code(code);
    let mut lines: Vec<&str> = run.stdout.lines().collect();
    let result: Value = serde_json::from_str(lines.pop().expect("a result line")).unwrap();
    assert_eq!(result["type"], "watch.result", "{}", run.stdout);
    let events: Vec<String> = lines
        .into_iter()
        .filter(|line| !line.contains("\"type\":\"connected\""))
        .map(str::to_owned)
        .collect();
    assert!(events.len() >= 10, "a real deployment: {events:?}");
    let last: Value = serde_json::from_str(&events[events.len() - 1]).unwrap();
    assert!(
        last["type"] == "deployment.completed" || last["type"] == "deployment.failed",
        "it ends with its terminal event: {last}"
    );
    Recorded {
        app: result["app_name"].as_str().expect("app_name").to_owned(),
        deployment: result["deployment_id"]
            .as_str()
            .expect("deployment_id")
            .to_owned(),
        events,
    }
}

/// A `ctl` child whose stdout and stderr lines can be waited for while it runs.
struct Spawned {
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
    seen_out: Vec<String>,
    seen_err: Vec<String>,
}

fn spawn_ctl(args: &[&str]) -> Spawned {
    let mut cmd = Command::new(ctl_bin());
    cmd.args(args)
        .current_dir(repo(""))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    clean_env(&mut cmd);
    let mut child = cmd.spawn().expect("spawn ctl");
    let lines = |pipe: Box<dyn std::io::Read + Send>| {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        rx
    };
    let stdout = lines(Box::new(child.stdout.take().unwrap()));
    let stderr = lines(Box::new(child.stderr.take().unwrap()));
    Spawned {
        child,
        stdout,
        stderr,
        seen_out: Vec::new(),
        seen_err: Vec::new(),
    }
}

impl Spawned {
    /// Waits (with a deadline) until the stdout lines so far satisfy `done`.
    #[track_caller]
    fn wait_stdout(&mut self, what: &str, done: impl Fn(&[String]) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done(&self.seen_out) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => self.seen_out.push(line),
                Err(_) => panic!("ctl never printed {what}; {}", self.so_far()),
            }
        }
    }

    /// Waits (with a deadline) for a stderr line containing `text`.
    #[track_caller]
    fn wait_stderr(&mut self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.seen_err.iter().any(|line| line.contains(text)) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => self.seen_err.push(line),
                Err(_) => panic!("ctl never said {text:?} on stderr; {}", self.so_far()),
            }
        }
    }

    fn so_far(&self) -> String {
        format!(
            "stdout so far:\n{}\nstderr so far:\n{}",
            self.seen_out.join("\n"),
            self.seen_err.join("\n")
        )
    }

    /// Waits for the exit (killing it past `limit`, as a safety net) and collects the output.
    /// `server` is shown if it does not finish.
    fn finish(mut self, limit: Duration, server: &Nchan) -> Run {
        let Some(status) = self.child.wait_timeout(limit).unwrap() else {
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.seen_out.extend(self.stdout.iter());
            self.seen_err.extend(self.stderr.iter());
            panic!(
                "ctl did not finish within {limit:?}; {}\n{}",
                self.so_far(),
                server.logs()
            );
        };
        // The pipes close with the process: the readers end and the channels drain.
        self.seen_out.extend(self.stdout.iter());
        self.seen_err.extend(self.stderr.iter());
        Run {
            code: status.code(),
            stdout: self.seen_out.join("\n"),
            stderr: self.seen_err.join("\n"),
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `access_log` field `name="value"` of a line.
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let start = line.find(&format!("{name}=\""))? + name.len() + 2;
    let len = line[start..].find('"')?;
    Some(&line[start..start + len])
}

/// The scenario of this module for one recorded deployment; `code` and `outcome` are what its
/// watch must end with.
fn watched_through_nchan_across_a_disconnect(test: &str, spec: &str, code: i32, outcome: &str) {
    let Some(installed) = nchan::require(test) else {
        return;
    };
    let recorded = record(spec, code);
    let (app, deployment) = (recorded.app.as_str(), recorded.deployment.as_str());
    let applications = serde_json::json!({
        app: {
            "name": app,
            "latest_deployment_id": deployment,
            "latest_deployment_status": "running",
        }
    })
    .to_string();
    let nginx = Nchan::start(&installed, &applications);

    // The first half is stored before the watch starts: a new subscriber gets it from the
    // oldest message on.
    let half = recorded.events.len() / 2;
    let (before, after) = recorded.events.split_at(half);
    let mut last_id_before = String::new();
    for event in before {
        last_id_before = nginx.publish(app, event);
    }

    let mut watch = spawn_ctl(&["watch", app, "-o", "json", "--server", &nginx.url]);
    watch.wait_stdout("the events published before it started", |lines| {
        lines.len() >= half
    });

    // The disconnect: nchan ends the subscription; ctl must notice and reconnect.
    watch.wait_stderr("connection lost, reconnecting");
    // The rest, the terminal event last, while ctl reconnects (then it is replayed after the
    // Last-Event-ID) or once it has (then it is live).
    for event in after {
        nginx.publish(app, event);
    }
    let run = watch.finish(Duration::from_secs(60), &nginx);
    run.assert_code(code);

    // Every event once, in order, as the server emitted it; then the outcome.
    let mut printed: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let result = printed.pop().expect("a result line");
    let published: Vec<Value> = recorded
        .events
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert_eq!(printed, published, "stderr:\n{}", run.stderr);
    assert_eq!(result["type"], "watch.result");
    assert_eq!(result["outcome"], outcome, "{result}");
    assert_eq!(result["deployment_id"], deployment, "{result}");
    assert!(
        run.stderr
            .contains(&format!("deployment {deployment} is running")),
        "{}",
        run.stderr
    );

    // On the wire: the first stream asked from the start and was ended by nchan (408, its
    // subscriber timeout); a reconnect resumed after the last id nchan gave before that, as
    // given; every stream request accepted exactly the one media type nchan serves (it
    // answers 403 otherwise).
    let is_stream = |line: &str| line.contains("request=\"GET /api/events/stream?app=");
    let log = nginx.wait_for_access("the resumed stream", |line| {
        is_stream(line) && field(line, "last_event_id") == Some(last_id_before.as_str())
    });
    let streams: Vec<&str> = log.lines().filter(|l| is_stream(l)).collect();
    assert!(streams.len() >= 2, "{log}");
    assert!(
        streams[0].contains(&format!("app={app}&deployment={deployment}")),
        "the deployment on the app's channel: {log}"
    );
    assert_eq!(field(streams[0], "last_event_id"), Some("-"), "{log}");
    assert!(streams[0].ends_with("status=408"), "{log}");
    for line in &streams {
        assert_eq!(field(line, "accept"), Some("text/event-stream"), "{log}");
    }
}

#[test]
fn a_completed_deployment_on_nchan_is_watched_across_a_disconnect_exactly_once() {
    let spec = repo("tests/fixtures/app-fast.yaml");
    watched_through_nchan_across_a_disconnect(
        "a_completed_deployment_on_nchan_is_watched_across_a_disconnect_exactly_once",
        spec.to_str().unwrap(),
        0,
        "succeeded",
    );
}

#[test]
fn a_failed_deployment_on_nchan_is_watched_across_a_disconnect_and_exits_1() {
    let spec = temp_yaml(FAILING_SPEC);
    watched_through_nchan_across_a_disconnect(
        "a_failed_deployment_on_nchan_is_watched_across_a_disconnect_and_exits_1",
        spec.path().to_str().unwrap(),
        1,
        "failed",
    );
}
