//! Following a deployment to its end: the one watch loop shared by `deploy -w` and `watch`.
//!
//! One `tokio::select!` over the event stream, [`Stop`] (the `--timeout` deadline, fixed when
//! the command started, and Ctrl-C), plus two timers for the terminal and CI: the progress
//! rows' tick, and the heartbeat after a stretch without output. [`Stop`] also bounds every
//! request made on the way (connecting, submitting, reconciling), in `delete -w` too, and
//! [`notice_text`] words every change of the connection for all three commands. The watcher is cancel-safe, so a losing branch
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
    /// When the command started (for durations).
    pub(crate) started: Instant,
    /// A lost connection not yet reported: on a server that cannot replay (innominatus cuts
    /// every stream after about two minutes), the loss is said only once the reconnect shows
    /// whether anything was missed. Set by the first `ConnectionLost` of an outage.
    pub(crate) quiet_loss: std::cell::RefCell<Option<String>>,
}

/// Ctrl-C, listened for from the moment this is created.
///
/// Created at the start of a command, before anything is sent: from then on SIGINT is ours to
/// handle (exit 130 with the reattach hint) rather than the default "die at once", even during
/// the submission.
struct Interrupt {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Interrupt {
    /// Starts listening. Must be called inside the runtime.
    fn listen() -> Self {
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
    async fn recv(&mut self) {
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

/// What ends a watch from outside the event stream: the `--timeout` deadline and Ctrl-C.
///
/// Made at the start of a command, before anything is sent, and raced against every wait of
/// the command, not only the watch loop: connecting, the first frame, the submission, and the
/// plain requests that reconcile state. So a server (or proxy) that accepts the connection and
/// then says nothing, or answers headers and then nothing, cannot hold a `deploy -w --timeout
/// 3s` for longer than 3 s, and Ctrl-C is never stuck behind a request.
pub(crate) struct Stop {
    deadline: Option<Instant>,
    interrupt: Interrupt,
}

impl Stop {
    /// Starts listening for Ctrl-C; `deadline` is when `--timeout` elapses (`None`: never).
    pub(crate) fn new(deadline: Option<Instant>) -> Self {
        Stop {
            deadline,
            interrupt: Interrupt::listen(),
        }
    }

    /// Resolves when the watch must stop, with how it ended. Cancel-safe.
    pub(crate) async fn reached(&mut self) -> WatchEnd {
        tokio::select! {
            () = at(self.deadline) => WatchEnd::Timeout,
            () = self.interrupt.recv() => WatchEnd::Interrupted,
        }
    }

    /// Runs `work` to its end, unless the deadline or Ctrl-C comes first.
    pub(crate) async fn bound<T>(
        &mut self,
        work: impl std::future::Future<Output = T>,
    ) -> Result<T, WatchEnd> {
        tokio::select! {
            value = work => Ok(value),
            end = self.reached() => Err(end),
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
    stop: &mut Stop,
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
        end = handle(&follow, item, tracker, reporter, stop).await?;
        if end.is_some() {
            break;
        }
    }
    if end.is_none() && tracker.mode() == Mode::Inferred {
        // A redeploy whose resources are already active publishes nothing at all: the state of
        // record may already say the deployment is finished.
        end = reconcile(&follow, tracker, reporter, stop).await?;
    }
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
            // Ctrl-C (the deployment itself goes on) or `--timeout`, whose deadline was fixed
            // when the command started, so reconnects cannot extend it.
            stopped = stop.reached() => end = Some(match stopped {
                // Following an app's events has no end but this one: not an interruption.
                WatchEnd::Interrupted if tracker.mode() == Mode::Follow => WatchEnd::Stopped,
                stopped => stopped,
            }),
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
                        end = handle(&follow, item, tracker, reporter, stop).await?;
                        if end.is_some() {
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
                        _ => last_resort(&follow, tracker, reporter, stop, &e).await?,
                    };
                    if settled.is_some() {
                        end = settled;
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

/// Shows one item and feeds it to the tracker; returns how the watch ends if this item (or
/// what the server said about it) ended it.
async fn handle(
    follow: &Follow<'_>,
    item: WatchItem,
    tracker: &mut Tracker,
    reporter: &mut Reporter,
    stop: &mut Stop,
) -> Result<Option<WatchEnd>, Error> {
    let end = handle_item(follow, item, tracker, reporter, stop).await;
    reporter.status(tracker);
    end
}

async fn handle_item(
    follow: &Follow<'_>,
    item: WatchItem,
    tracker: &mut Tracker,
    reporter: &mut Reporter,
    stop: &mut Stop,
) -> Result<Option<WatchEnd>, Error> {
    match item {
        WatchItem::Event(ev, raw) => {
            reporter.event_received(&ev, raw.as_deref())?;
            if let Some(outcome) = tracker.apply(&ev) {
                return Ok(Some(WatchEnd::Finished(outcome)));
            }
            if ev.kind == EventKind::StreamGap && tracker.mode() == Mode::Terminal {
                // Events were lost to retention, perhaps the terminal one: ask the server.
                return deployment_status(follow, tracker, reporter, stop).await;
            }
            Ok(None)
        }
        WatchItem::Notice(notice) => {
            match &notice {
                // The routine cut of a server that cannot replay, whose states are reconciled
                // after it: said once the reconnect shows whether it mattered.
                Notice::ConnectionLost { reason, attempt: 1 }
                    if tracker.mode() == Mode::Inferred =>
                {
                    *follow.quiet_loss.borrow_mut() = Some(reason.clone());
                }
                Notice::ConnectionLost { .. } => {
                    if let Some(first) = follow.quiet_loss.borrow_mut().take() {
                        reporter.note(&lost_text(&first, 1))?;
                    }
                    note_notice(reporter, &notice)?;
                }
                // A server that resumes replays what was missed; `Resumed` reports it.
                Notice::Reconnected {
                    resumed_after: Some(_),
                    replays: true,
                } => {}
                Notice::Reconnected { .. } if tracker.mode() == Mode::Inferred => {
                    let quiet = follow.quiet_loss.borrow_mut().take();
                    let before = states(tracker);
                    let end = reconcile(follow, tracker, reporter, stop).await?;
                    let caught_up = changed(&before, tracker);
                    match (quiet, caught_up) {
                        // The routine cut: nothing missed, nothing to alarm anyone with.
                        (Some(reason), 0) => reporter.detail(&format!(
                            "the server closed the stream ({reason}); reconnected, no resource state was missed"
                        ))?,
                        (_, 0) => reporter.note(
                            "reconnected; this server cannot replay events, and the resource states read from it show nothing was missed",
                        )?,
                        (quiet, n) => reporter.note(&format!(
                            "{}; this server cannot replay events, so events published during the gap could not be replayed: {n} resource state{} caught up from the server",
                            match quiet {
                                Some(reason) => format!("the stream was cut ({reason}) and reopened"),
                                None => "reconnected".to_owned(),
                            },
                            if n == 1 { " was" } else { "s were" }
                        ))?,
                    }
                    return Ok(end);
                }
                _ => note_notice(reporter, &notice)?,
            }
            Ok(None)
        }
    }
}

/// What stderr says of a change in the connection, in the words every watching command uses
/// (`deploy -w`, `watch`, `delete -w`); `None` for a change not worth a line (a resumed
/// stream's reconnect, which the replay count that follows reports).
pub(crate) fn notice_text(notice: &Notice) -> Option<String> {
    Some(match notice {
        Notice::ConnectionLost { reason, attempt } => lost_text(reason, *attempt),
        Notice::Reconnected {
            resumed_after: Some(_),
            replays: true,
        } => return None,
        Notice::Reconnected { .. } => "reconnected; this server cannot replay events, so events published during the gap could not be replayed".to_owned(),
        Notice::Resumed { replayed: 1 } => "resumed, 1 event replayed".to_owned(),
        Notice::Resumed { replayed } => format!("resumed, {replayed} events replayed"),
        Notice::Malformed { reason } => reason.clone(),
        too_large @ Notice::EventTooLarge { .. } => too_large_message(too_large),
    })
}

/// [`notice_text`], as a note on stderr.
pub(crate) fn note_notice(reporter: &mut Reporter, notice: &Notice) -> std::io::Result<()> {
    match notice_text(notice) {
        Some(text) => reporter.note(&text),
        None => Ok(()),
    }
}

fn lost_text(reason: &str, attempt: u32) -> String {
    format!("connection lost, reconnecting (attempt {attempt})... ({reason})")
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
        super::values::format_size(*limit)
    )
}

/// Every resource's state, to tell what a reconcile changed.
fn states(tracker: &Tracker) -> Vec<(String, String)> {
    tracker
        .resources()
        .iter()
        .map(|(name, r)| (name.clone(), r.state.clone()))
        .collect()
}

/// How many resources are new or in another state than `before`.
fn changed(before: &[(String, String)], tracker: &Tracker) -> usize {
    let now = states(tracker);
    now.iter().filter(|pair| !before.contains(pair)).count()
}

/// Reads the state of record (`GET /api/resources`) into the tracker.
async fn reconcile(
    follow: &Follow<'_>,
    tracker: &mut Tracker,
    reporter: &mut Reporter,
    stop: &mut Stop,
) -> Result<Option<WatchEnd>, Error> {
    let answer = match stop
        .bound(follow.client.resources_with_reasons(follow.app))
        .await
    {
        Ok(answer) => answer,
        Err(end) => return Ok(Some(end)),
    };
    match answer {
        Ok(records) => Ok(tracker
            .reconcile(records.iter().map(|r| {
                (
                    r.resource_name.as_str(),
                    r.resource_type.as_str(),
                    r.state.as_str(),
                    r.error.as_deref(),
                )
            }))
            .map(WatchEnd::Finished)),
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
    stop: &mut Stop,
) -> Result<Option<WatchEnd>, Error> {
    let Some(id) = follow.deployment_id else {
        return Ok(None);
    };
    let answer = match stop.bound(follow.client.deployment(id)).await {
        Ok(answer) => answer,
        Err(end) => return Ok(Some(end)),
    };
    let status = match answer {
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
    Ok(tracker
        .conclude(outcome, status.error)
        .map(WatchEnd::Finished))
}

/// After the stream was lost for good: the outcome, if the server can still tell it.
async fn last_resort(
    follow: &Follow<'_>,
    tracker: &mut Tracker,
    reporter: &mut Reporter,
    stop: &mut Stop,
    lost: &Error,
) -> Result<Option<WatchEnd>, Error> {
    reporter.note(&format!(
        "{lost}; asking the server for the deployment's state"
    ))?;
    let outcome = match tracker.mode() {
        Mode::Terminal => deployment_status(follow, tracker, reporter, stop).await,
        Mode::Inferred => reconcile(follow, tracker, reporter, stop).await,
        Mode::Follow => Ok(None),
    };
    // A rejection now would hide the real problem (the lost stream); report that instead.
    Ok(outcome.unwrap_or(None))
}
