//! Proxies end to end: `HTTPS_PROXY` and `HTTP_PROXY` (either case) carry every request of
//! `ctl deploy -w`, the submission and the event stream, and `NO_PROXY` bypasses them.
//!
//! The server is named `deploy.test`, which does not resolve (`.test` is reserved): only the
//! proxy, which takes every name to be 127.0.0.1, can reach it. So a request that did not go
//! through the proxy fails, and a deployment watched to its end proves that both the POST and
//! the stream went through it.

use crate::support::connect_proxy::ConnectProxy;
use crate::support::pki::{Pki, ServerCert};
use crate::support::{Run, ServerProcess, ctl, repo};

const APP: &str = "tests/fixtures/app-fast.yaml";
/// The servers here have a key: a keyless server serves loopback names only (a DNS-rebinding
/// guard), and these are reached as `deploy.test`.
const KEY: &str = "proxy-test-key";

fn server(tls: Option<&Pki>) -> ServerProcess {
    let providers = repo("tests/fixtures/providers-fast.yaml");
    let mut args = vec![
        "--providers".to_owned(),
        providers.display().to_string(),
        "--key".to_owned(),
        KEY.to_owned(),
    ];
    if let Some(pki) = tls {
        args.extend(pki.server_args());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ServerProcess::start(&args)
}

#[track_caller]
fn assert_deployed(run: &Run) {
    run.assert_code(0);
    assert!(
        run.stdout.contains("Resource active: database"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Deployment completed"),
        "{}",
        run.stdout
    );
}

#[test]
fn https_proxy_carries_the_submission_and_the_stream() {
    let pki = Pki::new(ServerCert {
        names: &["deploy.test"],
        expired: false,
    });
    for variable in ["HTTPS_PROXY", "https_proxy"] {
        let server = server(Some(&pki));
        let url = format!("https://deploy.test:{}", server.port());
        let proxy = ConnectProxy::start();
        let run = ctl(&["deploy", APP, "-w", "--server", &url])
            .env("CTL_API_KEY", KEY)
            .env("CTL_CA_CERT", pki.ca().to_str().unwrap())
            .env(variable, &proxy.url)
            .run();
        assert_deployed(&run);
        // The stream and the submission, each on its own connection (the stream holds its
        // connection while the POST is sent), both tunnelled.
        let requests = proxy.requests();
        let tunnel = format!("CONNECT deploy.test:{}", server.port());
        assert!(
            requests.len() >= 2 && requests.iter().all(|r| *r == tunnel),
            "{variable}: {requests:?}"
        );
    }
}

#[test]
fn without_the_proxy_the_test_name_does_not_resolve() {
    // The control for the test above: its proof rests on this.
    let pki = Pki::new(ServerCert {
        names: &["deploy.test"],
        expired: false,
    });
    let server = server(Some(&pki));
    let url = format!("https://deploy.test:{}", server.port());
    let run = ctl(&["deploy", APP, "-w", "--server", &url])
        .env("CTL_API_KEY", KEY)
        .env("CTL_CA_CERT", pki.ca().to_str().unwrap())
        .run();
    run.assert_code(5);
    assert!(
        run.stderr.contains("cannot reach the server"),
        "{}",
        run.stderr
    );
}

#[test]
fn http_proxy_carries_plain_http_requests() {
    for variable in ["HTTP_PROXY", "http_proxy"] {
        let server = server(None);
        let url = format!("http://deploy.test:{}", server.port());
        let proxy = ConnectProxy::start();
        let run = ctl(&["deploy", APP, "-w", "--server", &url])
            .env("CTL_API_KEY", KEY)
            .env(variable, &proxy.url)
            .run();
        assert_deployed(&run);
        let requests = proxy.requests();
        for wanted in [
            format!("POST {url}/api/applications"),
            format!("GET {url}/api/events/stream?app=shop"),
        ] {
            assert!(
                requests.iter().any(|r| r.starts_with(&wanted)),
                "{variable}: {wanted} not in {requests:?}"
            );
        }
    }
}

#[test]
fn no_proxy_bypasses_the_proxy() {
    let pki = Pki::localhost();
    let server = server(Some(&pki));
    let url = format!("https://localhost:{}", server.port());
    let proxy = ConnectProxy::start();
    let run = |no_proxy: Option<(&str, &str)>| {
        let mut cmd = ctl(&["list", "--server", &url])
            .env("CTL_API_KEY", KEY)
            .env("CTL_CA_CERT", pki.ca().to_str().unwrap())
            .env("HTTPS_PROXY", &proxy.url);
        if let Some((name, value)) = no_proxy {
            cmd = cmd.env(name, value);
        }
        cmd.run()
    };
    // Without NO_PROXY, even localhost goes through the proxy.
    run(None).assert_code(0);
    assert_eq!(proxy.tunnels(), 1, "{:?}", proxy.requests());
    for no_proxy in [
        ("NO_PROXY", "localhost"),
        ("no_proxy", "example.com,localhost"),
    ] {
        run(Some(no_proxy)).assert_code(0);
        assert_eq!(proxy.tunnels(), 1, "{no_proxy:?}: {:?}", proxy.requests());
    }
}
