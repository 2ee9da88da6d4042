//! Hostile input and hostile surroundings (docs/server.md "Limits and hardening"): a server
//! whose stderr goes away, cross-site requests to a keyless server, server text made to
//! drive a terminal or a CI runner, and `run` steps looking for the server's API keys.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use wait_timeout::ChildExt;

use crate::support::{ServerProcess, clean_env, ctl, ctl_bin, repo, temp_yaml};

const LIMIT: Duration = Duration::from_secs(60);

/// A server process this test owns: killed and reaped on drop.
struct Owned(Child);

impl Drop for Owned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_closed_stderr_neither_fails_a_deployment_nor_stops_shutdown() {
    let providers = repo("tests/fixtures/providers-fast.yaml");
    let mut cmd = Command::new(ctl_bin());
    cmd.args([
        "server",
        "--listen",
        "127.0.0.1:0",
        "--in-memory",
        "--providers",
    ])
    .arg(&providers)
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    clean_env(&mut cmd);
    // Every request and every deployment step logs a line at this level.
    cmd.env("RUST_LOG", "debug");
    let mut server = Owned(cmd.spawn().expect("spawn ctl server"));
    let mut stderr = BufReader::new(server.0.stderr.take().unwrap());
    let mut line = String::new();
    let url = loop {
        line.clear();
        let n = stderr.read_line(&mut line).unwrap();
        assert!(n > 0, "the server exited before it was ready");
        if let Some(addr) = line.trim_end().strip_prefix("listening on ") {
            break addr.to_owned();
        }
    };
    // `ctl server 2>&1 | head -3`: the reader is gone, every later log line fails to write.
    drop(stderr);

    let run = ctl(&[
        "deploy",
        "tests/fixtures/app-fast.yaml",
        "-w",
        "--server",
        &url,
    ])
    .run_with_limit(LIMIT);
    run.assert_code(0);
    // The server still answers, and its state is the deployment's end.
    ctl(&["status", "shop", "--server", &url])
        .run_with_limit(LIMIT)
        .assert_code(0);

    rustix::process::kill_process(
        rustix::process::Pid::from_child(&server.0),
        rustix::process::Signal::TERM,
    )
    .expect("send SIGTERM");
    let status = server
        .0
        .wait_timeout(LIMIT)
        .unwrap()
        .expect("SIGTERM stops the server");
    assert!(status.success(), "{status:?}");
}

/// Sends `request` (a whole HTTP/1.1 request) and returns the status code and the answer.
fn raw(addr: &str, request: &str) -> (u16, String) {
    let mut conn = TcpStream::connect(addr).unwrap();
    // A safety net, not synchronisation: the server closes after answering.
    conn.set_read_timeout(Some(LIMIT)).unwrap();
    conn.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    (status, answer)
}

fn post(addr: &str, headers: &str, body: &str) -> (u16, String) {
    raw(
        addr,
        &format!(
            "POST /api/applications HTTP/1.1\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

#[test]
fn a_keyless_server_refuses_cross_site_requests() {
    let server = ServerProcess::start(&[]);
    let addr = server.url.strip_prefix("http://").unwrap().to_owned();
    let port = server.port();
    let spec = "apiVersion: score.dev/v1b1\nmetadata:\n  name: csrf\ncontainers:\n  main:\n    image: nginx\n";
    let host = format!("Host: 127.0.0.1:{port}\r\n");
    let yaml = "Content-Type: application/yaml\r\n";

    // What a web page can send without a preflight: text/plain, a foreign Origin.
    let (status, answer) = post(
        &addr,
        &format!("{host}Content-Type: text/plain\r\nOrigin: http://evil.example\r\n"),
        spec,
    );
    assert_eq!(status, 403, "{answer}");
    assert!(answer.contains(r#""code":"cross_site""#), "{answer}");
    let (status, answer) = post(&addr, &format!("{host}Content-Type: text/plain\r\n"), spec);
    assert_eq!(status, 415, "{answer}");
    assert!(
        answer.contains(r#""code":"unsupported_media_type""#),
        "{answer}"
    );
    let (status, _) = post(
        &addr,
        &format!("{host}{yaml}Sec-Fetch-Site: cross-site\r\n"),
        spec,
    );
    assert_eq!(status, 403);
    // DNS rebinding: the page's own name, resolved to 127.0.0.1; reads are refused too.
    for request in [
        format!(
            "GET /api/applications HTTP/1.1\r\nHost: evil.example:{port}\r\nConnection: close\r\n\r\n"
        ),
        format!(
            "GET /api/events/stream HTTP/1.1\r\nHost: evil.example:{port}\r\nConnection: close\r\n\r\n"
        ),
    ] {
        let (status, answer) = raw(&addr, &request);
        assert_eq!(status, 403, "{answer}");
    }

    // The server's own callers: ctl, innominatus clients (YAML or JSON), a same-origin page.
    let (status, answer) = post(&addr, &format!("{host}{yaml}"), spec);
    assert_eq!(status, 202, "{answer}");
    for headers in [
        format!("Host: localhost:{port}\r\nContent-Type: application/json\r\n"),
        format!("{host}{yaml}Origin: http://127.0.0.1:{port}\r\nSec-Fetch-Site: same-origin\r\n"),
    ] {
        let (status, answer) = post(&addr, &headers, spec);
        assert_eq!(status, 202, "{answer}");
    }
    ctl(&[
        "deploy",
        "tests/fixtures/app-fast.yaml",
        "-w",
        "--server",
        &server.url,
    ])
    .run_with_limit(LIMIT)
    .assert_code(0);
}

/// Terminal control (OSC 52 clipboard write, CSI clear screen, 8-bit OSC), a carriage return
/// that would overwrite the line, and a workflow command, as one string.
const HOSTILE_SH: &str = r"printf 'out \033]52;c;cHduZWQ=\007\033[2J\302\23552;c;QUFB\302\234\342\200\256\r::add-mask::leak\n'";

/// Whether `text` carries anything a terminal or a CI runner would act on: raw control
/// characters (other than newlines), C1 controls, bidi overrides, or a line that is a
/// workflow command other than ctl's own markers.
fn assert_inert(what: &str, text: &str) {
    let bad = text.chars().find(|&c| {
        (c.is_control() && c != '\n')
            || matches!(c, '\u{80}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    });
    assert!(bad.is_none(), "{what}: raw {bad:?} in {text:?}");
    for line in text.lines() {
        let line = line.trim_start();
        let ours = ["::group::", "::endgroup::", "::error title="]
            .iter()
            .any(|m| line.starts_with(m));
        assert!(
            !line.starts_with("::") || ours,
            "{what}: workflow command {line:?}"
        );
    }
}

#[test]
fn server_text_never_reaches_the_terminal_raw() {
    let catalogue = temp_yaml(&format!(
        "providers:\n  - name: evil-team\n    resource_types: [evil]\n    workflow:\n      \
         name: provision-evil\n      steps:\n        - name: talk\n          run: {}\n",
        serde_json::to_string(&format!("{HOSTILE_SH}; {HOSTILE_SH} >&2; exit 1")).unwrap()
    ));
    let server = ServerProcess::start(&["--providers", catalogue.path().to_str().unwrap()]);
    let spec = temp_yaml(
        "apiVersion: score.dev/v1b1\nmetadata:\n  name: evil\ncontainers:\n  main:\n    image: nginx\nresources:\n  db:\n    type: evil\n",
    );
    // The server's 400 quotes the unknown type: its error text is hostile.
    let bad_type = temp_yaml(
        "apiVersion: score.dev/v1b1\nmetadata:\n  name: evil\ncontainers:\n  main:\n    image: nginx\nresources:\n  db:\n    type: \"x\\e]52;c;cHduZWQ=\\a\\e[2J\\x9d0;t\\x9c\\u202e\\r\\n::add-mask::leak\"\n",
    );
    let spec = spec.path().to_str().unwrap();
    let bad_type = bad_type.path().to_str().unwrap();
    for (file, args, code) in [
        (spec, &["-v"][..], 1),
        (spec, &["-o", "json"][..], 1),
        (bad_type, &[][..], 4),
        (bad_type, &["-o", "json"][..], 4),
    ] {
        for github in [false, true] {
            let mut argv = vec!["deploy", file, "-w", "--server", &server.url];
            argv.extend_from_slice(args);
            let mut cmd = ctl(&argv);
            if github {
                cmd = cmd.env("GITHUB_ACTIONS", "true");
            }
            let run = cmd.run_with_limit(LIMIT);
            run.assert_code(code);
            let what = format!("{argv:?} github={github}");
            assert_inert(&format!("{what} stdout"), &run.stdout);
            assert_inert(&format!("{what} stderr"), &run.stderr);
            // The step's text is still there, made harmless.
            if file == spec {
                assert!(
                    run.stdout.contains("add-mask") || run.stderr.contains("add-mask"),
                    "{what}: {run:?}"
                );
            }
        }
    }
}

#[test]
fn run_steps_do_not_see_the_servers_api_keys() {
    let catalogue = temp_yaml(
        "env_passthrough: [CTL_TEST_VISIBLE]\nproviders:\n  - name: jobs\n    resource_types: [job]\n    workflow:\n      name: run-job\n      steps:\n        - name: show-env\n          run: env\n",
    );
    let key = "s3cr3t-server-key";
    let server = ServerProcess::start_with_env(
        &["--providers", catalogue.path().to_str().unwrap()],
        &[
            ("CTL_SERVER_API_KEYS", key),
            ("CTL_TEST_VISIBLE", "passed-through"),
            ("CTL_TEST_HIDDEN", "operator-secret"),
        ],
    );
    let spec = temp_yaml(
        "apiVersion: score.dev/v1b1\nmetadata:\n  name: envy\ncontainers:\n  main:\n    image: nginx\nresources:\n  job:\n    type: job\n",
    );
    let run = ctl(&[
        "deploy",
        spec.path().to_str().unwrap(),
        "-w",
        "-v",
        "--server",
        &server.url,
        "--api-key",
        key,
        "-o",
        "json",
    ])
    .run_with_limit(LIMIT);
    run.assert_code(0);
    assert!(
        run.stdout.contains("CTL_RESOURCE_NAME=job"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("CTL_TEST_VISIBLE=passed-through"),
        "{}",
        run.stdout
    );
    // The key was sent by the client, so it is only looked for in what the step printed.
    assert!(
        !run.stdout.contains("CTL_SERVER_API_KEYS"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains(key), "{}", run.stdout);
    assert!(!run.stdout.contains("operator-secret"), "{}", run.stdout);
}
