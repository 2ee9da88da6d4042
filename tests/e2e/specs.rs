//! Spec checks end to end: what `ctl validate` and `ctl deploy` say about specs with typos, merge
//! keys, several documents, hostile expansion or nesting, and bad resource names; and that the
//! server keeps answering while it refuses hostile specs.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::support::{ServerProcess, ctl, repo, temp_yaml};

/// A generous deadline: these runs take milliseconds; it only stops a regression from hanging.
const DEADLINE: Duration = Duration::from_secs(60);

fn fast_server() -> ServerProcess {
    let providers = repo("tests/fixtures/providers-fast.yaml");
    ServerProcess::start(&["--providers", providers.to_str().unwrap()])
}

/// One HTTP/1.1 request over a raw socket (independent of the code under test); returns the
/// status line and the body.
fn request(base: &str, method: &str, path: &str, body: &[u8]) -> (String, String) {
    let addr = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/yaml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .unwrap_or_else(|e| panic!("{method} {path}: no answer within the deadline: {e}"));
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
    )
}

fn validate(text: &str) -> (crate::support::Run, String) {
    let file = temp_yaml(text);
    let path = file.path().to_str().unwrap().to_owned();
    let run = ctl(&["validate", &path]).run_with_limit(DEADLINE);
    (run, path)
}

const HEAD: &str = "apiVersion: score.dev/v1b1\nmetadata:\n  name: shop\n";

#[test]
fn validate_refuses_an_unknown_key_with_its_place_and_a_suggestion() {
    let (run, path) = validate(&format!(
        "{HEAD}containers:\n  web:\n    image: nginx\n    varibles:\n      MODE: web\n"
    ));
    run.assert_code(2);
    assert!(
        run.stderr.contains(&format!(
            "{path}:7:5: unknown key 'varibles' in containers.web (did you mean 'variables'?)"
        )),
        "{}",
        run.stderr
    );
    // The offending line and a caret under the key, each on a line of its own.
    assert!(
        run.stderr.contains("\n  |\n7 |     varibles:\n  |     ^"),
        "{}",
        run.stderr
    );
}

#[test]
fn deploy_of_a_spec_with_a_typo_exits_2_and_sends_nothing() {
    let server = fast_server();
    let spec = temp_yaml(&format!(
        "{HEAD}containers:\n  web:\n    image: nginx\nresourcez:\n  db:\n    type: postgres\n"
    ));
    let run = ctl(&[
        "deploy",
        spec.path().to_str().unwrap(),
        "-w",
        "--server",
        &server.url,
    ])
    .run_with_limit(DEADLINE);
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("unknown key 'resourcez' at the top level (did you mean 'resources'?)"),
        "{}",
        run.stderr
    );
    let (status, apps) = request(&server.url, "GET", "/api/applications", b"");
    assert!(status.contains(" 200 "), "{status}");
    assert_eq!(apps.trim(), "{}", "the server has apps: {apps}");
}

#[test]
fn merge_keys_are_applied_by_validate_and_by_the_server() {
    let server = fast_server();
    let spec = temp_yaml(&format!(
        "{HEAD}containers:\n  web: &base\n    image: nginx:1.27\n    variables: {{MODE: web}}\n  worker:\n    <<: *base\n    variables: {{MODE: worker}}\nresources:\n  database:\n    type: postgres\n"
    ));
    let path = spec.path().to_str().unwrap();
    let run = ctl(&["validate", path]).run_with_limit(DEADLINE);
    run.assert_code(0);
    assert!(
        run.stdout
            .contains("valid (application shop: 2 containers, 1 resource)"),
        "{}",
        run.stdout
    );
    let run = ctl(&["deploy", path, "-w", "--server", &server.url]).run_with_limit(DEADLINE);
    run.assert_code(0);
}

#[test]
fn a_file_of_several_documents_is_refused_naming_each_and_sends_nothing() {
    let server = fast_server();
    let one = "apiVersion: score.dev/v1b1\nmetadata:\n  name: first\ncontainers:\n  web:\n    image: nginx\n";
    let spec = temp_yaml(&format!("{one}---\n{}", one.replace("first", "second")));
    let path = spec.path().to_str().unwrap();
    let run = ctl(&["deploy", path, "--server", &server.url]).run_with_limit(DEADLINE);
    run.assert_code(2);
    assert!(
        run.stderr.contains(&format!(
            "{path}:8:1: the file holds 2 YAML documents separated by '---' ('first' at line 1, 'second' at line 8); a spec file holds exactly one workload: put each document in a file of its own and deploy each file"
        )),
        "{}",
        run.stderr
    );
    let (_, apps) = request(&server.url, "GET", "/api/applications", b"");
    assert_eq!(apps.trim(), "{}", "the server has apps: {apps}");
}

#[test]
fn an_alias_bomb_is_refused_by_validate() {
    // 2,000 items referenced 50,000 times: 100 million values if expanded.
    let items = vec!["x"; 2_000].join(", ");
    let uses = vec!["*a"; 50_000].join(", ");
    let (run, path) = validate(&format!("{HEAD}anchor: &a [{items}]\nbomb: [{uses}]\n"));
    run.assert_code(2);
    assert!(
        run.stderr.contains(&format!("{path}:4:"))
            && run
                .stderr
                .contains("invalid YAML: the spec expands to more than 100000 YAML values"),
        "{}",
        run.stderr
    );
}

#[test]
fn deep_nesting_is_refused_by_validate() {
    let depth = 200_000;
    let text = format!("{}1{}", "{a: ".repeat(depth), "}".repeat(depth));
    assert!(text.len() <= 1024 * 1024);
    let (run, path) = validate(&text);
    run.assert_code(2);
    assert!(
        run.stderr.contains(&format!(
            "{path}:1:257: invalid YAML: collections are nested more than 64 levels deep"
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn resource_names_must_be_dns_labels() {
    let (run, path) = validate(&format!(
        "{HEAD}containers:\n  web:\n    image: nginx\nresources:\n  \"db;$(id)\":\n    type: postgres\n"
    ));
    run.assert_code(2);
    assert!(
        run.stderr.contains(&format!(
            "{path}:8:3: resource name 'db;$(id)' must be a valid DNS label"
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn the_server_refuses_hostile_specs_and_keeps_answering_meanwhile() {
    let server = fast_server();
    let depth = 200_000;
    let nested = format!("{}1{}", "{a: ".repeat(depth), "}".repeat(depth)).into_bytes();
    let items = vec!["x"; 2_000].join(", ");
    let uses = vec!["*a"; 50_000].join(", ");
    let bomb = format!("{HEAD}anchor: &a [{items}]\nbomb: [{uses}]\n").into_bytes();
    let posts: Vec<_> = (0..4)
        .map(|i| {
            let url = server.url.clone();
            let body = if i % 2 == 0 {
                nested.clone()
            } else {
                bomb.clone()
            };
            std::thread::spawn(move || request(&url, "POST", "/api/applications", &body))
        })
        .collect();
    // While those are sent and parsed, the server answers its health check.
    let (status, body) = request(&server.url, "GET", "/healthz", b"");
    assert!(status.contains(" 200 "), "{status}");
    assert_eq!(body.trim(), "ok");
    for (i, post) in posts.into_iter().enumerate() {
        let (status, body) = post.join().unwrap();
        assert!(status.contains(" 400 "), "{status}: {body}");
        let expected = if i % 2 == 0 {
            "collections are nested more than 64 levels deep"
        } else {
            "the spec expands to more than 100000 YAML values"
        };
        assert!(body.contains(expected), "{body}");
    }
    let (status, _) = request(&server.url, "GET", "/healthz", b"");
    assert!(status.contains(" 200 "), "{status}");
}
