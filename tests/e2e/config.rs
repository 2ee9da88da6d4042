//! `ctl config current-context | get-contexts | use-context | view` on config files the tests
//! write, and the promise that no literal key ever shows in their output.

use crate::support::{Run, ServerProcess, ctl, repo};

const KEY: &str = "sk-live-5ecret-KEY-0f-pr0d";
const BLOCK_KEY: &str = "bl0ck-5ecret-KEY";

/// A file with comments, one context of each key kind, and a password in a server URL.
fn config_text() -> String {
    format!(
        "# my contexts\n\
         current-context: dev   # the usual one\n\
         contexts:\n\
         \x20 dev:\n\
         \x20   server: http://localhost:8081\n\
         \x20 prod:\n\
         \x20   server: https://platform.example.com\n\
         \x20   api-key: {KEY}   # should be a variable\n\
         \x20 lab:\n\
         \x20   server: https://user:hunter2@lab.example.com\n\
         \x20   api-key: |\n\
         \x20     {BLOCK_KEY}\n\
         \x20 ci:\n\
         \x20   server: https://ci.example.com\n\
         \x20   api-key-env: CI_PLATFORM_KEY\n\
         \x20 staging:\n\
         \x20   api-key-command: pass show platform/staging\n"
    )
}

fn config(args: &[&str], file: &std::path::Path) -> Run {
    let mut all = vec!["config"];
    all.extend_from_slice(args);
    let run = ctl(&all).args(&["--config", file.to_str().unwrap()]).run();
    for secret in [KEY, BLOCK_KEY, "hunter2"] {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "a secret was shown by ctl config {args:?}:\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
    run
}

fn write_config(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, config_text()).unwrap();
    path
}

#[test]
fn current_context_and_use_context_edit_only_that_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(&dir);
    assert_eq!(
        config(&["current-context"], &path).assert_code(0).stdout,
        "dev\n"
    );

    let run = config(&["use-context", "ci"], &path);
    run.assert_code(0);
    assert!(run.stdout.contains("\"ci\""), "{}", run.stdout);
    assert_eq!(
        config(&["current-context"], &path).assert_code(0).stdout,
        "ci\n"
    );
    // Everything but the one line's value is as written, comments included.
    let after = std::fs::read_to_string(&path).unwrap();
    let expected = config_text().replace(
        "current-context: dev   # the usual one\n",
        "current-context: \"ci\" # the usual one\n",
    );
    assert_eq!(after, expected);
}

#[test]
fn use_context_adds_the_line_when_there_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    let text = "# no current context yet\ncontexts:\n  a:\n    server: http://a.example\n";
    std::fs::write(&path, text).unwrap();
    let none = config(&["current-context"], &path);
    none.assert_code(2);
    assert!(none.stderr.contains("use-context"), "{}", none.stderr);
    config(&["use-context", "a"], &path).assert_code(0);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!("current-context: \"a\"\n{text}")
    );
}

#[test]
fn use_context_refuses_an_unknown_context_and_leaves_the_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(&dir);
    let run = config(&["use-context", "nope"], &path);
    run.assert_code(2);
    assert!(run.stderr.contains("\"nope\""), "{}", run.stderr);
    assert!(
        run.stderr.contains("ci, dev, lab, prod, staging"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), config_text());
}

#[test]
fn get_contexts_is_a_table_or_one_json_object() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(&dir);
    let run = config(&["get-contexts"], &path);
    run.assert_code(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{}", run.stdout);
    assert!(lines[0].starts_with("CURRENT   NAME"), "{}", run.stdout);
    let row = |name: &str| {
        *lines
            .iter()
            .find(|l| l.split_whitespace().any(|w| w == name))
            .unwrap_or_else(|| panic!("no row {name}: {}", run.stdout))
    };
    assert!(row("dev").starts_with('*'), "{}", run.stdout);
    assert!(!row("prod").starts_with('*'), "{}", run.stdout);
    assert!(row("prod").ends_with("in file"), "{}", run.stdout);
    assert!(row("ci").ends_with("env CI_PLATFORM_KEY"), "{}", run.stdout);
    assert!(row("staging").ends_with("command"), "{}", run.stdout);
    assert!(row("dev").ends_with("none"), "{}", run.stdout);

    let run = config(&["get-contexts", "-o", "json"], &path);
    run.assert_code(0);
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["type"], "config.contexts");
    assert_eq!(v["current_context"], "dev");
    let contexts = v["contexts"].as_array().unwrap();
    assert_eq!(contexts.len(), 5);
    let prod = contexts.iter().find(|c| c["name"] == "prod").unwrap();
    assert_eq!(prod["key"], "api-key");
    assert_eq!(prod["current"], false);
    assert_eq!(prod["server"], "https://platform.example.com");
    let ci = contexts.iter().find(|c| c["name"] == "ci").unwrap();
    assert_eq!(ci["key_env"], "CI_PLATFORM_KEY");
    // Every field docs/json-output.md documents is there, and nothing it does not.
    let doc = include_str!("../../docs/json-output.md");
    let section = &doc[doc.find("## `config.contexts`").unwrap()..];
    let section = &section[..section[3..].find("\n## ").unwrap()];
    let documented: std::collections::BTreeSet<&str> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
        .collect();
    let mut real = std::collections::BTreeSet::new();
    for (k, _) in v.as_object().unwrap() {
        real.insert(k.clone());
    }
    for c in contexts {
        for (k, _) in c.as_object().unwrap() {
            real.insert(format!("contexts[].{k}"));
        }
    }
    let real: std::collections::BTreeSet<&str> = real.iter().map(String::as_str).collect();
    assert_eq!(
        documented, real,
        "docs/json-output.md's config.contexts table"
    );
}

#[test]
fn view_prints_the_file_with_literal_keys_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(&dir);
    let run = config(&["view"], &path);
    run.assert_code(0);
    assert!(run.stdout.starts_with("# my contexts\n"), "{}", run.stdout);
    assert_eq!(
        run.stdout.matches("api-key: REDACTED").count(),
        2,
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("api-key-command: pass show platform/staging\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("api-key-env: CI_PLATFORM_KEY\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("server: https://user:***@lab.example.com\n"),
        "{}",
        run.stdout
    );
    // The view is still a config file ctl reads, to the same contexts.
    let copy = dir.path().join("viewed.yaml");
    std::fs::write(&copy, &run.stdout).unwrap();
    let again = config(&["get-contexts", "-o", "json"], &copy);
    again.assert_code(0);
    let v: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(v["contexts"].as_array().unwrap().len(), 5);
}

#[test]
fn a_missing_or_broken_file_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing.yaml");
    for verb in ["current-context", "get-contexts", "view"] {
        let run = config(&[verb], &missing);
        run.assert_code(2);
        assert!(run.stderr.contains("nothing.yaml"), "{}", run.stderr);
    }
    let broken = dir.path().join("broken.yaml");
    std::fs::write(
        &broken,
        format!("contexts:\n  a:\n    api-key: {KEY}\n    bogus: 1\n"),
    )
    .unwrap();
    config(&["view"], &broken).assert_code(2);
    config(&["use-context", "a"], &broken).assert_code(2);
}

#[test]
fn client_banners_name_the_context_and_server_in_use() {
    let providers = repo("tests/fixtures/providers-fast.yaml");
    let server = ServerProcess::start(&["--providers", providers.to_str().unwrap(), "--key", KEY]);
    let url = server.url.replacen("://", "://deployer:hunter2@", 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(
        &path,
        format!(
            "current-context: here\ncontexts:\n  here:\n    server: {url}\n    api-key: {KEY}\n"
        ),
    )
    .unwrap();
    let file = path.to_str().unwrap();
    let shown = url.replacen("hunter2", "***", 1);
    let note = format!("(context here, server {shown})");
    let no_secret = |run: &Run| {
        for secret in [KEY, "hunter2"] {
            assert!(
                !run.stdout.contains(secret) && !run.stderr.contains(secret),
                "{}\n{}",
                run.stdout,
                run.stderr
            );
        }
    };

    let deploy = ctl(&[
        "deploy",
        "tests/fixtures/app-fast.yaml",
        "-w",
        "--config",
        file,
    ])
    .run();
    deploy.assert_code(0);
    no_secret(&deploy);
    let submitting = deploy
        .stderr
        .lines()
        .find(|l| l.contains("Submitting Score specification"))
        .unwrap_or_else(|| panic!("{}", deploy.stderr));
    assert!(
        submitting.ends_with(&format!("shop {note}")),
        "{}",
        deploy.stderr
    );
    let watching = deploy
        .stderr
        .lines()
        .find(|l| l.contains("Watching deployment"))
        .unwrap_or_else(|| panic!("{}", deploy.stderr));
    assert!(
        watching.ends_with(&format!("shop {note}")),
        "{}",
        deploy.stderr
    );
    // Banners are stderr's: stdout is the event log, as without a context.
    assert!(!deploy.stdout.contains("context here"), "{}", deploy.stdout);

    let id = ctl(&[
        "deploy",
        "tests/fixtures/app-fast.yaml",
        "-q",
        "--config",
        file,
    ])
    .run();
    id.assert_code(0);
    let id = id.stdout.trim().to_owned();
    let watch = ctl(&["watch", "shop", "--deployment", &id, "--config", file]).run();
    watch.assert_code(0);
    no_secret(&watch);
    assert!(
        watch.stderr.contains(&format!(
            "Watching deployment: shop (deployment {id}) {note}"
        )),
        "{}",
        watch.stderr
    );

    // Without a context, the banners are as they were.
    let plain = ctl(&["deploy", "tests/fixtures/app-fast.yaml", "-w"])
        .args(&["--server", &server.url, "--api-key", KEY])
        .run();
    plain.assert_code(0);
    assert!(!plain.stderr.contains("(context"), "{}", plain.stderr);
    assert!(
        plain.stderr.contains("Watching deployment: shop\n"),
        "{}",
        plain.stderr
    );
}
