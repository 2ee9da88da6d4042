//! A server URL with a user and password (`https://user:secret@host`): the password never
//! shows, in errors, verbose output, banners or JSON, whatever happens.

use std::net::TcpListener;

use crate::support::pki::Pki;
use crate::support::{Run, ServerProcess, ctl, repo};

const SECRET: &str = "s3cr3t-pw-77";

#[track_caller]
fn assert_hidden(run: &Run) {
    assert!(
        !run.stdout.contains(SECRET) && !run.stderr.contains(SECRET),
        "the password shows:\n--- stdout ---\n{}\n--- stderr ---\n{}",
        run.stdout,
        run.stderr
    );
}

/// `url` (`http://127.0.0.1:PORT`) with the user and password.
fn with_credentials(url: &str) -> String {
    url.replacen("://", &format!("://deployer:{SECRET}@"), 1)
}

#[test]
fn a_password_in_the_server_url_never_shows() {
    let providers = repo("tests/fixtures/providers-fast.yaml");
    let server = ServerProcess::start(&["--providers", providers.to_str().unwrap()]);
    let url = with_credentials(&server.url);
    for args in [
        &["deploy", "tests/fixtures/app-fast.yaml", "-w", "-vv"][..],
        &["deploy", "tests/fixtures/app-fast.yaml", "-w", "-o", "json"],
        &["status", "shop", "-v"],
        &["list", "-o", "json"],
        &["watch", "shop", "--deployment", "nope-1"],
    ] {
        let run = ctl(args).args(&["--server", &url]).run();
        assert_hidden(&run);
        if args[0] != "watch" {
            run.assert_code(0);
        }
    }
}

#[test]
fn a_password_in_the_server_url_never_shows_in_errors() {
    // A port nobody listens on.
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let unreachable = with_credentials(&format!("http://{closed}"));
    let run = ctl(&["deploy", "tests/fixtures/app-fast.yaml", "-w", "-vv"])
        .args(&["--server", &unreachable])
        .run();
    run.assert_code(5);
    assert!(
        run.stderr
            .contains("cannot reach the server at http://127.0.0.1"),
        "{}",
        run.stderr
    );
    assert_hidden(&run);

    let invalid = with_credentials("http://h.example/?x=1");
    let run = ctl(&["list", "--server", &invalid]).run();
    run.assert_code(2);
    assert!(run.stderr.contains("deployer:***@"), "{}", run.stderr);
    assert_hidden(&run);

    let pki = Pki::localhost();
    let args: Vec<String> = pki.server_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let tls = ServerProcess::start(&args);
    let run = ctl(&["list", "-vv", "--server", &with_credentials(&tls.url)]).run();
    run.assert_code(5);
    assert!(run.stderr.contains("unknown issuer"), "{}", run.stderr);
    assert_hidden(&run);
}
