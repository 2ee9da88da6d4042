//! `ctl watch APP`: attach to an app's event stream.
//!
//! - `--deployment ID` follows that deployment to its end and exits with its outcome (an
//!   already finished deployment is replayed and exits at once);
//! - without it, a deployment of the app that is still running is found
//!   (`GET /api/applications`, `latest_deployment_status: running`) and followed the same way,
//!   from its first event: this is how a CI job or a second terminal reattaches;
//! - with none running (or on a server without deployments), the app's events are shown as they
//!   come, until Ctrl-C (exit 130) or `--timeout` (exit 3).
//!
//! `--since ID` starts after that event id (on servers that keep events). The output modes are
//! those of `deploy -w`: the same event lines, footer, progress rows and JSON lines.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Args;
use serde::Deserialize;
use tokio::time::Instant;

use super::deploy::{StreamArgs, parse_duration};
use super::follow::{self, Follow, Interrupt};
use crate::client::ApiClient;
use crate::client::watch::EventWatch;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::render::Reporter;
use crate::settings::Settings;
use crate::tracker::{Mode, Tracker};

/// Arguments of `ctl watch`.
#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    /// The application to watch
    #[arg(value_name = "APP")]
    pub app: String,

    /// Follow this deployment to its end and exit with its outcome
    #[arg(long, value_name = "ID")]
    pub deployment: Option<String>,

    /// Start after this event id (replays what came after it, on servers that keep events)
    #[arg(long, value_name = "ID")]
    pub since: Option<String>,

    /// Also show internal events (stream bookkeeping, unknown event types)
    #[arg(long)]
    pub all: bool,

    /// Stop watching after this long, e.g. 90s, 10m (exit code 3); no limit by default
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,

    /// How the event stream is kept alive.
    #[command(flatten)]
    pub stream: StreamArgs,
}

/// What `GET /api/applications` says of one app. Our server's keys; other servers may send
/// other keys, which are ignored.
#[derive(Debug, Deserialize)]
struct AppSummary {
    #[serde(default)]
    latest_deployment_id: Option<String>,
    #[serde(default)]
    latest_deployment_status: Option<String>,
}

/// What the server says about the app before the watch begins.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Lookup {
    /// A deployment of it is running: follow that one.
    Running(String),
    /// The server knows the app, and nothing of it is running.
    Idle,
    /// The server lists applications and this one is not among them (yet).
    Unknown,
    /// The server's application list says nothing usable (not our server).
    Unsupported,
}

/// Runs `ctl watch`.
pub async fn run(args: WatchArgs, settings: Settings) -> Result<ExitStatus, Error> {
    super::check_app_name(&args.app)?;
    if let Some(id) = &args.deployment {
        if id.trim().is_empty() {
            return Err(Error::Usage("--deployment needs an id".to_owned()));
        }
    }
    let client = ApiClient::for_settings(&settings)?;
    let mut reporter = Reporter::new(&settings, args.all);
    let mut interrupt = Interrupt::listen();
    let started = Instant::now();

    let (deployment, lookup, mut watch) = match attach(&client, &args).await {
        Ok(attached) => attached,
        Err(e) => {
            return Err(super::with_result_line(
                &mut reporter,
                &args.app,
                args.deployment.as_deref(),
                started,
                e,
            ));
        }
    };
    let mode = if deployment.is_some() {
        Mode::Terminal
    } else {
        Mode::Follow
    };
    reporter.watching_only(&args.app, deployment.as_deref())?;
    match lookup {
        Lookup::Running(id) if args.deployment.is_none() => reporter.note(&format!(
            "deployment {id} is running; following it to its end"
        ))?,
        Lookup::Idle => reporter.note(&format!(
            "no deployment of {} is running; showing its events until Ctrl-C",
            args.app
        ))?,
        Lookup::Unknown => reporter.note(&format!(
            "the server has no application {:?} yet; showing its events until Ctrl-C",
            args.app
        ))?,
        _ => {}
    }
    let mut tracker = Tracker::new(mode, []);
    let follow = Follow {
        client: &client,
        app: &args.app,
        deployment_id: deployment.as_deref(),
        deadline: args.timeout.map(|t| started + t),
        started,
    };
    follow::run(
        follow,
        &mut watch,
        &mut tracker,
        &mut reporter,
        &mut interrupt,
        [],
    )
    .await
}

/// Decides what to follow and subscribes: `(deployment, what the server said, stream)`.
async fn attach(
    client: &ApiClient,
    args: &WatchArgs,
) -> Result<(Option<String>, Lookup, EventWatch), Error> {
    let lookup = match &args.deployment {
        Some(id) => Lookup::Running(id.clone()),
        None => running_deployment(client, &args.app).await?,
    };
    let deployment = match &lookup {
        Lookup::Running(id) => Some(id.clone()),
        _ => None,
    };
    let watch = EventWatch::connect(
        client.clone(),
        &args.app,
        deployment.clone(),
        args.since.clone(),
        args.stream.watch_options(),
    )
    .await?;
    Ok((deployment, lookup, watch))
}

/// The app's deployment that is still running, if the server says so. A server whose answer
/// is not our shape (innominatus lists specs) has no deployments to follow: the app's stream
/// is followed instead. Authentication failures, an unreachable server and a refused TLS
/// certificate are errors.
async fn running_deployment(client: &ApiClient, app: &str) -> Result<Lookup, Error> {
    let apps: BTreeMap<String, AppSummary> = match client.get_json("/api/applications").await {
        Ok(apps) => apps,
        Err(e @ (Error::Rejected { .. } | Error::Unreachable { .. } | Error::Tls { .. })) => {
            return Err(e);
        }
        Err(_) => return Ok(Lookup::Unsupported),
    };
    Ok(classify(apps.get(app)))
}

fn classify(summary: Option<&AppSummary>) -> Lookup {
    match summary {
        None => Lookup::Unknown,
        Some(AppSummary {
            latest_deployment_id: Some(id),
            latest_deployment_status: Some(status),
        }) if status == "running" => Lookup::Running(id.clone()),
        Some(_) => Lookup::Idle,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_latest_deployment_is_followed() {
        let apps: BTreeMap<String, AppSummary> = serde_json::from_str(
            r#"{"a":{"name":"a","team":"t","latest_deployment_id":"7","latest_deployment_status":"running"},
                "b":{"name":"b","latest_deployment_id":"3","latest_deployment_status":"succeeded"},
                "c":{"name":"c","latest_deployment_id":null,"latest_deployment_status":null},
                "d":{"metadata":{"name":"d"}}}"#,
        )
        .unwrap();
        assert_eq!(classify(apps.get("a")), Lookup::Running("7".into()));
        assert_eq!(classify(apps.get("b")), Lookup::Idle);
        assert_eq!(classify(apps.get("c")), Lookup::Idle);
        assert_eq!(classify(apps.get("d")), Lookup::Idle);
        assert_eq!(classify(apps.get("e")), Lookup::Unknown);
    }
}
