//! `ctl watch APP`: attach to an app's deployment, or follow its events.
//!
//! Exactly one thing is followed, and the command ends when it ends (like `kubectl rollout
//! status`); it never waits on something that cannot end:
//!
//! - `--deployment ID` follows that deployment to its end and exits with its outcome (an
//!   already finished deployment is replayed and exits at once). An id the server does not
//!   know, or one of another app, is exit 4 at once, naming the app it belongs to;
//! - without it, on our server, the app's latest deployment is followed: a running one to its
//!   end (this is how a CI job or a second terminal reattaches), a finished one replayed, so
//!   the exit code is its outcome;
//! - on a server without deployment ids (innominatus), the app's resources are followed until
//!   they settle, from the state of record (`GET /api/resources`), so an app at rest ends at
//!   once with its outcome;
//! - an app the server does not have is exit 4 with a pointer to `ctl list`, so a typo cannot
//!   hang a CI job;
//! - `--follow` is the explicit `tail -f` mode: the app's events as they come, later
//!   deployments included, until Ctrl-C (exit 0) or `--timeout` (exit 3).
//!
//! `--since ID` starts after that event id (on servers that keep events). The output modes are
//! those of `deploy -w`: the same event lines, footer, progress rows and JSON lines.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Args;
use serde::Deserialize;
use tokio::time::Instant;

use super::deploy::StreamArgs;
use super::follow::{self, Follow, Stop};
use super::values::parse_duration;
use crate::client::ApiClient;
use crate::client::watch::EventWatch;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::render::{Reporter, WatchEnd};
use crate::settings::Settings;
use crate::tracker::{Mode, Tracker};

/// Arguments of `ctl watch`.
#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    /// The application to watch
    #[arg(value_name = "APP")]
    pub app: String,

    /// Follow this deployment to its end and exit with its outcome
    #[arg(long, value_name = "ID", conflicts_with = "follow")]
    pub deployment: Option<String>,

    /// Show the app's events as they come, later deployments included, until Ctrl-C (exit 0)
    /// or --timeout, instead of following one deployment to its end
    #[arg(long)]
    pub follow: bool,

    /// Start after this event id, replaying what came after it (on servers that keep events):
    /// an integer (ctl server; innominatus' nanosecond ids) or nchan's TIME:TAG
    #[arg(long, value_name = "ID", value_parser = parse_event_id)]
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

/// Checks a `--since` id before any request, so a typo is a usage error (exit 2) rather than
/// the server's 400 (exit 4) or, on servers that ignore a bad `Last-Event-ID`, a silent replay
/// from the start. Every id the servers `ctl` speaks to send is one of two shapes: decimal
/// digits (ctl server's integers, innominatus' nanosecond timestamps) or nchan's `TIME:TAG`,
/// two runs of digits joined by a colon.
pub(crate) fn parse_event_id(text: &str) -> Result<String, String> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let valid = match text.split_once(':') {
        None => digits(text),
        Some((time, tag)) => digits(time) && digits(tag),
    };
    if valid {
        Ok(text.to_owned())
    } else {
        Err(
            "expected an event id: an integer (e.g. 42) or nchan's TIME:TAG (e.g. 1796224518:11)"
                .to_owned(),
        )
    }
}

/// What `GET /api/applications` says of one app. Our server's keys; other servers may send
/// other keys, which are ignored.
#[derive(Debug, Deserialize)]
struct AppSummary {
    /// Present (possibly `null`) on servers that have deployments; absent on others
    /// (innominatus lists its stored specs).
    #[serde(default, deserialize_with = "present")]
    latest_deployment_id: Option<Option<String>>,
    #[serde(default)]
    latest_deployment_status: Option<String>,
}

/// `Some(value)` for a key that is there, even as `null`; a missing key stays `None`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// What the server's application list says about the app.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Lookup {
    /// Its latest deployment, and that deployment's status.
    Latest(String, String),
    /// The server knows the app, and it has never been deployed.
    NeverDeployed,
    /// The server lists applications and this one is not among them.
    Unknown,
    /// The server has the app, and no deployments (not our server).
    NoDeployments,
    /// The server's application list says nothing usable.
    Unsupported,
}

/// What the command follows, decided before the stream is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Plan {
    /// One deployment, to its end (terminal events).
    Deployment {
        id: String,
        /// Said on stderr before the watch starts.
        note: Option<String>,
    },
    /// The app's resources until they settle (servers without deployment ids).
    Resources,
    /// The app's events until the user stops (`--follow`).
    Events {
        /// Said on stderr before the watch starts.
        note: Option<String>,
    },
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
    let started = Instant::now();
    // `--timeout` and Ctrl-C hold from here, over the look-up and the first connection too.
    let mut stop = Stop::new(args.timeout.map(|t| started + t));

    let attached = match stop.bound(attach(&client, &args)).await {
        Ok(attached) => attached,
        Err(end) => {
            let (mode, end) = match end {
                _ if !args.follow => (Mode::Terminal, end),
                WatchEnd::Interrupted => (Mode::Follow, WatchEnd::Stopped),
                end => (Mode::Follow, end),
            };
            reporter.finish(
                end,
                &Tracker::new(mode, []),
                &args.app,
                args.deployment.as_deref(),
                started.elapsed(),
            )?;
            return Ok(end.exit_status());
        }
    };
    let (plan, mut watch) = match attached {
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
    let (mode, deployment, note) = match plan {
        Plan::Deployment { id, note } => (Mode::Terminal, Some(id), note),
        Plan::Resources => (Mode::Inferred, None, None),
        Plan::Events { note } => (Mode::Follow, None, note),
    };
    reporter.watching_only(&args.app, deployment.as_deref())?;
    if let Some(note) = note {
        reporter.note(&note)?;
    }
    if mode == Mode::Inferred {
        reporter.note(&format!(
            "this server has no deployment ids; following {}'s resources until they settle",
            args.app
        ))?;
    }
    let mut tracker = Tracker::new(mode, []);
    let follow = Follow {
        client: &client,
        app: &args.app,
        deployment_id: deployment.as_deref(),
        started,
        quiet_loss: Default::default(),
    };
    follow::run(
        follow,
        &mut watch,
        &mut tracker,
        &mut reporter,
        &mut stop,
        [],
    )
    .await
}

/// Decides what to follow and subscribes.
async fn attach(client: &ApiClient, args: &WatchArgs) -> Result<(Plan, EventWatch), Error> {
    let plan = plan(client, args).await?;
    let deployment = match &plan {
        Plan::Deployment { id, .. } => Some(id.clone()),
        _ => None,
    };
    let watch = EventWatch::connect(
        client.clone(),
        &args.app,
        deployment,
        args.since.clone(),
        args.stream.watch_options(),
    )
    .await?;
    Ok((plan, watch))
}

/// What to follow, from what the server says about the app (or the deployment asked for).
async fn plan(client: &ApiClient, args: &WatchArgs) -> Result<Plan, Error> {
    let app = args.app.as_str();
    if let Some(id) = &args.deployment {
        check_deployment(client, app, id).await?;
        return Ok(Plan::Deployment {
            id: id.clone(),
            note: None,
        });
    }
    let lookup = lookup(client, app).await?;
    if args.follow {
        let note = match lookup {
            Lookup::Unknown => Some(format!(
                "the server has no application {app:?} yet; showing its events until Ctrl-C"
            )),
            _ => Some(format!("showing {app}'s events until Ctrl-C")),
        };
        return Ok(Plan::Events { note });
    }
    match lookup {
        Lookup::Latest(id, status) if status == "running" => Ok(Plan::Deployment {
            note: Some(format!(
                "deployment {id} is running; following it to its end"
            )),
            id,
        }),
        Lookup::Latest(id, status) => Ok(Plan::Deployment {
            note: Some(format!(
                "no deployment of {app} is running; the latest, {id}, {status}: replaying it"
            )),
            id,
        }),
        Lookup::NeverDeployed => Err(Error::NotFound {
            what: format!("application {app:?} has no deployment to follow"),
            hint: format!("`ctl watch {app} --follow` shows its events as they come"),
        }),
        Lookup::Unknown => Err(unknown_app(app)),
        Lookup::NoDeployments => Ok(Plan::Resources),
        Lookup::Unsupported => {
            // A server without deployment ids (innominatus): it still says whether it has the
            // app, and its resources tell how the app's deployment stands.
            if client.application_known(app).await? {
                Ok(Plan::Resources)
            } else {
                Err(unknown_app(app))
            }
        }
    }
}

fn unknown_app(app: &str) -> Error {
    Error::unknown_app(app)
}

/// A deployment id must be one of this app's: one the server does not know, or one of another
/// app, would be waited on forever. Servers without deployments (no such endpoint) are taken
/// at their word.
async fn check_deployment(client: &ApiClient, app: &str, id: &str) -> Result<(), Error> {
    match client.deployment(id).await {
        Ok(status) if !status.app_name.is_empty() && status.app_name != app => {
            Err(Error::NotFound {
                what: format!(
                    "deployment {id} belongs to application {:?}, not {app:?}",
                    status.app_name
                ),
                hint: format!(
                    "`ctl watch {} --deployment {id}` follows it",
                    status.app_name
                ),
            })
        }
        Ok(_) => Ok(()),
        Err(Error::Rejected { status: 404, .. }) => Err(Error::NotFound {
            what: format!("the server has no deployment {id}"),
            hint: format!("`ctl status {app}` shows the app's latest deployment"),
        }),
        Err(
            e @ (Error::Rejected { .. }
            | Error::Unreachable { .. }
            | Error::Tls { .. }
            | Error::Usage(_)),
        ) => Err(e),
        Err(_) => Ok(()),
    }
}

/// What the server's application list says about `app`. A server whose answer is not our
/// shape (innominatus lists specs) has no deployments. Authentication failures and an
/// unreachable server and a refused TLS certificate are
/// errors.
async fn lookup(client: &ApiClient, app: &str) -> Result<Lookup, Error> {
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
            latest_deployment_id: Some(Some(id)),
            latest_deployment_status: Some(status),
        }) => Lookup::Latest(id.clone(), status.clone()),
        Some(AppSummary {
            latest_deployment_id: Some(_),
            ..
        }) => Lookup::NeverDeployed,
        Some(AppSummary {
            latest_deployment_id: None,
            ..
        }) => Lookup::NoDeployments,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_deployment_is_what_is_followed() {
        let apps: BTreeMap<String, AppSummary> = serde_json::from_str(
            r#"{"a":{"name":"a","team":"t","latest_deployment_id":"7","latest_deployment_status":"running"},
                "b":{"name":"b","latest_deployment_id":"3","latest_deployment_status":"succeeded"},
                "c":{"name":"c","latest_deployment_id":null,"latest_deployment_status":null},
                "d":{"metadata":{"name":"d"}}}"#,
        )
        .unwrap();
        assert_eq!(
            classify(apps.get("a")),
            Lookup::Latest("7".into(), "running".into())
        );
        assert_eq!(
            classify(apps.get("b")),
            Lookup::Latest("3".into(), "succeeded".into())
        );
        assert_eq!(classify(apps.get("c")), Lookup::NeverDeployed);
        assert_eq!(classify(apps.get("d")), Lookup::NoDeployments);
        assert_eq!(classify(apps.get("e")), Lookup::Unknown);
    }
}
