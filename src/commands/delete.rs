//! `ctl delete APP [-w]`: delete an application and its resources.
//!
//! Without `-w` the server's answer is the result (`-o json` prints it as one object). With
//! `-w` the teardown is watched: the app's event stream is opened *before* the `DELETE`, and
//! the command ends when the server's `application.deleted` event for the app arrives. Only
//! servers that report deployments (ours: its application records carry
//! `latest_deployment_id`) publish that event; on others the `DELETE` answer is final and
//! nothing is waited for. `-o json` then writes the events and one `watch.result` line whose
//! resources are those the app had, in state `deleted`.
//!
//! A deployment in progress makes our server refuse (409, exit 4): deleting under a running
//! workflow would leave the resources in an unknown state.

use std::time::Duration;

use clap::Args;
use serde_json::Value;
use tokio::time::Instant;

use super::follow::{Stop, note_notice};
use super::values::parse_duration;
use crate::client::watch::{EventWatch, WatchItem, WatchOptions};
use crate::client::{ApiClient, ResourceRecord};
use crate::error::Error;
use crate::event::EventKind;
use crate::exit::ExitStatus;
use crate::render::text::{Icons, human_duration, sanitize};
use crate::render::{JSON_SCHEMA_VERSION, Reporter, ResourceSummary, WatchEnd, WatchResult};
use crate::settings::Settings;

/// Arguments of `ctl delete`.
#[derive(Debug, Clone, Args)]
pub struct DeleteArgs {
    /// The application to delete
    #[arg(value_name = "APP")]
    pub app: String,

    /// Watch the teardown: wait for the server's `application.deleted` event
    #[arg(short, long)]
    pub watch: bool,

    /// With --watch: stop waiting after this long (exit code 3)
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// How a watched teardown ended.
enum End {
    Deleted,
    /// `--timeout` elapsed after the server answered the delete.
    Timeout,
    /// `--timeout` elapsed before the server answered the delete (or before it was sent).
    Unanswered,
    Interrupted,
}

/// Runs `ctl delete`.
pub async fn run(args: DeleteArgs, settings: Settings) -> Result<ExitStatus, Error> {
    super::check_app_name(&args.app)?;
    let client = ApiClient::for_settings(&settings)?;
    let mut reporter = Reporter::new(&settings, false);
    let started = Instant::now();
    if !args.watch {
        let answer = client.delete_application(&args.app).await?;
        let message = answer
            .get("message")
            .and_then(Value::as_str)
            .map(|m| sanitize(m).into_owned())
            .unwrap_or_else(|| format!("Deleted '{}'", args.app));
        let line = format!("{} {message}", marker(reporter.icons()));
        reporter.output(&line, &answer)?;
        return Ok(ExitStatus::Success);
    }
    match watched(&args, &client, &mut reporter, started).await {
        Ok(status) => Ok(status),
        Err(e) => Err(super::with_result_line(
            &mut reporter,
            &args.app,
            None,
            started,
            e,
        )),
    }
}

async fn watched(
    args: &DeleteArgs,
    client: &ApiClient,
    reporter: &mut Reporter,
    started: Instant,
) -> Result<ExitStatus, Error> {
    let app = args.app.as_str();
    // `--timeout` and Ctrl-C hold from the start: a server that never answers cannot hold the
    // command.
    let mut stop = Stop::new(Some(started + args.timeout));
    let mut resources = Vec::new();
    let asked = stop
        .bound(async {
            // The record says whether this server announces deletions, and an unknown app fails
            // here (404, exit 4) before anything is subscribed.
            let record: Value = client.get_json(&format!("/api/applications/{app}")).await?;
            let announces = record.get("latest_deployment_id").is_some();
            resources = client.resources(app).await.unwrap_or_default();
            // Subscribe before the DELETE, so the event cannot slip past.
            let watch = if announces {
                Some(
                    EventWatch::connect(client.clone(), app, None, None, WatchOptions::default())
                        .await?,
                )
            } else {
                None
            };
            reporter.note(&format!("deleting application {app}..."))?;
            let answer = client.delete_application(app).await?;
            Ok::<_, Error>((watch, answer))
        })
        .await;
    let end = match asked {
        Err(WatchEnd::Interrupted) => End::Interrupted,
        Err(_) => End::Unanswered,
        Ok(asked) => match asked? {
            (Some(mut watch), _) => wait_for_deletion(app, &mut watch, reporter, &mut stop).await?,
            (None, answer) => {
                if let Some(message) = answer.get("message").and_then(Value::as_str) {
                    reporter.note(message)?;
                }
                // A server that announces nothing may delete the record only (innominatus
                // leaves the resources): what it still holds says what it did.
                let left = stop
                    .bound(client.resources(app))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or_default();
                if !left.is_empty() {
                    return record_only(app, &left, reporter, started.elapsed());
                }
                End::Deleted
            }
        },
    };
    let elapsed = started.elapsed();
    let (outcome, status, error, state) = match end {
        End::Deleted => ("succeeded", ExitStatus::Success, None, "deleted"),
        End::Timeout => (
            "timeout",
            ExitStatus::Timeout,
            Some(format!(
                "the server answered the delete, but no application.deleted event came within {}",
                human_duration(args.timeout)
            )),
            "unknown",
        ),
        End::Unanswered => (
            "timeout",
            ExitStatus::Timeout,
            Some(format!(
                "the server did not answer within {}; whether the application was deleted is unknown",
                human_duration(args.timeout)
            )),
            "unknown",
        ),
        End::Interrupted => (
            "interrupted",
            ExitStatus::Interrupted,
            Some("interrupted while waiting for the teardown".to_owned()),
            "unknown",
        ),
    };
    let result = WatchResult {
        kind: "watch.result",
        schema_version: JSON_SCHEMA_VERSION,
        outcome,
        app_name: app,
        deployment_id: None,
        duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        exit_code: status.code(),
        error: error.clone(),
        resources: resources
            .iter()
            .map(|r| ResourceSummary {
                name: r.resource_name.clone(),
                kind: r.resource_type.clone(),
                state: state.to_owned(),
                error: None,
            })
            .collect(),
    };
    let line = match &error {
        None => format!(
            "{} Application {} deleted ({} resource{}) in {}",
            marker(reporter.icons()),
            sanitize(app),
            resources.len(),
            if resources.len() == 1 { "" } else { "s" },
            human_duration(elapsed)
        ),
        Some(error) => format!("{}: {error}", sanitize(app)),
    };
    reporter.output(&line, &result)?;
    Ok(status)
}

/// The result of a delete that removed the application but not its resources: exit 0 (the
/// server did what it does), saying plainly what is left.
fn record_only(
    app: &str,
    left: &[ResourceRecord],
    reporter: &mut Reporter,
    elapsed: std::time::Duration,
) -> Result<ExitStatus, Error> {
    let names: Vec<String> = left
        .iter()
        .map(|r| sanitize(&r.resource_name).into_owned())
        .collect();
    let result = WatchResult {
        kind: "watch.result",
        schema_version: JSON_SCHEMA_VERSION,
        outcome: "succeeded",
        app_name: app,
        deployment_id: None,
        duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        exit_code: ExitStatus::Success.code(),
        error: None,
        resources: left
            .iter()
            .map(|r| ResourceSummary {
                name: r.resource_name.clone(),
                kind: r.resource_type.clone(),
                state: r.state.clone(),
                error: r.error.clone(),
            })
            .collect(),
    };
    let line = format!(
        "{} Application {} deleted in {}; its {} resource{} ({}) {} still on the server, which deletes the application record only",
        marker(reporter.icons()),
        sanitize(app),
        human_duration(elapsed),
        left.len(),
        if left.len() == 1 { "" } else { "s" },
        names.join(", "),
        if left.len() == 1 { "is" } else { "are" },
    );
    reporter.output(&line, &result)?;
    Ok(ExitStatus::Success)
}

/// Shows the app's events until its `application.deleted` arrives, `--timeout` passes, or
/// Ctrl-C.
async fn wait_for_deletion(
    app: &str,
    watch: &mut EventWatch,
    reporter: &mut Reporter,
    stop: &mut Stop,
) -> Result<End, Error> {
    loop {
        tokio::select! {
            // Ctrl-C (the server has already been asked to delete) or `--timeout`.
            end = stop.reached() => return Ok(match end {
                WatchEnd::Interrupted => End::Interrupted,
                _ => End::Timeout,
            }),
            item = watch.next() => match item? {
                WatchItem::Event(ev, _) => {
                    // Event lines are buffered; this wait shows each as it comes.
                    reporter.event(&ev)?;
                    reporter.flush()?;
                    if ev.kind == EventKind::ApplicationDeleted && ev.app_name == app {
                        return Ok(End::Deleted);
                    }
                }
                WatchItem::Notice(notice) => note_notice(reporter, &notice)?,
            },
        }
    }
}

fn marker(icons: Icons) -> &'static str {
    match icons {
        Icons::Unicode => "✅",
        Icons::Ascii => "[ok]",
    }
}
