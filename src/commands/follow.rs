//! Following a deployment to its end: the one watch loop shared by `deploy -w` and `watch`.
//!
//! One `tokio::select!` over the event stream, the `--timeout` deadline (created once, outside
//! the loop) and Ctrl-C, plus two timers for the terminal and CI: the progress rows' tick, and
//! the heartbeat after a stretch without output. The watcher is cancel-safe, so a losing branch
//! never drops buffered bytes. The loop ends only on an outcome (terminal event, or inferred
//! from resource states), the deadline, Ctrl-C, or an error: never because a stream ended.
//!
//! Where the stream cannot tell the whole story, the state of record can: on servers without
//! replay, resource states are reconciled from `GET /api/resources` after every reconnect; on
//! ours, a `stream.gap` or a stream lost for good is followed by `GET /api/deployments/<id>`,
//! so the true outcome is reported whenever the server can still be asked.

use tokio::time::{Instant, MissedTickBehavior};

use crate::client::ApiClient;
use crate::client::watch::{Detail, EventWatch, Notice, WatchItem};
use crate::error::Error;
use crate::event::{EventKind, Outcome};
use crate::exit::ExitStatus;
use crate::render::{Reporter, WatchEnd};
use crate::tracker::{Mode, Tracker};

/// What is being followed.
pub(crate) struct Follow<'a> {
    /// For reconciling resource states and reading the deployment's status.
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

/// Ctrl-C, listened for from the moment this is created.
///
/// Created at the start of a command, before anything is sent: from then on SIGINT is ours to
/// handle (exit 130 with the reattach hint) rather than the default "die at once", even during
/// the submission.
pub(crate) struct Interrupt {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Interrupt {
    /// Starts listening. Must be called inside the runtime.
    pub(crate) fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Interrupt {
                signal: signal(SignalKind::interrupt()).ok(),
            }
        }
        #[cfg(not(unix))]
        Interrupt {}
    }

    /// Resolves when Ctrl-C is pressed. Cancel-safe.
    pub(crate) async fn recv(&mut self) {
        #[cfg(unix)]
        match self.signal.as_mut() {
            Some(signal) => {
                signal.recv().await;
            }
            // No handler could be installed: SIGINT keeps its default effect.
            None => std::future::pending::<()>().await,
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// At most this many items already read are handled in one go (see the loop in [`run`]):
/// about a millisecond's worth at the fastest, so Ctrl-C and `--timeout` stay immediate.
const BURST: usize = 256;

/// Follows until the deployment ends; prints every event, the notes and the footer.
pub(crate) async fn run(
    follow: Follow<'_>,
    watch: &mut EventWatch,
    tracker: &mut Tracker,
    reporter: &mut Reporter,
    interrupt: &mut Interrupt,
    early: impl IntoIterator<Item = WatchItem>,
) -> Result<ExitStatus, Error> {
    watch.keep_received_json(reporter.writes_json_through());
    if reporter.writes_json_through() && tracker.mode() != Mode::Inferred {
        // Events are written as received; only the types the tracker reads need parsing.
        watch.set_detail(Detail::PassThrough {
            full: Tracker::reads_data,
        });
    }
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
            () = interrupt.recv() => end = Some(WatchEnd::Interrupted),
            // `--timeout`: the deadline was fixed before the loop, so reconnects cannot extend it.
            () = &mut sleep => end = Some(WatchEnd::Timeout),
            // Spinners and running times; `Interval::tick` is cancel-safe.
            () = tick(ticker.as_mut()) => reporter.tick(),
            // Nothing printed for a while: say the wait is alive, for CI no-output watchdogs.
            () = at(next_heartbeat) => {
                reporter.heartbeat(tracker, follow.started.elapsed())?;
                next_heartbeat = heartbeat_every.map(|every| Instant::now() + every);
            }
            // Buffered lines go out once nothing more is ready (see `next_or_flush`).
            item = next_or_flush(watch, reporter) => match item? {
                Ok(mut item) => {
                    // The rest of what was read with it is handled here, not through the
                    // select, which sets its timers up anew on every pass; in bounded runs,
                    // so that Ctrl-C and the timeout are still looked at in between.
                    let mut handled = 0;
                    loop {
                        if let Some(outcome) = handle(&follow, item, tracker, reporter).await? {
                            end = Some(WatchEnd::Finished(outcome));
                            break;
                        }
                        handled += 1;
                        if handled == BURST {
                            break;
                        }
                        match watch.next_ready() {
                            Some(next) => item = next,
                            None => break,
                        }
                    }
                    next_heartbeat = heartbeat_every.map(|every| Instant::now() + every);
                }
                Err(e) => {
                    // The stream is gone for good, but the server may still answer a plain
                    // request: ask it before reporting a lost connection. A rejection (4xx)
                    // is final as it is.
                    let settled = match &e {
                        Error::Rejected { .. } => None,
                        _ => last_resort(&follow, tracker, reporter, &e).await?,
                    };
                    if let Some(outcome) = settled {
                        end = Some(WatchEnd::Finished(outcome));
                        break;
                    }
                    reporter.finish(WatchEnd::Error(e.exit_status()), tracker, follow.app, follow.deployment_id, follow.started.elapsed())?;
                    return Err(e);
                }
            },
        }
    }
    let end = end.unwrap_or(WatchEnd::Error(ExitStatus::Unavailable));
    reporter.finish(
        end,
        tracker,
        follow.app,
        follow.deployment_id,
        follow.started.elapsed(),
    )?;
    Ok(end.exit_status())
}

/// The next item: at once if one is ready; otherwise the buffered output is flushed first and
/// then the item is awaited. A burst of events thus becomes one write, and a lone event is on
/// screen before the wait for the next one begins. Cancel-safe, like [`EventWatch::next`].
/// The outer error is our own output failing (a closed pipe), which ends the watch like any
/// other write error; the inner result is the stream's.
async fn next_or_flush(
    watch: &mut EventWatch,
    reporter: &mut Reporter,
) -> std::io::Result<Result<WatchItem, Error>> {
    use futures::FutureExt;
    if let Some(ready) = watch.next().now_or_never() {
        return Ok(ready);
    }
    reporter.flush()?;
    Ok(watch.next().await)
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
) -> Result<Option<Outcome>, Error> {
    let outcome = handle_item(follow, item, tracker, reporter).await;
    reporter.status(tracker);
    outcome
}

async fn handle_item(
    follow: &Follow<'_>,
    item: WatchItem,
    tracker: &mut Tracker,
    reporter: &mut Reporter,
) -> Result<Option<Outcome>, Error> {
    match item {
        WatchItem::Event(ev, raw) => {
            reporter.event_received(&ev, raw.as_deref())?;
            if let Some(outcome) = tracker.apply(&ev) {
                return Ok(Some(outcome));
            }
            if ev.kind == EventKind::StreamGap && tracker.mode() == Mode::Terminal {
                // Events were lost to retention, perhaps the terminal one: ask the server.
                return deployment_status(follow, tracker, reporter).await;
            }
            Ok(None)
        }
        WatchItem::Notice(notice) => {
            match &notice {
                Notice::ConnectionLost { reason, attempt } => reporter.note(&format!(
                    "connection lost, reconnecting (attempt {attempt})... ({reason})"
                ))?,
                // A server that resumes replays what was missed; `Resumed` reports it.
                Notice::Reconnected {
                    resumed_after: Some(_),
                    replays: true,
                } => {}
                Notice::Reconnected { .. } => {
                    reporter.note(
                        "reconnected; this server cannot replay events, so events published during the gap could not be replayed",
                    )?;
                    if tracker.mode() == Mode::Inferred {
                        reporter.note("reconciling resource states from the server")?;
                        return reconcile(follow, tracker, reporter).await;
                    }
                }
                Notice::Resumed { replayed: 1 } => reporter.note("resumed, 1 event replayed")?,
                Notice::Resumed { replayed } => {
                    reporter.note(&format!("resumed, {replayed} events replayed"))?
                }
                Notice::Malformed { reason } => reporter.note(reason)?,
                too_large @ Notice::EventTooLarge { .. } => {
                    reporter.note(&too_large_message(too_large))?
                }
            }
            Ok(None)
        }
    }
}

/// What stderr says of an event skipped for its size: which one (its id, or where it was in the
/// stream), that it was skipped, and the setting that allows more.
pub(crate) fn too_large_message(notice: &Notice) -> String {
    let Notice::EventTooLarge { id, after, limit } = notice else {
        return String::new();
    };
    let which = match (id, after) {
        (Some(id), _) => format!("event {id}"),
        (None, Some(after)) => format!("an event after event {after}"),
        (None, None) => "an event".to_owned(),
    };
    format!(
        "{which} was skipped: it is larger than the {} limit (--max-event-size or CTL_MAX_EVENT_SIZE)",
        super::deploy::format_size(*limit)
    )
}

/// Reads the state of record (`GET /api/resources`) into the tracker.
async fn reconcile(
    follow: &Follow<'_>,
    tracker: &mut Tracker,
    reporter: &mut Reporter,
) -> Result<Option<Outcome>, Error> {
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

/// Reads the deployment's status (our server) into the tracker; returns its outcome if it
/// has finished.
async fn deployment_status(
    follow: &Follow<'_>,
    tracker: &mut Tracker,
    reporter: &mut Reporter,
) -> Result<Option<Outcome>, Error> {
    let Some(id) = follow.deployment_id else {
        return Ok(None);
    };
    let status = match follow.client.deployment(id).await {
        Ok(status) => status,
        Err(e @ Error::Rejected { .. }) => return Err(e),
        Err(e) => {
            reporter.note(&format!("could not read the deployment's status: {e}"))?;
            return Ok(None);
        }
    };
    tracker.reconcile(status.resources.iter().map(|r| {
        (
            r.name.as_str(),
            r.kind.as_str(),
            r.state.as_str(),
            r.error.as_deref(),
        )
    }));
    let outcome = match status.status.as_str() {
        "succeeded" => Outcome::Succeeded,
        "failed" => Outcome::Failed,
        _ => return Ok(None),
    };
    reporter.note(&format!(
        "the server reports that deployment {id} {}; its final events could not be replayed",
        outcome.as_str()
    ))?;
    Ok(tracker.conclude(outcome, status.error))
}

/// After the stream was lost for good: the outcome, if the server can still tell it.
async fn last_resort(
    follow: &Follow<'_>,
    tracker: &mut Tracker,
    reporter: &mut Reporter,
    lost: &Error,
) -> Result<Option<Outcome>, Error> {
    reporter.note(&format!(
        "{lost}; asking the server for the deployment's state"
    ))?;
    let outcome = match tracker.mode() {
        Mode::Terminal => deployment_status(follow, tracker, reporter).await,
        Mode::Inferred => reconcile(follow, tracker, reporter).await,
        Mode::Follow => Ok(None),
    };
    // A rejection now would hide the real problem (the lost stream); report that instead.
    Ok(outcome.unwrap_or(None))
}
