//! The event-stream watcher: one logical stream of events for an app (or one deployment) over
//! as many HTTP connections as it takes.
//!
//! It owns connecting, the idle deadline, reconnecting with backoff, resuming with
//! `Last-Event-ID`, and dropping duplicates. It never decides that a deployment is finished:
//! an ended stream is a lost connection, never an outcome (the caller stops on a terminal
//! event). It never prints: what happens to the connection is reported as [`Notice`] items,
//! which the caller shows on stderr.
//!
//! [`EventWatch::next`] is cancel-safe: all state lives in the struct (including the time of the
//! next reconnect), so it can sit in a `tokio::select!` beside a timeout and Ctrl-C.

use std::collections::{HashSet, VecDeque};
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::time::Instant;

use super::ApiClient;
use super::backoff::Backoff;
use super::sse::{SseItem, SseParser};
use crate::error::Error;
use crate::event::Event;

/// Tuning for the watcher.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// A connection that delivers no bytes at all (keep-alives count) for this long is dead.
    /// Our server sends a keep-alive every 15 s and innominatus after 30 s of silence.
    pub idle_timeout: Duration,
    /// First reconnect delay (the server's `retry:` replaces it).
    pub retry_base: Duration,
    /// Longest reconnect delay.
    pub retry_cap: Duration,
    /// Consecutive failed reconnects before giving up.
    pub max_attempts: u32,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            idle_timeout: Duration::from_secs(45),
            retry_base: Duration::from_millis(250),
            retry_cap: Duration::from_secs(8),
            max_attempts: 8,
        }
    }
}

/// Something the watcher yields.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchItem {
    /// A new event (never one already yielded).
    Event(Event),
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
        /// The attempt about to be made (1-based).
        attempt: u32,
    },
    /// A reconnect succeeded.
    Reconnected {
        /// The id the stream resumes after, when the server supports resume.
        resumed_after: Option<String>,
    },
    /// An event could not be read and was skipped.
    Malformed {
        /// What was wrong.
        reason: String,
    },
}

type ByteStream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

struct Connection {
    bytes: ByteStream,
    parser: SseParser,
    opened: Instant,
    /// Whether this connection delivered anything new (resets the backoff when it is lost).
    progressed: bool,
}

/// How many opaque ids to remember for de-duplication on servers without sequential ids.
const RECENT_IDS: usize = 4096;

/// A resumable, de-duplicated event stream.
pub struct EventWatch {
    client: ApiClient,
    app: String,
    deployment: Option<String>,
    options: WatchOptions,
    conn: Option<Connection>,
    /// When the next connection attempt may start (set when a connection is lost).
    reconnect_at: Option<Instant>,
    backoff: Backoff,
    /// Whether any connection has been established yet (the first is not a "reconnect").
    connected_once: bool,
    /// The last SSE `id:` processed: what `Last-Event-ID` resumes after.
    last_id: Option<String>,
    /// `last_id` as an integer when the server's ids are integers (ours).
    last_seq: Option<u64>,
    /// Recently seen ids of events that came without an SSE `id:` (innominatus).
    recent: VecDeque<String>,
    recent_set: HashSet<String>,
    pending: VecDeque<WatchItem>,
    scratch: Vec<SseItem>,
}

impl EventWatch {
    /// Opens the first connection for `app` and returns once the server has answered, so that
    /// everything published from now on reaches this watcher (subscribe before submitting).
    pub async fn connect(
        client: ApiClient,
        app: &str,
        deployment: Option<String>,
        since: Option<String>,
        options: WatchOptions,
    ) -> Result<Self, Error> {
        let backoff = Backoff::new(options.retry_base, options.retry_cap, options.max_attempts);
        let mut watch = EventWatch {
            client,
            app: app.to_owned(),
            deployment,
            options,
            conn: None,
            reconnect_at: None,
            backoff,
            connected_once: false,
            last_seq: since.as_deref().and_then(|s| s.parse().ok()),
            last_id: since,
            recent: VecDeque::new(),
            recent_set: HashSet::new(),
            pending: VecDeque::new(),
            scratch: Vec::new(),
        };
        let conn = watch.open().await?;
        watch.conn = Some(conn);
        watch.connected_once = true;
        Ok(watch)
    }

    /// Restricts the watch to one deployment from now on (known once the POST answers). Events
    /// of other deployments already queued are dropped; events without a deployment id
    /// (servers that have none) are kept.
    pub fn set_deployment(&mut self, deployment_id: Option<String>) {
        self.deployment = deployment_id;
        let keep = |item: &WatchItem| match item {
            WatchItem::Event(ev) => self.wants(ev),
            WatchItem::Notice(_) => true,
        };
        let kept: VecDeque<WatchItem> = self.pending.iter().filter(|i| keep(i)).cloned().collect();
        self.pending = kept;
    }

    /// The last event id processed, for resuming elsewhere (`ctl watch --since`).
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_id.as_deref()
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
        let mut query: Vec<(&str, &str)> = vec![("app", self.app.as_str())];
        if let Some(dep) = &self.deployment {
            query.push(("deployment", dep.as_str()));
            // With a deployment filter, no `since` means "from the deployment's first event".
            if self.last_id.is_none() {
                query.push(("since", "0"));
            }
        }
        let resp = self
            .client
            .open_stream(&query, self.last_id.as_deref())
            .await?;
        Ok(Connection {
            bytes: Box::pin(resp.bytes_stream()),
            parser: SseParser::new(),
            opened: Instant::now(),
            progressed: false,
        })
    }

    /// The next new event or notice. Errors are final: a rejected stream (4xx) or a stream
    /// that could not be re-established within the retry budget.
    pub async fn next(&mut self) -> Result<WatchItem, Error> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Ok(item);
            }
            let Some(conn) = self.conn.as_mut() else {
                self.reconnect().await?;
                continue;
            };
            let idle = tokio::time::timeout(self.options.idle_timeout, conn.bytes.next()).await;
            match idle {
                Ok(Some(Ok(chunk))) => {
                    let result = conn.parser.feed(&chunk, &mut self.scratch);
                    let items = std::mem::take(&mut self.scratch);
                    for item in &items {
                        self.accept(item);
                    }
                    self.scratch = items;
                    self.scratch.clear();
                    if let Err(e) = result {
                        self.lose(e.to_string());
                    }
                }
                Ok(Some(Err(e))) => self.lose(format!("the connection failed: {e}")),
                Ok(None) => self.lose("the server closed the stream".to_owned()),
                Err(_) => self.lose(format!(
                    "no data for {}s",
                    self.options.idle_timeout.as_secs()
                )),
            }
        }
    }

    /// Handles one parsed SSE item: JSON decode, resume bookkeeping, de-duplication, filtering.
    fn accept(&mut self, item: &SseItem) {
        let sse = match item {
            SseItem::Retry(delay) => {
                self.backoff.set_base(*delay);
                return;
            }
            SseItem::Event(sse) => sse,
        };
        let mut event = match Event::from_json(&sse.data) {
            Ok(event) => event,
            Err(e) => {
                self.pending.push_back(WatchItem::Notice(Notice::Malformed {
                    reason: format!("an event that is not protocol JSON was skipped ({e})"),
                }));
                return;
            }
        };
        if event.id.is_empty() {
            event.id.clone_from(&sse.id);
        }
        if !sse.id.is_empty() {
            // The server numbers its frames (ours): resume from here, and anything not newer
            // than the last processed id is a replay overlap.
            if let (Some(seq), Ok(new)) = (self.last_seq, sse.id.parse::<u64>()) {
                if new <= seq {
                    return;
                }
            }
            self.last_seq = sse.id.parse().ok();
            self.last_id = Some(sse.id.clone());
        } else if !event.id.is_empty() {
            // Opaque ids (innominatus: nanosecond timestamps, possibly out of order): remember a
            // bounded window of them.
            if self.recent_set.contains(&event.id) {
                return;
            }
            if self.recent.len() == RECENT_IDS {
                if let Some(old) = self.recent.pop_front() {
                    self.recent_set.remove(&old);
                }
            }
            self.recent.push_back(event.id.clone());
            self.recent_set.insert(event.id.clone());
        }
        if let Some(conn) = self.conn.as_mut() {
            conn.progressed = true;
        }
        if self.wants(&event) {
            self.pending.push_back(WatchItem::Event(event));
        }
    }

    /// Drops the current connection and schedules the next attempt.
    fn lose(&mut self, reason: String) {
        if let Some(conn) = self.conn.take() {
            // A connection that delivered something, or lived a while, ends an outage: the next
            // loss starts a fresh backoff schedule.
            if conn.progressed || conn.opened.elapsed() > Duration::from_secs(30) {
                self.backoff.reset();
            }
        }
        match self.backoff.next_delay(fastrand::f64()) {
            Some(delay) => {
                self.reconnect_at = Some(Instant::now() + delay);
                self.pending
                    .push_back(WatchItem::Notice(Notice::ConnectionLost {
                        reason,
                        attempt: self.backoff.attempts(),
                    }));
            }
            None => {
                self.reconnect_at = None;
                self.pending
                    .push_back(WatchItem::Notice(Notice::ConnectionLost {
                        reason: format!("{reason}; giving up"),
                        attempt: 0,
                    }));
            }
        }
    }

    async fn reconnect(&mut self) -> Result<(), Error> {
        let Some(at) = self.reconnect_at else {
            return Err(Error::StreamLost(format!(
                "the event stream could not be re-established after {} attempts",
                self.options.max_attempts
            )));
        };
        tokio::time::sleep_until(at).await;
        match self.open().await {
            Ok(conn) => {
                self.conn = Some(conn);
                self.reconnect_at = None;
                if self.connected_once {
                    self.pending
                        .push_back(WatchItem::Notice(Notice::Reconnected {
                            resumed_after: self.last_id.clone(),
                        }));
                }
                self.connected_once = true;
                Ok(())
            }
            Err(e @ Error::Rejected { .. }) => Err(e),
            Err(e) => {
                self.lose(e.to_string());
                Ok(())
            }
        }
    }
}
