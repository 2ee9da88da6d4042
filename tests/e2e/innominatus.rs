//! `ctl deploy -w` against an innominatus-style server (PROTOCOL.md Part A): no terminal
//! events, no ids, no replay, streams cut on purpose. The outcome must be inferred from
//! resource states, promptly: never "success" on a dropped stream, never waiting out the
//! timeout on a finished deployment.
//!
//! Every run has `--timeout 30s` and a safety limit above it: a client that fails to notice
//! the end exits 3 (and the test says so) instead of hanging.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::innominatus::{InnominatusPeer, Script};
use crate::support::proxy::{Chaos, ChaosProxy};
use crate::support::{Run, ctl, temp_yaml};

const SHOP: &str = "apiVersion: score.dev/v1b1\nmetadata:\n  name: shop\ncontainers:\n  web:\n    image: nginx\nresources:\n  db:\n    type: postgres\n  cache:\n    type: redis\n";

fn deploy(peer: &InnominatusPeer, spec: &str) -> Run {
    deploy_with(peer, spec, &[])
}

fn deploy_with(peer: &InnominatusPeer, spec: &str, extra: &[&str]) -> Run {
    deploy_at(&peer.url, spec, "30s", extra)
}

/// `ctl deploy SPEC -w --timeout TIMEOUT --server URL EXTRA...`.
fn deploy_at(url: &str, spec: &str, timeout: &str, extra: &[&str]) -> Run {
    let file = temp_yaml(spec);
    let mut args = vec![
        "deploy",
        file.path().to_str().unwrap(),
        "-w",
        "--timeout",
        timeout,
        "--server",
        url,
    ];
    args.extend_from_slice(extra);
    ctl(&args).run_with_limit(Duration::from_secs(90))
}

/// Deploys through a proxy that closes the connection as the submission's answer starts, so
/// that no status line reaches `ctl`: an answer lost for real.
fn deploy_losing_the_answer(peer: &InnominatusPeer, spec: &str) -> (Run, ChaosProxy) {
    let proxy = ChaosProxy::start(
        &peer.url,
        Chaos {
            lose_post_answer: true,
            ..Chaos::default()
        },
    );
    let run = deploy_at(&proxy.url, spec, "30s", &[]);
    (run, proxy)
}

/// The events of a `-o json` run (not the `connected` frames, one per connection), in order.
fn json_events(run: &Run) -> Vec<serde_json::Value> {
    run.stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON lines"))
        .filter(|v| v["type"] != "connected" && v["type"] != "watch.result")
        .collect()
}

#[track_caller]
fn assert_each_event_once(events: &[serde_json::Value]) {
    let ids: BTreeSet<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), events.len(), "a duplicate: {events:#?}");
}

/// Event lines without their `[HH:MM:SS]` timestamp.
fn event_lines(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| l.starts_with('[') && l.as_bytes().get(9) == Some(&b']'))
        .map(|l| l[11..].to_owned())
        .collect()
}

#[test]
fn success_is_inferred_from_resource_states() {
    let peer = InnominatusPeer::start(Script::default());
    let run = deploy(&peer, SHOP);
    run.assert_code(0);
    // Subscribed before the POST: the events published during it are there.
    for line in [
        "Resource created: db",
        "Resource created: cache",
        "Resource active: db",
        "Resource active: cache",
    ] {
        assert!(run.stdout.contains(line), "{line}:\n{}", run.stdout);
    }
    assert!(
        run.stdout.contains("Deployment completed"),
        "{}",
        run.stdout
    );
    assert!(!run.stderr.contains("reconnecting"), "{}", run.stderr);
    assert_eq!(peer.posts(), 1);
}

#[test]
fn a_stream_cut_after_a_few_frames_is_reconnected_and_reconciled() {
    let peer = InnominatusPeer::start(Script {
        cut_after_frames: Some(3),
        step: Duration::from_millis(100),
        ..Script::default()
    });
    let run = deploy_with(&peer, SHOP, &["-o", "json"]);
    run.assert_code(0);
    assert!(
        run.stderr
            .contains("the stream was cut (the connection failed"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("could not be replayed"),
        "{}",
        run.stderr
    );
    assert!(peer.streams() >= 2);
    assert!(!run.stdout.contains("reconnecting"), "notes stay on stderr");
    assert_each_event_once(&json_events(&run));
}

#[test]
fn a_failing_resource_behind_a_dropped_stream_is_a_failure() {
    let peer = InnominatusPeer::start(Script {
        cut_after_frames: Some(2),
        failing_type: Some(("postgres", "quota exceeded: 5 databases per team")),
        step: Duration::from_millis(100),
        ..Script::default()
    });
    let run = deploy(&peer, SHOP);
    run.assert_code(1);
    assert!(
        run.stdout.contains("quota exceeded: 5 databases per team"),
        "{}",
        run.stdout
    );
    assert_eq!(peer.states("shop")["db"], "failed");
}

#[test]
fn a_redeploy_that_publishes_nothing_finishes_at_once() {
    let peer = InnominatusPeer::start(Script::default());
    deploy(&peer, SHOP).assert_code(0);
    let again = deploy(&peer, SHOP);
    again.assert_code(0);
    assert!(
        event_lines(&again.stdout).is_empty(),
        "nothing was published:\n{}",
        again.stdout
    );
    assert!(
        again.stdout.contains("Deployment completed"),
        "{}",
        again.stdout
    );
}

#[test]
fn resources_the_server_adds_are_waited_for() {
    let peer = InnominatusPeer::start(Script {
        extra_resources: vec![("k8s", "kubernetes")],
        failing_type: Some(("kubernetes", "no cluster available")),
        slow_type: Some("kubernetes"),
        ..Script::default()
    });
    let run = deploy(&peer, SHOP);
    // The spec's own resources become active first; the server's own one decides.
    run.assert_code(1);
    assert!(
        run.stdout.contains("shop-k8s: no cluster available"),
        "{}",
        run.stdout
    );
}

#[test]
fn events_out_of_order_do_not_undo_a_resource_state() {
    // db finishes first and its late `resource.provisioning` arrives before cache is active:
    // applied blindly, it would leave db "provisioning" for ever.
    let peer = InnominatusPeer::start(Script {
        out_of_order: true,
        slow_type: Some("redis"),
        ..Script::default()
    });
    let run = deploy_with(&peer, SHOP, &["-o", "json"]);
    run.assert_code(0);
    let events = json_events(&run);
    let position = |kind: &str| {
        events
            .iter()
            .position(|e| e["type"] == kind && e["data"]["resource_name"] == "db")
            .unwrap_or_else(|| panic!("no {kind} for db: {events:#?}"))
    };
    let (active, provisioning) = (
        position("resource.active"),
        position("resource.provisioning"),
    );
    assert!(active < provisioning, "delivered out of order: {events:#?}");
    let cache_active = events
        .iter()
        .position(|e| e["type"] == "resource.active" && e["data"]["resource_name"] == "cache")
        .unwrap();
    assert!(
        provisioning < cache_active,
        "the late event came before the end"
    );
    assert_each_event_once(&events);
}

#[test]
fn a_500_failed_post_is_a_failed_deployment() {
    let peer = InnominatusPeer::start(Script {
        fail_post: true,
        ..Script::default()
    });
    let run = deploy(&peer, SHOP);
    run.assert_code(1);
    assert!(
        run.stderr.contains("step 'migrate' failed"),
        "{}",
        run.stderr
    );
    assert_eq!(peer.posts(), 1, "a failed deployment is not retried");
}

#[test]
fn a_spec_without_resources_finishes_at_once() {
    let peer = InnominatusPeer::start(Script::default());
    let run = deploy(
        &peer,
        "metadata:\n  name: bare\ncontainers:\n  web:\n    image: nginx\n",
    );
    run.assert_code(0);
}

#[test]
fn a_lost_post_answer_is_not_sent_again_and_the_outcome_is_inferred() {
    let peer = InnominatusPeer::start(Script::default());
    let (run, proxy) = deploy_losing_the_answer(&peer, SHOP);
    run.assert_code(0);
    assert!(proxy.lost_a_post_answer());
    assert_eq!(
        peer.posts(),
        1,
        "no second POST to a server without idempotency"
    );
    assert!(run.stderr.contains("not sent again"), "{}", run.stderr);
    assert_eq!(peer.states("shop")["db"], "active");
}

#[test]
fn a_5xx_answer_is_the_answer_never_a_lost_one() {
    // A gateway's 502 after the server stored the spec: the status line is the answer.
    let peer = InnominatusPeer::start(Script {
        gateway_error_after_storing: true,
        ..Script::default()
    });
    let run = deploy(&peer, SHOP);
    run.assert_code(5);
    assert!(run.stderr.contains("Bad Gateway"), "{}", run.stderr);
    assert!(
        !run.stdout.contains("Deployment completed"),
        "{}",
        run.stdout
    );
    assert_eq!(peer.posts(), 1);

    // A redeploy the server cannot store, while the app's resources from the first deploy
    // are all active: following them would report a success that never happened.
    let peer = InnominatusPeer::start(Script {
        text_500_from_post: Some((
            2,
            "duplicate key value violates unique constraint \"resources_pkey\"",
        )),
        ..Script::default()
    });
    deploy(&peer, SHOP).assert_code(0);
    let run = deploy(&peer, SHOP);
    run.assert_code(5);
    assert!(run.stderr.contains("duplicate key value"), "{}", run.stderr);
    assert!(
        !run.stdout.contains("Deployment completed"),
        "{}",
        run.stdout
    );
    assert!(!run.stderr.contains("again is safe"), "{}", run.stderr);
    assert_eq!(peer.posts(), 2, "a definite answer is not sent again");
}

#[test]
fn text_errors_are_reported_with_exit_4() {
    let peer = InnominatusPeer::start(Script::default());
    let run = deploy(
        &peer,
        "metadata:\n  name: odd\ncontainers:\n  web:\n    image: nginx\nresources:\n  q:\n    type: unknown-type\n",
    );
    run.assert_code(4);
    assert!(
        run.stderr
            .contains("unknown resource types (no provider registered): q (type: unknown-type)"),
        "{}",
        run.stderr
    );
}

#[test]
fn watch_reports_how_an_app_at_rest_stands_and_refuses_an_unknown_app() {
    for (failing_type, code) in [(None, 0), (Some(("redis", "no memory left")), 1)] {
        let peer = InnominatusPeer::start(Script {
            failing_type,
            ..Script::default()
        });
        deploy(&peer, SHOP).assert_code(code);
        // Nothing runs now: the state of record is the outcome, at once.
        let run = ctl(&["watch", "shop", "--timeout", "30s", "--server", &peer.url])
            .run_with_limit(Duration::from_secs(90));
        run.assert_code(code);
        assert!(
            run.stderr.contains("following shop's resources"),
            "{}",
            run.stderr
        );
        let typo = ctl(&["watch", "shopp", "--timeout", "30s", "--server", &peer.url])
            .run_with_limit(Duration::from_secs(90));
        typo.assert_code(4);
        assert!(
            typo.stderr.contains("no application \"shopp\""),
            "{}",
            typo.stderr
        );
    }
}

#[test]
fn a_lost_answer_to_a_spec_with_workflows_is_not_reported_as_a_success() {
    let peer = InnominatusPeer::start(Script::default());
    let spec = format!(
        "{SHOP}workflows:\n  setup:\n    steps:\n      - name: migrate\n        type: shell\n"
    );
    let (run, proxy) = deploy_losing_the_answer(&peer, &spec);
    run.assert_code(5);
    assert!(proxy.lost_a_post_answer());
    assert!(
        run.stderr.contains("the spec's workflows (setup)"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stdout.contains("Deployment completed"),
        "{}",
        run.stdout
    );
    assert_eq!(peer.posts(), 1);
}

#[test]
fn a_failure_learned_by_polling_carries_its_reason() {
    let reason = "quota exceeded: 5 databases per team";
    let peer = InnominatusPeer::start(Script {
        failing_type: Some(("postgres", reason)),
        ..Script::default()
    });
    deploy(&peer, SHOP).assert_code(1);
    // The unchanged redeploy publishes nothing: the failure is known only from the state of
    // record, whose list leaves the reason out.
    let run = deploy_with(&peer, SHOP, &["-o", "json"]);
    run.assert_code(1);
    let result: serde_json::Value =
        serde_json::from_str(run.stdout.lines().last().unwrap()).unwrap();
    assert!(
        result["error"].as_str().is_some_and(|e| e.contains(reason)),
        "{result}"
    );
    let db = result["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "db")
        .unwrap();
    assert_eq!(db["error"], reason, "{result}");

    let text = deploy(&peer, SHOP);
    text.assert_code(1);
    assert!(text.stdout.contains(reason), "{}", text.stdout);
    assert!(!text.stdout.contains("db: db"), "{}", text.stdout);

    let status = ctl(&["status", "shop", "--server", &peer.url]).run();
    status.assert_code(0);
    assert!(status.stdout.contains(reason), "{}", status.stdout);
}

#[test]
fn the_routine_stream_cut_is_one_quiet_line_at_verbose_when_nothing_was_missed() {
    // The first stream is cut right after the two `resource.created` frames of the POST; the
    // engine's next step is seconds away, so the reconnect misses nothing.
    let peer = InnominatusPeer::start(Script {
        cut_first_stream_after_frames: Some(3),
        step: Duration::from_secs(2),
        ..Script::default()
    });
    let run = deploy_with(&peer, SHOP, &["-v"]);
    run.assert_code(0);
    assert!(peer.streams() >= 2, "the stream was cut and reopened");
    assert!(
        run.stderr.contains("no resource state was missed"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("connection lost"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("could not be replayed"),
        "{}",
        run.stderr
    );

    let peer = InnominatusPeer::start(Script {
        cut_first_stream_after_frames: Some(3),
        step: Duration::from_secs(2),
        ..Script::default()
    });
    let run = deploy(&peer, SHOP);
    run.assert_code(0);
    assert!(peer.streams() >= 2);
    assert!(!run.stderr.contains("connection lost"), "{}", run.stderr);
    assert!(!run.stderr.contains("reconnected"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("the server closed the stream"),
        "{}",
        run.stderr
    );
}

#[test]
fn delete_and_list_say_what_a_server_without_deployments_did() {
    let peer = InnominatusPeer::start(Script::default());
    deploy(&peer, SHOP).assert_code(0);
    // The status column comes from the resources, the state of record on such a server.
    let list = ctl(&["list", "--server", &peer.url]).run();
    list.assert_code(0);
    let row = list
        .stdout
        .lines()
        .find(|l| l.starts_with("shop"))
        .unwrap_or_else(|| panic!("{}", list.stdout));
    assert!(row.contains("succeeded"), "{}", list.stdout);

    let delete = ctl(&["delete", "shop", "-w", "--server", &peer.url]).run();
    delete.assert_code(0);
    assert!(
        delete.stdout.contains(
            "its 2 resources (cache, db) are still on the server, which deletes the application record only"
        ),
        "{}",
        delete.stdout
    );
    assert!(
        !delete.stdout.contains("deleted (2 resources)"),
        "{}",
        delete.stdout
    );
    // And the consequence the message warns of: the name cannot be deployed again.
    let again = deploy(&peer, SHOP);
    again.assert_code(5);
    assert!(again.stderr.contains("duplicate key"), "{}", again.stderr);
}

#[test]
fn a_failed_resource_left_from_an_earlier_spec_is_named_as_such() {
    let peer = InnominatusPeer::start(Script {
        failing_type: Some(("postgres", "quota exceeded: 5 databases per team")),
        ..Script::default()
    });
    deploy(&peer, SHOP).assert_code(1);
    // The database is gone from the spec, but such a server keeps the failed resource.
    let cache_only = "apiVersion: score.dev/v1b1\nmetadata:\n  name: shop\ncontainers:\n  web:\n    image: nginx\nresources:\n  cache:\n    type: redis\n";
    let run = deploy_with(&peer, cache_only, &["-o", "json"]);
    run.assert_code(1);
    let result: serde_json::Value =
        serde_json::from_str(run.stdout.lines().last().unwrap()).unwrap();
    let db = result["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "db")
        .unwrap_or_else(|| panic!("{result}"));
    let error = db["error"].as_str().unwrap_or_default();
    assert!(error.contains("not in the submitted spec"), "{result}");
    let text = deploy(&peer, cache_only);
    text.assert_code(1);
    assert!(
        text.stdout.contains("not in the submitted spec"),
        "{}",
        text.stdout
    );
}

#[test]
fn resources_still_settling_at_the_first_failure_are_shown_as_still_running() {
    let script = || Script {
        failing_type: Some(("postgres", "quota exceeded: 5 databases per team")),
        slow_type: Some("redis"),
        step: Duration::from_millis(400),
        ..Script::default()
    };
    let peer = InnominatusPeer::start(script());
    let run = deploy_with(&peer, SHOP, &["-o", "json"]);
    run.assert_code(1);
    let result: serde_json::Value =
        serde_json::from_str(run.stdout.lines().last().unwrap()).unwrap();
    let state = |name: &str| {
        result["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .map(|r| r["state"].clone())
    };
    assert_eq!(state("db"), Some("failed".into()), "{result}");
    assert_eq!(state("cache"), Some("running".into()), "{result}");

    let peer = InnominatusPeer::start(script());
    let text = deploy(&peer, SHOP);
    text.assert_code(1);
    assert!(
        text.stdout
            .contains("still running when the failure ended the watch: cache (redis)"),
        "{}",
        text.stdout
    );
}

#[test]
fn the_reattach_hint_after_a_timeout_follows_the_deployment_to_its_end() {
    let peer = InnominatusPeer::start(Script {
        slow_type: Some("redis"),
        step: Duration::from_millis(600),
        ..Script::default()
    });
    let first = deploy_at(&peer.url, SHOP, "1s", &[]);
    first.assert_code(3);
    let hint = first
        .stderr
        .lines()
        .skip_while(|l| !l.contains("Reattach with"))
        .nth(1)
        .unwrap_or_else(|| panic!("{}", first.stderr))
        .trim()
        .to_owned();
    assert_eq!(hint, "ctl watch shop");
    // The hint, run as printed, follows the running deployment to its end.
    let run = ctl(&["watch", "shop", "--timeout", "60s", "--server", &peer.url])
        .run_with_limit(Duration::from_secs(90));
    run.assert_code(0);
    assert!(
        run.stdout.contains("Deployment completed"),
        "{}",
        run.stdout
    );
    assert_eq!(peer.states("shop")["cache"], "active");
}
