//! HTTPS end to end: `ctl deploy -w` against `ctl server --tls-cert`, with the CA given by flag,
//! variable or config file, or verification skipped; and the errors for a certificate that is
//! not trusted, for another name, or expired. Certificates are made at run time.

use crate::support::pki::{Pki, ServerCert};
use crate::support::{Run, ServerProcess, ctl, repo};

const APP: &str = "tests/fixtures/app-fast.yaml";

/// A fast-catalogue server serving `pki`'s certificate.
fn tls_server(pki: &Pki) -> ServerProcess {
    let providers = repo("tests/fixtures/providers-fast.yaml");
    let mut args = vec!["--providers".to_owned(), providers.display().to_string()];
    args.extend(pki.server_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ServerProcess::start(&args)
}

/// The deployment ran to its end: events from the stream, and the success line.
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
fn the_server_announces_https() {
    let pki = Pki::localhost();
    let server = tls_server(&pki);
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
}

#[test]
fn deploy_watch_over_https_with_the_ca_given_by_flag() {
    let pki = Pki::localhost();
    let server = tls_server(&pki);
    let ca = pki.ca();
    let run = ctl(&["deploy", APP, "-w", "--server", &server.url])
        .args(&["--certificate-authority", ca.to_str().unwrap()])
        .run();
    assert_deployed(&run);
    // A GET over the same trust, by host name this time.
    let by_name = server.url.replace("127.0.0.1", "localhost");
    ctl(&["status", "shop", "--server", &by_name])
        .env("CTL_CA_CERT", ca.to_str().unwrap())
        .run()
        .assert_code(0);
}

#[test]
fn deploy_watch_over_https_with_the_ca_given_by_ctl_ca_cert() {
    let pki = Pki::localhost();
    let server = tls_server(&pki);
    let run = ctl(&["deploy", APP, "-w", "--server", &server.url])
        .env("CTL_CA_CERT", pki.ca().to_str().unwrap())
        .run();
    assert_deployed(&run);
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
}

#[test]
fn deploy_watch_over_https_with_the_ca_from_the_config_context() {
    let pki = Pki::localhost();
    let server = tls_server(&pki);
    let config = pki.dir().join("config.yaml");
    // A relative path is read from the config file's directory.
    std::fs::write(
        &config,
        format!(
            "current-context: private\ncontexts:\n  private:\n    server: {}\n    certificate-authority: ca.pem\n",
            server.url
        ),
    )
    .unwrap();
    let run = ctl(&["deploy", APP, "-w", "--config", config.to_str().unwrap()]).run();
    assert_deployed(&run);
}

#[test]
fn skipping_verification_works_and_warns_on_every_run() {
    let pki = Pki::localhost();
    for by_env in [false, true] {
        // A fresh server each time: a second deployment of the same spec changes nothing.
        let server = tls_server(&pki);
        let mut run = ctl(&["deploy", APP, "-w", "--server", &server.url]);
        run = if by_env {
            run.env("CTL_INSECURE_SKIP_TLS_VERIFY", "true")
        } else {
            run.args(&["--insecure-skip-tls-verify"])
        };
        let run = run.run();
        assert_deployed(&run);
        assert!(
            run.stderr
                .contains("warning: TLS certificate verification is off"),
            "{}",
            run.stderr
        );
    }
}

/// A certificate error: exit 5, what failed, the flag that helps, and no "is the server
/// running?".
#[track_caller]
fn assert_certificate_error(run: &Run, what: &str, hint: &str) {
    run.assert_code(5);
    assert!(
        run.stderr.contains("cannot connect securely"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(what), "{}", run.stderr);
    assert!(run.stderr.contains(hint), "{}", run.stderr);
    assert!(!run.stderr.contains("server running"), "{}", run.stderr);
}

#[test]
fn a_certificate_from_an_unknown_authority_is_explained() {
    let pki = Pki::localhost();
    let server = tls_server(&pki);
    let run = ctl(&["deploy", APP, "-w", "--server", &server.url]).run();
    assert_certificate_error(&run, "unknown issuer", "--certificate-authority");
    let run = ctl(&["watch", "shop", "--server", &server.url]).run();
    assert_certificate_error(&run, "unknown issuer", "--certificate-authority");
    // Another CA than the server's is no better.
    let other = Pki::localhost();
    let run = ctl(&["list", "--server", &server.url])
        .env("CTL_CA_CERT", other.ca().to_str().unwrap())
        .run();
    assert_certificate_error(&run, "unknown issuer", "--certificate-authority");
}

#[test]
fn a_certificate_for_another_name_is_explained() {
    let pki = Pki::new(ServerCert {
        names: &["platform.example"],
        expired: false,
    });
    let server = tls_server(&pki);
    let run = ctl(&["deploy", APP, "-w", "--server", &server.url])
        .args(&["--certificate-authority", pki.ca().to_str().unwrap()])
        .run();
    assert_certificate_error(&run, "not valid for this host name", "host name");
    assert!(run.stderr.contains("platform.example"), "{}", run.stderr);
}

#[test]
fn an_expired_certificate_is_explained() {
    let pki = Pki::new(ServerCert {
        names: &["localhost", "127.0.0.1"],
        expired: true,
    });
    let server = tls_server(&pki);
    let run = ctl(&["list", "--server", &server.url])
        .args(&["--certificate-authority", pki.ca().to_str().unwrap()])
        .run();
    assert_certificate_error(&run, "has expired", "clock");
}

#[test]
fn a_bad_ca_file_is_a_usage_error_naming_it() {
    let pki = Pki::localhost();
    let server = tls_server(&pki);
    // The key is no certificate.
    let key = pki.key();
    let run = ctl(&["list", "--server", &server.url])
        .args(&["--certificate-authority", key.to_str().unwrap()])
        .run();
    run.assert_code(2);
    assert!(run.stderr.contains(key.to_str().unwrap()), "{}", run.stderr);
    let missing = pki.dir().join("missing.pem");
    let run = ctl(&["list", "--server", &server.url])
        .env("CTL_CA_CERT", missing.to_str().unwrap())
        .run();
    run.assert_code(2);
    assert!(run.stderr.contains("missing.pem"), "{}", run.stderr);
}

#[test]
fn plain_http_to_a_tls_server_and_https_to_a_plain_server_fail_clearly() {
    let server = ServerProcess::start(&[]);
    let as_https = server.url.replace("http://", "https://");
    let run = ctl(&["list", "--server", &as_https]).run();
    run.assert_code(5);
    assert!(
        run.stderr.contains("TLS handshake failed"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("http:// URL"), "{}", run.stderr);
}

#[test]
fn a_bad_server_certificate_file_stops_the_server_with_exit_2() {
    let pki = Pki::localhost();
    let run = ctl(&["server", "--in-memory", "--listen", "127.0.0.1:0"])
        .args(&["--tls-cert", pki.key().to_str().unwrap()])
        .args(&["--tls-key", pki.key().to_str().unwrap()])
        .run();
    run.assert_code(2);
    assert!(run.stderr.contains("server.key"), "{}", run.stderr);
}
