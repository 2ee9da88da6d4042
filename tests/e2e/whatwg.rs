//! The WHATWG event-stream rules of docs/protocol.md ("The event-stream rules"), one vector
//! each, played by the scripted server (`support::whatwg`) to the real `ctl watch`: what it
//! printed (`-o json`), which headers every request carried (one `Accept`, the exact
//! `Last-Event-ID` bytes), and how often it asked.

use std::time::Duration;

use serde_json::Value;

use crate::support::whatwg::{Recorded, Reply, ScriptedServer};
use crate::support::{Run, ctl};

/// The greeting every stream starts with (no id: it is never a duplicate, never news).
const HELLO: &str = "data: {\"type\":\"connected\",\"client_id\":\"client-1\"}\n\n";

/// An event of deployment 1 with its id on the `id:` line and in the JSON.
fn frame(id: u64, kind: &str) -> String {
    format!(
        "id: {id}\ndata: {{\"id\":\"{id}\",\"type\":\"{kind}\",\"app_name\":\"shop\",\"deployment_id\":\"1\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"data\":{{\"resource_name\":\"db\"}}}}\n\n"
    )
}

/// An event with no id anywhere in its own block.
fn anonymous(kind: &str) -> String {
    format!(
        "data: {{\"type\":\"{kind}\",\"app_name\":\"shop\",\"deployment_id\":\"1\",\"data\":{{\"resource_name\":\"db\"}}}}\n\n"
    )
}

/// `ctl watch shop --deployment 1 -o json` against the server, plus `extra`.
fn watch(server: &ScriptedServer, extra: &[&str]) -> Run {
    let mut args = vec![
        "watch",
        "shop",
        "--deployment",
        "1",
        "-o",
        "json",
        "--server",
        &server.url,
    ];
    args.extend_from_slice(extra);
    ctl(&args).run_with_limit(Duration::from_secs(60))
}

/// The printed events (without `connected` frames) as `(id, type)`, and the result line.
fn printed(run: &Run) -> (Vec<(String, String)>, Value) {
    let mut values: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let result = values.pop().expect("a result line");
    assert_eq!(result["type"], "watch.result", "{}", run.stdout);
    let events = values
        .iter()
        .filter(|v| v["type"] != "connected")
        .map(|v| {
            (
                v["id"].as_str().unwrap_or_default().to_owned(),
                v["type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (events, result)
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

fn sent_ids(requests: &[Recorded]) -> Vec<Option<String>> {
    requests.iter().map(Recorded::last_event_id).collect()
}

/// After the script, every stream request is refused: a test that expects an end never
/// reaches it.
fn refused() -> Reply {
    Reply::with_status(503, "text/plain", "no more script")
}

#[test]
fn every_request_carries_exactly_one_accept_header() {
    let server = ScriptedServer::start(
        vec![Reply::stream(
            &(HELLO.to_owned()
                + &frame(1, "deployment.started")
                + &frame(2, "deployment.completed")),
        )],
        refused(),
    )
    .with_applications(
        r#"{"shop":{"latest_deployment_id":"1","latest_deployment_status":"running"}}"#,
    );
    // Without --deployment: `ctl watch` first asks which deployment is running.
    let run = ctl(&["watch", "shop", "-o", "json", "--server", &server.url]).run();
    run.assert_code(0);
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert_eq!(requests[0].target, "/api/applications");
    assert!(requests[1].is_stream());
    for (request, accept) in requests
        .iter()
        .zip(["application/json", "text/event-stream"])
    {
        assert_eq!(request.count("accept"), 1, "{request:#?}");
        assert_eq!(request.header("accept"), Some(accept.as_bytes()));
    }
    let (events, result) = printed(&run);
    assert_eq!(
        events,
        pairs(&[("1", "deployment.started"), ("2", "deployment.completed")])
    );
    assert_eq!(result["outcome"], "succeeded");
}

#[test]
fn the_last_event_id_is_kept_set_by_an_id_alone_reset_by_an_empty_id_and_never_nul() {
    let server = ScriptedServer::start(
        vec![
            // An event without `id:` keeps the previous id; then an `id:` alone sets it.
            Reply::stream(
                &(HELLO.to_owned()
                    + &frame(1, "deployment.started")
                    + &anonymous("resource.created")
                    + "id: 7\n\n"),
            ),
            // An empty id resets it.
            Reply::stream(&(HELLO.to_owned() + "id\n\n")),
            // An id with NUL is ignored; one whose block never ends never took effect.
            Reply::stream_bytes(b"data: {\"type\":\"connected\"}\n\nid: 8\x009\n\nid: 10\n"),
            Reply::stream(&(HELLO.to_owned() + "id: 11\n\n")),
            Reply::stream(&(HELLO.to_owned() + &frame(12, "deployment.completed"))),
        ],
        refused(),
    );
    let run = watch(&server, &[]);
    run.assert_code(0);
    let (events, _) = printed(&run);
    assert_eq!(
        events,
        pairs(&[
            ("1", "deployment.started"),
            ("", "resource.created"),
            ("12", "deployment.completed")
        ])
    );
    assert_eq!(
        sent_ids(&server.stream_requests()),
        [
            None,
            Some("7".to_owned()),
            None,
            None,
            Some("11".to_owned())
        ]
    );
}

#[test]
fn any_id_the_server_sent_is_sent_back_and_never_breaks_a_reconnect() {
    let server = ScriptedServer::start(
        vec![
            // Non-ASCII: a valid header value as it is (obs-text), sent byte for byte.
            Reply::stream(&(HELLO.to_owned() + "id: événement-7\n\n")),
            // A control character: no header value can carry it, so it is percent-encoded.
            Reply::stream_bytes(b"data: {\"type\":\"connected\"}\n\nid: a\x01b%\n\n"),
            Reply::stream(&(HELLO.to_owned() + &frame(3, "deployment.completed"))),
        ],
        refused(),
    );
    let run = watch(&server, &[]);
    run.assert_code(0);
    let streams = server.stream_requests();
    assert_eq!(streams.len(), 3);
    assert_eq!(
        streams[1].header("last-event-id"),
        Some("événement-7".as_bytes())
    );
    assert_eq!(streams[2].header("last-event-id"), Some(&b"a%01b%25"[..]));
}

#[test]
fn only_an_events_own_identity_makes_it_a_duplicate() {
    let same_json_id =
        "data: {\"id\":\"x1\",\"type\":\"resource.active\",\"deployment_id\":\"1\"}\n\n";
    let server = ScriptedServer::start(
        vec![Reply::stream(
            &(HELLO.to_owned()
                + &frame(5, "resource.created")
                + &anonymous("resource.provisioning")
                + &anonymous("resource.provisioning")
                + same_json_id
                + same_json_id
                + &frame(6, "deployment.completed")),
        )],
        refused(),
    );
    let run = watch(&server, &[]);
    run.assert_code(0);
    let (events, _) = printed(&run);
    assert_eq!(
        events,
        pairs(&[
            ("5", "resource.created"),
            ("", "resource.provisioning"),
            ("", "resource.provisioning"),
            ("x1", "resource.active"),
            ("6", "deployment.completed")
        ])
    );
}

#[test]
fn the_media_type_is_compared_without_case_and_with_parameters() {
    let server = ScriptedServer::start(
        vec![
            Reply::stream(&(HELLO.to_owned() + &frame(1, "deployment.completed")))
                .content_type("Text/Event-Stream; charset=UTF-8"),
        ],
        refused(),
    );
    let run = watch(&server, &[]);
    run.assert_code(0);
    assert_eq!(printed(&run).0, pairs(&[("1", "deployment.completed")]));
}

#[test]
fn a_204_stops_reconnecting_with_exit_5() {
    let server = ScriptedServer::start(
        vec![
            Reply::stream(&(HELLO.to_owned() + &frame(1, "deployment.started"))),
            Reply::with_status(204, "", ""),
        ],
        Reply::stream(&(HELLO.to_owned() + &frame(2, "deployment.completed"))),
    );
    let run = watch(&server, &[]);
    run.assert_code(5);
    assert!(
        run.stderr
            .contains("answered 204 No Content: the server asks clients to stop reconnecting"),
        "{}",
        run.stderr
    );
    assert_eq!(
        server.stream_requests().len(),
        2,
        "no attempt after the 204"
    );
    assert_eq!(printed(&run).0, pairs(&[("1", "deployment.started")]));
}

#[test]
fn another_2xx_or_another_media_type_is_no_stream() {
    let good = Reply::stream(&(HELLO.to_owned() + &frame(1, "deployment.completed")));
    for (reply, says) in [
        (
            Reply::stream(HELLO).content_type("text/html"),
            "answered with \"text/html\" instead of text/event-stream",
        ),
        (
            Reply {
                status: 202,
                ..Reply::stream(HELLO)
            },
            "answered 202 Accepted instead of 200 OK",
        ),
    ] {
        let server = ScriptedServer::start(vec![reply], good.clone());
        let run = watch(&server, &[]);
        run.assert_code(5);
        assert!(run.stderr.contains(says), "{}", run.stderr);
        assert_eq!(server.stream_requests().len(), 1, "not retried");
    }
}

#[test]
fn a_server_that_fails_after_its_first_frame_is_asked_ever_more_slowly() {
    // Every stream: `retry: 0`, the greeting, then the end; every other one a 503 instead.
    let flapping = Reply::stream(&("retry: 0\n".to_owned() + HELLO));
    let server = ScriptedServer::start(
        vec![
            flapping.clone(),
            refused(),
            flapping.clone(),
            refused(),
            flapping.clone(),
            refused(),
        ],
        flapping,
    );
    let run = watch(&server, &["--retry-budget", "6s"]);
    run.assert_code(5);
    assert!(
        run.stderr.contains("reconnecting (attempt 4)"),
        "{}",
        run.stderr
    );
    let streams = server.stream_requests();
    // 250 ms (the floor under `retry: 0`), doubling: attempts at 0, 0.25, 0.75, 1.75 and
    // 3.75 s at the soonest, and the next would start past the 6 s budget (a slow machine
    // may fit one fewer). Without the floor and the doubling it was hundreds.
    assert!(
        (3..=5).contains(&streams.len()),
        "{} requests: {streams:#?}",
        streams.len()
    );
    // The limit the docs state: never more than 3 requests in one second.
    for (i, first) in streams.iter().enumerate() {
        let within = streams[i..]
            .iter()
            .take_while(|r| r.at - first.at < Duration::from_secs(1))
            .count();
        assert!(within <= 3, "{within} requests in the second after {i}");
    }
    // Each gap at least doubles the floor (slack for the sockets of a busy machine).
    for (n, pair) in streams.windows(2).enumerate() {
        let gap = pair[1].at - pair[0].at;
        let least = Duration::from_millis(250 << n) - Duration::from_millis(50);
        assert!(gap >= least, "gap {n}: {gap:?}");
    }
}

#[test]
fn an_oversized_event_is_skipped_with_a_note_and_the_stream_goes_on() {
    let big = format!(
        "id: 2\ndata: {{\"id\":\"2\",\"type\":\"resource.active\",\"data\":{{\"pad\":\"{}\"}}}}\n\n",
        "x".repeat(4096)
    );
    let server = ScriptedServer::start(
        vec![
            Reply::stream(
                &(HELLO.to_owned()
                    + &frame(1, "resource.created")
                    + &big
                    + &frame(3, "deployment.completed")),
            )
            .held(),
        ],
        refused(),
    );
    let run = watch(&server, &["--max-event-size", "2KiB"]);
    run.assert_code(0);
    assert_eq!(
        printed(&run).0,
        pairs(&[("1", "resource.created"), ("3", "deployment.completed")])
    );
    assert!(
        run.stderr
            .contains("event 2 was skipped: it is larger than the 2KiB limit (--max-event-size"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("connection lost"), "{}", run.stderr);
    assert_eq!(server.stream_requests().len(), 1);
}

#[test]
fn the_event_size_limit_is_a_setting_with_a_floor() {
    let run = ctl(&["watch", "shop", "--max-event-size", "100"]).run();
    run.assert_code(2);
    assert!(run.stderr.contains("at least 1KiB"), "{}", run.stderr);
    let run = ctl(&["watch", "shop", "--server", "http://127.0.0.1:9"])
        .env("CTL_MAX_EVENT_SIZE", "lots")
        .run();
    run.assert_code(2);
    assert!(run.stderr.contains("expected e.g. 1MiB"), "{}", run.stderr);
}
