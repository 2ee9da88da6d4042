//! Breaking things on purpose between `ctl` and our server: a proxy that cuts, stalls and
//! delays the connection; the server killed with SIGKILL and restarted on the same data
//! directory; a consumer that reads stdout slowly; Ctrl-C and `--timeout`; a lost POST answer.
//! In every case the watch must report the true outcome, print every event exactly once and in
//! order, and use the right exit code.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use wait_timeout::ChildExt;

use crate::support::hung::{Hang, HungServer};
use crate::support::proxy::{Chaos, ChaosProxy};
use crate::support::{Run, ServerProcess, clean_env, ctl, ctl_bin, repo, temp_yaml};

const FAST: &str = "tests/fixtures/providers-fast.yaml";
const SHOP: &str = "tests/fixtures/app-fast.yaml";

fn fast_args() -> Vec<String> {
    vec![
        "--providers".to_owned(),
        repo(FAST).to_str().unwrap().to_owned(),
    ]
}

fn fast_server(extra: &[&str]) -> ServerProcess {
    let mut args = fast_args();
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ServerProcess::start(&args)
}

/// Parses `-o json` output: the events (without the per-connection `connected` frames) and
/// the final `watch.result` line.
fn parse_json(stdout: &str) -> (Vec<Value>, Value) {
    let mut values: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let result = values.pop().expect("a result line");
    assert_eq!(result["type"], "watch.result", "{stdout}");
    let events = values
        .into_iter()
        .filter(|v| v["type"] != "connected")
        .collect();
    (events, result)
}

fn ids(events: &[Value]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

/// Every event once, in order: ids strictly increasing, and exactly one terminal event, last.
#[track_caller]
fn assert_exactly_once_in_order(events: &[Value]) {
    let ids = ids(events);
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids not strictly increasing: {ids:?}"
    );
    let terminals = events
        .iter()
        .filter(|e| e["type"] == "deployment.completed" || e["type"] == "deployment.failed")
        .count();
    assert_eq!(terminals, 1, "{events:#?}");
    let last = &events[events.len() - 1]["type"];
    assert!(
        *last == "deployment.completed" || *last == "deployment.failed",
        "{last}"
    );
}

/// The deployment's events as a fresh, undisturbed `ctl watch --deployment` replays them.
fn reference_ids(server: &ServerProcess, deployment: &str) -> Vec<u64> {
    let run = ctl(&[
        "watch",
        "shop",
        "--deployment",
        deployment,
        "-o",
        "json",
        "--server",
        &server.url,
    ])
    .run();
    let (events, _) = parse_json(&run.stdout);
    ids(&events)
}

#[test]
fn a_proxy_cutting_every_700_bytes_loses_and_repeats_nothing() {
    let server = fast_server(&[]);
    let proxy = ChaosProxy::start(
        &server.url,
        Chaos {
            cut_after: Some(700),
            ..Chaos::default()
        },
    );
    let run = ctl(&["deploy", SHOP, "-w", "-o", "json", "--server", &proxy.url])
        .run_with_limit(Duration::from_secs(120));
    run.assert_code(0);
    let (events, result) = parse_json(&run.stdout);
    assert_eq!(result["outcome"], "succeeded");
    assert_exactly_once_in_order(&events);
    let deployment = result["deployment_id"].as_str().unwrap();
    assert_eq!(ids(&events), reference_ids(&server, deployment));
    assert!(proxy.streams() >= 5, "only {} streams", proxy.streams());
    assert!(
        run.stderr
            .contains("connection lost, reconnecting (attempt 1)..."),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("resumed, "), "{}", run.stderr);
    assert!(!run.stdout.contains("reconnecting"));
}

#[test]
fn a_stalled_and_delayed_stream_is_abandoned_at_the_idle_deadline() {
    let server = fast_server(&["--keepalive", "300ms"]);
    // The first stream is cut after a while; the second one is answered by nothing at all;
    // every chunk is late.
    let proxy = ChaosProxy::start(
        &server.url,
        Chaos {
            cut_after: Some(2500),
            stall_stream: Some(2),
            delay: Some(Duration::from_millis(20)),
            ..Chaos::default()
        },
    );
    let run = ctl(&[
        "deploy",
        SHOP,
        "-w",
        "-o",
        "json",
        "--idle-timeout",
        "2s",
        "--server",
        &proxy.url,
    ])
    .run_with_limit(Duration::from_secs(120));
    run.assert_code(0);
    let (events, result) = parse_json(&run.stdout);
    assert_exactly_once_in_order(&events);
    let deployment = result["deployment_id"].as_str().unwrap();
    assert_eq!(ids(&events), reference_ids(&server, deployment));
    assert!(proxy.streams() >= 3, "only {} streams", proxy.streams());
    assert!(
        run.stderr.contains("not answered within 2s") || run.stderr.contains("no data for 2s"),
        "{}",
        run.stderr
    );
}

/// A `ctl` child whose stdout lines can be waited for while it runs.
struct Spawned {
    child: Child,
    lines: mpsc::Receiver<String>,
    stdout: Option<std::thread::JoinHandle<Vec<String>>>,
    stderr: Option<std::thread::JoinHandle<String>>,
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
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let (tx, lines) = mpsc::channel();
    let stdout = std::thread::spawn(move || {
        let mut all = Vec::new();
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line.clone());
            all.push(line);
        }
        all
    });
    let stderr = std::thread::spawn(move || std::io::read_to_string(err).unwrap_or_default());
    Spawned {
        child,
        lines,
        stdout: Some(stdout),
        stderr: Some(stderr),
    }
}

impl Spawned {
    /// Waits (with a deadline) for a stdout line matching `want`.
    #[track_caller]
    fn wait_for(&self, what: &str, mut want: impl FnMut(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if want(&line) => return,
                Ok(_) => {}
                Err(_) => panic!("ctl never printed {what}"),
            }
        }
    }

    /// Waits for the exit (killing it past `limit`, as a safety net) and collects the output.
    fn finish(mut self, limit: Duration) -> Run {
        let status = self.child.wait_timeout(limit).unwrap();
        let Some(status) = status else {
            let _ = self.child.kill();
            let _ = self.child.wait();
            panic!("ctl did not finish within {limit:?}");
        };
        let stdout = self.stdout.take().unwrap().join().unwrap();
        let stderr = self.stderr.take().unwrap().join().unwrap();
        Run {
            code: status.code(),
            stdout: stdout.join("\n"),
            stderr,
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A catalogue where `slow` never finishes and everything else is quick.
const SLOW_CATALOGUE: &str = "providers:\n  - name: db-team\n    resource_types: [postgres]\n    workflow:\n      name: provision-postgres\n      steps:\n        - name: create\n          sleep: 10ms\n  - name: slow-team\n    resource_types: [slow]\n    workflow:\n      name: provision-slow\n      steps:\n        - name: wait-forever\n          sleep: 1h\n";

#[test]
fn the_server_killed_and_restarted_mid_deployment_is_resumed_to_the_outcome() {
    let catalogue = temp_yaml(SLOW_CATALOGUE);
    let providers = catalogue.path().to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with_data_dir(dir, &["--providers", providers]);
    let port = server.port();
    let spec = temp_yaml(
        "metadata:\n  name: shop\ncontainers:\n  web:\n    image: nginx\nresources:\n  db:\n    type: postgres\n  s:\n    type: slow\n",
    );
    let watch = spawn_ctl(&[
        "deploy",
        spec.path().to_str().unwrap(),
        "-w",
        "-o",
        "json",
        "--server",
        &server.url,
    ]);
    // Mid-deployment: db is done, s is in its endless step (in either order).
    let (mut db_active, mut s_started) = (false, false);
    watch.wait_for("db active and s in its endless step", |line| {
        let names = |r: &str| line.contains(&format!("\"resource_name\":\"{r}\""));
        db_active |= line.contains("\"type\":\"resource.active\"") && names("db");
        s_started |= line.contains("\"type\":\"step.started\"") && names("s");
        db_active && s_started
    });
    let dir = server.kill().expect("the data directory");
    let restarted = ServerProcess::start_at(port, dir, &["--providers", providers]);
    let run = watch.finish(Duration::from_secs(90));
    // The restart marks the interrupted deployment failed; the client hears it.
    run.assert_code(1);
    let (events, result) = parse_json(&run.stdout);
    assert_exactly_once_in_order(&events);
    assert_eq!(result["outcome"], "failed");
    let last = &events[events.len() - 1];
    assert!(
        last["data"]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("restart"),
        "{last}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "resource.active" && e["data"]["resource_name"] == "db")
    );
    assert!(
        run.stderr.contains("connection lost, reconnecting"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("resumed, "), "{}", run.stderr);
    let deployment = result["deployment_id"].as_str().unwrap();
    assert_eq!(ids(&events), reference_ids(&restarted, deployment));
}

/// `VmRSS` or `VmHWM` of a process, in KiB.
fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

#[test]
fn a_slow_reader_loses_nothing_and_the_server_stays_bounded() {
    // Four resources of 250 quick steps each: about 2,000 events, far more than the pipe
    // holds, produced much faster than the reader drains them.
    let steps: String = (0..250)
        .map(|i| format!("        - name: step-{i:03}\n          sleep: 1ms\n"))
        .collect();
    let catalogue = temp_yaml(&format!(
        "providers:\n  - name: bulk-team\n    resource_types: [bulk]\n    workflow:\n      name: provision-bulk\n      steps:\n{steps}"
    ));
    let server = ServerProcess::start(&["--providers", catalogue.path().to_str().unwrap()]);
    let spec = temp_yaml(
        "metadata:\n  name: shop\ncontainers:\n  web:\n    image: nginx\nresources:\n  a:\n    type: bulk\n  b:\n    type: bulk\n  c:\n    type: bulk\n  d:\n    type: bulk\n",
    );
    let rss_before = memory_kib(server.pid(), "VmRSS:");

    let mut cmd = Command::new(ctl_bin());
    cmd.args([
        "deploy",
        spec.path().to_str().unwrap(),
        "-w",
        "-o",
        "json",
        "--server",
        &server.url,
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    clean_env(&mut cmd);
    let mut child = cmd.spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    // Drained at a fixed slow rate: 2 KiB every 10 ms.
    let mut output = Vec::new();
    let mut buf = [0u8; 2048];
    let limit = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < limit, "the slow reader never saw the end");
        let n = stdout.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        output.extend_from_slice(&buf[..n]);
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let (events, result) = parse_json(&String::from_utf8(output).unwrap());
    assert_eq!(result["outcome"], "succeeded");
    assert_exactly_once_in_order(&events);
    let deployment = result["deployment_id"].as_str().unwrap();
    assert_eq!(ids(&events), reference_ids(&server, deployment));
    assert!(events.len() > 2000, "{} events", events.len());
    // A generous bound: a server that buffered without limit for a stuck reader would grow
    // with the stream; this one must not grow by more than 64 MiB in all.
    let peak = memory_kib(server.pid(), "VmHWM:");
    assert!(
        peak < rss_before + 64 * 1024,
        "server memory grew from {rss_before} KiB to a peak of {peak} KiB"
    );
}

const SLOTH: &str = "metadata:\n  name: sloth\ncontainers:\n  web:\n    image: nginx\nresources:\n  s:\n    type: slow\n";

#[test]
fn ctrl_c_exits_130_with_the_last_state_and_the_reattach_hint() {
    let server = fast_server(&[]);
    let spec = temp_yaml(SLOTH);
    let watch = spawn_ctl(&[
        "deploy",
        spec.path().to_str().unwrap(),
        "-w",
        "--server",
        &server.url,
    ]);
    watch.wait_for("the endless workflow", |line| {
        line.contains("Workflow started")
    });
    watch.signal("INT");
    let run = watch.finish(Duration::from_secs(30));
    run.assert_code(130);
    assert!(
        run.stderr.contains("s (slow): provisioning"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("may still be running on the server"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("ctl watch sloth --deployment"),
        "{}",
        run.stderr
    );
}

#[test]
fn watch_timeout_exits_3_with_the_reattach_hint() {
    let server = fast_server(&[]);
    let spec = temp_yaml(SLOTH);
    let submitted = ctl(&[
        "deploy",
        spec.path().to_str().unwrap(),
        "-o",
        "json",
        "--server",
        &server.url,
    ])
    .run();
    submitted.assert_code(0);
    let answer: Value = serde_json::from_str(submitted.stdout.trim()).unwrap();
    let id = answer["deployment_id"].as_str().unwrap();
    let run = ctl(&[
        "watch",
        "sloth",
        "--deployment",
        id,
        "--timeout",
        "1s",
        "--server",
        &server.url,
    ])
    .run();
    run.assert_code(3);
    assert!(
        run.stderr
            .contains(&format!("ctl watch sloth --deployment {id}")),
        "{}",
        run.stderr
    );
}

#[test]
fn a_finished_deployment_is_replayed_and_ends_at_once() {
    let server = fast_server(&[]);
    let first = ctl(&["deploy", SHOP, "-w", "-o", "json", "--server", &server.url]).run();
    first.assert_code(0);
    let (events, result) = parse_json(&first.stdout);
    let id = result["deployment_id"].as_str().unwrap();
    let again = ctl(&[
        "watch",
        "shop",
        "--deployment",
        id,
        "-o",
        "json",
        "--server",
        &server.url,
    ])
    .run_with_limit(Duration::from_secs(20));
    again.assert_code(0);
    let (replayed, _) = parse_json(&again.stdout);
    assert_eq!(ids(&replayed), ids(&events));
}

/// A raw `POST /api/applications` with an `Idempotency-Key`; returns status and body.
fn raw_post(base: &str, body: &str, key: &str) -> (u16, Value) {
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /api/applications HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nContent-Type: application/yaml\r\nIdempotency-Key: {key}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap())
}

fn get_status(base: &str, path: &str) -> u16 {
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.split(' ').nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_repeated_idempotency_key_returns_the_same_deployment() {
    let server = fast_server(&[]);
    let spec = std::fs::read_to_string(repo(SHOP)).unwrap();
    let (first, a) = raw_post(&server.url, &spec, "key-123");
    let (second, b) = raw_post(&server.url, &spec, "key-123");
    assert_eq!((first, second), (202, 202));
    assert_eq!(a["deployment_id"], b["deployment_id"]);
    let id = a["deployment_id"].as_str().unwrap();
    assert_eq!(
        get_status(&server.url, &format!("/api/deployments/{id}")),
        200
    );
    let next: u64 = id.parse::<u64>().unwrap() + 1;
    assert_eq!(
        get_status(&server.url, &format!("/api/deployments/{next}")),
        404,
        "a second deployment was created"
    );
}

#[test]
fn a_lost_post_answer_is_sent_again_with_the_same_key_and_deploys_once() {
    let server = fast_server(&[]);
    let proxy = ChaosProxy::start(
        &server.url,
        Chaos {
            lose_post_answer: true,
            ..Chaos::default()
        },
    );
    let run = ctl(&["deploy", SHOP, "-w", "-o", "json", "--server", &proxy.url]).run();
    run.assert_code(0);
    assert!(proxy.lost_a_post_answer());
    assert_eq!(proxy.posts(), 2, "sent again once");
    assert!(
        run.stderr
            .contains("sending it again with the same Idempotency-Key"),
        "{}",
        run.stderr
    );
    let (events, result) = parse_json(&run.stdout);
    assert_exactly_once_in_order(&events);
    let id: u64 = result["deployment_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        get_status(&server.url, &format!("/api/deployments/{}", id + 1)),
        404
    );
    let started = events
        .iter()
        .filter(|e| e["type"] == "deployment.started")
        .count();
    assert_eq!(started, 1);
}

#[test]
fn without_watch_a_lost_post_answer_is_sent_again_too() {
    let server = fast_server(&[]);
    let proxy = ChaosProxy::start(
        &server.url,
        Chaos {
            lose_post_answer: true,
            ..Chaos::default()
        },
    );
    let run = ctl(&["deploy", SHOP, "-o", "json", "--server", &proxy.url]).run();
    run.assert_code(0);
    assert_eq!(proxy.posts(), 2);
    let answer: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    let id: u64 = answer["deployment_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        get_status(&server.url, &format!("/api/deployments/{}", id + 1)),
        404
    );
}

#[test]
fn a_deployment_whose_events_were_pruned_is_settled_from_its_status() {
    // Retention keeps 5 events: a second app's deployment pushes all of shop's out.
    let server = fast_server(&["--retention", "5"]);
    let first = ctl(&["deploy", SHOP, "-w", "-o", "json", "--server", &server.url]).run();
    first.assert_code(0);
    let (_, result) = parse_json(&first.stdout);
    let id = result["deployment_id"].as_str().unwrap().to_owned();
    let other = temp_yaml(
        "metadata:\n  name: other\ncontainers:\n  web:\n    image: nginx\nresources:\n  db:\n    type: postgres\n",
    );
    ctl(&[
        "deploy",
        other.path().to_str().unwrap(),
        "-w",
        "--server",
        &server.url,
    ])
    .run()
    .assert_code(0);
    let run = ctl(&[
        "watch",
        "shop",
        "--deployment",
        &id,
        "--server",
        &server.url,
    ])
    .run_with_limit(Duration::from_secs(30));
    run.assert_code(0);
    assert!(
        run.stderr.contains(&format!(
            "the server reports that deployment {id} succeeded"
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn a_server_gone_for_longer_than_the_retry_budget_ends_the_watch_with_5() {
    let server = fast_server(&[]);
    let watch = spawn_ctl(&[
        "watch",
        "shop",
        "--follow",
        "-o",
        "json",
        "--retry-budget",
        "2s",
        "--server",
        &server.url,
    ]);
    watch.wait_for("the connected frame", |line| {
        line.contains("\"type\":\"connected\"")
    });
    // Gone for good: every reconnect is refused until the budget is spent.
    drop(server.kill());
    let run = watch.finish(Duration::from_secs(60));
    run.assert_code(5);
    assert!(
        run.stderr.contains("could not be re-established within 2s"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("connection lost, reconnecting"),
        "{}",
        run.stderr
    );
}

/// `deploy -w --timeout 2s` against a server that hangs as `hang` says: it must end with exit 3
/// at its deadline (the idle deadline, 45 s by default, would have ended it with exit 5 much
/// later), and say on stderr what became of the submission (`note`).
fn deploy_times_out_against(hang: Hang, note: &str) {
    let server = HungServer::start(hang);
    let started = Instant::now();
    let run = ctl(&[
        "deploy",
        SHOP,
        "-w",
        "--timeout",
        "2s",
        "-o",
        "json",
        "--server",
        &server.url,
    ])
    .run();
    let took = started.elapsed();
    run.assert_code(3);
    let (_, result) = parse_json(&run.stdout);
    assert_eq!(result["outcome"], "timeout", "{result}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert!(run.stderr.contains(note), "{}", run.stderr);
}

#[test]
fn a_server_that_never_answers_cannot_hold_deploy_past_its_timeout() {
    deploy_times_out_against(Hang::Silent, "the spec was not submitted");
}

#[test]
fn a_stream_answered_with_headers_only_cannot_hold_deploy_past_its_timeout() {
    deploy_times_out_against(Hang::HeadersOnly, "the spec was not submitted");
}

#[test]
fn an_unanswered_submission_cannot_hold_deploy_past_its_timeout() {
    deploy_times_out_against(
        Hang::SubmissionOnly,
        "whether it created the deployment is unknown",
    );
}

#[test]
fn watch_timeout_holds_while_the_server_does_not_answer() {
    let server = HungServer::start(Hang::Silent);
    let started = Instant::now();
    let run = ctl(&["watch", "shop", "--timeout", "2s", "--server", &server.url]).run();
    run.assert_code(3);
    assert!(server.requests() >= 1, "ctl never asked");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn ctrl_c_is_not_stuck_behind_a_request_the_server_never_answers() {
    let server = HungServer::start(Hang::Silent);
    let watch = spawn_ctl(&["deploy", SHOP, "-w", "--server", &server.url]);
    // The first request is sent after Ctrl-C is ours to handle.
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.requests() == 0 {
        assert!(Instant::now() < deadline, "ctl never connected");
        std::thread::sleep(Duration::from_millis(10));
    }
    watch.signal("INT");
    let run = watch.finish(Duration::from_secs(20));
    run.assert_code(130);
}

#[test]
fn delete_wait_timeout_holds_while_the_server_does_not_answer() {
    let server = HungServer::start(Hang::Silent);
    let started = Instant::now();
    let run = ctl(&[
        "delete",
        "shop",
        "-w",
        "--timeout",
        "2s",
        "-o",
        "json",
        "--server",
        &server.url,
    ])
    .run();
    run.assert_code(3);
    let result: Value = serde_json::from_str(run.stdout.trim()).expect("one result line");
    assert_eq!(result["outcome"], "timeout", "{result}");
    assert!(
        result["error"]
            .as_str()
            .is_some_and(|e| e.contains("whether the application was deleted is unknown")),
        "{result}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn a_local_watch_that_stops_early_does_not_suggest_reattaching() {
    let catalogue = temp_yaml(SLOW_CATALOGUE);
    let spec = temp_yaml(SLOTH);
    let run = ctl(&[
        "deploy",
        spec.path().to_str().unwrap(),
        "--local",
        "--providers",
        catalogue.path().to_str().unwrap(),
        "--timeout",
        "1s",
    ])
    .run();
    run.assert_code(3);
    assert!(
        run.stderr.contains("nothing to reattach to"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("ctl watch"), "{}", run.stderr);
}

#[test]
fn ctrl_c_ends_delete_wait_even_while_the_server_does_not_answer() {
    let server = HungServer::start(Hang::Silent);
    let watch = spawn_ctl(&[
        "delete",
        "shop",
        "-w",
        "-o",
        "json",
        "--server",
        &server.url,
    ]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.requests() == 0 {
        assert!(Instant::now() < deadline, "ctl never asked");
        std::thread::sleep(Duration::from_millis(10));
    }
    watch.signal("INT");
    let run = watch.finish(Duration::from_secs(20));
    run.assert_code(130);
    let result: Value = serde_json::from_str(run.stdout.trim()).expect("one result line");
    assert_eq!(result["outcome"], "interrupted", "{result}");
}
