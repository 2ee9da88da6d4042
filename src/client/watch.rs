//! The event-stream watcher: one logical stream of events for an app (or one deployment) over
//! as many HTTP connections as it takes.
//!
//! It owns connecting, the idle deadline, reconnecting with backoff, resuming with
//! `Last-Event-ID`, and dropping duplicates. It never decides that a deployment is finished:
//! an ended stream is a lost connection, never an outcome (the caller stops on a terminal
//! event, or on resource states). It never prints: what happens to the connection is reported
//! as [`Notice`] items, which the caller shows on stderr.
//!
//! Rules it applies (the "reconnect and resume"):
//! - a stream that ends, fails, or delivers no bytes at all (keep-alive comments count) for
//!   [`WatchOptions::idle_timeout`] is a lost connection. Only time spent waiting for bytes
//!   counts: while the caller is busy (blocked writing to a slow stdout), the socket buffers and
//!   nothing is declared idle;
//! - reconnects follow capped exponential backoff with jitter ([`Backoff`]), with the server's
//!   `retry:` hint as the base delay (never below
//!   [`RETRY_FLOOR`](super::backoff::RETRY_FLOOR)); a `4xx` answer is final,
//!   and so is an answer that is no stream ([`Error::NoStream`]: `204 No Content`, another
//!   `2xx`, another media type); connection errors and `5xx` are retried;
//! - an outage lasts until a connection has worked: it stayed up for [`STABLE`], or delivered
//!   a new event with an identity of its own (not a duplicate, not the `connected` greeting). A
//!   frame alone does not end it, so a server that fails right after its first frame is asked
//!   again ever more slowly, not in a loop. An outage longer than
//!   [`WatchOptions::retry_budget`] is given up: [`EventWatch::next`] returns
//!   [`Error::StreamLost`];
//! - the last event id is the standard's: set by every block with an `id:` field (dispatched
//!   or not), kept by events without one, reset by an empty one; every reconnect sends it as
//!   `Last-Event-ID`, unless it is empty;
//! - duplicates are dropped by the event's own identity: its JSON `id`, or else an `id:` field
//!   in its own block; for integer ids, anything not greater than the last one; for opaque ids
//!   (innominatus' nanosecond timestamps, possibly out of order), a bounded set of recently
//!   seen ids. An event with neither is never taken for a duplicate, whatever id it inherited;
//! - an event larger than [`WatchOptions::max_event_bytes`] is skipped with a
//!   [`Notice::EventTooLarge`], and the stream goes on.
//!
//! "Resumed, N events replayed": after a reconnect to a server that resumes, the events that
//! arrive before the stream first goes quiet for [`REPLAY_QUIET`] (or ends, or delivers a
//! terminal event) are counted as the replay, and one [`Notice::Resumed`] reports the count. The
//! server sends its replay as one burst read from its store, so the first pause marks the end
//! of it; a live event that happens to arrive inside the burst is counted too, which only
//! makes the number an upper bound.
//!
//! [`EventWatch::next`] is cancel-safe: all state lives in the struct (including the time of the
//! next reconnect), so it can sit in a `tokio::select!` beside a timeout and Ctrl-C.

use std::collections::{HashSet, VecDeque};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{Stream, StreamExt};
use tokio::time::Instant;

use super::ApiClient;
use super::backoff::Backoff;
use super::sse::{SseParser, SseRef};
use crate::error::Error;
use crate::event::{Event, EventKind};

/// How long a resumed stream must stay quiet before its replay is considered delivered.
pub const REPLAY_QUIET: Duration = Duration::from_millis(200);

/// The longest wait for the first frame of a new stream in [`EventWatch::connect`].
const HANDSHAKE: Duration = Duration::from_secs(5);

/// How long a connection must stay up to end an outage (and reset the backoff) when it has
/// delivered nothing new: longer than any wait of a server that accepts and then fails at once,
/// short enough that a quiet but healthy stream counts as working well within the retry budget.
pub const STABLE: Duration = Duration::from_secs(5);

/// How many opaque ids to remember for de-duplication on servers without sequential ids.
const RECENT_IDS: usize = 4096;

/// Tuning for the watcher.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// A connection that delivers no bytes at all (keep-alives count) for this long is dead.
    /// Our server sends a keep-alive every 15 s and innominatus after 30 s of silence; the
    /// default of 45 s is three of ours and one and a half of theirs.
    pub idle_timeout: Duration,
    /// First reconnect delay (the server's `retry:` replaces it).
    pub retry_base: Duration,
    /// Longest reconnect delay.
    pub retry_cap: Duration,
    /// How long an outage may last before the watcher gives up.
    pub retry_budget: Duration,
    /// The largest event accepted, in bytes (its data plus its lines as received); a larger one
    /// is skipped with a notice.
    pub max_event_bytes: usize,
}

impl WatchOptions {
    /// The default idle deadline.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(45);
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
            retry_base: Duration::from_millis(250),
            retry_cap: Duration::from_secs(8),
            retry_budget: Duration::from_secs(60),
            max_event_bytes: SseParser::DEFAULT_MAX_EVENT_BYTES,
        }
    }
}

/// How much of each event the caller reads; see [`EventWatch::set_detail`].
#[derive(Debug, Clone, Copy)]
pub enum Detail {
    /// Every event is parsed in full (the default).
    Full,
    /// The caller writes events through as received (`--output json` from a server that
    /// declares canonical JSON) and reads the rest only of the types `full` names: other
    /// events that come with their received JSON are parsed only as far as routing them needs
    /// ([`Event::route_from_json`]), which is several times cheaper on a fast stream.
    PassThrough {
        /// The types the caller reads in full.
        full: fn(&EventKind) -> bool,
    },
}

/// Something the watcher yields.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchItem {
    /// A new event (never one already yielded), with its JSON exactly as received when the
    /// server declared it canonical ([`crate::event::CANONICAL_HEADER`]) and it is one line:
    /// `--output json` writes that through instead of serialising the event again.
    ///
    /// Boxed: an item passes through several queues and futures on its way out, and moving
    /// a pointer there is cheaper than moving the event.
    Event(Box<Event>, Option<Arc<str>>),
    /// A change in the connection, for the human on stderr.
    Notice(Notice),
}

/// Connection changes worth telling the user about.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// The stream ended or failed; a reconnect is scheduled.
    ConnectionLost {
        /// Why.
        reason: String,
        /// The attempt about to be made (1-based, counted since the last working connection).
        attempt: u32,
    },
    /// A reconnect succeeded.
    Reconnected {
        /// The id the stream resumes after (sent as `Last-Event-ID`), if any.
        resumed_after: Option<String>,
        /// Whether the server replays what was missed (it speaks PROTOCOL.md Part B); if not,
        /// events published during the gap are lost.
        replays: bool,
    },
    /// The replay after a reconnect has been delivered (servers that resume only).
    Resumed {
        /// New events received in the replay burst.
        replayed: u64,
    },
    /// An event could not be read and was skipped.
    Malformed {
        /// What was wrong.
        reason: String,
    },
    /// An event larger than the size limit was skipped.
    EventTooLarge {
        /// The `id:` of its own block, if it had one.
        id: Option<String>,
        /// The last event id before it, if any (where it was in the stream).
        after: Option<String>,
        /// The limit, in bytes.
        limit: usize,
    },
}

/// The body of an event-stream response, as chunks of bytes.
pub(crate) type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, String>> + Send>>;

/// Where the watcher gets its connections: the API client in production, a script in the unit
/// tests (which run on a paused clock, away from real sockets).
pub(crate) trait StreamSource: Send + Sync {
    /// Opens one connection with these query parameters, resuming after `last_event_id`.
    fn open(
        &self,
        query: Vec<(String, String)>,
        last_event_id: Option<String>,
    ) -> BoxFuture<'_, Result<Opened, Error>>;
}

/// One opened event stream.
pub(crate) struct Opened {
    /// The response body.
    pub(crate) bytes: ByteStream,
    /// Whether the server declared its events canonical JSON ([`crate::event::CANONICAL_HEADER`]).
    pub(crate) canonical: bool,
}

impl StreamSource for ApiClient {
    fn open(
        &self,
        query: Vec<(String, String)>,
        last_event_id: Option<String>,
    ) -> BoxFuture<'_, Result<Opened, Error>> {
        Box::pin(async move {
            let pairs: Vec<(&str, &str)> = query
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let resp = self.open_stream(&pairs, last_event_id.as_deref()).await?;
            let canonical = resp
                .headers()
                .get(crate::event::CANONICAL_HEADER)
                .is_some_and(|v| v.as_bytes() == b"canonical");
            let bytes: ByteStream = Box::pin(
                resp.bytes_stream()
                    .map(|r| r.map_err(|e| super::describe(&e))),
            );
            Ok(Opened { bytes, canonical })
        })
    }
}

struct Connection {
    bytes: ByteStream,
    /// See [`Opened::canonical`].
    canonical: bool,
    parser: SseParser,
    /// Whether a complete frame arrived (what [`EventWatch::connect`] waits for).
    established: bool,
    /// When the server answered.
    opened_at: Instant,
    /// Whether it delivered a new event with an identity: it worked, the outage is over.
    progressed: bool,
}

/// Counting the replay after a resumed reconnect.
struct Replay {
    count: u64,
    /// When the burst is over if nothing new arrives.
    quiet_at: Instant,
}

/// A resumable, de-duplicated event stream.
pub struct EventWatch {
    source: Arc<dyn StreamSource>,
    app: String,
    deployment: Option<String>,
    options: WatchOptions,
    conn: Option<Connection>,
    /// When the next connection attempt may start (set when a connection is lost).
    reconnect_at: Option<Instant>,
    backoff: Backoff,
    /// When the current outage began (`None` while a connection works).
    outage_since: Option<Instant>,
    /// Set when the retry budget is spent: the error [`EventWatch::next`] returns.
    gave_up: Option<String>,
    /// Whether the server numbers its frames or sent a `retry:` hint: it speaks PROTOCOL.md
    /// Part B (resume, idempotent submission).
    resumes: bool,
    /// The last SSE `id:` processed: what `Last-Event-ID` resumes after.
    last_id: Option<String>,
    /// The last integer id processed, when the server's ids are integers (ours).
    last_seq: Option<u64>,
    /// Recently seen opaque ids (innominatus).
    recent: VecDeque<String>,
    recent_set: HashSet<String>,
    replay: Option<Replay>,
    /// When the current wait for bytes began. Kept across a cancelled [`EventWatch::next`] (so
    /// a `select!` that drops and re-creates it cannot postpone the idle deadline forever),
    /// cleared when an item is handed to the caller.
    waiting_since: Option<Instant>,
    pending: VecDeque<WatchItem>,
    detail: Detail,
    /// Whether events keep their received JSON ([`WatchItem::Event`]); see
    /// [`EventWatch::keep_received_json`].
    keep_json: bool,
}

impl EventWatch {
    /// Opens the first connection for `app` and returns once the server has answered and sent
    /// its first frame (or 5 s passed), so that everything published from now on
    /// reaches this watcher (subscribe before submitting) and [`EventWatch::server_resumes`]
    /// is known.
    pub async fn connect(
        client: ApiClient,
        app: &str,
        deployment: Option<String>,
        since: Option<String>,
        options: WatchOptions,
    ) -> Result<Self, Error> {
        Self::connect_with(Arc::new(client), app, deployment, since, options).await
    }

    pub(crate) async fn connect_with(
        source: Arc<dyn StreamSource>,
        app: &str,
        deployment: Option<String>,
        since: Option<String>,
        options: WatchOptions,
    ) -> Result<Self, Error> {
        // The attempt budget is the time budget; the count only numbers the attempts.
        let backoff = Backoff::new(options.retry_base, options.retry_cap, u32::MAX);
        let mut watch = EventWatch {
            source,
            app: app.to_owned(),
            deployment,
            options,
            conn: None,
            reconnect_at: None,
            backoff,
            outage_since: None,
            gave_up: None,
            resumes: false,
            last_seq: since.as_deref().and_then(|s| s.parse().ok()),
            last_id: since,
            recent: VecDeque::new(),
            recent_set: HashSet::new(),
            replay: None,
            waiting_since: None,
            pending: VecDeque::new(),
            detail: Detail::Full,
            keep_json: true,
        };
        watch.conn = Some(watch.open().await?);
        let deadline = Instant::now() + HANDSHAKE.min(watch.options.idle_timeout);
        while watch.conn.as_ref().is_some_and(|c| !c.established) {
            let Some(conn) = watch.conn.as_mut() else {
                break;
            };
            match tokio::time::timeout_at(deadline, conn.bytes.next()).await {
                Ok(chunk) => watch.on_chunk(chunk),
                // A server that says nothing yet: its kind stays unknown, which only means no
                // retried submission.
                Err(_) => break,
            }
        }
        Ok(watch)
    }

    /// Restricts the watch to one deployment from now on (known once the POST answers). Events
    /// of other deployments already queued are dropped; events without a deployment id
    /// (servers that have none) are kept.
    pub fn set_deployment(&mut self, deployment_id: Option<String>) {
        self.deployment = deployment_id;
        let kept: VecDeque<WatchItem> = self
            .pending
            .iter()
            .filter(|item| match item {
                WatchItem::Event(ev, _) => self.wants(ev),
                WatchItem::Notice(_) => true,
            })
            .cloned()
            .collect();
        self.pending = kept;
    }

    /// Sets how much of each event the caller reads. Items already queued are not changed.
    pub fn set_detail(&mut self, detail: Detail) {
        self.detail = detail;
    }

    /// Sets whether events come with the JSON they were received in (the default), which
    /// only `--output json` writes; text output turns it off and saves a copy per event.
    pub fn keep_received_json(&mut self, keep: bool) {
        self.keep_json = keep;
    }

    /// The last event id processed, for resuming elsewhere (`ctl watch --since`).
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// Whether the server has shown it speaks PROTOCOL.md Part B: it numbered its frames
    /// (`id:` lines) or sent the `retry:` hint that Part B puts at the start of every stream
    /// and innominatus never sends. Such a server resumes streams and honours
    /// `Idempotency-Key`.
    pub fn server_resumes(&self) -> bool {
        self.resumes
    }

    /// Whether an event belongs to what is being watched (the app, and the deployment once known).
    pub fn wants(&self, ev: &Event) -> bool {
        if !ev.app_name.is_empty() && ev.app_name != self.app {
            return false;
        }
        match (&self.deployment, &ev.deployment_id) {
            (Some(want), Some(got)) => want == got,
            _ => true,
        }
    }

    async fn open(&self) -> Result<Connection, Error> {
        let mut query: Vec<(String, String)> = vec![("app".into(), self.app.clone())];
        if let Some(dep) = &self.deployment {
            query.push(("deployment".into(), dep.clone()));
            // With a deployment filter, no `since` means "from the deployment's first event".
            if self.last_id.is_none() {
                query.push(("since".into(), "0".into()));
            }
        }
        // A server (or proxy) that takes the connection but never answers is as dead as a
        // silent stream: the idle deadline applies to the answer too.
        let open = self.source.open(query, self.last_id.clone());
        let opened = tokio::time::timeout(self.options.idle_timeout, open)
            .await
            .map_err(|_| Error::Server {
                status: None,
                message: format!(
                    "the event stream was not answered within {}",
                    crate::render::text::human_duration(self.options.idle_timeout)
                ),
            })??;
        let parser = SseParser::with_limit(self.options.max_event_bytes)
            .with_last_event_id(self.last_id.as_deref().unwrap_or(""));
        Ok(Connection {
            bytes: opened.bytes,
            canonical: opened.canonical,
            parser,
            established: false,
            opened_at: Instant::now(),
            progressed: false,
        })
    }

    /// The next new event or notice. Errors are final: a rejected stream (4xx) or a stream
    /// that could not be re-established within the retry budget.
    pub async fn next(&mut self) -> Result<WatchItem, Error> {
        // Items of a chunk already read need no clock (one read of it per chunk, not per event).
        if let Some(item) = self.next_ready() {
            return Ok(item);
        }
        // Idle time counts from when we start waiting, so time the caller spent elsewhere
        // (blocked on a slow stdout) never makes a healthy connection look dead.
        let mut idle_from = *self.waiting_since.get_or_insert_with(Instant::now);
        loop {
            if let Some(item) = self.pending.pop_front() {
                self.waiting_since = None;
                return Ok(item);
            }
            if let Some(reason) = self.gave_up.take() {
                return Err(Error::StreamLost(reason));
            }
            let Some(conn) = self.conn.as_mut() else {
                self.reconnect().await?;
                idle_from = Instant::now();
                self.waiting_since = Some(idle_from);
                continue;
            };
            let idle_at = idle_from + self.options.idle_timeout;
            let wake = match &self.replay {
                Some(replay) => replay.quiet_at.min(idle_at),
                None => idle_at,
            };
            match tokio::time::timeout_at(wake, conn.bytes.next()).await {
                Ok(chunk) => {
                    idle_from = Instant::now();
                    self.waiting_since = Some(idle_from);
                    self.on_chunk(chunk);
                }
                Err(_) if Instant::now() < idle_at => self.end_replay(),
                Err(_) => self.lose(format!(
                    "no data for {}",
                    crate::render::text::human_duration(self.options.idle_timeout)
                )),
            }
        }
    }

    /// The next item of what was already read, if any: what [`EventWatch::next`] would return
    /// at once, without the connection or the clock. For handling a burst in one go.
    pub fn next_ready(&mut self) -> Option<WatchItem> {
        let item = self.pending.pop_front()?;
        self.waiting_since = None;
        Some(item)
    }

    /// Handles what one read of the connection gave.
    fn on_chunk(&mut self, chunk: Option<Result<Bytes, String>>) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        match chunk {
            Some(Ok(bytes)) => {
                // The parser lends each item out of its own buffers, so it is taken out of the
                // connection while `accept` (which needs all of `self`) handles the items.
                let mut parser = std::mem::take(&mut conn.parser);
                let canonical = conn.canonical;
                let now = Instant::now();
                let mut complete = false;
                parser.feed_with(&bytes, |item| {
                    complete = true;
                    self.accept(item, canonical, now);
                });
                if let Some(conn) = self.conn.as_mut() {
                    conn.parser = parser;
                    // A complete frame: the server speaks. That alone does not end an outage
                    // (see `lose`).
                    conn.established |= complete;
                }
            }
            Some(Err(e)) => self.lose(format!("the connection failed: {e}")),
            None => self.lose("the server closed the stream".to_owned()),
        }
    }

    /// Handles one parsed SSE item: JSON decode, resume bookkeeping, de-duplication, filtering.
    /// `now` is when its chunk arrived.
    fn accept(&mut self, item: SseRef<'_>, canonical: bool, now: Instant) {
        let (sse_id, own_id, data) = match item {
            SseRef::Retry(delay) => {
                self.resumes = true;
                self.backoff.set_base(delay);
                return;
            }
            SseRef::Id(id) => {
                self.set_last_id(id);
                return;
            }
            SseRef::Skipped { id, own_id, limit } => {
                let after = self.last_id.clone();
                if own_id {
                    self.set_last_id(id);
                }
                self.pending
                    .push_back(WatchItem::Notice(Notice::EventTooLarge {
                        id: (own_id && !id.is_empty()).then(|| id.to_owned()),
                        after,
                        limit,
                    }));
                return;
            }
            SseRef::Event {
                id, own_id, data, ..
            } => (id, own_id, data),
        };
        if own_id {
            // The SSE last event id: what a reconnect resumes after, whatever the event is.
            self.set_last_id(sse_id);
        }
        // The id this event was sent with; an inherited one says nothing about it.
        let fresh_id = if own_id { sse_id } else { "" };
        // Written through as received, when the server declared it canonical and it is one line.
        let writable = canonical && !data.contains('\n');
        let parsed = match self.detail {
            Detail::PassThrough { full } if writable => match Event::route_from_json(data) {
                Ok(event) if event.id.is_empty() || full(&event.kind) => Event::from_json(data),
                routed => routed,
            },
            _ => Event::from_json(data),
        };
        let mut event = match parsed {
            Ok(event) => event,
            Err(e) => {
                self.pending.push_back(WatchItem::Notice(Notice::Malformed {
                    reason: format!("an event that is not protocol JSON was skipped ({e})"),
                }));
                return;
            }
        };
        // Received as it would be written, unless we have to fill something in.
        let mut as_received = writable && !event.id.is_empty();
        if event.id.is_empty() && !fresh_id.is_empty() {
            fresh_id.clone_into(&mut event.id);
            as_received = false;
        }
        // Integer order applies to the ids the server numbers its frames with.
        let numbered = !fresh_id.is_empty() && event.id == fresh_id;
        if self.is_duplicate(&event.id, numbered) {
            return;
        }
        if !event.id.is_empty() {
            if let Some(conn) = self.conn.as_mut() {
                // Something new with an identity: this connection works.
                conn.progressed = true;
            }
        }
        if !self.wants(&event) {
            return;
        }
        if let Some(replay) = self
            .replay
            .as_mut()
            .filter(|_| event.kind != EventKind::Connected)
        {
            replay.count += 1;
            replay.quiet_at = now + REPLAY_QUIET;
            if event.outcome().is_some() {
                // The watch ends on this event: report the replay before it.
                self.end_replay();
            }
        }
        let raw = (as_received && self.keep_json).then(|| Arc::from(data));
        self.pending
            .push_back(WatchItem::Event(Box::new(event), raw));
    }

    /// The stream's last event id is now `id` (empty: none, no `Last-Event-ID` is sent).
    fn set_last_id(&mut self, id: &str) {
        if id.is_empty() {
            self.last_id = None;
            return;
        }
        // An id from the server: it speaks PROTOCOL.md Part B.
        self.resumes = true;
        match &mut self.last_id {
            Some(last) => id.clone_into(last),
            None => self.last_id = Some(id.to_owned()),
        }
    }

    /// Whether an event id was already processed; records it if not.
    fn is_duplicate(&mut self, id: &str, numbered: bool) -> bool {
        if id.is_empty() {
            // Nothing to compare (a `connected` frame): every one is new.
            return false;
        }
        if numbered {
            if let Ok(seq) = id.parse::<u64>() {
                if self.last_seq.is_some_and(|last| seq <= last) {
                    return true;
                }
                self.last_seq = Some(seq);
                return false;
            }
        }
        // Opaque ids, possibly out of order: remember a bounded window of them.
        if self.recent_set.contains(id) {
            return true;
        }
        if self.recent.len() == RECENT_IDS {
            if let Some(old) = self.recent.pop_front() {
                self.recent_set.remove(&old);
            }
        }
        self.recent.push_back(id.to_owned());
        self.recent_set.insert(id.to_owned());
        false
    }

    /// Reports the replay count, once.
    fn end_replay(&mut self) {
        if let Some(replay) = self.replay.take() {
            self.pending.push_back(WatchItem::Notice(Notice::Resumed {
                replayed: replay.count,
            }));
        }
    }

    /// Drops the current connection and schedules the next attempt, or gives up when the
    /// outage has outlasted the retry budget.
    fn lose(&mut self, reason: String) {
        let now = Instant::now();
        if let Some(conn) = self.conn.take() {
            if conn.progressed || now.duration_since(conn.opened_at) >= STABLE {
                // The connection worked: this loss starts a new outage.
                self.outage_since = None;
                self.backoff.reset();
            }
        }
        self.end_replay();
        let since = *self.outage_since.get_or_insert(now);
        let delay = self
            .backoff
            .next_delay(fastrand::f64())
            .unwrap_or(self.options.retry_cap);
        if now + delay > since + self.options.retry_budget {
            self.reconnect_at = None;
            self.gave_up = Some(format!(
                "{reason}; the event stream could not be re-established within {} ({} attempts)",
                crate::render::text::human_duration(self.options.retry_budget),
                self.backoff.attempts().saturating_sub(1)
            ));
            return;
        }
        self.reconnect_at = Some(now + delay);
        self.pending
            .push_back(WatchItem::Notice(Notice::ConnectionLost {
                reason,
                attempt: self.backoff.attempts(),
            }));
    }

    async fn reconnect(&mut self) -> Result<(), Error> {
        let Some(at) = self.reconnect_at else {
            // Only reachable if `lose` was never called; treat it as an immediate attempt.
            self.reconnect_at = Some(Instant::now());
            return Ok(());
        };
        tokio::time::sleep_until(at).await;
        match self.open().await {
            Ok(conn) => {
                self.conn = Some(conn);
                self.reconnect_at = None;
                self.pending
                    .push_back(WatchItem::Notice(Notice::Reconnected {
                        resumed_after: self.last_id.clone(),
                        replays: self.resumes,
                    }));
                if self.resumes && self.last_id.is_some() {
                    self.replay = Some(Replay {
                        count: 0,
                        quiet_at: Instant::now() + REPLAY_QUIET,
                    });
                }
                Ok(())
            }
            // Final: a rejection, an answer that is no stream, a refused certificate (retrying
            // cannot make the server trust us or us it).
            Err(e @ (Error::Rejected { .. } | Error::NoStream { .. } | Error::Tls { .. })) => {
                Err(e)
            }
            Err(e) => {
                self.lose(e.to_string());
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The watcher against scripted connections, on a paused clock: deadlines and backoff are
    //! checked exactly, and nothing touches a socket.

    use std::sync::Mutex;

    use super::*;

    /// One step of a scripted connection body.
    enum Step {
        Bytes(Vec<u8>),
        Fail(&'static str),
        Wait(Duration),
        Stall,
    }

    fn bytes(text: &str) -> Step {
        Step::Bytes(text.as_bytes().to_vec())
    }

    /// Connections handed out in order; when they run out, every attempt is refused (a 503).
    #[derive(Default)]
    struct Script {
        conns: Mutex<VecDeque<Result<Vec<Step>, Error>>>,
        /// `(when, Last-Event-ID)` of every attempt.
        opened: Mutex<Vec<(Instant, Option<String>)>>,
        /// Whether the streams declare canonical JSON, as `ctl server` does.
        canonical: bool,
    }

    impl Script {
        fn new(conns: Vec<Result<Vec<Step>, Error>>) -> Arc<Self> {
            Arc::new(Script {
                conns: Mutex::new(conns.into()),
                opened: Mutex::default(),
                canonical: false,
            })
        }

        fn canonical(conns: Vec<Result<Vec<Step>, Error>>) -> Arc<Self> {
            Arc::new(Script {
                conns: Mutex::new(conns.into()),
                opened: Mutex::default(),
                canonical: true,
            })
        }

        fn attempts(&self) -> Vec<(Instant, Option<String>)> {
            self.opened.lock().unwrap().clone()
        }
    }

    impl StreamSource for Script {
        fn open(
            &self,
            _query: Vec<(String, String)>,
            last_event_id: Option<String>,
        ) -> BoxFuture<'_, Result<Opened, Error>> {
            let canonical = self.canonical;
            self.opened
                .lock()
                .unwrap()
                .push((Instant::now(), last_event_id));
            let next = self.conns.lock().unwrap().pop_front();
            Box::pin(async move {
                let steps = match next {
                    Some(conn) => conn?,
                    None => return Err(unavailable()),
                };
                let body = futures::stream::unfold(VecDeque::from(steps), |mut steps| async {
                    loop {
                        match steps.pop_front()? {
                            Step::Bytes(b) => return Some((Ok(Bytes::from(b)), steps)),
                            Step::Fail(e) => return Some((Err(e.to_owned()), steps)),
                            Step::Wait(d) => tokio::time::sleep(d).await,
                            Step::Stall => std::future::pending::<()>().await,
                        }
                    }
                });
                let body: ByteStream = Box::pin(body);
                Ok(Opened {
                    bytes: body,
                    canonical,
                })
            })
        }
    }

    fn unavailable() -> Error {
        Error::Server {
            status: Some(503),
            message: "unavailable".into(),
        }
    }

    /// Our server's first frame.
    const HELLO: &str =
        "retry: 1000\ndata: {\"type\":\"connected\",\"client_id\":\"client-1\"}\n\n";
    /// innominatus' first frame.
    const HELLO_PLAIN: &str = "data: {\"type\":\"connected\",\"client_id\":\"client-1\"}\n\n";

    /// One of our server's frames: integer id on the `id:` line and in the JSON.
    fn frame(id: u64, kind: &str) -> String {
        format!(
            "id: {id}\ndata: {{\"id\":\"{id}\",\"type\":\"{kind}\",\"app_name\":\"shop\",\"deployment_id\":\"1\",\"data\":{{\"resource_name\":\"db\"}}}}\n\n"
        )
    }

    /// An innominatus frame: data only, an opaque id in the JSON.
    fn plain_frame(id: &str, kind: &str) -> String {
        format!(
            "data: {{\"id\":\"{id}\",\"type\":\"{kind}\",\"app_name\":\"shop\",\"data\":{{\"resource_name\":\"db\"}}}}\n\n"
        )
    }

    async fn watch_on(script: &Arc<Script>, options: WatchOptions) -> EventWatch {
        EventWatch::connect_with(script.clone(), "shop", None, None, options)
            .await
            .expect("first connection")
    }

    /// Everything the watcher yields until it fails or `stop` says enough.
    async fn drain(
        watch: &mut EventWatch,
        stop: impl Fn(&WatchItem) -> bool,
    ) -> (Vec<WatchItem>, Option<Error>) {
        let mut items = Vec::new();
        loop {
            match watch.next().await {
                Ok(item) => {
                    let done = stop(&item);
                    items.push(item);
                    if done {
                        return (items, None);
                    }
                }
                Err(e) => return (items, Some(e)),
            }
        }
    }

    fn is_terminal(item: &WatchItem) -> bool {
        matches!(item, WatchItem::Event(e, _) if e.outcome().is_some())
    }

    fn event_ids(items: &[WatchItem]) -> Vec<String> {
        items
            .iter()
            .filter_map(|i| match i {
                WatchItem::Event(e, _) if e.kind != EventKind::Connected => Some(e.id.clone()),
                _ => None,
            })
            .collect()
    }

    fn notices(items: &[WatchItem]) -> Vec<Notice> {
        items
            .iter()
            .filter_map(|i| match i {
                WatchItem::Notice(n) => Some(n.clone()),
                WatchItem::Event(..) => None,
            })
            .collect()
    }

    /// The received JSON of each event item, in order.
    fn raws(items: &[WatchItem]) -> Vec<Option<String>> {
        items
            .iter()
            .filter_map(|i| match i {
                WatchItem::Event(e, raw) if e.kind != EventKind::Connected => {
                    Some(raw.as_deref().map(str::to_owned))
                }
                _ => None,
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn received_json_is_kept_only_from_a_canonical_server_and_only_as_sent() {
        let no_id = "data: {\"type\":\"resource.active\",\"app_name\":\"shop\"}\n\n";
        let two_lines = "id: 3\ndata: {\"id\":\"3\",\"type\":\"resource.active\",\ndata: \"app_name\":\"shop\"}\n\n";
        let conn = || {
            Ok(vec![
                bytes(HELLO),
                bytes(no_id),
                bytes(&frame(1, "resource.created")),
                bytes(two_lines),
                bytes(&frame(4, "deployment.completed")),
                Step::Stall,
            ])
        };
        let canonical = Script::canonical(vec![conn()]);
        let mut watch = watch_on(&canonical, WatchOptions::default()).await;
        let (items, err) = drain(&mut watch, is_terminal).await;
        assert!(err.is_none(), "{err:?}");
        let first = frame(1, "resource.created");
        let last = frame(4, "deployment.completed");
        let data = |f: &str| f.lines().nth(1).unwrap()["data: ".len()..].to_owned();
        assert_eq!(
            raws(&items),
            [
                // Without an id in the JSON it is not as it would be written.
                None,
                Some(data(&first)),
                // Two data lines are not one JSON line.
                None,
                Some(data(&last)),
            ]
        );

        let plain = Script::new(vec![conn()]);
        let mut watch = watch_on(&plain, WatchOptions::default()).await;
        let (items, _) = drain(&mut watch, is_terminal).await;
        assert_eq!(
            raws(&items),
            [None, None, None, None],
            "no header, no trust"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn pass_through_parses_in_full_only_what_the_caller_reads() {
        let conn = || {
            Ok(vec![
                bytes(HELLO),
                bytes(&frame(1, "workflow.started")),
                bytes(&frame(2, "resource.active")),
                bytes(&frame(3, "deployment.completed")),
                Step::Stall,
            ])
        };
        let data = |items: &[WatchItem]| -> Vec<bool> {
            items
                .iter()
                .filter_map(|item| match item {
                    WatchItem::Event(e, raw) if e.kind != EventKind::Connected => {
                        assert!(raw.is_some(), "written through: {e:?}");
                        Some(e.resource_name().is_some())
                    }
                    _ => None,
                })
                .collect()
        };
        let detail = Detail::PassThrough {
            full: |kind| *kind == EventKind::ResourceActive,
        };

        let canonical = Script::canonical(vec![conn()]);
        let mut watch = watch_on(&canonical, WatchOptions::default()).await;
        watch.set_detail(detail);
        let (items, err) = drain(&mut watch, is_terminal).await;
        assert!(err.is_none(), "{err:?}");
        assert_eq!(event_ids(&items), ["1", "2", "3"]);
        // Routing fields only, except the type the caller reads; the terminal is still seen.
        assert_eq!(data(&items), [false, true, false]);

        // Without the header nothing is written through, so everything is parsed in full.
        let plain = Script::new(vec![conn()]);
        let mut watch = watch_on(&plain, WatchOptions::default()).await;
        watch.set_detail(detail);
        let (items, _) = drain(&mut watch, is_terminal).await;
        assert_eq!(event_ids(&items), ["1", "2", "3"]);
        assert!(items.iter().all(|item| match item {
            WatchItem::Event(e, raw) =>
                raw.is_none() && (e.kind == EventKind::Connected || e.resource_name().is_some()),
            WatchItem::Notice(_) => true,
        }));
    }

    #[tokio::test(start_paused = true)]
    async fn resumes_after_the_last_id_drops_duplicates_and_counts_the_replay() {
        let script = Script::new(vec![
            Ok(vec![
                bytes(HELLO),
                bytes(&frame(1, "deployment.started")),
                bytes(&frame(2, "resource.created")),
                Step::Fail("connection reset"),
            ]),
            Ok(vec![
                bytes(HELLO),
                // The server's replay overlaps what we have: 2 must be dropped.
                bytes(&(frame(2, "resource.created") + &frame(3, "resource.provisioning"))),
                bytes(&frame(4, "resource.active")),
                Step::Wait(Duration::from_secs(1)),
                bytes(&frame(5, "deployment.completed")),
                Step::Stall,
            ]),
        ]);
        let mut watch = watch_on(&script, WatchOptions::default()).await;
        assert!(
            watch.server_resumes(),
            "the retry: hint marks a Part B server"
        );
        let (items, err) = drain(&mut watch, is_terminal).await;
        assert!(err.is_none(), "{err:?}");
        assert_eq!(event_ids(&items), ["1", "2", "3", "4", "5"]);
        assert_eq!(
            notices(&items),
            [
                Notice::ConnectionLost {
                    reason: "the connection failed: connection reset".into(),
                    attempt: 1
                },
                Notice::Reconnected {
                    resumed_after: Some("2".into()),
                    replays: true
                },
                Notice::Resumed { replayed: 2 },
            ]
        );
        let attempts = script.attempts();
        assert_eq!(attempts.len(), 2);
        assert_eq!(attempts[1].1.as_deref(), Some("2"), "Last-Event-ID");
        // The server's `retry: 1000` is the base: the first delay is drawn from [1s, 1.5s),
        // never shorter than the server asked.
        let delay = attempts[1].0 - attempts[0].0;
        assert!(
            delay >= Duration::from_secs(1) && delay < Duration::from_millis(1500),
            "{delay:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_terminal_event_inside_the_replay_reports_the_replay_first() {
        let script = Script::new(vec![
            Ok(vec![bytes(HELLO), bytes(&frame(1, "deployment.started"))]),
            Ok(vec![
                bytes(HELLO),
                bytes(&(frame(2, "resource.active") + &frame(3, "deployment.completed"))),
            ]),
        ]);
        let mut watch = watch_on(&script, WatchOptions::default()).await;
        let (items, _) = drain(&mut watch, is_terminal).await;
        let resumed = items
            .iter()
            .position(|i| *i == WatchItem::Notice(Notice::Resumed { replayed: 2 }))
            .expect("the replay is reported");
        assert!(is_terminal(&items[resumed + 1]), "{items:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn silence_past_the_idle_deadline_is_a_lost_connection() {
        let script = Script::new(vec![
            Ok(vec![bytes(HELLO), Step::Stall]),
            Ok(vec![bytes(HELLO), bytes(&frame(1, "deployment.completed"))]),
        ]);
        let options = WatchOptions {
            idle_timeout: Duration::from_secs(45),
            ..WatchOptions::default()
        };
        let mut watch = watch_on(&script, options).await;
        let hello = watch.next().await.unwrap();
        assert!(matches!(hello, WatchItem::Event(e, _) if e.kind == EventKind::Connected));
        // Cancelling the wait (as a `select!` does) must not postpone the deadline.
        let early = tokio::time::timeout(Duration::from_secs(30), watch.next()).await;
        assert!(early.is_err(), "nothing within 30s: {early:?}");
        let start = Instant::now();
        let lost = watch.next().await.unwrap();
        assert_eq!(
            lost,
            WatchItem::Notice(Notice::ConnectionLost {
                reason: "no data for 45s".into(),
                attempt: 1
            })
        );
        assert_eq!(start.elapsed(), Duration::from_secs(15), "45s in all");
        let (items, _) = drain(&mut watch, is_terminal).await;
        assert_eq!(event_ids(&items), ["1"]);
    }

    #[tokio::test(start_paused = true)]
    async fn keepalives_keep_a_quiet_stream_alive() {
        let keepalive = || bytes(": keepalive\n\n");
        let mut steps = vec![bytes(HELLO)];
        for _ in 0..4 {
            steps.push(Step::Wait(Duration::from_secs(30)));
            steps.push(keepalive());
        }
        steps.push(bytes(&frame(1, "deployment.completed")));
        let script = Script::new(vec![Ok(steps)]);
        let mut watch = watch_on(&script, WatchOptions::default()).await;
        let (items, err) = drain(&mut watch, is_terminal).await;
        assert!(err.is_none());
        assert!(notices(&items).is_empty(), "{items:?}");
        assert_eq!(script.attempts().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_caller_does_not_make_the_stream_look_idle() {
        let script = Script::new(vec![Ok(vec![
            bytes(&(HELLO.to_owned() + &frame(1, "deployment.started"))),
            bytes(&frame(2, "deployment.completed")),
            Step::Stall,
        ])]);
        let mut watch = watch_on(&script, WatchOptions::default()).await;
        assert!(matches!(watch.next().await, Ok(WatchItem::Event(..))));
        // The caller is blocked (a slow stdout) far longer than the idle deadline.
        tokio::time::sleep(Duration::from_secs(600)).await;
        let (items, _) = drain(&mut watch, is_terminal).await;
        assert!(notices(&items).is_empty(), "{items:?}");
        assert_eq!(event_ids(&items), ["1", "2"]);
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_grows_and_the_retry_budget_ends_the_watch() {
        // One good connection, then nothing but refusals.
        let script = Script::new(vec![Ok(vec![bytes(HELLO_PLAIN)])]);
        let options = WatchOptions {
            retry_base: Duration::from_millis(250),
            retry_cap: Duration::from_secs(8),
            retry_budget: Duration::from_secs(60),
            ..WatchOptions::default()
        };
        let mut watch = watch_on(&script, options).await;
        let start = Instant::now();
        let (items, err) = drain(&mut watch, |_| false).await;
        let waited = start.elapsed();
        let Some(Error::StreamLost(message)) = err else {
            panic!("expected StreamLost, got {err:?}");
        };
        assert!(message.contains("within 1m00s"), "{message}");
        assert!(waited <= Duration::from_secs(60), "{waited:?}");
        let attempts: Vec<u32> = notices(&items)
            .iter()
            .filter_map(|n| match n {
                Notice::ConnectionLost { attempt, .. } => Some(*attempt),
                _ => None,
            })
            .collect();
        assert!(attempts.len() >= 8, "{attempts:?}");
        assert_eq!(attempts, (1..=attempts.len() as u32).collect::<Vec<_>>());
        assert_schedule(&script.attempts(), Duration::from_millis(250));
    }

    /// The gaps between attempts follow the schedule: the n-th (from 0) is at least
    /// `base × 2^n` (at most 8 s), and jitter adds less than half of that (the timer rounds
    /// up to the millisecond, hence `<=`).
    #[track_caller]
    fn assert_schedule(attempts: &[(Instant, Option<String>)], base: Duration) {
        for (n, pair) in attempts.windows(2).enumerate() {
            let gap = pair[1].0 - pair[0].0;
            let ceiling = base
                .saturating_mul(1 << n.min(16))
                .min(Duration::from_secs(8));
            assert!(
                gap >= ceiling && gap <= ceiling.mul_f64(1.5),
                "gap {n} is {gap:?}, ceiling {ceiling:?}"
            );
        }
    }

    /// The `attempt` of every `ConnectionLost` notice, in order.
    fn lost_attempts(items: &[WatchItem]) -> Vec<u32> {
        notices(items)
            .iter()
            .filter_map(|n| match n {
                Notice::ConnectionLost { attempt, .. } => Some(*attempt),
                _ => None,
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_server_that_fails_right_after_its_first_frame_is_backed_off_exponentially() {
        // Every connection: `retry: 0` and the greeting, then the stream ends; every other
        // attempt is answered 503. One frame each time, nothing new: the outage goes on.
        let hello = "retry: 0\ndata: {\"type\":\"connected\",\"client_id\":\"c\"}\n\n";
        let conns = (0..40)
            .map(|n| {
                if n % 2 == 0 {
                    Ok(vec![bytes(hello)])
                } else {
                    Err(unavailable())
                }
            })
            .collect();
        let script = Script::new(conns);
        let mut watch = watch_on(&script, WatchOptions::default()).await;
        let start = Instant::now();
        let (items, err) = drain(&mut watch, |_| false).await;
        assert!(matches!(err, Some(Error::StreamLost(_))), "{err:?}");
        assert!(start.elapsed() <= Duration::from_secs(60));
        let attempts = lost_attempts(&items);
        assert_eq!(attempts, (1..=attempts.len() as u32).collect::<Vec<_>>());
        // `retry: 0` is raised to the 250 ms floor, and the base doubles from there.
        let times = script.attempts();
        assert_schedule(&times, Duration::from_millis(250));
        // The request rate the docs promise: at most 3 in any second, 12 in the minute.
        for (i, (first, _)) in times.iter().enumerate() {
            let within = times[i..]
                .iter()
                .take_while(|(t, _)| *t - *first < Duration::from_secs(1))
                .count();
            assert!(within <= 3, "{within} requests in the second after {i}");
        }
        assert!(times.len() <= 12, "{} requests in a minute", times.len());
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_stays_up_or_brings_news_ends_the_outage() {
        let script = Script::new(vec![
            Ok(vec![
                bytes(HELLO),
                bytes(&frame(1, "deployment.started")),
                Step::Fail("cut"),
            ]),
            // The greeting and a replayed duplicate are no news: the outage goes on.
            Ok(vec![
                bytes(HELLO),
                bytes(&frame(1, "deployment.started")),
                Step::Fail("cut"),
            ]),
            // Up for 5 s: it worked.
            Ok(vec![bytes(HELLO), Step::Wait(STABLE), Step::Fail("cut")]),
            Err(unavailable()),
            // A new event: it worked.
            Ok(vec![
                bytes(HELLO),
                bytes(&frame(2, "resource.created")),
                Step::Fail("cut"),
            ]),
            Ok(vec![bytes(HELLO), bytes(&frame(3, "deployment.completed"))]),
        ]);
        let mut watch = watch_on(&script, WatchOptions::default()).await;
        let (items, err) = drain(&mut watch, is_terminal).await;
        assert!(err.is_none(), "{err:?}");
        assert_eq!(event_ids(&items), ["1", "2", "3"]);
        assert_eq!(lost_attempts(&items), [1, 2, 1, 2, 1]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_last_event_id_follows_the_standard_across_reconnects() {
        let plain = |kind: &str| format!("data: {{\"type\":\"{kind}\",\"app_name\":\"shop\"}}\n\n");
        let script = Script::new(vec![
            // An event without `id:` keeps the previous id; an `id:` alone sets it.
            Ok(vec![
                bytes(HELLO),
                bytes(&frame(1, "deployment.started")),
                bytes(&plain("resource.created")),
                bytes("id: 7\n\n"),
                Step::Fail("cut"),
            ]),
            // An empty `id:` resets it: no Last-Event-ID next time.
            Ok(vec![bytes(HELLO), bytes("id\n\n"), Step::Fail("cut")]),
            // An id with NUL is ignored; an id in a block cut before its blank line never
            // took effect.
            Ok(vec![
                bytes(HELLO),
                Step::Bytes(b"id: 8\x009\n\n".to_vec()),
                bytes("id: 10\n"),
                Step::Fail("cut"),
            ]),
            Ok(vec![bytes(HELLO), bytes("id: 11\n\n"), Step::Fail("cut")]),
            Ok(vec![
                bytes(HELLO),
                bytes(&frame(12, "deployment.completed")),
            ]),
        ]);
        let mut watch = watch_on(&script, WatchOptions::default()).await;
        let (items, err) = drain(&mut watch, is_terminal).await;
        assert!(err.is_none(), "{err:?}");
        assert_eq!(event_ids(&items), ["1", "", "12"]);
        let sent: Vec<Option<String>> = script.attempts().into_iter().map(|(_, id)| id).collect();
        assert_eq!(
            sent,
            [
                None,
                Some("7".to_owned()),
                None,
                None,
                Some("11".to_owned())
            ]
        );
        assert_eq!(watch.last_event_id(), Some("12"));
    }

    #[tokio::test(start_paused = true)]
    async fn events_without_an_identity_of_their_own_are_never_duplicates() {
        let plain = "data: {\"type\":\"resource.active\",\"app_name\":\"shop\"}\n\n";
        let script = Script::new(vec![Ok(vec![
            bytes(HELLO),
            bytes(&frame(5, "resource.created")),
            // Both inherit SSE id 5, and neither has an id of its own: both are new.
            bytes(plain),
            bytes(plain),
            // The same JSON identity twice is one event.
            bytes("data: {\"id\":\"x1\",\"type\":\"resource.active\"}\n\n"),
            bytes("data: {\"id\":\"x1\",\"type\":\"resource.active\"}\n\n"),
            // An `id:` in the event's own block is an identity too.
            bytes("id: 5\ndata: {\"type\":\"resource.active\"}\n\n"),
            bytes(&frame(6, "deployment.completed")),
            Step::Stall,
        ])]);
        let mut watch = watch_on(&script, WatchOptions::default()).await;
        let (items, err) = drain(&mut watch, is_terminal).await;
        assert!(err.is_none(), "{err:?}");
        // Inherited ids are not written into events: no identity shows as none.
        assert_eq!(event_ids(&items), ["5", "", "", "x1", "6"]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_oversized_event_is_skipped_with_a_notice_and_the_stream_goes_on() {
        let big = format!(
            "id: 2\ndata: {{\"id\":\"2\",\"type\":\"resource.active\",\"data\":{{\"pad\":\"{}\"}}}}\n\n",
            "x".repeat(4096)
        );
        let script = Script::new(vec![Ok(vec![
            bytes(HELLO),
            bytes(&frame(1, "resource.created")),
            bytes(&big),
            bytes(&format!("data: {}\n\n", "y".repeat(3000))),
            bytes(&frame(3, "deployment.completed")),
            Step::Stall,
        ])]);
        let options = WatchOptions {
            max_event_bytes: 2048,
            ..WatchOptions::default()
        };
        let mut watch = watch_on(&script, options).await;
        let (items, err) = drain(&mut watch, is_terminal).await;
        assert!(err.is_none(), "{err:?}");
        assert_eq!(event_ids(&items), ["1", "3"]);
        assert_eq!(
            notices(&items),
            [
                Notice::EventTooLarge {
                    id: Some("2".into()),
                    after: Some("1".into()),
                    limit: 2048
                },
                Notice::EventTooLarge {
                    id: None,
                    after: Some("2".into()),
                    limit: 2048
                },
            ]
        );
        assert_eq!(script.attempts().len(), 1, "the connection was kept");
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_that_is_no_stream_ends_the_watch_without_retrying() {
        let script = Script::new(vec![
            Ok(vec![bytes(HELLO), bytes(&frame(1, "deployment.started"))]),
            Err(Error::NoStream {
                status: 204,
                message: "204 No Content".into(),
            }),
        ]);
        let mut watch = watch_on(&script, WatchOptions::default()).await;
        let (items, err) = drain(&mut watch, |_| false).await;
        assert!(
            matches!(err, Some(Error::NoStream { status: 204, .. })),
            "{err:?}"
        );
        assert_eq!(event_ids(&items), ["1"]);
        assert_eq!(script.attempts().len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_rejected_reconnect_is_final() {
        let script = Script::new(vec![
            Ok(vec![bytes(HELLO)]),
            Err(Error::Rejected {
                status: 401,
                message: "unauthorized".into(),
            }),
        ]);
        let mut watch = watch_on(&script, WatchOptions::default()).await;
        let (_, err) = drain(&mut watch, |_| false).await;
        assert!(
            matches!(err, Some(Error::Rejected { status: 401, .. })),
            "{err:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn opaque_ids_are_deduplicated_and_no_replay_is_claimed() {
        let script = Script::new(vec![
            Ok(vec![
                bytes(HELLO_PLAIN),
                bytes(&plain_frame("1731430000000000200", "resource.created")),
                bytes(&plain_frame("1731430000000000100", "resource.provisioning")),
            ]),
            Ok(vec![
                bytes(HELLO_PLAIN),
                bytes(&plain_frame("1731430000000000200", "resource.created")),
                bytes(&plain_frame("1731430000000000300", "resource.active")),
                Step::Stall,
            ]),
        ]);
        let mut watch = watch_on(&script, WatchOptions::default()).await;
        assert!(!watch.server_resumes());
        let (items, _) = drain(
            &mut watch,
            |i| matches!(i, WatchItem::Event(e, _) if e.kind == EventKind::ResourceActive),
        )
        .await;
        assert_eq!(
            event_ids(&items),
            [
                "1731430000000000200",
                "1731430000000000100",
                "1731430000000000300"
            ]
        );
        assert!(notices(&items).contains(&Notice::Reconnected {
            resumed_after: None,
            replays: false
        }));
        assert!(
            !notices(&items)
                .iter()
                .any(|n| matches!(n, Notice::Resumed { .. })),
            "{items:?}"
        );
        assert_eq!(script.attempts()[1].1, None, "no Last-Event-ID to send");
    }

    #[tokio::test(start_paused = true)]
    async fn a_split_bom_and_an_invalid_byte_do_not_stop_the_stream() {
        // An invalid byte inside a value: it becomes U+FFFD, and the stream goes on.
        let text = frame(2, "resource.active");
        let at = text.find("\"db\"").unwrap() + 2;
        let mut broken = text.into_bytes();
        broken.insert(at, 0xFF);
        let script = Script::new(vec![Ok(vec![
            Step::Bytes(b"\xEF\xBB".to_vec()),
            Step::Bytes(b"\xBF".to_vec()),
            bytes(HELLO),
            bytes(&frame(1, "resource.created")),
            Step::Bytes(broken),
            bytes(&frame(3, "deployment.completed")),
        ])]);
        let mut watch = watch_on(&script, WatchOptions::default()).await;
        let (items, err) = drain(&mut watch, is_terminal).await;
        assert!(err.is_none());
        assert_eq!(event_ids(&items), ["1", "2", "3"]);
    }

    #[tokio::test(start_paused = true)]
    async fn other_deployments_are_filtered_once_the_id_is_known() {
        let other = frame(1, "resource.created")
            .replace("\"deployment_id\":\"1\"", "\"deployment_id\":\"9\"");
        let script = Script::new(vec![Ok(vec![
            bytes(HELLO),
            bytes(&other),
            bytes(&frame(2, "deployment.completed")),
        ])]);
        let mut watch = watch_on(&script, WatchOptions::default()).await;
        let hello = watch.next().await.unwrap();
        assert!(matches!(hello, WatchItem::Event(e, _) if e.kind == EventKind::Connected));
        watch.set_deployment(Some("1".into()));
        let (items, _) = drain(&mut watch, is_terminal).await;
        assert_eq!(event_ids(&items), ["2"]);
        assert_eq!(watch.last_event_id(), Some("2"));
    }
}
