//! Redirects end to end, with a redirecting server in front of the real `ctl server`: GETs and
//! the event stream follow them, a 307/308 submission is sent again with its body, a
//! 301/302/303 submission is refused naming the URL to use, the API key never goes to another
//! origin, and innominatus's redirect to its login page keeps its message.

use crate::support::redirect::{Redirector, Rules};
use crate::support::{ServerProcess, ctl, repo};

const APP: &str = "tests/fixtures/app-fast.yaml";

fn server(extra: &[&str]) -> ServerProcess {
    let providers = repo("tests/fixtures/providers-fast.yaml");
    let mut args = vec!["--providers", providers.to_str().unwrap()];
    args.extend_from_slice(extra);
    ServerProcess::start(&args)
}

fn to(url: &str, get: u16, post: u16) -> Rules {
    Rules {
        get,
        post,
        to: url.to_owned(),
        fixed: false,
    }
}

#[test]
fn gets_and_the_stream_follow_redirects_and_a_307_or_308_post_keeps_its_body() {
    for (get, post) in [(302, 307), (301, 308), (303, 307)] {
        let server = server(&[]);
        let front = Redirector::start(to(&server.url, get, post));
        let run = ctl(&["deploy", APP, "-w", "--server", &front.url]).run();
        run.assert_code(0);
        assert!(
            run.stdout.contains("Deployment completed"),
            "{}",
            run.stdout
        );
        let seen = front.seen();
        assert!(
            seen.iter().any(|s| s.method == "POST" && s.body),
            "{get}/{post}: {seen:?}"
        );
        assert!(
            seen.iter()
                .any(|s| s.method == "GET" && s.target.starts_with("/api/events/stream?app=shop")),
            "{get}/{post}: {seen:?}"
        );
        // Plain GETs too.
        let status = ctl(&["status", "shop", "--server", &front.url]).run();
        status.assert_code(0);
        assert!(status.stdout.contains("database"), "{}", status.stdout);
    }
}

#[test]
fn the_api_key_is_not_sent_to_another_origin() {
    let key = "k-redirect-secret-1";
    let server = server(&["--key", key]);
    // Same host, another port: another origin.
    let front = Redirector::start(to(&server.url, 307, 307));
    let run = ctl(&[
        "deploy",
        APP,
        "-w",
        "--server",
        &front.url,
        "--api-key",
        key,
    ])
    .run();
    // The server behind the redirect never saw the key, so it refused the request.
    run.assert_code(4);
    assert!(run.stderr.contains("401"), "{}", run.stderr);
    assert!(
        run.stderr.contains("never to another origin"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(key) && !run.stdout.contains(key));
    // The configured origin did get it.
    let seen = front.seen();
    assert!(
        !seen.is_empty() && seen.iter().all(|s| s.authorization),
        "{seen:?}"
    );
    // The control: the same key given to the server itself is accepted.
    ctl(&["list", "--server", &server.url, "--api-key", key])
        .run()
        .assert_code(0);
}

#[test]
fn a_post_answered_with_301_302_or_303_is_refused_naming_the_server_to_use() {
    for status in [301, 302, 303] {
        let server = server(&[]);
        let front = Redirector::start(to(&server.url, 307, status));
        let run = ctl(&["deploy", APP, "--server", &front.url]).run();
        run.assert_code(4);
        assert!(
            run.stderr.contains(&format!("use --server {}", server.url)),
            "{status}: {}",
            run.stderr
        );
        assert!(
            run.stderr
                .contains(&format!("{}/api/applications", server.url)),
            "{}",
            run.stderr
        );
        // Sent once, and not re-sent as a GET to the new place: nothing was deployed there.
        let seen = front.seen();
        assert_eq!(seen.len(), 1, "{seen:?}");
        let list = ctl(&["list", "--server", &server.url, "-o", "json"]).run();
        list.assert_code(0);
        assert!(!list.stdout.contains("shop"), "{}", list.stdout);
    }
}

#[test]
fn a_redirect_to_a_login_page_keeps_its_message() {
    let front = Redirector::start(Rules {
        get: 303,
        post: 303,
        to: "/login".to_owned(),
        fixed: true,
    });
    for args in [&["list"][..], &["deploy", APP]] {
        let run = ctl(args).args(&["--server", &front.url]).run();
        run.assert_code(4);
        assert!(
            run.stderr
                .contains("a login redirect means the API key is missing or wrong"),
            "{args:?}: {}",
            run.stderr
        );
    }
    // Not followed.
    assert!(front.seen().iter().all(|s| s.target != "/login"));
}

#[test]
fn a_redirect_loop_ends_after_five_hops() {
    // A redirector that sends every request back to itself.
    let front = Redirector::start(to("", 302, 307));
    let run = ctl(&["list", "--server", &front.url]).run();
    run.assert_code(5);
    assert!(
        run.stderr.contains("more than 5 redirects"),
        "{}",
        run.stderr
    );
    assert_eq!(front.seen().len(), 6, "{:?}", front.seen());
}
