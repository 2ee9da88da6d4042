//! `ctl deploy` end to end: success, failure, invalid and rejected specs, unreachable server,
//! timeout, JSON output, verbose and internal events, authentication.

use std::time::Duration;

use crate::support::{ServerProcess, ctl, repo, temp_yaml};

const FAST: &str = "tests/fixtures/providers-fast.yaml";

fn fast_server(extra: &[&str]) -> ServerProcess {
    let providers = repo(FAST);
    let mut args = vec!["--providers", providers.to_str().unwrap()];
    args.extend_from_slice(extra);
    ServerProcess::start(&args)
}

/// Event lines (those starting with a `[HH:MM:SS]` timestamp), without the timestamp.
fn event_lines(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| l.starts_with('[') && l.as_bytes().get(9) == Some(&b']'))
        .map(|l| l[11..].to_owned())
        .collect()
}

fn position(lines: &[String], needle: &str) -> usize {
    lines
        .iter()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line contains {needle:?} in:\n{}", lines.join("\n")))
}

#[test]
fn successful_deploy_with_watch_prints_events_in_order_and_exits_0() {
    let server = fast_server(&[]);
    let run = ctl(&[
        "deploy",
        "tests/fixtures/app-fast.yaml",
        "-w",
        "--server",
        &server.url,
    ])
    .run();
    run.assert_code(0);
    let lines = event_lines(&run.stdout);
    // Per resource, the protocol order; overall, the deployment brackets everything.
    for res in ["database", "cache"] {
        let created = position(&lines, &format!("Resource created: {res}"));
        let provisioning = position(&lines, &format!("Provisioning resource: {res}"));
        let active = position(&lines, &format!("Resource active: {res}"));
        assert!(
            created < provisioning && provisioning < active,
            "{lines:#?}"
        );
    }
    assert!(position(&lines, "Deployment started") < position(&lines, "Resource created"));
    assert_eq!(position(&lines, "Deployment completed"), lines.len() - 1);
    // Banners are human text: stderr (docs/output.md).
    assert!(
        run.stderr
            .contains("📤 Submitting Score specification: shop")
    );
    assert!(run.stderr.contains("Watching deployment: shop"));
    assert!(
        run.stdout
            .lines()
            .any(|l| l.contains("Deployment completed in")),
        "footer missing:\n{}",
        run.stdout
    );
    assert!(!run.stdout.contains('\x1b'), "no colour without a terminal");
    // Every event is printed once.
    let mut sorted = lines.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        lines.len(),
        "duplicate lines:\n{}",
        lines.join("\n")
    );
}

#[test]
fn example_hello_deploys_with_the_default_catalogue() {
    let server = ServerProcess::start(&[]);
    let run = ctl(&[
        "deploy",
        "examples/hello.yaml",
        "-w",
        "--server",
        &server.url,
    ])
    .run();
    run.assert_code(0);
    assert!(
        run.stdout.contains("Resource active: database"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Resource active: cache"),
        "{}",
        run.stdout
    );
}

#[test]
fn failing_deploy_exits_1_and_shows_the_reason() {
    let server = fast_server(&[]);
    let spec = temp_yaml(
        "apiVersion: score.dev/v1b1\nmetadata:\n  name: broken-app\ncontainers:\n  web:\n    image: nginx\nresources:\n  db:\n    type: broken\n  cache:\n    type: redis\n",
    );
    let run = ctl(&[
        "deploy",
        spec.path().to_str().unwrap(),
        "-w",
        "--server",
        &server.url,
    ])
    .run();
    run.assert_code(1);
    assert!(run.stdout.contains("quota exceeded"), "{}", run.stdout);
    let footer = run
        .stdout
        .lines()
        .rev()
        .find(|l| l.contains("Deployment failed"));
    assert!(footer.is_some_and(|l| l.contains("db")), "{}", run.stdout);
}

#[test]
fn failing_example_with_custom_providers() {
    let server = ServerProcess::start(&["--providers", "examples/providers.yaml"]);
    let run = ctl(&[
        "deploy",
        "examples/failing.yaml",
        "-w",
        "--server",
        &server.url,
    ])
    .run();
    run.assert_code(1);
    assert!(run.stdout.contains("Resource failed"), "{}", run.stdout);
    // The step, workflow, resource and deployment events all carry the same text: the event
    // log prints it once and refers to it after that; the footer gives the verdict in full.
    let reason = "no more than 5 databases per team";
    let log: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with('[')).collect();
    let saying = log.iter().filter(|l| l.contains(reason)).count();
    assert_eq!(saying, 1, "{}", run.stdout);
    assert!(
        log.iter()
            .filter(|l| l.contains("(the error above)"))
            .count()
            >= 2,
        "{}",
        run.stdout
    );
}

#[test]
fn invalid_spec_exits_2_with_position_and_sends_nothing() {
    let server = fast_server(&[]);
    let run = ctl(&[
        "deploy",
        "examples/invalid.yaml",
        "-w",
        "--server",
        &server.url,
    ])
    .run();
    run.assert_code(2);
    assert!(
        run.stderr.contains("examples/invalid.yaml:"),
        "no file:line:column in {}",
        run.stderr
    );
    assert!(run.stderr.contains('^'), "no caret in {}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    // Nothing reached the server.
    let apps = http_get(&server.url, "/api/applications", None);
    assert_eq!(apps.trim(), "{}", "server has apps: {apps}");
}

#[test]
fn unknown_resource_type_is_rejected_with_exit_4_and_the_server_message() {
    let server = fast_server(&[]);
    let spec = temp_yaml(
        "metadata:\n  name: odd\ncontainers:\n  web:\n    image: nginx\nresources:\n  q:\n    type: quantum-db\n",
    );
    let run = ctl(&[
        "deploy",
        spec.path().to_str().unwrap(),
        "-w",
        "--server",
        &server.url,
    ])
    .run();
    run.assert_code(4);
    assert!(
        run.stderr
            .contains("unknown resource types (no provider registered): q (type: quantum-db)"),
        "{}",
        run.stderr
    );
}

#[test]
fn unreachable_server_exits_5_fast() {
    // A port that was just free: bind, learn it, release it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let run = ctl(&[
        "deploy",
        "tests/fixtures/app-fast.yaml",
        "-w",
        "--server",
        &url,
    ])
    .run_with_limit(Duration::from_secs(20));
    run.assert_code(5);
    assert!(
        run.stderr.contains("cannot reach the server"),
        "{}",
        run.stderr
    );
}

#[test]
fn timeout_exits_3_with_the_reattach_hint() {
    let server = fast_server(&[]);
    let spec = temp_yaml(
        "metadata:\n  name: sloth\ncontainers:\n  web:\n    image: nginx\nresources:\n  s:\n    type: slow\n",
    );
    let run = ctl(&[
        "deploy",
        spec.path().to_str().unwrap(),
        "-w",
        "--timeout",
        "1s",
        "--server",
        &server.url,
    ])
    .run();
    run.assert_code(3);
    assert!(
        run.stderr.contains("ctl watch sloth --deployment"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("s (slow): provisioning"),
        "{}",
        run.stderr
    );
}

#[test]
fn json_output_is_one_event_per_line_then_the_result() {
    let server = fast_server(&[]);
    let run = ctl(&[
        "deploy",
        "tests/fixtures/app-fast.yaml",
        "-w",
        "-o",
        "json",
        "--server",
        &server.url,
    ])
    .run();
    run.assert_code(0);
    let values: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let last = values.last().unwrap();
    assert_eq!(last["type"], "watch.result");
    assert_eq!(last["outcome"], "succeeded");
    assert_eq!(last["exit_code"], 0);
    let events = &values[..values.len() - 1];
    assert!(
        events.iter().any(|v| v["type"] == "connected"),
        "internal events kept in JSON"
    );
    let terminal: Vec<_> = events
        .iter()
        .filter(|v| v["type"] == "deployment.completed")
        .collect();
    assert_eq!(terminal.len(), 1);
    for ev in events.iter().filter(|v| v["type"] != "connected") {
        for key in [
            "id",
            "type",
            "app_name",
            "timestamp",
            "source",
            "deployment_id",
        ] {
            assert!(ev.get(key).is_some(), "{key} missing in {ev}");
        }
    }
    assert!(
        !run.stdout.contains("Submitting"),
        "banners stay off stdout"
    );
}

#[test]
fn verbose_shows_details_and_all_shows_internal_events() {
    let server = fast_server(&[]);
    let plain = ctl(&[
        "deploy",
        "tests/fixtures/app-fast.yaml",
        "-w",
        "--server",
        &server.url,
    ])
    .run();
    plain.assert_code(0);
    assert!(!plain.stdout.contains("Connected"), "{}", plain.stdout);
    assert!(!plain.stdout.contains("source="), "{}", plain.stdout);

    // A fresh server: a redeploy of the same spec would leave its resources untouched.
    let server = fast_server(&[]);
    let run = ctl(&[
        "deploy",
        "tests/fixtures/app-fast.yaml",
        "-w",
        "--verbose",
        "--all",
        "--server",
        &server.url,
    ])
    .run();
    run.assert_code(0);
    assert!(run.stdout.contains("Connected"), "{}", run.stdout);
    assert!(
        run.stdout.contains("source=workflow-executor"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("provider_name=database-team"),
        "{}",
        run.stdout
    );
}

#[test]
fn without_watch_it_submits_and_exits_0() {
    let server = fast_server(&[]);
    let run = ctl(&[
        "deploy",
        "tests/fixtures/app-fast.yaml",
        "--server",
        &server.url,
    ])
    .run();
    run.assert_code(0);
    assert!(
        run.stdout.contains("ctl watch shop --deployment"),
        "{}",
        run.stdout
    );
}

#[test]
fn api_keys_are_required_checked_and_never_printed() {
    let keys = temp_yaml(
        "keys:\n  - key: alpha-secret-key\n    team: alpha\n  - key: beta-secret-key\n    team: beta\n",
    );
    let server = fast_server(&[
        "--api-keys-file",
        keys.path().to_str().unwrap(),
        "--keepalive",
        "200ms",
    ]);
    let app = "tests/fixtures/app-fast.yaml";

    let missing = ctl(&["deploy", app, "-w", "--server", &server.url]).run();
    missing.assert_code(4);
    assert!(missing.stderr.contains("401"), "{}", missing.stderr);

    let wrong = ctl(&[
        "deploy",
        app,
        "-w",
        "-vv",
        "--server",
        &server.url,
        "--api-key",
        "not-a-key",
    ])
    .run();
    wrong.assert_code(4);
    assert!(!wrong.stderr.contains("not-a-key") && !wrong.stdout.contains("not-a-key"));

    let ok = ctl(&["deploy", app, "-w", "-vv", "--server", &server.url])
        .env("IDP_API_KEY", "alpha-secret-key")
        .run();
    ok.assert_code(0);
    for text in [&ok.stdout, &ok.stderr, &server.stderr_text()] {
        assert!(!text.contains("alpha-secret-key"), "key leaked: {text}");
    }

    // IDP_API_KEY is the fallback; beta's stream never shows alpha's app.
    let frames = read_stream_until_keepalive(
        &server.url,
        "/api/events/stream?app=shop&since=0",
        "beta-secret-key",
    );
    assert!(
        frames.iter().all(|f| !f.contains("\"app_name\":\"shop\"")),
        "beta sees alpha's events: {frames:?}"
    );
    let alpha_frames = read_stream_until_keepalive(
        &server.url,
        "/api/events/stream?app=shop&since=0",
        "alpha-secret-key",
    );
    assert!(
        alpha_frames
            .iter()
            .any(|f| f.contains("deployment.completed")),
        "{alpha_frames:?}"
    );
}

/// A blocking HTTP GET over a raw socket (the tests own their tiny client to stay independent
/// of the code under test). Returns the body.
fn http_get(base: &str, path: &str, key: Option<&str>) -> String {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let auth = key
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

/// Reads an SSE stream until the first keep-alive comment (the replay always comes before it) and returns the `data:` lines.
fn read_stream_until_keepalive(base: &str, path: &str, key: &str) -> Vec<String> {
    use std::io::{BufRead, BufReader, Write};
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(40)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\nAuthorization: Bearer {key}\r\n\r\n"
    )
    .unwrap();
    let mut frames = Vec::new();
    for line in BufReader::new(stream).lines() {
        let line = line.expect("stream read (keep-alive never came?)");
        if line.starts_with(": keepalive") {
            break;
        }
        if let Some(data) = line.strip_prefix("data: ") {
            frames.push(data.to_owned());
        }
    }
    frames
}

#[test]
fn unchanged_redeploy_finishes_at_once_with_every_resource_active() {
    let server = fast_server(&[]);
    let app = "tests/fixtures/app-fast.yaml";
    ctl(&["deploy", app, "-w", "--server", &server.url])
        .run()
        .assert_code(0);
    let again = ctl(&["deploy", app, "-w", "-o", "json", "--server", &server.url]).run();
    again.assert_code(0);
    let last: serde_json::Value =
        serde_json::from_str(again.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["outcome"], "succeeded");
    let states: Vec<&str> = last["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["active", "active"], "{last}");
    assert!(
        !again.stdout.contains("resource.provisioning"),
        "nothing was provisioned again: {}",
        again.stdout
    );
}

/// `ctl server 2> log`: a log that is not a terminal carries no colour codes.
#[test]
fn the_server_log_has_no_escape_codes_when_stderr_is_not_a_terminal() {
    let server = ServerProcess::start(&[]);
    // A request, so the log has more than the start-up lines.
    ctl(&["list", "--server", &server.url]).run().assert_code(0);
    let log = server.stderr_text();
    assert!(log.contains("INFO"), "the log has lines: {log}");
    assert!(!log.contains('\x1b'), "escape codes in the log: {log:?}");
}
