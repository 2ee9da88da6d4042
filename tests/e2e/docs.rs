//! The reference pages against the program: docs/events.md's tables against the events real
//! deployments produce on the bundled server, the README's sample session against what `ctl`
//! prints, and the commands in the examples' comments against what they do. A change to one
//! side fails here until the other follows.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::support::{Run, ServerProcess, ctl, repo, temp_yaml};

const EVENTS_MD: &str = include_str!("../../docs/events.md");
const JSON_OUTPUT_MD: &str = include_str!("../../docs/json-output.md");
const README: &str = include_str!("../../README.md");

/// The lines of `doc` between the heading `## title` and the next `## ` heading.
fn section<'a>(doc: &'a str, title: &str) -> Vec<&'a str> {
    let heading = format!("## {title}");
    let mut lines = doc.lines().skip_while(|l| l.trim_end() != heading);
    assert!(lines.next().is_some(), "no section {heading:?}");
    lines.take_while(|l| !l.starts_with("## ")).collect()
}

/// The cells of a Markdown table row, trimmed, without the empty edges.
fn cells(row: &str) -> Vec<&str> {
    let inner = row.trim().trim_start_matches('|').trim_end_matches('|');
    inner.split(" | ").map(str::trim).collect()
}

/// The names a cell lists: its backticked words, leaving out everything in parentheses (which
/// describes a name rather than adding one).
fn listed(cell: &str) -> BTreeSet<String> {
    let mut outside = String::new();
    let mut depth = 0usize;
    for c in cell.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            c if depth == 0 => outside.push(c),
            _ => {}
        }
    }
    outside
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The first cell of a row, unquoted: `` `resource.active` `` -> `resource.active`.
fn name_of(cell: &str) -> Option<&str> {
    cell.strip_prefix('`')?.strip_suffix('`')
}

/// docs/events.md's type table: each documented type and the `data` keys listed for it.
fn documented_types() -> BTreeMap<String, BTreeSet<String>> {
    let mut types = BTreeMap::new();
    for row in section(EVENTS_MD, "Types") {
        let cells = cells(row);
        if cells.len() != 5 {
            continue;
        }
        if let Some(name) = name_of(cells[0]).filter(|n| *n != "Type") {
            types.insert(name.to_owned(), listed(cells[4]));
        }
    }
    assert!(
        types.len() >= 18,
        "types parsed from docs/events.md: {types:?}"
    );
    types
}

/// A key table (`| key | type | meaning |`) of a section: each key and its meaning.
fn key_table(doc: &str, title: &str) -> BTreeMap<String, String> {
    section(doc, title)
        .into_iter()
        .filter_map(|row| {
            let cells = cells(row);
            let name = name_of(cells.first()?)?;
            (cells.len() == 3).then(|| (name.to_owned(), cells[2].to_owned()))
        })
        .collect()
}

/// Every JSON line of a run's stdout.
fn json_lines(run: &Run) -> Vec<Value> {
    run.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect()
}

/// The fast catalogue plus a provider whose step prints, for `step.progress`.
const CATALOGUE: &str = "providers:
  - name: database-team
    resource_types: [postgres]
    workflow:
      name: provision-postgres
      steps:
        - name: create-instance
          sleep: 10ms
  - name: cache-team
    resource_types: [redis]
    workflow:
      name: provision-redis
      steps:
        - name: create-cluster
          sleep: 10ms
  - name: broken-team
    resource_types: [broken]
    workflow:
      name: provision-broken
      steps:
        - name: configure
          fail: quota exceeded
  - name: jobs
    resource_types: [job]
    workflow:
      name: run-job
      steps:
        - name: talk
          run: echo allocating subnet
";

fn app(name: &str, kind: &str) -> tempfile::NamedTempFile {
    temp_yaml(&format!(
        "metadata:\n  name: {name}\ncontainers:\n  web:\n    image: nginx\nresources:\n  db:\n    type: {kind}\n"
    ))
}

/// Every event a run of real deployments produces: a success, a failure, a step with output, a
/// deployment whose history was pruned (`stream.gap`) and a `delete -w`.
fn real_events() -> Vec<Value> {
    let catalogue = temp_yaml(CATALOGUE);
    // Five events kept: the later deployments push the first one's history out.
    let server = ServerProcess::start(&[
        "--providers",
        catalogue.path().to_str().unwrap(),
        "--retention",
        "5",
    ]);
    let url = server.url.as_str();
    let mut lines = Vec::new();
    let mut run = |args: &[&str], code: i32| {
        let mut args = args.to_vec();
        args.extend(["-o", "json", "--server", url]);
        let run = ctl(&args).run();
        run.assert_code(code);
        lines.extend(json_lines(&run));
        run
    };
    let first = run(&["deploy", "tests/fixtures/app-fast.yaml", "-w"], 0);
    let id = json_lines(&first).last().unwrap()["deployment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let broken = app("broken", "broken");
    run(&["deploy", broken.path().to_str().unwrap(), "-w"], 1);
    let job = app("job", "job");
    run(&["deploy", job.path().to_str().unwrap(), "-w"], 0);
    run(&["watch", "shop", "--deployment", &id], 0);
    run(&["delete", "shop", "-w"], 0);
    lines.extend(queued_events());
    lines
        .into_iter()
        .filter(|v| v["type"] != "watch.result")
        .collect()
}

/// The events of a redeploy submitted while the app's previous deployment still runs (held by
/// a step that waits for a file), watched once both ended: it starts with `deployment.queued`.
/// A server of its own, without the retention that would prune that event before the watch.
fn queued_events() -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let gate = dir.path().join("gate");
    let catalogue = temp_yaml(&format!(
        "{CATALOGUE}  - name: gate-team
    resource_types: [gated]
    workflow:
      name: provision-gated
      steps:
        - name: wait-for-gate
          run: \"while [ -d '{}' ] && [ ! -e '{}' ]; do sleep 0.02; done\"
",
        dir.path().display(),
        gate.display()
    ));
    let server = ServerProcess::start(&["--providers", catalogue.path().to_str().unwrap()]);
    let url = server.url.as_str();
    let spec = app("queued", "gated");
    let submit = || {
        let run = ctl(&[
            "deploy",
            spec.path().to_str().unwrap(),
            "-o",
            "json",
            "--server",
            url,
        ])
        .run();
        run.assert_code(0);
        json_lines(&run)[0]["deployment_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    submit();
    let second = submit();
    std::fs::write(&gate, "").unwrap();
    let run = ctl(&[
        "watch",
        "queued",
        "--deployment",
        &second,
        "-o",
        "json",
        "--server",
        url,
    ])
    .run();
    run.assert_code(0);
    let events: Vec<Value> = json_lines(&run)
        .into_iter()
        .filter(|v| v["type"] != "watch.result")
        .collect();
    assert!(
        events.iter().any(|v| v["type"] == "deployment.queued"),
        "{events:?}"
    );
    events
}

#[test]
fn events_md_documents_every_event_the_server_sends_and_nothing_else() {
    let types = documented_types();
    let envelope = key_table(EVENTS_MD, "JSON Lines output");
    let sources = listed(&envelope["source"]);
    let json_sources = listed(&key_table(JSON_OUTPUT_MD, "Events")["source"]);
    assert!(!sources.is_empty(), "docs/events.md lists no sources");

    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for event in real_events() {
        let object = event.as_object().unwrap();
        let kind = event["type"].as_str().unwrap();
        let documented = types
            .get(kind)
            .unwrap_or_else(|| panic!("docs/events.md does not document the type {kind}: {event}"));
        for key in object.keys() {
            assert!(
                envelope.contains_key(key),
                "docs/events.md does not document the top-level key {key:?}: {event}"
            );
        }
        let data: Vec<&String> = event
            .get("data")
            .and_then(Value::as_object)
            .map(|d| d.keys().collect())
            .unwrap_or_default();
        for key in data {
            assert!(
                documented.contains(key),
                "docs/events.md does not list the data key {key:?} of {kind} (it lists {documented:?}): {event}"
            );
            seen.entry(kind.to_owned()).or_default().insert(key.clone());
        }
        seen.entry(kind.to_owned()).or_default();
        if let Some(source) = event.get("source").and_then(Value::as_str) {
            assert!(
                sources.contains(source),
                "docs/events.md does not list the source {source:?} (it lists {sources:?})"
            );
            assert!(
                json_sources.contains(source),
                "docs/json-output.md does not list the source {source:?} (it lists {json_sources:?})"
            );
        }
    }

    // And the other way round: every documented type and key was sent.
    for (kind, keys) in &types {
        let sent = seen
            .get(kind)
            .unwrap_or_else(|| panic!("docs/events.md documents {kind}, which no run sent"));
        let missing: Vec<&String> = keys.difference(sent).collect();
        assert!(
            missing.is_empty(),
            "docs/events.md lists data keys of {kind} the server never sent: {missing:?}"
        );
    }
}

/// The README's sample session: the command it shows prints every line it shows (timestamps
/// and the deployment's duration aside).
#[test]
fn the_readme_sample_is_what_ctl_prints() {
    let block: Vec<&str> = README
        .lines()
        .skip_while(|l| *l != "```text")
        .skip(1)
        .take_while(|l| *l != "```")
        .collect();
    let command = block[0]
        .strip_prefix("$ ctl ")
        .expect("the sample starts with the command");
    let mut args: Vec<&str> = command.split_whitespace().collect();
    args.extend(["--timestamps", "none"]);
    let run = ctl(&args).run();
    run.assert_code(0);
    let printed: BTreeSet<String> = run
        .stdout
        .lines()
        .chain(run.stderr.lines())
        .map(normalise)
        .collect();
    for line in &block[1..] {
        if *line == "..." {
            continue;
        }
        let line = match line.strip_prefix('[') {
            Some(rest) => rest.split_once("] ").map_or(*line, |(_, text)| text),
            None => line,
        };
        assert!(
            printed.contains(&normalise(line)),
            "README sample line {line:?} is not printed by `ctl {command}`:\n{}\n{}",
            run.stderr,
            run.stdout
        );
    }
}

/// A footer's duration varies from run to run: `completed in 4s` reads `completed in Ns`.
fn normalise(line: &str) -> String {
    match line.split_once(" completed in ") {
        Some((head, _)) => format!("{head} completed in Ns"),
        None => line.to_owned(),
    }
}

/// Each example's header comment may show a `ctl` command and the exit code it ends with (0
/// unless it says `exit code N`); run as written, it does.
#[test]
fn commands_in_the_examples_comments_do_what_they_say() {
    let mut checked = 0;
    for entry in std::fs::read_dir(repo("examples")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let comment: Vec<&str> = text
            .lines()
            .take_while(|l| l.starts_with('#'))
            .map(|l| l.trim_start_matches('#'))
            .collect();
        let joined = comment.join(" ");
        let expected = joined
            .split_once("exit code ")
            .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
            .map_or(0, |n| n.parse().unwrap());
        for line in &comment {
            let Some((_, command)) = line.split_once("ctl ") else {
                continue;
            };
            if !command.starts_with("deploy ") {
                continue;
            }
            let mut args: Vec<&str> = command.split_whitespace().collect();
            let server = (!args.contains(&"--local")).then(|| ServerProcess::start(&[]));
            if let Some(server) = &server {
                args.extend(["--server", server.url.as_str()]);
            }
            let run = ctl(&args).run();
            assert_eq!(
                run.code,
                Some(expected),
                "{}: `ctl {command}` exits with {:?}, its comment says {expected}\n{}",
                path.display(),
                run.code,
                run.stderr
            );
            checked += 1;
        }
    }
    assert!(checked >= 2, "{checked} example commands found");
}
