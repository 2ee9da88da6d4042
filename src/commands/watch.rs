//! `ctl watch APP`: attach to an app's event stream.
//!
//! - `--deployment ID` follows that deployment to its end and exits with its outcome (an
//!   already finished deployment is replayed and exits at once);
//! - without it, a deployment of the app that is still running is followed the same way;
//! - with none running, the app's events are shown until Ctrl-C.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Args;
use serde::Deserialize;

use super::deploy::parse_duration;
use super::follow::{self, Follow, Interrupt};
use crate::client::ApiClient;
use crate::client::watch::{EventWatch, WatchOptions};
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

    /// Declare the event stream dead after this long without a byte (keep-alives count), and
    /// reconnect; keep it above the server's keep-alive interval
    #[arg(
        long,
        value_name = "DURATION",
        env = "CTL_IDLE_TIMEOUT",
        default_value = "45s",
        value_parser = parse_duration
    )]
    pub idle_timeout: Duration,
}

/// What `GET /api/applications` says of one app (fields of our server; others are optional).
#[derive(Debug, Deserialize)]
struct AppSummary {
    #[serde(default)]
    latest_deployment_id: Option<String>,
    #[serde(default)]
    latest_deployment_status: Option<String>,
}

/// Runs `ctl watch`.
pub async fn run(args: WatchArgs, settings: Settings) -> Result<ExitStatus, Error> {
    if !crate::spec::is_dns_label(&args.app) {
        return Err(Error::Usage(format!(
            "{:?} is not a valid application name (lowercase letters, digits and '-')",
            args.app
        )));
    }
    let client = ApiClient::new(&settings.server, settings.api_key.clone())?;
    let mut reporter = Reporter::new(&settings, args.all);
    let mut interrupt = Interrupt::listen();
    let started = tokio::time::Instant::now();

    let deployment = match args.deployment.clone() {
        Some(id) => Some(id),
        None => running_deployment(&client, &args.app).await,
    };
    let mode = if deployment.is_some() {
        Mode::Terminal
    } else {
        Mode::Follow
    };
    let mut watch = EventWatch::connect(
        client.clone(),
        &args.app,
        deployment.clone(),
        args.since.clone(),
        WatchOptions {
            idle_timeout: args.idle_timeout,
            ..WatchOptions::default()
        },
    )
    .await?;
    reporter.watching_only(&args.app, deployment.as_deref())?;
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

/// The app's deployment that is still running, if the server says so (ours does; others have
/// no deployments, and the app's stream is followed instead).
async fn running_deployment(client: &ApiClient, app: &str) -> Option<String> {
    let apps: BTreeMap<String, AppSummary> = client.get_json("/api/applications").await.ok()?;
    let summary = apps.get(app)?;
    match summary.latest_deployment_status.as_deref() {
        Some("running") => summary.latest_deployment_id.clone(),
        _ => None,
    }
}
