//! The kubectl-style commands end to end: `watch` (reattach, replay, follow, Ctrl-C),
//! `status`, `list`, `delete`, `validate`, config-file contexts, a closed stdout, and the
//! freshness of the committed completion scripts and man page.
//!
//! Deployments that must still be running when a test looks at them use a "gated" provider:
//! its one step waits for a file the test creates, so the test decides when the deployment
//! ends and nothing depends on timing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use wait_timeout::ChildExt;

use crate::support::{Run, ServerProcess, clean_env, ctl, ctl_bin, repo, temp_yaml};

const FAST: &str = "tests/fixtures/providers-fast.yaml";
const LIMIT: Duration = Duration::from_secs(60);

fn fast_server(extra: &[&str]) -> ServerProcess {
    let providers = repo(FAST);
    let mut args = vec!["--providers", providers.to_str().unwrap()];
    args.extend_from_slice(extra);
    ServerProcess::start(&args)
}

// ---------------------------------------------------------------------------------------------
// A gate the test opens, and a server whose `gated` resources wait for it
// ---------------------------------------------------------------------------------------------

/// A directory holding the gate file. Dropping it removes the directory, which also ends any
/// step still waiting (the loop checks the directory), so no shell outlives a failed test.
struct Gate {
    dir: tempfile::TempDir,
}

impl Gate {
    fn new() -> Self {
        Gate {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("gate")
    }

    /// Opens the gate: the waiting step succeeds (`ok`) or fails (anything else). Written to a
    /// temporary name and renamed, so the step never reads a half-written file.
    fn open(&self, verdict: &str) {
        let tmp = self.dir.path().join("gate.tmp");
        std::fs::write(&tmp, verdict).unwrap();
        std::fs::rename(&tmp, self.path()).unwrap();
    }

    /// A provider catalogue: `gated` waits for the gate, `redis` is instant.
    fn catalogue(&self) -> tempfile::NamedTempFile {
        let dir = self.dir.path().display();
        let gate = self.path();
        let gate = gate.display();
        temp_yaml(&format!(
            r#"providers:
  - name: gate-team
    resource_types: [gated]
    workflow:
      name: provision-gated
      steps:
        - name: wait-for-gate
          run: "while [ -d '{dir}' ] && [ ! -e '{gate}' ]; do sleep 0.02; done; test \"$(cat '{gate}')\" = ok"
  - name: cache-team
    resource_types: [redis]
    workflow:
      name: provision-redis
      steps:
        - name: create-cluster
          sleep: 10ms
"#
        ))
    }
}

fn gated_spec(app: &str) -> tempfile::NamedTempFile {
    temp_yaml(&format!(
        "metadata:\n  name: {app}\ncontainers:\n  web:\n    image: nginx\nresources:\n  db:\n    type: gated\n  cache:\n    type: redis\n"
    ))
}

/// Submits a spec without watching and returns its deployment id.
fn submit(server: &ServerProcess, spec: &Path) -> String {
    let run = ctl(&[
        "deploy",
        spec.to_str().unwrap(),
        "-o",
        "json",
        "--server",
        &server.url,
    ])
    .run();
    run.assert_code(0);
    let answer: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    answer["deployment_id"].as_str().unwrap().to_owned()
}

// ---------------------------------------------------------------------------------------------
// A `ctl` child whose stdout is read line by line while it runs
// ---------------------------------------------------------------------------------------------

struct Streaming {
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stdout_reader: Option<JoinHandle<()>>,
    stderr_reader: Option<JoinHandle<String>>,
}

impl Streaming {
    fn spawn(args: &[&str]) -> Self {
        let mut cmd = Command::new(ctl_bin());
        cmd.args(args)
            .current_dir(repo(""))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        clean_env(&mut cmd);
        let mut child = cmd.spawn().expect("spawn ctl");
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        let stdout_reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stderr_reader =
            std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
        Streaming {
            child: Some(child),
            lines,
            seen: Vec::new(),
            stdout_reader: Some(stdout_reader),
            stderr_reader: Some(stderr_reader),
        }
    }

    /// Waits (with a deadline) for a stdout line containing `needle`.
    fn wait_for(&mut self, needle: &str) {
        if self.seen.iter().any(|l| l.contains(needle)) {
            return;
        }
        let deadline = Instant::now() + LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(_) => panic!(
                    "never saw {needle:?} on stdout; so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    fn interrupt(&self) {
        let child = self.child.as_ref().unwrap();
        rustix::process::kill_process(
            rustix::process::Pid::from_child(child),
            rustix::process::Signal::INT,
        )
        .expect("send SIGINT");
    }

    /// Waits for the child to exit; returns its code, all of stdout and stderr.
    fn finish(mut self) -> Run {
        let mut child = self.child.take().unwrap();
        let status = match child.wait_timeout(LIMIT).unwrap() {
            Some(status) => status,
            None => panic!("ctl did not exit within {LIMIT:?}"),
        };
        self.stdout_reader.take().unwrap().join().unwrap();
        self.seen.extend(self.lines.try_iter());
        Run {
            code: status.code(),
            stdout: self.seen.join("\n"),
            stderr: self.stderr_reader.take().unwrap().join().unwrap(),
        }
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// ctl watch
// ---------------------------------------------------------------------------------------------

#[test]
fn watch_reattaches_to_a_running_deployment_and_exits_with_its_outcome() {
    for (verdict, code, outcome) in [("ok", 0, "succeeded"), ("fail", 1, "failed")] {
        let gate = Gate::new();
        let catalogue = gate.catalogue();
        let server = ServerProcess::start(&["--providers", catalogue.path().to_str().unwrap()]);
        let spec = gated_spec("gated");
        let id = submit(&server, spec.path());

        // No --deployment: the running one is found and followed from its first event.
        let mut watch =
            Streaming::spawn(&["watch", "gated", "-o", "json", "--server", &server.url]);
        watch.wait_for("\"type\":\"step.started\"");
        gate.open(verdict);
        let run = watch.finish();
        run.assert_code(code);
        let values = json_lines(&run.stdout);
        let result = values.last().unwrap();
        assert_eq!(result["type"], "watch.result");
        assert_eq!(result["outcome"], outcome);
        assert_eq!(result["deployment_id"], id.as_str());
        assert_eq!(result["exit_code"], code);
        assert_eq!(
            values
                .iter()
                .filter(|v| v["type"] == "deployment.started")
                .count(),
            1,
            "the deployment is replayed from its start, once"
        );
        assert!(
            run.stderr.contains(&format!("deployment {id} is running")),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn watch_a_finished_deployment_replays_it_and_since_skips_what_was_seen() {
    let server = fast_server(&[]);
    let id = submit(&server, &repo("tests/fixtures/app-fast.yaml"));
    // Follow it to its end first (this also waits for it).
    let full = ctl(&[
        "watch",
        "shop",
        "--deployment",
        &id,
        "-o",
        "json",
        "--server",
        &server.url,
    ])
    .run();
    full.assert_code(0);
    let events: Vec<Value> = json_lines(&full.stdout)
        .into_iter()
        .filter(|v| v.get("id").is_some())
        .collect();
    assert!(events.len() > 4, "{}", full.stdout);
    let middle = events[events.len() / 2]["id"].as_str().unwrap().to_owned();

    let text = ctl(&[
        "watch",
        "shop",
        "--deployment",
        &id,
        "--server",
        &server.url,
    ])
    .run();
    text.assert_code(0);
    assert!(
        text.stdout.contains("Deployment completed"),
        "{}",
        text.stdout
    );

    let rest = ctl(&[
        "watch",
        "shop",
        "--deployment",
        &id,
        "--since",
        &middle,
        "-o",
        "json",
        "--server",
        &server.url,
    ])
    .run();
    rest.assert_code(0);
    let ids: Vec<u64> = json_lines(&rest.stdout)
        .iter()
        .filter_map(|v| v["id"].as_str().map(|s| s.parse().unwrap()))
        .collect();
    let middle: u64 = middle.parse().unwrap();
    assert!(!ids.is_empty());
    assert!(ids.iter().all(|id| *id > middle), "{ids:?} after {middle}");
}

#[test]
fn watch_follow_shows_the_apps_events_until_ctrl_c_which_exits_0() {
    let server = fast_server(&[]);
    let mut watch = Streaming::spawn(&[
        "watch",
        "shop",
        "--follow",
        "-o",
        "json",
        "--server",
        &server.url,
    ]);
    watch.wait_for("\"type\":\"connected\"");
    ctl(&[
        "deploy",
        "tests/fixtures/app-fast.yaml",
        "-w",
        "--server",
        &server.url,
    ])
    .run()
    .assert_code(0);
    // The deployment ended, and the watch goes on: it follows the app, not one deployment.
    watch.wait_for("\"type\":\"deployment.completed\"");
    watch.interrupt();
    let run = watch.finish();
    // Ctrl-C is how `--follow` ends: not an interruption, and no reattach hint.
    run.assert_code(0);
    let values = json_lines(&run.stdout);
    let result = values.last().unwrap();
    assert_eq!(result["outcome"], "stopped");
    assert_eq!(result["exit_code"], 0);
    assert!(
        run.stderr.contains("showing its events until Ctrl-C"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("Reattach"), "{}", run.stderr);
}

#[test]
fn watch_of_an_app_the_server_does_not_have_exits_4_at_once() {
    let server = fast_server(&[]);
    let run = ctl(&["watch", "shopp", "--server", &server.url]).run();
    run.assert_code(4);
    assert!(
        run.stderr.contains("no application \"shopp\""),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("ctl list"), "{}", run.stderr);
}

#[test]
fn watch_of_a_deployment_of_another_app_exits_4_naming_its_app() {
    let server = fast_server(&[]);
    let id = submit(&server, &repo("tests/fixtures/app-fast.yaml"));
    let run = ctl(&[
        "watch",
        "other",
        "--deployment",
        &id,
        "--server",
        &server.url,
    ])
    .run();
    run.assert_code(4);
    assert!(
        run.stderr
            .contains(&format!("deployment {id} belongs to application \"shop\"")),
        "{}",
        run.stderr
    );
    let unknown = ctl(&[
        "watch",
        "shop",
        "--deployment",
        "987654",
        "--server",
        &server.url,
    ])
    .run();
    unknown.assert_code(4);
    assert!(
        unknown.stderr.contains("no deployment 987654"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn watch_with_nothing_running_reports_the_latest_deployment_and_its_exit_code() {
    for (verdict, code, outcome) in [("ok", 0, "succeeded"), ("fail", 1, "failed")] {
        let gate = Gate::new();
        let catalogue = gate.catalogue();
        let server = ServerProcess::start(&["--providers", catalogue.path().to_str().unwrap()]);
        let spec = gated_spec("gated");
        let id = submit(&server, spec.path());
        gate.open(verdict);
        // Wait for the deployment to end, through its own watch.
        ctl(&[
            "watch",
            "gated",
            "--deployment",
            &id,
            "--server",
            &server.url,
        ])
        .run()
        .assert_code(code);

        let run = ctl(&["watch", "gated", "-o", "json", "--server", &server.url]).run();
        run.assert_code(code);
        let values = json_lines(&run.stdout);
        let result = values.last().unwrap();
        assert_eq!(result["outcome"], outcome);
        assert_eq!(result["deployment_id"], id.as_str());
        assert!(
            run.stderr.contains(&format!("the latest, {id}, {outcome}")),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn a_closed_stdout_ends_the_watch_quietly() {
    let server = fast_server(&[]);
    let mut cmd = Command::new(ctl_bin());
    cmd.args([
        "watch",
        "shop",
        "--follow",
        "-o",
        "json",
        "--server",
        &server.url,
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    clean_env(&mut cmd);
    let mut child = cmd.spawn().unwrap();
    let guard = ChildGuard(&mut child);
    // `| head -1`: read one line, then close the pipe.
    let mut first = String::new();
    BufReader::new(guard.0.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("connected"), "{first}");
    // More events now go to a closed pipe.
    ctl(&[
        "deploy",
        "tests/fixtures/app-fast.yaml",
        "-w",
        "--server",
        &server.url,
    ])
    .run()
    .assert_code(0);
    let stderr = guard.0.stderr.take().unwrap();
    let status = guard.0.wait_timeout(LIMIT).unwrap().expect("ctl exits");
    let stderr = std::io::read_to_string(stderr).unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
}

struct ChildGuard<'a>(&'a mut Child);

impl Drop for ChildGuard<'_> {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn watch_rejects_bad_names_and_reports_an_unreachable_server() {
    let bad = ctl(&["watch", "Not_A_Name"]).run();
    bad.assert_code(2);
    assert!(bad.stdout.is_empty());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let gone = ctl(&["watch", "shop", "--server", &url]).run();
    gone.assert_code(5);
    assert!(
        gone.stderr.contains("cannot reach the server"),
        "{}",
        gone.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// status, list, delete
// ---------------------------------------------------------------------------------------------

#[test]
fn status_list_and_delete_against_the_bundled_server() {
    let server = fast_server(&[]);
    let url = server.url.as_str();

    let empty = ctl(&["list", "--server", url]).run();
    empty.assert_code(0);
    assert_eq!(empty.stdout, "");
    assert!(empty.stderr.contains("no applications"), "{}", empty.stderr);
    let empty = ctl(&["list", "-o", "json", "--server", url]).run();
    let list: Value = serde_json::from_str(empty.stdout.trim()).unwrap();
    assert_eq!(list["applications"], serde_json::json!([]));

    ctl(&[
        "deploy",
        "tests/fixtures/app-fast.yaml",
        "-w",
        "--server",
        url,
    ])
    .run()
    .assert_code(0);

    let list = ctl(&["list", "--server", url]).run();
    list.assert_code(0);
    let mut lines = list.stdout.lines();
    assert!(lines.next().unwrap().starts_with("NAME"), "{}", list.stdout);
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&row[..3], ["shop", "succeeded", "1"], "{}", list.stdout);
    let wide = ctl(&["list", "-o", "wide", "--server", url]).run();
    assert!(wide.stdout.contains("TEAM") && wide.stdout.contains("default"));
    let json = ctl(&["list", "-o", "json", "--server", url]).run();
    let list: Value = serde_json::from_str(json.stdout.trim()).unwrap();
    assert_eq!(list["applications"][0]["name"], "shop");
    assert_eq!(
        list["applications"][0]["latest_deployment_status"],
        "succeeded"
    );

    let status = ctl(&["status", "shop", "--server", url]).run();
    status.assert_code(0);
    assert!(
        status.stdout.contains("Deployment:      1 succeeded"),
        "{}",
        status.stdout
    );
    for row in ["cache     redis     active", "database  postgres  active"] {
        assert!(status.stdout.contains(row), "{}", status.stdout);
    }
    let json = ctl(&["status", "shop", "-o", "json", "--server", url]).run();
    let status: Value = serde_json::from_str(json.stdout.trim()).unwrap();
    assert_eq!(status["deployment"]["status"], "succeeded");
    assert_eq!(status["resources"].as_array().unwrap().len(), 2);

    let unknown = ctl(&["status", "nope", "--server", url]).run();
    unknown.assert_code(4);
    assert!(
        unknown.stderr.contains("has no application \"nope\""),
        "{}",
        unknown.stderr
    );

    // Delete and watch the teardown: the server's application.deleted event ends it.
    let deleted = ctl(&["delete", "shop", "-w", "--server", url]).run();
    deleted.assert_code(0);
    assert!(
        deleted.stdout.contains("Application deleted: shop"),
        "{}",
        deleted.stdout
    );
    assert!(
        deleted
            .stdout
            .contains("Application shop deleted (2 resources)"),
        "{}",
        deleted.stdout
    );
    ctl(&["status", "shop", "--server", url])
        .run()
        .assert_code(4);
    let again = ctl(&["delete", "shop", "--server", url]).run();
    again.assert_code(4);

    // Without -w, with JSON: the server's answer.
    ctl(&[
        "deploy",
        "tests/fixtures/app-fast.yaml",
        "-w",
        "--server",
        url,
    ])
    .run()
    .assert_code(0);
    let plain = ctl(&["delete", "shop", "-o", "json", "--server", url]).run();
    plain.assert_code(0);
    let answer: Value = serde_json::from_str(plain.stdout.trim()).unwrap();
    assert_eq!(answer["message"], "Successfully deleted 'shop'");
}

#[test]
fn delete_during_a_deployment_is_refused_and_allowed_once_it_ends() {
    let gate = Gate::new();
    let catalogue = gate.catalogue();
    let server = ServerProcess::start(&["--providers", catalogue.path().to_str().unwrap()]);
    let spec = gated_spec("busy");
    let id = submit(&server, spec.path());

    let status = ctl(&["status", "busy", "--server", &server.url]).run();
    status.assert_code(0);
    assert!(
        status
            .stdout
            .contains(&format!("Deployment:      {id} running")),
        "{}",
        status.stdout
    );
    let refused = ctl(&[
        "delete",
        "busy",
        "-w",
        "-o",
        "json",
        "--server",
        &server.url,
    ])
    .run();
    refused.assert_code(4);
    assert!(
        refused.stderr.contains("deployment in progress"),
        "{}",
        refused.stderr
    );
    // JSON contract: the failure still ends stdout with the result line.
    let values = json_lines(&refused.stdout);
    let result = values.last().unwrap();
    assert_eq!(result["type"], "watch.result");
    assert_eq!(result["outcome"], "error");
    assert_eq!(result["exit_code"], 4);

    gate.open("ok");
    ctl(&[
        "watch",
        "busy",
        "--deployment",
        &id,
        "--server",
        &server.url,
    ])
    .run()
    .assert_code(0);
    ctl(&["delete", "busy", "-w", "--server", &server.url])
        .run()
        .assert_code(0);
}

/// A redeploy submitted while the app's previous deployment runs waits its turn: its watch says
/// it is queued and names the deployment it waits for, starts nothing before that one ends,
/// then proceeds to its own result.
#[test]
fn a_queued_redeploy_says_what_it_waits_for_then_proceeds() {
    let gate = Gate::new();
    let catalogue = gate.catalogue();
    let server = ServerProcess::start(&["--providers", catalogue.path().to_str().unwrap()]);
    let spec = gated_spec("queued");
    let first = submit(&server, spec.path());

    let mut second = Streaming::spawn(&[
        "deploy",
        spec.path().to_str().unwrap(),
        "-w",
        "--server",
        &server.url,
    ]);
    second.wait_for(&format!(
        "Deployment queued: waiting for deployment {first} to finish"
    ));
    assert!(
        !second.seen.iter().any(|l| l.contains("Deployment started")),
        "nothing starts while the first deployment runs: {:?}",
        second.seen
    );
    gate.open("ok");
    second.wait_for("Deployment started");
    let run = second.finish();
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    let queued = run.stdout.find("Deployment queued").unwrap();
    let started = run.stdout.find("Deployment started").unwrap();
    assert!(queued < started, "{}", run.stdout);
    assert!(
        run.stdout.contains("Deployment completed"),
        "{}",
        run.stdout
    );
}

// ---------------------------------------------------------------------------------------------
// validate
// ---------------------------------------------------------------------------------------------

#[test]
fn validate_checks_every_file_locally_and_exits_0_or_2() {
    let good = repo("tests/fixtures/app-fast.yaml");
    let good = good.to_str().unwrap();
    let bad = temp_yaml("metadata:\n  name: Bad_Name\ncontainers:\n  web:\n    image: nginx\n");
    let broken = temp_yaml("metadata:\n  name: x\ncontainers: [\n");
    // A broken config file does not get in the way: validate never reads it.
    let config = temp_yaml("contexts: [not, a, map]\n");

    let ok = ctl(&["validate", good])
        .env("CTL_CONFIG", config.path().to_str().unwrap())
        .run();
    ok.assert_code(0);
    assert!(
        ok.stdout
            .contains("app-fast.yaml: valid (application shop: 1 container, 2 resources)"),
        "{}",
        ok.stdout
    );

    let run = ctl(&[
        "validate",
        good,
        bad.path().to_str().unwrap(),
        broken.path().to_str().unwrap(),
    ])
    .run();
    run.assert_code(2);
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
    assert!(
        run.stderr.contains("must be a valid DNS label"),
        "{}",
        run.stderr
    );
    let broken_path = broken.path().to_str().unwrap();
    assert!(
        run.stderr.contains(&format!("{broken_path}:")),
        "{}",
        run.stderr
    );

    let json = ctl(&["validate", good, broken_path, "-o", "json"]).run();
    json.assert_code(2);
    let values = json_lines(&json.stdout);
    assert_eq!(values.len(), 2);
    assert_eq!(values[0]["valid"], true);
    assert_eq!(values[0]["app_name"], "shop");
    assert_eq!(values[1]["valid"], false);
    assert_eq!(values[1]["file"], broken_path);
    assert!(
        values[1]["line"].is_u64() && values[1]["column"].is_u64(),
        "{}",
        values[1]
    );
    assert!(values[1]["error"].is_string());
}

// ---------------------------------------------------------------------------------------------
// Config file and contexts
// ---------------------------------------------------------------------------------------------

#[test]
fn contexts_supply_server_and_key_with_flag_over_env_over_config() {
    let server = fast_server(&["--key", "team-secret-key"]);
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = temp_yaml(&format!(
        "current-context: dead\ncontexts:\n  dead:\n    server: http://127.0.0.1:{dead_port}\n  live:\n    server: {url}\n    api-key-env: TEAM_KEY\n  cmd:\n    server: {url}\n    api-key-command: printf 'team-secret-key\\n'\n  nokey:\n    server: {url}\n",
        url = server.url
    ));
    let config = config.path().to_str().unwrap();
    let list = |args: &[&str], env: &[(&str, &str)]| {
        let mut all = vec!["list", "--config", config];
        all.extend_from_slice(args);
        let mut cmd = ctl(&all);
        for (k, v) in env {
            cmd = cmd.env(k, v);
        }
        cmd.run()
    };

    // current-context points at a dead server.
    list(&[], &[]).assert_code(5);
    // --context picks the live one; its key comes from the variable it names.
    list(&["--context", "live"], &[("TEAM_KEY", "team-secret-key")]).assert_code(0);
    // ... or from a command.
    let via_command = list(&["--context", "cmd", "-vv"], &[]);
    via_command.assert_code(0);
    assert!(!via_command.stdout.contains("team-secret-key"));
    assert!(!via_command.stderr.contains("team-secret-key"));
    // CTL_CONTEXT works like --context, and the flag wins over it.
    list(&[], &[("CTL_CONTEXT", "cmd")]).assert_code(0);
    list(&["--context", "dead"], &[("CTL_CONTEXT", "cmd")]).assert_code(5);
    // The environment beats the config: CTL_SERVER over the context's server...
    list(
        &[],
        &[
            ("CTL_SERVER", server.url.as_str()),
            ("CTL_API_KEY", "team-secret-key"),
        ],
    )
    .assert_code(0);
    // ... and a wrong CTL_API_KEY beats the context's right key.
    list(&["--context", "cmd"], &[("CTL_API_KEY", "wrong")]).assert_code(4);
    // No key at all is a 401.
    list(&["--context", "nokey"], &[]).assert_code(4);
    // An unknown context is a usage error that names the file's contexts.
    let unknown = list(&["--context", "qa"], &[]);
    unknown.assert_code(2);
    assert!(
        unknown.stderr.contains("cmd, dead, live, nokey"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn a_refused_key_is_named_by_its_source_and_innominatus_credentials_are_read_last() {
    let server = fast_server(&["--key", "team-secret-key"]);
    let config = temp_yaml(&format!(
        "current-context: live\ncontexts:\n  live:\n    server: {url}\n    api-key-env: TEAM_KEY\n  literal:\n    server: {url}\n    api-key: wrong-literal\n",
        url = server.url
    ));
    let config = config.path().to_str().unwrap();
    let home = tempfile::tempdir().unwrap();
    let home_path = home.path().to_str().unwrap();
    let list = |args: &[&str], env: &[(&str, &str)]| {
        let mut all = vec!["list", "--config", config];
        all.extend_from_slice(args);
        let mut cmd = ctl(&all).env("HOME", home_path);
        for (k, v) in env {
            cmd = cmd.env(k, v);
        }
        cmd.run()
    };
    let refused = |run: &Run, source: &str| {
        run.assert_code(4);
        assert!(
            run.stderr.contains(source),
            "{source:?} not named:\n{}",
            run.stderr
        );
        for secret in [
            "wrong-env",
            "wrong-idp",
            "wrong-flag",
            "wrong-literal",
            "wrong-file",
        ] {
            assert!(!run.stderr.contains(secret), "{}", run.stderr);
            assert!(!run.stdout.contains(secret), "{}", run.stdout);
        }
    };
    refused(
        &list(&[], &[("CTL_API_KEY", "wrong-env")]),
        "the key from CTL_API_KEY was refused",
    );
    refused(
        &list(&["--api-key", "wrong-flag"], &[]),
        "the key from --api-key was refused",
    );
    refused(
        &list(&[], &[("IDP_API_KEY", "wrong-idp")]),
        "the key from IDP_API_KEY was refused",
    );
    refused(
        &list(&["--context", "literal"], &[]),
        "the key from the api-key of context \"literal\" was refused",
    );
    // The context names a variable that is not set: said so, not a bare 401.
    refused(
        &list(&[], &[]),
        "no API key was sent: context \"live\" reads its key from TEAM_KEY, which is not set",
    );

    // innominatus' own CLI keeps its key in ~/.innominatus/credentials: the last fallback.
    let dir = home.path().join(".innominatus");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("credentials"), r#"{"api_key": "team-secret-key"}"#).unwrap();
    list(&[], &[]).assert_code(0);
    // ... after every other source: a variable still wins.
    refused(
        &list(&[], &[("TEAM_KEY", "wrong-env")]),
        "TEAM_KEY (the api-key-env of context \"live\") was refused",
    );
    std::fs::write(dir.join("credentials"), r#"{"api_key": "wrong-file"}"#).unwrap();
    refused(&list(&[], &[]), ".innominatus/credentials was refused");
    std::fs::write(dir.join("credentials"), "not json wrong-file").unwrap();
    let broken = list(&[], &[]);
    broken.assert_code(2);
    assert!(
        broken.stderr.contains("credentials file"),
        "{}",
        broken.stderr
    );
    assert!(!broken.stderr.contains("wrong-file"), "{}", broken.stderr);
}

#[test]
fn the_default_config_file_is_found_under_xdg_config_home() {
    let server = fast_server(&[]);
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("ctl");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.yaml"),
        format!(
            "current-context: here\ncontexts:\n  here:\n    server: {}\n",
            server.url
        ),
    )
    .unwrap();
    ctl(&["list"])
        .env("XDG_CONFIG_HOME", home.path().to_str().unwrap())
        .run()
        .assert_code(0);
}

// ---------------------------------------------------------------------------------------------
// Generated files
// ---------------------------------------------------------------------------------------------

#[test]
fn committed_completions_and_man_page_are_fresh() {
    let regenerate =
        "regenerate them as the README's \"Shell completions and man page\" section shows";
    for (shell, file) in [
        ("bash", "completions/ctl.bash"),
        ("zsh", "completions/_ctl"),
        ("fish", "completions/ctl.fish"),
        ("powershell", "completions/_ctl.ps1"),
        ("elvish", "completions/ctl.elv"),
    ] {
        let run = ctl(&["completion", shell]).run();
        run.assert_code(0);
        let committed = std::fs::read_to_string(repo(file))
            .unwrap_or_else(|e| panic!("{file}: {e}; {regenerate}"));
        assert!(committed == run.stdout, "{file} is stale; {regenerate}");
    }
    let run = ctl(&["man"]).run();
    run.assert_code(0);
    let committed = std::fs::read_to_string(repo("docs/ctl.1"))
        .unwrap_or_else(|e| panic!("docs/ctl.1: {e}; {regenerate}"));
    assert!(committed == run.stdout, "docs/ctl.1 is stale; {regenerate}");
}

#[test]
fn completion_for_an_unknown_shell_is_a_usage_error() {
    let run = ctl(&["completion", "tcsh"]).run();
    run.assert_code(2);
}

#[test]
fn the_server_refuses_the_clients_options_without_echoing_them() {
    let run = ctl(&["server", "--in-memory", "--api-key", "sk-never-shown"]).run();
    run.assert_code(2);
    assert!(
        run.stderr.contains("--key or --api-keys-file"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("sk-never-shown"), "{}", run.stderr);
    assert!(!run.stderr.contains("listening on"), "{}", run.stderr);
    let help = ctl(&["server", "--help"]).run();
    help.assert_code(0);
    assert!(help.stdout.contains("--key <KEY>"));
    assert!(!help.stdout.contains("--api-key <KEY>"), "{}", help.stdout);
}

// ---------------------------------------------------------------------------------------------
// Rough edges: unknown apps, colour, and input refused before any request
// ---------------------------------------------------------------------------------------------

#[test]
fn status_of_an_unknown_app_names_it_and_points_to_list() {
    let server = fast_server(&[]);
    let run = ctl(&["status", "nope", "--server", &server.url]).run();
    run.assert_code(4);
    assert!(
        run.stderr
            .contains("error: the server has no application \"nope\""),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("`ctl list`"), "{}", run.stderr);
    assert_eq!(run.stdout, "");
}

#[test]
fn list_and_status_honour_color() {
    let server = fast_server(&[]);
    ctl(&[
        "deploy",
        "tests/fixtures/app-fast.yaml",
        "-w",
        "--server",
        &server.url,
    ])
    .run()
    .assert_code(0);
    for command in [&["list"][..], &["status", "shop"]] {
        let run = |color: &str| {
            let mut args = command.to_vec();
            args.extend(["--color", color, "--server", &server.url]);
            let run = ctl(&args).env("TERM", "xterm-256color").run();
            run.assert_code(0);
            run.stdout
        };
        let coloured = run("always");
        assert!(
            coloured.contains("\x1b[32msucceeded\x1b[0m")
                || coloured.contains("\x1b[32mactive\x1b[0m"),
            "{command:?} --color always: {coloured:?}"
        );
        let plain = run("never");
        assert!(
            !plain.contains('\x1b'),
            "{command:?} --color never: {plain:?}"
        );
        // The columns line up whether or not the cells carry escape codes.
        let strip = |s: &str| console::strip_ansi_codes(s).into_owned();
        assert_eq!(strip(&coloured), plain, "{command:?}");
    }
}

#[test]
fn malformed_server_urls_and_event_ids_are_usage_errors_before_any_request() {
    // A server that records every request: nothing may reach it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    for args in [
        vec!["list", "--server", "http//bad"],
        vec!["status", "shop", "--server", "https:/bad"],
        vec!["watch", "shop", "--since", "abc", "--server", &url],
        vec![
            "deploy",
            "tests/fixtures/app-fast.yaml",
            "--timeout",
            "5s",
            "--server",
            &url,
        ],
        vec![
            "deploy",
            "tests/fixtures/app-fast.yaml",
            "--all",
            "--server",
            &url,
        ],
    ] {
        let run = ctl(&args).run();
        run.assert_code(2);
        assert!(run.stderr.contains("error:"), "{args:?}: {}", run.stderr);
        assert_eq!(run.stdout, "", "{args:?}");
    }
    let err = ctl(&["list", "--server", "http//bad"]).run().stderr;
    assert!(err.contains("misspelt"), "{err}");
    assert!(listener.accept().is_err(), "a request reached the server");
}
