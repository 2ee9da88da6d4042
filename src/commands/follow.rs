//! Following a deployment to its end: the one watch loop shared by `deploy -w` and `watch`.
//!
//! One `tokio::select!` over the event stream, the `--timeout` deadline (created once, outside
//! the loop) and Ctrl-C, plus two timers for the terminal and CI: the progress rows' tick, and
//! the heartbeat after a stretch without output. The watcher is cancel-safe, so a losing branch
//! never drops buffered bytes. The loop ends only on an outcome (terminal event, or inferred
//! from resource states), the deadline, Ctrl-C, or an error: never because a stream ended.

use tokio::time::{Instant, MissedTickBehavior};

use crate::client::ApiClient;
use crate::client::watch::{EventWatch, Notice, WatchItem};
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::render::{Reporter, WatchEnd};
use crate::tracker::{Mode, Tracker};

/// What is being followed.
pub(crate) struct Follow<'a> {
    /// For reconciling resource states on servers without terminal events.
    pub(crate) client: &'a ApiClient,
    /// The app.
    pub(crate) app: &'a str,
    /// The deployment, when the server has ids.
    pub(crate) deployment_id: Option<&'a str>,
    /// When `--timeout` elapses (`None`: no timeout).
    pub(crate) deadline: Option<Instant>,
    /// When the command started (for durations).
    pub(crate) started: Instant,
}

/// Follows until the deployment ends; prints every event, the notes and the footer.
pub(crate) async fn run(
    follow: Follow<'_>,
    watch: &mut EventWatch,
    tracker: &mut Tracker,
    reporter: &mut Reporter,
    early: impl IntoIterator<Item = WatchItem>,
) -> Result<ExitStatus, Error> {
    let mut end = None;
    for item in early {
        if let Some(outcome) = handle(&follow, item, tracker, reporter).await? {
            end = Some(WatchEnd::Finished(outcome));
            break;
        }
    }
    if end.is_none() && tracker.mode() == Mode::Inferred {
        // A redeploy whose resources are already active publishes nothing at all: the state of
        // record may already say the deployment is finished.
        end = reconcile(&follow, tracker, reporter)
            .await?
            .map(WatchEnd::Finished);
    }
    let deadline = follow.deadline;
    let sleep = async move {
        match deadline {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    reporter.status(tracker);
    // Progress rows (a terminal): the spinners turn on this tick, from this one task, so no
    // other thread ever draws on the terminal.
    let mut ticker = reporter.tick_interval().map(|every| {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        ticker
    });
    // No rows (a pipe, a CI log): a heartbeat line after each stretch of silence.
    let heartbeat_every = reporter.heartbeat_interval();
    let mut next_heartbeat = heartbeat_every.map(|every| Instant::now() + every);
    while end.is_none() {
        tokio::select! {
            // Ctrl-C: stop watching; the deployment itself goes on.
            _ = &mut ctrl_c => end = Some(WatchEnd::Interrupted),
            // `--timeout`: the deadline was fixed before the loop, so reconnects cannot extend it.
            () = &mut sleep => end = Some(WatchEnd::Timeout),
            // Spinners and running times; `Interval::tick` is cancel-safe.
            () = tick(ticker.as_mut()) => reporter.tick(),
            // Nothing printed for a while: say the wait is alive, for CI no-output watchdogs.
            () = at(next_heartbeat) => {
                reporter.heartbeat(tracker, follow.started.elapsed())?;
                next_heartbeat = heartbeat_every.map(|every| Instant::now() + every);
            }
            item = watch.next() => match item {
                Ok(item) => {
                    next_heartbeat = heartbeat_every.map(|every| Instant::now() + every);
                    if let Some(outcome) = handle(&follow, item, tracker, reporter).await? {
                        end = Some(WatchEnd::Finished(outcome));
                    }
                }
                Err(e) => {
                    reporter.finish(WatchEnd::Error, tracker, follow.app, follow.deployment_id, follow.started.elapsed())?;
                    return Err(e);
                }
            },
        }
    }
    let end = end.unwrap_or(WatchEnd::Error);
    reporter.finish(
        end,
        tracker,
        follow.app,
        follow.deployment_id,
        follow.started.elapsed(),
    )?;
    Ok(end.exit_status())
}

/// Resolves at `deadline`; never, without one.
async fn at(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The next tick of an interval; never, without one.
async fn tick(ticker: Option<&mut tokio::time::Interval>) {
    match ticker {
        Some(ticker) => {
            ticker.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Shows one item and feeds it to the tracker; returns the outcome if it finished the deployment.
async fn handle(
    follow: &Follow<'_>,
    item: WatchItem,
    tracker: &mut Tracker,
    reporter: &mut Reporter,
) -> Result<Option<crate::event::Outcome>, Error> {
    let outcome = handle_item(follow, item, tracker, reporter).await;
    reporter.status(tracker);
    outcome
}

async fn handle_item(
    follow: &Follow<'_>,
    item: WatchItem,
    tracker: &mut Tracker,
    reporter: &mut Reporter,
) -> Result<Option<crate::event::Outcome>, Error> {
    match item {
        WatchItem::Event(ev) => {
            reporter.event(&ev)?;
            Ok(tracker.apply(&ev))
        }
        WatchItem::Notice(notice) => {
            match &notice {
                Notice::ConnectionLost { reason, attempt } if *attempt > 0 => reporter.note(
                    &format!("connection lost ({reason}), reconnecting (attempt {attempt})..."),
                )?,
                Notice::ConnectionLost { reason, .. } => {
                    reporter.note(&format!("connection lost ({reason})"))?
                }
                Notice::Reconnected {
                    resumed_after: Some(id),
                } => reporter.note(&format!("reconnected, resuming after event {id}"))?,
                Notice::Reconnected {
                    resumed_after: None,
                } => reporter.note("reconnected")?,
                Notice::Malformed { reason } => reporter.note(reason)?,
            }
            if matches!(notice, Notice::Reconnected { .. }) && tracker.mode() == Mode::Inferred {
                reporter.note(
                    "this server cannot replay events: events during the gap are lost; reconciling resource states",
                )?;
                return reconcile(follow, tracker, reporter).await;
            }
            Ok(None)
        }
    }
}

/// Reads the state of record (`GET /api/resources`) into the tracker.
async fn reconcile(
    follow: &Follow<'_>,
    tracker: &mut Tracker,
    reporter: &mut Reporter,
) -> Result<Option<crate::event::Outcome>, Error> {
    match follow.client.resources(follow.app).await {
        Ok(records) => Ok(tracker.reconcile(records.iter().map(|r| {
            (
                r.resource_name.as_str(),
                r.resource_type.as_str(),
                r.state.as_str(),
                r.error.as_deref(),
            )
        }))),
        Err(e @ Error::Rejected { .. }) => Err(e),
        Err(e) => {
            reporter.note(&format!("could not read resource states: {e}"))?;
            Ok(None)
        }
    }
}
