//! The `-o json` contract (docs/json-output.md): stdout is pure NDJSON ending in exactly one
//! `watch.result` line, for success, failure, timeout and a rejected spec; stderr holds the
//! human text; exit 2 leaves stdout empty; the documented examples parse and have exactly the
//! fields the program writes.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::support::{Run, ServerProcess, ctl, repo, temp_yaml};

const FAST: &str = "tests/fixtures/providers-fast.yaml";

fn fast_server() -> ServerProcess {
    let providers = repo(FAST);
    ServerProcess::start(&["--providers", providers.to_str().unwrap()])
}

fn spec(name: &str, kind: &str) -> tempfile::NamedTempFile {
    temp_yaml(&format!(
        "metadata:\n  name: {name}\ncontainers:\n  web:\n    image: nginx\nresources:\n  db:\n    type: {kind}\n"
    ))
}

fn deploy_json(server: &ServerProcess, file: &str, extra: &[&str]) -> Run {
    let mut args = vec!["deploy", file, "-w", "-o", "json", "--server", &server.url];
    args.extend_from_slice(extra);
    ctl(&args).run()
}

/// Asserts the NDJSON contract and returns the parsed lines.
#[track_caller]
fn assert_ndjson_ending_in_result(run: &Run, code: i32, outcome: &str) -> Vec<Value> {
    run.assert_code(code);
    assert!(run.stdout.ends_with('\n'), "stdout ends with a newline");
    let values: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l:?}"));
            assert!(v.is_object(), "not an object: {l}");
            assert!(!l.contains('\x1b'), "no colour in JSON: {l:?}");
            v
        })
        .collect();
    let results: Vec<&Value> = values
        .iter()
        .filter(|v| v["type"] == "watch.result")
        .collect();
    assert_eq!(results.len(), 1, "exactly one result line:\n{}", run.stdout);
    let last = values.last().unwrap();
    assert_eq!(last["type"], "watch.result", "the result is the last line");
    assert_eq!(last["outcome"], outcome);
    assert_eq!(last["exit_code"], code);
    assert_eq!(last["schema_version"], ctl::render::JSON_SCHEMA_VERSION);
    assert!(!run.stderr.trim().is_empty(), "the human text is on stderr");
    values
}

#[test]
fn success_is_pure_ndjson_ending_in_the_result() {
    let server = fast_server();
    let run = deploy_json(&server, "tests/fixtures/app-fast.yaml", &[]);
    let values = assert_ndjson_ending_in_result(&run, 0, "succeeded");
    assert!(values.iter().any(|v| v["type"] == "deployment.completed"));
    assert!(
        run.stderr.contains("Submitting Score specification: shop"),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains("Submitting"));
}

#[test]
fn failure_is_pure_ndjson_ending_in_the_result() {
    let server = fast_server();
    let file = spec("crash", "broken");
    let run = deploy_json(&server, file.path().to_str().unwrap(), &[]);
    let values = assert_ndjson_ending_in_result(&run, 1, "failed");
    let result = values.last().unwrap();
    assert!(
        result["error"].as_str().unwrap().contains("quota exceeded"),
        "{result}"
    );
    assert_eq!(result["resources"][0]["state"], "failed");
}

#[test]
fn timeout_is_pure_ndjson_ending_in_the_result() {
    let server = fast_server();
    let file = spec("sloth", "slow");
    let run = deploy_json(&server, file.path().to_str().unwrap(), &["--timeout", "1s"]);
    let values = assert_ndjson_ending_in_result(&run, 3, "timeout");
    assert!(values.last().unwrap()["deployment_id"].is_string());
    assert!(run.stderr.contains("Reattach with"), "{}", run.stderr);
}

#[test]
fn a_rejected_spec_still_ends_in_the_result() {
    let server = fast_server();
    let file = spec("odd", "quantum-db");
    let run = deploy_json(&server, file.path().to_str().unwrap(), &[]);
    let values = assert_ndjson_ending_in_result(&run, 4, "error");
    assert_eq!(values.len(), 1, "nothing but the result:\n{}", run.stdout);
    let result = &values[0];
    assert!(
        result["error"]
            .as_str()
            .unwrap()
            .contains("no provider registered"),
        "{result}"
    );
    assert!(
        run.stderr
            .contains("error: the server rejected the request"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_unreachable_server_also_ends_in_the_result() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    for args in [
        vec!["deploy", "tests/fixtures/app-fast.yaml", "-w"],
        vec!["watch", "shop"],
        vec!["delete", "shop", "-w"],
    ] {
        let mut args = args.clone();
        args.extend(["-o", "json", "--server", &url]);
        let run = ctl(&args).run();
        assert_ndjson_ending_in_result(&run, 5, "error");
    }
}

#[test]
fn invalid_specs_exit_2_with_an_empty_stdout() {
    let file = temp_yaml("metadata:\n  name: x\ncontainers: [\n");
    let run = ctl(&["deploy", file.path().to_str().unwrap(), "-w", "-o", "json"]).run();
    run.assert_code(2);
    assert_eq!(run.stdout, "");
    let path = file.path().to_str().unwrap();
    assert!(run.stderr.contains(&format!("{path}:")), "{}", run.stderr);
}

#[test]
fn without_watch_deploy_prints_the_servers_answer_as_one_object() {
    let server = fast_server();
    let run = ctl(&[
        "deploy",
        "tests/fixtures/app-fast.yaml",
        "-o",
        "json",
        "--server",
        &server.url,
    ])
    .run();
    run.assert_code(0);
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
    let answer: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(answer["status"], "accepted");
    assert_eq!(answer["name"], "shop");
    assert!(answer["deployment_id"].is_string());
}

// ---------------------------------------------------------------------------------------------
// docs/json-output.md against the program
// ---------------------------------------------------------------------------------------------

const DOC: &str = include_str!("../../docs/json-output.md");

/// Every line of every ```json block, parsed, with the `## ` section it is in.
fn documented_examples() -> Vec<(String, Value)> {
    let mut section = String::new();
    let mut in_json = false;
    let mut out = Vec::new();
    for line in DOC.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            section = title.to_owned();
        } else if line.trim() == "```json" {
            in_json = true;
        } else if line.trim() == "```" {
            in_json = false;
        } else if in_json && !line.trim().is_empty() {
            let value: Value = serde_json::from_str(line).unwrap_or_else(|e| {
                panic!("docs/json-output.md: example in {section:?} is not JSON ({e}): {line}")
            });
            out.push((section.clone(), value));
        }
    }
    out
}

/// Whether two values have the same fields, recursively. Scalars (null included) all match
/// each other, since a field may be null in one output and set in another; an empty array
/// matches any array; a null matches an object (an absent deployment).
fn same_fields(doc: &Value, real: &Value, path: &str) -> Result<(), String> {
    match (doc, real) {
        (Value::Object(a), Value::Object(b)) => {
            let ka: Vec<&String> = a.keys().collect();
            let kb: Vec<&String> = b.keys().collect();
            if ka != kb {
                return Err(format!(
                    "{path}: documented fields {ka:?}, program writes {kb:?}"
                ));
            }
            for (key, value) in a {
                same_fields(value, &b[key], &format!("{path}.{key}"))?;
            }
            Ok(())
        }
        (Value::Array(a), Value::Array(b)) => match (a.first(), b.first()) {
            (Some(x), Some(y)) => same_fields(x, y, &format!("{path}[]")),
            _ => Ok(()),
        },
        (Value::Object(_) | Value::Array(_), Value::Null)
        | (Value::Null, Value::Object(_) | Value::Array(_)) => Ok(()),
        (Value::Object(_) | Value::Array(_), _) | (_, Value::Object(_) | Value::Array(_)) => {
            Err(format!("{path}: documented {doc}, program writes {real}"))
        }
        _ => Ok(()),
    }
}

/// Every key (recursively) of a value.
fn keys(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                out.push(k.clone());
                keys(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| keys(v, out)),
        _ => {}
    }
}

fn parse_lines(run: &Run) -> Vec<Value> {
    run.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn documented_examples_parse_and_match_what_the_program_writes() {
    let server = fast_server();
    let url = server.url.as_str();
    let mut real: Vec<Value> = Vec::new();

    // Events and results: a success, a failure and a rejection.
    let ok = deploy_json(&server, "tests/fixtures/app-fast.yaml", &[]);
    ok.assert_code(0);
    real.extend(parse_lines(&ok));
    let broken = spec("hello", "broken");
    let failed = deploy_json(&server, broken.path().to_str().unwrap(), &[]);
    failed.assert_code(1);
    real.extend(parse_lines(&failed));
    let odd = spec("odd", "quantum-db");
    let rejected = deploy_json(&server, odd.path().to_str().unwrap(), &[]);
    rejected.assert_code(4);
    real.extend(parse_lines(&rejected));

    // One-object answers.
    for args in [
        vec!["status", "hello"],
        vec!["list"],
        vec!["deploy", "tests/fixtures/app-fast.yaml"],
        vec!["validate", "tests/fixtures/app-fast.yaml"],
    ] {
        let mut args = args.clone();
        args.extend(["-o", "json", "--server", url]);
        let run = ctl(&args).run();
        run.assert_code(0);
        real.extend(parse_lines(&run));
    }
    let invalid = temp_yaml("metadata:\n  name: x\ncontainers: [\n");
    let run = ctl(&["validate", invalid.path().to_str().unwrap(), "-o", "json"]).run();
    run.assert_code(2);
    real.extend(parse_lines(&run));
    let deleted = ctl(&["delete", "hello", "-o", "json", "--server", url]).run();
    deleted.assert_code(0);
    real.extend(parse_lines(&deleted));
    let config = temp_yaml(&format!(
        "current-context: local\ncontexts:\n  local:\n    server: {url}\n  staging:\n    server: {url}\n    api-key-env: STAGING_KEY\n"
    ));
    let contexts = ctl(&[
        "config",
        "get-contexts",
        "-o",
        "json",
        "--config",
        config.path().to_str().unwrap(),
    ])
    .run();
    contexts.assert_code(0);
    real.extend(parse_lines(&contexts));

    // What kind of output a value is: its type, or for pass-through answers its key set.
    let kind = |v: &Value| match v["type"].as_str() {
        Some(t) => t.to_owned(),
        None => {
            let mut k: Vec<&String> = v.as_object().unwrap().keys().collect();
            k.sort();
            format!("answer{k:?}")
        }
    };
    let mut by_kind: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for v in &real {
        by_kind.entry(kind(v)).or_default().push(v);
    }

    let examples = documented_examples();
    assert!(examples.len() >= 12, "{} examples", examples.len());
    for (section, example) in &examples {
        let k = kind(example);
        let candidates = by_kind.get(&k).unwrap_or_else(|| {
            panic!("docs/json-output.md ({section}): the program wrote no {k} in this test")
        });
        // Deployment-level shapes are fixed; take the first the program wrote of that kind.
        same_fields(example, candidates[0], &k)
            .unwrap_or_else(|e| panic!("docs/json-output.md ({section}): {e}"));
        if example.get("schema_version").is_some() {
            assert_eq!(example["schema_version"], ctl::render::JSON_SCHEMA_VERSION);
        }
    }

    // Every field the program writes in its own objects is described in a table.
    for v in real
        .iter()
        .filter(|v| v.get("schema_version").is_some() || v.get("type").is_none())
    {
        let mut names = Vec::new();
        keys(v, &mut names);
        for name in names {
            assert!(
                DOC.contains(&format!("| `{name}`"))
                    || DOC.contains(&format!("].{name}`"))
                    || DOC.contains(&format!(".{name}` |")),
                "docs/json-output.md does not describe the field {name:?} of {}",
                kind(v)
            );
        }
    }
    // And the version the program writes is the one the page states.
    assert!(DOC.contains(&format!(
        "The current version is **{}**",
        ctl::render::JSON_SCHEMA_VERSION
    )));
}
