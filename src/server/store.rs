//! The server's state of record: SQLite, owned by one dedicated thread.
//!
//! One `std::thread` owns the `rusqlite::Connection` ([`Db`]); async code sends it closures over
//! a bounded channel ([`Store::call`]) and awaits the answers. Being the single writer is what
//! makes event ids and the live bus agree: an event gets its id inside the insert transaction
//! (`INTEGER PRIMARY KEY AUTOINCREMENT`, so ids are never reused, even after retention deletes
//! rows), the same transaction projects it onto the `resources`, `deployment_resources` and
//! `deployments` tables, and only after the commit is it broadcast, from this thread, in id
//! order (STYLE.md 12).
//!
//! Tables:
//! - `events`: every event, its JSON exactly as sent on the wire, plus the columns streams
//!   filter on (type, app, team, deployment);
//! - `apps`: one row per application: owner team, latest spec, timestamps;
//! - `deployments`: status `running` / `succeeded` / `failed`, timing, error, idempotency key;
//! - `deployment_resources`: the resources of one deployment and how each ended;
//! - `resources`: the current resources of each application (PROTOCOL.md A.4), with the spec
//!   fragment they were last provisioned from, to tell an unchanged resource from a changed one;
//! - `meta`: `pruned_through`, the highest id retention has deleted (for `stream.gap`).
//!
//! This module must never block an async task (all SQLite work runs on the store thread) and
//! never hand out an event before its transaction has committed.

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use chrono::{Local, TimeZone, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::bus::{self, Published};
use super::orchestrator::{PlannedResource, ResourceAction};
use crate::event::{Event, EventKind};

/// The error text of deployments found `running` when the server starts.
pub(crate) const RESTART_ERROR: &str = "server restarted during deployment";

/// Rows per replay read: bounds the memory one catching-up stream holds at a time.
pub(crate) const PAGE_SIZE: usize = 500;

/// How many store requests may queue before callers wait (backpressure, not a limit on work).
const JOB_QUEUE: usize = 256;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The store thread could not be started.
    #[error("cannot start the store thread: {0}")]
    Thread(#[source] std::io::Error),
    /// The store has been closed (the server is shutting down).
    #[error("the store is closed")]
    Closed,
}

type Job = Box<dyn FnOnce(&mut Db) + Send>;

/// Appends waiting together are committed together, up to this many requests per transaction.
const MAX_GROUP: usize = 256;

/// What the store thread is asked to do.
enum Request {
    /// Run a closure.
    Call(Job),
    /// Store and announce events. Kept apart from [`Request::Call`] so that appends queued at
    /// the same moment can share one commit (group commit): a commit costs far more than an
    /// insert, and concurrent deployments publish one event at a time.
    Append(Append),
}

/// One caller's events to store, and where its ids go.
struct Append {
    events: Vec<Event>,
    team: Arc<str>,
    reply: oneshot::Sender<Result<Vec<u64>, StoreError>>,
}

/// The async handle to the store thread. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Store {
    jobs: mpsc::Sender<Request>,
    bus: bus::Sender,
}

impl Store {
    /// Opens (or creates) the database in `data_dir`, or an in-memory one for `None`, and starts
    /// the store thread. Recovery of interrupted deployments happens before this returns.
    pub(crate) async fn open(
        data_dir: Option<PathBuf>,
        retention: Option<u64>,
        bus_capacity: usize,
    ) -> Result<Store, StoreError> {
        let bus = bus::channel(bus_capacity);
        let (jobs, mut rx) = mpsc::channel::<Request>(JOB_QUEUE);
        let (ready_tx, ready_rx) = oneshot::channel();
        let thread_bus = bus.clone();
        std::thread::Builder::new()
            .name("ctl-store".to_owned())
            .spawn(move || {
                let mut db = match Db::open(data_dir.as_deref(), retention, thread_bus) {
                    Ok(db) => db,
                    Err(err) => {
                        let _ = ready_tx.send(Err(err));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                let mut held = None;
                while let Some(request) = held.take().or_else(|| rx.blocking_recv()) {
                    let job: Job = match request {
                        Request::Call(job) => job,
                        Request::Append(first) => {
                            // Take every append already waiting (stopping at anything else,
                            // which runs next, so requests keep their order).
                            let mut group = vec![first];
                            while group.len() < MAX_GROUP {
                                match rx.try_recv() {
                                    Ok(Request::Append(next)) => group.push(next),
                                    Ok(other) => {
                                        held = Some(other);
                                        break;
                                    }
                                    Err(_) => break,
                                }
                            }
                            Box::new(move |db: &mut Db| db.append_group(group))
                        }
                    };
                    // A bug in one request must not take the whole store down; its caller sees
                    // `Closed` because the reply sender was dropped, and the open transaction
                    // (if any) rolls back when dropped.
                    if std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut db))).is_err() {
                        tracing::error!("a store request panicked; it was rolled back");
                    }
                    if db.closing.is_some() {
                        break;
                    }
                }
                // Refuse queued and future requests first, then close the connection (which
                // checkpoints the WAL), then tell `close` we are done.
                drop(rx);
                let ack = db.closing.take();
                drop(db);
                if let Some(ack) = ack {
                    let _ = ack.send(());
                }
            })
            .map_err(StoreError::Thread)?;
        ready_rx.await.map_err(|_| StoreError::Closed)??;
        Ok(Store { jobs, bus })
    }

    /// Runs `f` on the store thread and returns its result.
    pub(crate) async fn call<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut Db) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |db| {
            let _ = tx.send(f(db));
        });
        self.jobs
            .send(Request::Call(job))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Stores one event (assigning its id) and announces it on the bus. Appends that wait at
    /// the same moment share one commit.
    pub(crate) async fn append(&self, event: Event, team: Arc<str>) -> Result<u64, StoreError> {
        let ids = self.append_batch(vec![event], team).await?;
        ids.first().copied().ok_or(StoreError::Closed)
    }

    /// Stores a batch of events in one transaction and announces them; returns their ids.
    pub(crate) async fn append_batch(
        &self,
        events: Vec<Event>,
        team: Arc<str>,
    ) -> Result<Vec<u64>, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Request::Append(Append {
                events,
                team,
                reply,
            }))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// A new subscription to the live bus. Subscribe *before* reading the store, so that every
    /// event committed after the read is also in the subscription.
    pub(crate) fn subscribe(&self) -> bus::Receiver {
        self.bus.subscribe()
    }

    /// Finishes the queued requests, closes the database and stops the thread. Requests sent
    /// afterwards fail with [`StoreError::Closed`].
    pub(crate) async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |db| db.closing = Some(tx));
        if self.jobs.send(Request::Call(job)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// Where the event log stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    /// The highest id ever assigned (0 when none).
    pub(crate) last_id: u64,
    /// The highest id deleted by retention (0 when none); ids up to it cannot be replayed.
    pub(crate) pruned_through: u64,
}

/// Which events a stream may see: its team's, narrowed by app and deployment.
#[derive(Debug, Clone)]
pub(crate) struct EventFilter {
    /// Only events of this team's applications.
    pub(crate) team: Arc<str>,
    /// Only this application's events.
    pub(crate) app: Option<String>,
    /// Only this deployment's events.
    pub(crate) deployment: Option<String>,
}

impl EventFilter {
    /// The same test as [`Db::read_events`]' `WHERE` clause, for live events.
    pub(crate) fn admits(&self, team: &str, app: &str, deployment: Option<&str>) -> bool {
        *self.team == *team
            && self.app.as_deref().is_none_or(|a| a == app)
            && self
                .deployment
                .as_deref()
                .is_none_or(|d| deployment == Some(d))
    }
}

/// One event read back from the store.
#[derive(Debug, Clone)]
pub(crate) struct StoredEvent {
    /// Its id.
    pub(crate) id: u64,
    /// Its type.
    pub(crate) kind: EventKind,
    /// Its deployment, if any.
    pub(crate) deployment_id: Option<String>,
    /// Where its encoding is in [`Page::encoded`].
    pub(crate) encoded: std::ops::Range<usize>,
}

/// How a reader wants each event of a page encoded: appends the encoding of the event with
/// this id and stored JSON to the buffer.
pub(crate) type Encode = fn(&mut BytesMut, u64, &str);

/// One page of a replay.
#[derive(Debug)]
pub(crate) struct Page {
    /// Matching events with ids above the requested one, in id order, at most [`PAGE_SIZE`].
    pub(crate) events: Vec<StoredEvent>,
    /// Every event of the page encoded by the reader's [`Encode`], one after another. Encoding
    /// straight from SQLite's row into one buffer costs no string per event, and the stream
    /// copies from it without formatting anything.
    pub(crate) encoded: Bytes,
    /// Whether the page reached the end of the log (fewer rows than asked for).
    pub(crate) at_end: bool,
    /// With a deployment filter: whether that deployment had finished when the page was read.
    /// Read in the same request as the page, so "finished" implies its terminal event (unless
    /// retention deleted it) is in this or an earlier page.
    pub(crate) deployment_finished: bool,
}

/// What a stream needs to know about the deployment it follows.
#[derive(Debug, Clone)]
pub(crate) struct DeploymentInfo {
    /// The id of its `deployment.started` event, once stored.
    pub(crate) first_event_id: Option<u64>,
}

/// A resource of a submitted spec.
#[derive(Debug, Clone)]
pub(crate) struct SpecResource {
    /// The name under `resources:`.
    pub(crate) name: String,
    /// Its type.
    pub(crate) kind: String,
    /// Its spec fragment in canonical form; `None` when it cannot be compared (then it is
    /// never considered unchanged).
    pub(crate) params: Option<String>,
}

/// A deployment request, validated.
#[derive(Debug, Clone)]
pub(crate) struct Submission {
    /// The caller's team.
    pub(crate) team: Arc<str>,
    /// The application.
    pub(crate) app: String,
    /// The spec text, stored as the application's latest spec.
    pub(crate) spec: String,
    /// Its resources, in spec order.
    pub(crate) resources: Vec<SpecResource>,
    /// The `Idempotency-Key` header, if sent.
    pub(crate) idempotency_key: Option<String>,
}

/// What became of a [`Submission`].
#[derive(Debug)]
pub(crate) enum Submitted {
    /// A new deployment was recorded (status `running`) and must be started.
    New {
        /// Its id.
        deployment_id: u64,
        /// The previous deployment of the same app, by id and its done token; this one may
        /// start only after it is done.
        after: Option<(u64, CancellationToken)>,
        /// Cancelled (by the deployment's driver) when this deployment is done.
        done: CancellationToken,
    },
    /// The idempotency key was seen before: this is the deployment it started.
    Existing {
        /// Its id.
        deployment_id: u64,
        /// Its application.
        app: String,
    },
    /// The application belongs to another team.
    Forbidden,
    /// The idempotency key was used before with a different request body.
    KeyReused,
}

/// A deployment as `GET /api/deployments/<id>` shows it.
#[derive(Debug, Clone)]
pub(crate) struct DeploymentRow {
    pub(crate) id: u64,
    pub(crate) app: String,
    pub(crate) status: String,
    pub(crate) started_at: i64,
    pub(crate) finished_at: Option<i64>,
    pub(crate) error: Option<String>,
    pub(crate) resources: Vec<DeploymentResourceRow>,
}

/// One resource of a deployment.
#[derive(Debug, Clone)]
pub(crate) struct DeploymentResourceRow {
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) state: String,
    pub(crate) error: Option<String>,
}

/// One current resource of an application (PROTOCOL.md A.4).
#[derive(Debug, Clone)]
pub(crate) struct ResourceRow {
    pub(crate) id: u64,
    pub(crate) app: String,
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) state: String,
    pub(crate) error: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
}

/// One application.
#[derive(Debug, Clone)]
pub(crate) struct AppRow {
    pub(crate) name: String,
    pub(crate) team: String,
    pub(crate) spec: String,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    /// Id and status of its latest deployment.
    pub(crate) latest: Option<(u64, String)>,
}

/// The result of a delete request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Deleted {
    /// Deleted, with its `application.deleted` event stored.
    Done,
    /// No such application for this team.
    NotFound,
    /// A deployment of it is running or waiting.
    Busy,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    app TEXT NOT NULL,
    team TEXT NOT NULL,
    deployment_id TEXT,
    json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_team ON events (team, id);
CREATE INDEX IF NOT EXISTS events_by_app ON events (team, app, id);
CREATE INDEX IF NOT EXISTS events_by_deployment ON events (deployment_id, id);
CREATE TABLE IF NOT EXISTS apps (
    name TEXT PRIMARY KEY,
    team TEXT NOT NULL,
    spec TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deployments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app TEXT NOT NULL,
    team TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    error TEXT,
    idempotency_key TEXT,
    first_event_id INTEGER,
    request TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS deployments_by_key
    ON deployments (team, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS deployments_by_app ON deployments (app, id);
CREATE INDEX IF NOT EXISTS deployments_by_status ON deployments (status);
CREATE TABLE IF NOT EXISTS deployment_resources (
    deployment_id INTEGER NOT NULL,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    params TEXT,
    state TEXT NOT NULL,
    error TEXT,
    PRIMARY KEY (deployment_id, name)
);
CREATE TABLE IF NOT EXISTS resources (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    state TEXT NOT NULL,
    error TEXT,
    params TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (app, name)
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
";

/// Creates `dir` and its missing parents, readable by the owner only (0700 on Unix): the
/// database holds every team's specs and events. An existing directory is left as it is.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates the database file, if missing, readable by the owner only (0600 on Unix), before
/// SQLite opens it: SQLite would create it 0644, and gives its `-wal` and `-shm` files the
/// mode of the database file. An existing file is left as it is.
fn create_private_file(file: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(file) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Brings a database created by an earlier version up to [`SCHEMA`]: columns added since.
fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let has_request: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('deployments') WHERE name = 'request'",
        [],
        |r| r.get(0),
    )?;
    if !has_request {
        conn.execute_batch("ALTER TABLE deployments ADD COLUMN request TEXT")?;
    }
    Ok(())
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Formats stored milliseconds as RFC 3339 in the server's zone, like event timestamps.
pub(crate) fn rfc3339(ms: i64) -> String {
    match Local.timestamp_millis_opt(ms).single() {
        Some(t) => t.to_rfc3339(),
        None => String::new(),
    }
}

/// The database, owned by the store thread. Every method is one request from async code.
pub(crate) struct Db {
    conn: Connection,
    bus: bus::Sender,
    retention: Option<u64>,
    pruned_through: u64,
    /// Per application, the latest deployment accepted and its "done" token: the next one
    /// waits on it. Kept here so that queue order is commit order.
    queues: HashMap<String, (u64, CancellationToken)>,
    /// Set by [`Store::close`]; the thread stops after the current request.
    closing: Option<oneshot::Sender<()>>,
}

impl Db {
    /// Opens the database, creates the schema and recovers interrupted deployments.
    pub(crate) fn open(
        data_dir: Option<&Path>,
        retention: Option<u64>,
        bus: bus::Sender,
    ) -> Result<Db, StoreError> {
        let conn = match data_dir {
            Some(dir) => {
                let data_dir_error = |source| StoreError::DataDir {
                    path: dir.display().to_string(),
                    source,
                };
                create_private_dir(dir).map_err(data_dir_error)?;
                let file = dir.join("ctl-server.db");
                create_private_file(&file).map_err(data_dir_error)?;
                let conn = Connection::open(&file)?;
                // WAL: readers never block the writer and a commit is one sequential append.
                conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| {
                    row.get::<_, String>(0)
                })?;
                conn.pragma_update(None, "synchronous", "NORMAL")?;
                conn
            }
            None => Connection::open_in_memory()?,
        };
        conn.execute_batch(SCHEMA)?;
        migrate(&conn)?;
        let pruned_through: u64 = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'pruned_through'",
                [],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0);
        let mut db = Db {
            conn,
            bus,
            retention: retention.map(|n| n.max(1)),
            pruned_through,
            queues: HashMap::new(),
            closing: None,
        };
        db.recover()?;
        Ok(db)
    }

    /// Marks every deployment left `running` by a previous process as failed, with a stored
    /// `deployment.failed` event, and fails the resources it left half-provisioned.
    fn recover(&mut self) -> Result<(), StoreError> {
        let running: Vec<(u64, String, String, i64)> = {
            let mut stmt = self.conn.prepare(
                "SELECT id, app, team, started_at FROM deployments WHERE status = 'running' ORDER BY id",
            )?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<Result<_, _>>()?
        };
        for (id, app, team, started_at) in running {
            let tx = self.conn.transaction()?;
            let failed: Vec<String> = {
                let mut stmt = tx.prepare(
                    "SELECT name FROM deployment_resources
                     WHERE deployment_id = ?1 AND state <> 'active' ORDER BY position",
                )?;
                stmt.query_map([id], |r| r.get(0))?
                    .collect::<Result<_, _>>()?
            };
            tx.execute(
                "UPDATE deployment_resources SET state = 'failed', error = ?2
                 WHERE deployment_id = ?1 AND state IN ('pending', 'requested', 'provisioning')",
                params![id, RESTART_ERROR],
            )?;
            tx.execute(
                "UPDATE resources SET state = 'failed', error = ?2, updated_at = ?3
                 WHERE app = ?1 AND state IN ('requested', 'provisioning')",
                params![app, RESTART_ERROR, now_ms()],
            )?;
            let event = Event::new(EventKind::DeploymentFailed, app.clone())
                .with_source("orchestration-engine")
                .with_deployment(id.to_string())
                .with("error", RESTART_ERROR)
                .with("failed_resources", failed)
                .with("duration_ms", (now_ms() - started_at).max(0));
            let written = write_event(&tx, event, &team, self.retention, self.pruned_through)?;
            tx.commit()?;
            tracing::warn!(deployment_id = id, app = %app, "{RESTART_ERROR}");
            self.publish(written, &team);
        }
        Ok(())
    }

    /// Stores one event and announces it. Returns its id. (The server appends through
    /// [`Store::append`], which groups commits; tests drive the database directly.)
    #[cfg(test)]
    pub(crate) fn append(&mut self, event: Event, team: &str) -> Result<u64, StoreError> {
        let tx = self.conn.transaction()?;
        let written = write_event(&tx, event, team, self.retention, self.pruned_through)?;
        tx.commit()?;
        let id = written.id;
        self.publish(written, team);
        Ok(id)
    }

    /// Stores `events` in one transaction (ids assigned in order) and announces each on the bus
    /// after the commit. One commit for the whole batch is what makes bulk ingest fast; the
    /// events are as durable as any other once this returns. Returns the ids, in order.
    pub(crate) fn append_batch(
        &mut self,
        events: Vec<Event>,
        team: &str,
    ) -> Result<Vec<u64>, StoreError> {
        let tx = self.conn.transaction()?;
        let mut written = Vec::with_capacity(events.len());
        let mut pruned_through = self.pruned_through;
        for event in events {
            let w = write_event(&tx, event, team, self.retention, pruned_through)?;
            pruned_through = w.pruned_through;
            written.push(w);
        }
        tx.commit()?;
        let team: Arc<str> = Arc::from(team);
        let mut ids = Vec::with_capacity(written.len());
        for w in written {
            ids.push(w.id);
            self.publish_shared(w, team.clone());
        }
        Ok(ids)
    }

    /// Several callers' appends in one transaction, each answered with its own ids. If the
    /// shared transaction fails, each append is retried alone, so one bad request cannot fail
    /// the others.
    fn append_group(&mut self, group: Vec<Append>) {
        if group.len() == 1 {
            return self.append_each(group);
        }
        // Per request, in order: what it wrote.
        let attempt = (|| -> Result<Vec<Vec<Written>>, StoreError> {
            let tx = self.conn.transaction()?;
            let mut pruned_through = self.pruned_through;
            let mut all = Vec::with_capacity(group.len());
            for Append { events, team, .. } in &group {
                let mut written = Vec::with_capacity(events.len());
                for event in events {
                    let w = write_event(&tx, event.clone(), team, self.retention, pruned_through)?;
                    pruned_through = w.pruned_through;
                    written.push(w);
                }
                all.push(written);
            }
            tx.commit()?;
            Ok(all)
        })();
        match attempt {
            Ok(all) => {
                for (written, Append { team, reply, .. }) in all.into_iter().zip(group) {
                    let ids = written.iter().map(|w| w.id).collect();
                    for w in written {
                        self.publish_shared(w, team.clone());
                    }
                    let _ = reply.send(Ok(ids));
                }
            }
            Err(e) => {
                tracing::debug!(
                    "a grouped commit failed ({e}); committing its requests one by one"
                );
                self.append_each(group);
            }
        }
    }

    /// Commits each append in a transaction of its own, and answers it.
    fn append_each(&mut self, group: Vec<Append>) {
        for Append {
            events,
            team,
            reply,
        } in group
        {
            let _ = reply.send(self.append_batch(events, &team));
        }
    }

    /// After a commit: remembers the new retention point and broadcasts, in commit order.
    fn publish(&mut self, written: Written, team: &str) {
        self.publish_shared(written, Arc::from(team));
    }

    /// [`Db::publish`] with the team already shared (one allocation per batch, not per event).
    fn publish_shared(&mut self, written: Written, team: Arc<str>) {
        self.pruned_through = written.pruned_through;
        // No subscribers is not an error: the event is in the store for whoever comes later.
        let _ = self.bus.send(Arc::new(Published::new(
            written.id,
            team,
            written.event,
            &written.json,
        )));
    }

    /// Where the log stands.
    pub(crate) fn head(&self) -> Result<Head, StoreError> {
        let max: u64 = self
            .conn
            .query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))?;
        Ok(Head {
            last_id: max.max(self.pruned_through),
            pruned_through: self.pruned_through,
        })
    }

    /// Reads up to [`PAGE_SIZE`] events with id above `after` that `filter` admits, each
    /// encoded by `encode`.
    pub(crate) fn read_events(
        &self,
        filter: &EventFilter,
        after: u64,
        encode: Encode,
    ) -> Result<Page, StoreError> {
        self.read_events_limit(filter, after, PAGE_SIZE, encode)
    }

    fn read_events_limit(
        &self,
        filter: &EventFilter,
        after: u64,
        limit: usize,
        encode: Encode,
    ) -> Result<Page, StoreError> {
        // Only the clauses in use appear, so SQLite can pick the matching index; unused numbered
        // parameters are simply not referenced.
        let mut sql = String::from(
            "SELECT id, type, deployment_id, json FROM events WHERE id > ?1 AND team = ?2",
        );
        if filter.app.is_some() {
            sql.push_str(" AND app = ?3");
        }
        if filter.deployment.is_some() {
            sql.push_str(" AND deployment_id = ?4");
        }
        sql.push_str(" ORDER BY id LIMIT ?5");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params![
            after,
            &*filter.team,
            filter.app,
            filter.deployment,
            limit as i64
        ])?;
        let mut events = Vec::with_capacity(limit.min(PAGE_SIZE));
        let mut encoded = BytesMut::new();
        while let Some(r) = rows.next()? {
            // Type and JSON are read in place from the row: no string per event.
            let id = r.get(0)?;
            let start = encoded.len();
            encode(&mut encoded, id, text(r, 3)?);
            if events.is_empty() {
                // Room for a page of events like the first, so the buffer is not regrown and
                // copied as it fills.
                encoded.reserve(
                    encoded
                        .len()
                        .saturating_mul(limit.min(PAGE_SIZE) - 1)
                        .min(1 << 20),
                );
            }
            events.push(StoredEvent {
                id,
                kind: EventKind::parse(text(r, 1)?),
                deployment_id: r.get(2)?,
                encoded: start..encoded.len(),
            });
        }
        drop(rows);
        let deployment_finished = match &filter.deployment {
            Some(d) => self
                .conn
                .query_row("SELECT status FROM deployments WHERE id = ?1", [d], |r| {
                    r.get::<_, String>(0)
                })
                .optional()?
                .is_some_and(|s| s != "running"),
            None => false,
        };
        Ok(Page {
            at_end: events.len() < limit,
            events,
            encoded: encoded.freeze(),
            deployment_finished,
        })
    }

    /// The deployment `id` if it exists and belongs to `team`.
    pub(crate) fn deployment_info(
        &self,
        id: &str,
        team: &str,
    ) -> Result<Option<DeploymentInfo>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT first_event_id FROM deployments WHERE id = ?1 AND team = ?2",
                params![id, team],
                |r| {
                    Ok(DeploymentInfo {
                        first_event_id: r.get(0)?,
                    })
                },
            )
            .optional()?)
    }

    /// Records a deployment request: the application (created or updated), the deployment
    /// (`running`) and its resources (`pending`), all in one transaction.
    pub(crate) fn submit(&mut self, s: Submission) -> Result<Submitted, StoreError> {
        let tx = self.conn.transaction()?;
        if let Some(key) = &s.idempotency_key {
            let existing: Option<(u64, String, Option<String>)> = tx
                .query_row(
                    "SELECT id, app, request FROM deployments WHERE team = ?1 AND idempotency_key = ?2",
                    params![&*s.team, key],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            if let Some((deployment_id, app, request)) = existing {
                // A row from before request bodies were kept (no `request`) cannot be told
                // apart and counts as the same request.
                if request.is_some_and(|r| r != s.spec) {
                    return Ok(Submitted::KeyReused);
                }
                return Ok(Submitted::Existing { deployment_id, app });
            }
        }
        let owner: Option<String> = tx
            .query_row("SELECT team FROM apps WHERE name = ?1", [&s.app], |r| {
                r.get(0)
            })
            .optional()?;
        if owner.is_some_and(|o| o != *s.team) {
            return Ok(Submitted::Forbidden);
        }
        let now = now_ms();
        tx.execute(
            "INSERT INTO apps (name, team, spec, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)
             ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at",
            params![s.app, &*s.team, s.spec, now],
        )?;
        tx.execute(
            "INSERT INTO deployments (app, team, status, started_at, idempotency_key, request)
             VALUES (?1, ?2, 'running', ?3, ?4, ?5)",
            params![
                s.app,
                &*s.team,
                now,
                s.idempotency_key,
                // Kept only where a retry must be compared with it.
                s.idempotency_key.as_ref().map(|_| &s.spec)
            ],
        )?;
        let deployment_id = tx.last_insert_rowid() as u64;
        for (position, r) in s.resources.iter().enumerate() {
            tx.execute(
                "INSERT INTO deployment_resources (deployment_id, position, name, type, params, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'pending')",
                params![deployment_id, position as i64, r.name, r.kind, r.params],
            )?;
        }
        tx.commit()?;
        let done = CancellationToken::new();
        let after = self.queues.insert(s.app, (deployment_id, done.clone()));
        Ok(Submitted::New {
            deployment_id,
            after,
            done,
        })
    }

    /// Forgets the queue entry of `app` if deployment `id` is still its latest.
    pub(crate) fn dequeue(&mut self, app: &str, id: u64) {
        if self
            .queues
            .get(app)
            .is_some_and(|(latest, _)| *latest == id)
        {
            self.queues.remove(app);
        }
    }

    /// Decides, when deployment `id` is about to run, what to do with each of its resources,
    /// comparing them with the application's current resources:
    /// - not there yet: `Create` (a resource row is created, state `requested`);
    /// - `active`, same type, same spec fragment as last provisioned: `Unchanged`;
    /// - anything else: `Update`.
    ///
    /// Resources of the application that the new spec no longer lists are removed.
    pub(crate) fn plan(&mut self, id: u64) -> Result<Vec<PlannedResource>, StoreError> {
        let tx = self.conn.transaction()?;
        let app: String = tx.query_row("SELECT app FROM deployments WHERE id = ?1", [id], |r| {
            r.get(0)
        })?;
        let wanted: Vec<(String, String, Option<String>)> = {
            let mut stmt = tx.prepare(
                "SELECT name, type, params FROM deployment_resources
                 WHERE deployment_id = ?1 ORDER BY position",
            )?;
            stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?
        };
        let now = now_ms();
        let mut plan = Vec::with_capacity(wanted.len());
        for (name, kind, params) in wanted {
            let current: Option<(u64, String, String, Option<String>)> = tx
                .query_row(
                    "SELECT id, type, state, params FROM resources WHERE app = ?1 AND name = ?2",
                    params![app, name],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            let (resource_id, action) = match current {
                None => {
                    tx.execute(
                        "INSERT INTO resources (app, name, type, state, created_at, updated_at)
                         VALUES (?1, ?2, ?3, 'requested', ?4, ?4)",
                        params![app, name, kind, now],
                    )?;
                    (tx.last_insert_rowid() as u64, ResourceAction::Create)
                }
                Some((rid, cur_kind, state, cur_params))
                    if state == "active"
                        && cur_kind == kind
                        && params.is_some()
                        && cur_params == params =>
                {
                    (rid, ResourceAction::Unchanged)
                }
                Some((rid, ..)) => {
                    tx.execute(
                        "UPDATE resources SET type = ?2, updated_at = ?3 WHERE id = ?1",
                        params![rid, kind, now],
                    )?;
                    (rid, ResourceAction::Update)
                }
            };
            let state = if action == ResourceAction::Unchanged {
                "active"
            } else {
                "requested"
            };
            tx.execute(
                "UPDATE deployment_resources SET state = ?3 WHERE deployment_id = ?1 AND name = ?2",
                params![id, name, state],
            )?;
            plan.push(PlannedResource {
                name,
                kind,
                resource_id,
                action,
            });
        }
        let keep: HashSet<&str> = plan.iter().map(|p| p.name.as_str()).collect();
        let existing: Vec<(u64, String)> = {
            let mut stmt = tx.prepare("SELECT id, name FROM resources WHERE app = ?1")?;
            stmt.query_map([&app], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?
        };
        for (rid, name) in existing {
            if !keep.contains(name.as_str()) {
                tx.execute("DELETE FROM resources WHERE id = ?1", [rid])?;
            }
        }
        tx.commit()?;
        Ok(plan)
    }

    /// Whether deployment `id` has ended (its status is no longer `running`).
    #[cfg(test)]
    pub(crate) fn is_finished(&self, id: u64) -> Result<bool, StoreError> {
        let status: Option<String> = self
            .conn
            .query_row("SELECT status FROM deployments WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(status.is_some_and(|s| s != "running"))
    }

    /// Deployment `id` with its resources, if it belongs to `team`.
    pub(crate) fn deployment(
        &self,
        id: u64,
        team: &str,
    ) -> Result<Option<DeploymentRow>, StoreError> {
        let row = self
            .conn
            .query_row(
                "SELECT id, app, status, started_at, finished_at, error FROM deployments
                 WHERE id = ?1 AND team = ?2",
                params![id, team],
                |r| {
                    Ok(DeploymentRow {
                        id: r.get(0)?,
                        app: r.get(1)?,
                        status: r.get(2)?,
                        started_at: r.get(3)?,
                        finished_at: r.get(4)?,
                        error: r.get(5)?,
                        resources: Vec::new(),
                    })
                },
            )
            .optional()?;
        let Some(mut row) = row else {
            return Ok(None);
        };
        let mut stmt = self.conn.prepare_cached(
            "SELECT name, type, state, error FROM deployment_resources
             WHERE deployment_id = ?1 ORDER BY position",
        )?;
        row.resources = stmt
            .query_map([id], |r| {
                Ok(DeploymentResourceRow {
                    name: r.get(0)?,
                    kind: r.get(1)?,
                    state: r.get(2)?,
                    error: r.get(3)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(Some(row))
    }

    /// The current resources of `app`, if it exists and belongs to `team`.
    pub(crate) fn resources(&self, app: &str, team: &str) -> Result<Vec<ResourceRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT r.id, r.app, r.name, r.type, r.state, r.error, r.created_at, r.updated_at
             FROM resources r JOIN apps a ON a.name = r.app
             WHERE r.app = ?1 AND a.team = ?2 ORDER BY r.id",
        )?;
        let rows = stmt
            .query_map(params![app, team], |r| {
                Ok(ResourceRow {
                    id: r.get(0)?,
                    app: r.get(1)?,
                    name: r.get(2)?,
                    kind: r.get(3)?,
                    state: r.get(4)?,
                    error: r.get(5)?,
                    created_at: r.get(6)?,
                    updated_at: r.get(7)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// The applications of `team`, by name; with `name`, only that one.
    pub(crate) fn applications(
        &self,
        team: &str,
        name: Option<&str>,
    ) -> Result<Vec<AppRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT a.name, a.team, a.spec, a.created_at, a.updated_at,
                    (SELECT d.id FROM deployments d WHERE d.app = a.name AND d.team = a.team
                     ORDER BY d.id DESC LIMIT 1),
                    (SELECT d.status FROM deployments d WHERE d.app = a.name AND d.team = a.team
                     ORDER BY d.id DESC LIMIT 1)
             FROM apps a WHERE a.team = ?1 AND (?2 IS NULL OR a.name = ?2) ORDER BY a.name",
        )?;
        let rows = stmt
            .query_map(params![team, name], |r| {
                let id: Option<u64> = r.get(5)?;
                let status: Option<String> = r.get(6)?;
                Ok(AppRow {
                    name: r.get(0)?,
                    team: r.get(1)?,
                    spec: r.get(2)?,
                    created_at: r.get(3)?,
                    updated_at: r.get(4)?,
                    latest: id.zip(status),
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Deletes `app` and its resources and stores an `application.deleted` event, unless a
    /// deployment of it is running or waiting. Deployments and events stay, as history.
    pub(crate) fn delete_application(
        &mut self,
        app: &str,
        team: &str,
    ) -> Result<Deleted, StoreError> {
        let tx = self.conn.transaction()?;
        let owner: Option<String> = tx
            .query_row("SELECT team FROM apps WHERE name = ?1", [app], |r| r.get(0))
            .optional()?;
        if owner.as_deref() != Some(team) {
            return Ok(Deleted::NotFound);
        }
        let running: i64 = tx.query_row(
            "SELECT COUNT(*) FROM deployments WHERE app = ?1 AND status = 'running'",
            [app],
            |r| r.get(0),
        )?;
        if running > 0 {
            return Ok(Deleted::Busy);
        }
        let resources: Vec<String> = {
            let mut stmt = tx.prepare("SELECT name FROM resources WHERE app = ?1 ORDER BY id")?;
            stmt.query_map([app], |r| r.get(0))?
                .collect::<Result<_, _>>()?
        };
        tx.execute("DELETE FROM resources WHERE app = ?1", [app])?;
        tx.execute("DELETE FROM apps WHERE name = ?1", [app])?;
        let event = Event::new(EventKind::ApplicationDeleted, app)
            .with_source("resource-manager")
            .with("resources", resources);
        let written = write_event(&tx, event, team, self.retention, self.pruned_through)?;
        tx.commit()?;
        self.publish(written, team);
        Ok(Deleted::Done)
    }
}

/// An event written inside a transaction, waiting for the commit to be published.
struct Written {
    id: u64,
    event: Event,
    json: String,
    pruned_through: u64,
}

/// Inserts `event` (its id assigned here, its timestamp filled if missing), projects it onto
/// the state tables and applies retention, all inside `tx`.
fn write_event(
    tx: &Transaction<'_>,
    mut event: Event,
    team: &str,
    retention: Option<u64>,
    pruned_through: u64,
) -> Result<Written, StoreError> {
    if event.timestamp.is_none() {
        event.timestamp = Some(Local::now().fixed_offset());
    }
    event.id.clear();
    // The stored JSON carries the id, so the id is taken before the insert: the next one after
    // the highest ever assigned (AUTOINCREMENT's `sqlite_sequence`, which retention and
    // rolled-back transactions cannot lower), and the row is written once, complete. Only this
    // thread writes, so nothing can take the id in between. Statements are prepared once per
    // connection: this is the ingest hot path.
    let id: u64 = tx
        .prepare_cached(
            "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0) + 1",
        )?
        .query_row([], |r| r.get(0))?;
    event.id = id.to_string();
    let json = event.to_json();
    tx.prepare_cached(
        "INSERT INTO events (id, type, app, team, deployment_id, json) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        id,
        event.kind.as_str(),
        event.app_name,
        team,
        event.deployment_id,
        json
    ])?;
    project(tx, &event, id)?;
    let pruned_through = prune(tx, id, retention, pruned_through)?;
    Ok(Written {
        id,
        event,
        json,
        pruned_through,
    })
}

/// Applies what an event says to the state tables.
fn project(tx: &Transaction<'_>, event: &Event, id: u64) -> Result<(), StoreError> {
    let deployment: Option<u64> = event.deployment_id.as_deref().and_then(|d| d.parse().ok());
    let state = match event.kind {
        EventKind::ResourceCreated => "requested",
        EventKind::ResourceProvisioning => "provisioning",
        EventKind::ResourceActive => "active",
        EventKind::ResourceFailed => "failed",
        // Where a deployment's history begins: `deployment.queued` when it waited its turn.
        EventKind::DeploymentQueued | EventKind::DeploymentStarted => {
            if let Some(d) = deployment {
                tx.execute(
                    "UPDATE deployments SET first_event_id = COALESCE(first_event_id, ?2) WHERE id = ?1",
                    params![d, id],
                )?;
            }
            return Ok(());
        }
        EventKind::DeploymentCompleted | EventKind::DeploymentFailed => {
            if let Some(d) = deployment {
                let status = match event.kind {
                    EventKind::DeploymentCompleted => "succeeded",
                    _ => "failed",
                };
                let error = event.data_str("error").map(|e| e.into_owned());
                tx.execute(
                    "UPDATE deployments SET status = ?2, finished_at = ?3, error = ?4
                     WHERE id = ?1 AND status = 'running'",
                    params![d, status, now_ms(), error],
                )?;
            }
            return Ok(());
        }
        _ => return Ok(()),
    };
    let error = match event.kind {
        EventKind::ResourceFailed => event.data_str("error").map(|e| e.into_owned()),
        _ => None,
    };
    // The orchestrator names resources by the core's id; fall back to the name.
    let resource: Option<(u64, String)> = match event.data_u64("resource_id") {
        Some(rid) => tx
            .query_row(
                "SELECT id, name FROM resources WHERE id = ?1 AND app = ?2",
                params![rid, event.app_name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?,
        None => match event.resource_name() {
            Some(name) => tx
                .query_row(
                    "SELECT id, name FROM resources WHERE app = ?1 AND name = ?2",
                    params![event.app_name, &*name],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?,
            None => None,
        },
    };
    let Some((rid, name)) = resource else {
        return Ok(());
    };
    tx.execute(
        "UPDATE resources SET state = ?2, error = ?3, updated_at = ?4 WHERE id = ?1",
        params![rid, state, error, now_ms()],
    )?;
    if let Some(d) = deployment {
        tx.execute(
            "UPDATE deployment_resources SET state = ?3, error = ?4
             WHERE deployment_id = ?1 AND name = ?2",
            params![d, name, state, error],
        )?;
        if event.kind == EventKind::ResourceActive {
            // What it is now provisioned from: the next deployment compares against this.
            tx.execute(
                "UPDATE resources SET params =
                    (SELECT params FROM deployment_resources WHERE deployment_id = ?2 AND name = ?3)
                 WHERE id = ?1",
                params![rid, d, name],
            )?;
        }
    }
    Ok(())
}

/// Deletes the oldest events beyond `retention`. Ids are assigned consecutively by this single
/// writer, so "the last N ids" is "the last N events" (a rolled-back insert leaves a hole,
/// which only makes us keep slightly fewer). Returns the new `pruned_through`.
fn prune(
    tx: &Transaction<'_>,
    last_id: u64,
    retention: Option<u64>,
    pruned_through: u64,
) -> Result<u64, StoreError> {
    let Some(keep) = retention else {
        return Ok(pruned_through);
    };
    let threshold = last_id.saturating_sub(keep);
    if threshold <= pruned_through {
        return Ok(pruned_through);
    }
    tx.execute("DELETE FROM events WHERE id <= ?1", [threshold])?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('pruned_through', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [threshold],
    )?;
    Ok(threshold)
}

/// Column `i` of a row as text, borrowed from the row.
fn text<'r>(row: &'r rusqlite::Row<'_>, i: usize) -> rusqlite::Result<&'r str> {
    row.get_ref(i)?.as_str().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pages in these tests are read for their ids only.
    fn encode_id(out: &mut BytesMut, id: u64, _json: &str) {
        out.extend_from_slice(id.to_string().as_bytes());
    }

    fn db(retention: Option<u64>) -> (Db, bus::Receiver) {
        let bus = bus::channel(64);
        let rx = bus.subscribe();
        (Db::open(None, retention, bus).unwrap(), rx)
    }

    fn submission(app: &str, team: &str, key: Option<&str>) -> Submission {
        Submission {
            team: Arc::from(team),
            app: app.to_owned(),
            spec: "spec".to_owned(),
            resources: vec![SpecResource {
                name: "db".to_owned(),
                kind: "postgres".to_owned(),
                params: Some(r#"{"type":"postgres"}"#.to_owned()),
            }],
            idempotency_key: key.map(str::to_owned),
        }
    }

    fn new_id(s: Submitted) -> u64 {
        match s {
            Submitted::New { deployment_id, .. } => deployment_id,
            other => panic!("expected a new deployment, got {other:?}"),
        }
    }

    fn resource_event(kind: EventKind, app: &str, dep: u64, rid: u64) -> Event {
        Event::new(kind, app)
            .with_deployment(dep.to_string())
            .with("resource_id", rid)
            .with("resource_name", "db")
    }

    #[test]
    fn ids_increase_and_are_broadcast_in_order() {
        let (mut db, mut rx) = db(None);
        let a = db
            .append(Event::new(EventKind::Other("x".into()), "a"), "t")
            .unwrap();
        let b = db
            .append(Event::new(EventKind::Other("x".into()), "a"), "t")
            .unwrap();
        assert!(b > a);
        let first = rx.try_recv().unwrap();
        let second = rx.try_recv().unwrap();
        assert_eq!((first.id, second.id), (a, b));
        assert_eq!(first.event.id, a.to_string());
        assert!(first.event.timestamp.is_some());
        assert!(String::from_utf8_lossy(first.frame()).contains(&format!(r#"data: {{"id":"{a}""#)));
    }

    /// Every event of one team.
    fn team_only(team: &str) -> EventFilter {
        EventFilter {
            team: Arc::from(team),
            app: None,
            deployment: None,
        }
    }

    #[test]
    fn a_batch_is_one_commit_broadcast_in_order_and_pruned_as_it_goes() {
        let (mut db, mut rx) = db(Some(3));
        let first = db
            .append(Event::new(EventKind::Other("x".into()), "a"), "t")
            .unwrap();
        let events = (0..5)
            .map(|i| Event::new(EventKind::Other("x".into()), "a").with("n", i))
            .collect();
        let ids = db.append_batch(events, "t").unwrap();
        assert_eq!(ids, (first + 1..=first + 5).collect::<Vec<_>>());
        let mut seen = Vec::new();
        while let Ok(p) = rx.try_recv() {
            assert_eq!(p.event.id, p.id.to_string());
            assert!(
                String::from_utf8_lossy(p.frame())
                    .starts_with(&format!("id: {}\ndata: {{\"id\":\"{}\"", p.id, p.id))
            );
            seen.push(p.id);
        }
        assert_eq!(seen, (first..=first + 5).collect::<Vec<_>>());
        // Retention 3: everything but the batch's last three is gone, and the point is known.
        let page = db.read_events(&team_only("t"), 0, encode_id).unwrap();
        let kept: Vec<u64> = page.events.iter().map(|e| e.id).collect();
        assert_eq!(kept, ids[2..].to_vec());
        assert_eq!(db.head().unwrap().pruned_through, ids[1]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_share_commits_and_keep_every_id_once_in_order() {
        let store = Store::open(None, None, 4096).await.unwrap();
        let mut bus = store.subscribe();
        let team: Arc<str> = Arc::from("t");
        let mut callers = Vec::new();
        for caller in 0..32u64 {
            let (store, team) = (store.clone(), team.clone());
            callers.push(tokio::spawn(async move {
                let mut ids = Vec::new();
                for n in 0..20u64 {
                    let event = Event::new(EventKind::Other("x".into()), "a")
                        .with("caller", caller)
                        .with("n", n);
                    if n % 5 == 0 {
                        // Batches and single events mixed.
                        let batch = vec![event.clone(), event];
                        ids.extend(store.append_batch(batch, team.clone()).await.unwrap());
                    } else {
                        ids.push(store.append(event, team.clone()).await.unwrap());
                    }
                }
                ids
            }));
        }
        let mut all = Vec::new();
        for caller in callers {
            let ids = caller.await.unwrap();
            // Each caller's own events are stored in the order it sent them.
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
            all.extend(ids);
        }
        all.sort_unstable();
        let expected: Vec<u64> = (1..=32 * 24).collect();
        assert_eq!(all, expected, "every id once, none skipped");
        // The bus saw every event once, in id order.
        let mut announced = Vec::new();
        while let Ok(p) = bus.try_recv() {
            announced.push(p.id);
        }
        assert_eq!(announced, expected);
        store.close().await;
    }

    #[test]
    fn projection_drives_plan_decisions() {
        let (mut db, _rx) = db(None);
        let d1 = new_id(db.submit(submission("web", "t", None)).unwrap());
        let plan = db.plan(d1).unwrap();
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].action, ResourceAction::Create);
        let rid = plan[0].resource_id;
        db.append(
            resource_event(EventKind::ResourceActive, "web", d1, rid),
            "t",
        )
        .unwrap();
        db.append(
            Event::new(EventKind::DeploymentCompleted, "web").with_deployment(d1.to_string()),
            "t",
        )
        .unwrap();
        assert!(db.is_finished(d1).unwrap());
        let row = db.deployment(d1, "t").unwrap().unwrap();
        assert_eq!(row.status, "succeeded");
        assert_eq!(row.resources[0].state, "active");

        // Same fragment, active: unchanged, same id.
        let d2 = new_id(db.submit(submission("web", "t", None)).unwrap());
        let plan = db.plan(d2).unwrap();
        assert_eq!(plan[0].action, ResourceAction::Unchanged);
        assert_eq!(plan[0].resource_id, rid);

        // Changed fragment: update.
        let mut changed = submission("web", "t", None);
        changed.resources[0].params = Some(r#"{"type":"postgres","size":2}"#.to_owned());
        let d3 = new_id(db.submit(changed).unwrap());
        assert_eq!(db.plan(d3).unwrap()[0].action, ResourceAction::Update);
    }

    #[test]
    fn idempotency_key_returns_the_first_deployment() {
        let (mut db, _rx) = db(None);
        let d1 = new_id(db.submit(submission("web", "t", Some("k1"))).unwrap());
        match db.submit(submission("web", "t", Some("k1"))).unwrap() {
            Submitted::Existing { deployment_id, app } => {
                assert_eq!((deployment_id, app.as_str()), (d1, "web"));
            }
            other => panic!("{other:?}"),
        }
        // The same key with another body is refused, whatever else is the same.
        let mut other = submission("web", "t", Some("k1"));
        other.spec = "another spec".to_owned();
        assert!(matches!(db.submit(other).unwrap(), Submitted::KeyReused));
        // Keys are per team: another team's identical key is a different request, and here
        // the app belongs to team t.
        assert!(matches!(
            db.submit(submission("web", "u", Some("k1"))).unwrap(),
            Submitted::Forbidden
        ));
    }

    #[cfg(unix)]
    #[test]
    fn the_database_and_its_directory_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data").join("ctl");
        let mut db = Db::open(Some(&dir), None, bus::channel(4)).unwrap();
        // A write, so that the WAL file exists too.
        db.submit(submission("web", "t", None)).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&root.path().join("data")), 0o700);
        for file in ["ctl-server.db", "ctl-server.db-wal", "ctl-server.db-shm"] {
            assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
        }
    }

    #[test]
    fn same_app_deployments_queue_in_commit_order() {
        let (mut db, _rx) = db(None);
        let first = db.submit(submission("web", "t", None)).unwrap();
        let second = db.submit(submission("web", "t", None)).unwrap();
        let (
            Submitted::New {
                deployment_id: first_id,
                done,
                ..
            },
            Submitted::New { after, .. },
        ) = (first, second)
        else {
            panic!("expected two new deployments");
        };
        let (previous, after) = after.expect("the second waits for the first");
        assert_eq!(previous, first_id, "it names the deployment it waits for");
        assert!(!after.is_cancelled());
        done.cancel();
        assert!(after.is_cancelled());
    }

    #[test]
    fn retention_prunes_and_records_the_point() {
        let (mut db, _rx) = db(Some(3));
        for _ in 0..10 {
            db.append(Event::new(EventKind::Other("x".into()), "a"), "t")
                .unwrap();
        }
        let head = db.head().unwrap();
        assert_eq!(
            head,
            Head {
                last_id: 10,
                pruned_through: 7
            }
        );
        let page = db.read_events(&team_only("t"), 0, encode_id).unwrap();
        let ids: Vec<u64> = page.events.iter().map(|e| e.id).collect();
        assert_eq!(ids, vec![8, 9, 10]);
    }

    #[test]
    fn pages_are_bounded_and_filtered() {
        let (mut db, _rx) = db(None);
        for i in 0..7 {
            let app = if i % 2 == 0 { "a" } else { "b" };
            db.append(Event::new(EventKind::Other("x".into()), app), "t")
                .unwrap();
        }
        db.append(Event::new(EventKind::Other("x".into()), "a"), "other")
            .unwrap();
        let filter = EventFilter {
            team: Arc::from("t"),
            app: Some("a".to_owned()),
            deployment: None,
        };
        let page = db.read_events_limit(&filter, 0, 2, encode_id).unwrap();
        assert_eq!(page.events.iter().map(|e| e.id).collect::<Vec<_>>(), [1, 3]);
        assert!(!page.at_end);
        let page = db.read_events_limit(&filter, 3, 2, encode_id).unwrap();
        assert_eq!(page.events.iter().map(|e| e.id).collect::<Vec<_>>(), [5, 7]);
        let page = db.read_events_limit(&filter, 7, 2, encode_id).unwrap();
        assert!(page.events.is_empty() && page.at_end);
    }

    #[test]
    fn delete_refuses_while_running_and_hides_other_teams() {
        let (mut db, _rx) = db(None);
        let d = new_id(db.submit(submission("web", "t", None)).unwrap());
        assert_eq!(
            db.delete_application("web", "u").unwrap(),
            Deleted::NotFound
        );
        assert_eq!(db.delete_application("web", "t").unwrap(), Deleted::Busy);
        db.append(
            Event::new(EventKind::DeploymentFailed, "web").with_deployment(d.to_string()),
            "t",
        )
        .unwrap();
        assert_eq!(db.delete_application("web", "t").unwrap(), Deleted::Done);
        assert!(db.applications("t", Some("web")).unwrap().is_empty());
        assert_eq!(
            db.delete_application("web", "t").unwrap(),
            Deleted::NotFound
        );
    }

    #[test]
    fn reopening_continues_ids_and_fails_interrupted_deployments() {
        let dir = tempfile::tempdir().unwrap();
        let d;
        let last;
        {
            let mut db = Db::open(Some(dir.path()), None, bus::channel(8)).unwrap();
            d = new_id(db.submit(submission("web", "t", None)).unwrap());
            let rid = db.plan(d).unwrap()[0].resource_id;
            db.append(
                Event::new(EventKind::DeploymentStarted, "web").with_deployment(d.to_string()),
                "t",
            )
            .unwrap();
            last = db
                .append(
                    resource_event(EventKind::ResourceProvisioning, "web", d, rid),
                    "t",
                )
                .unwrap();
        }
        let bus = bus::channel(8);
        let mut rx = bus.subscribe();
        let db = Db::open(Some(dir.path()), None, bus).unwrap();
        let failed = rx.try_recv().unwrap();
        assert_eq!(failed.id, last + 1);
        assert_eq!(failed.event.kind, EventKind::DeploymentFailed);
        assert_eq!(
            failed.event.data_str("error").as_deref(),
            Some(RESTART_ERROR)
        );
        let row = db.deployment(d, "t").unwrap().unwrap();
        assert_eq!(row.status, "failed");
        assert_eq!(row.error.as_deref(), Some(RESTART_ERROR));
        assert_eq!(row.resources[0].state, "failed");
        assert_eq!(db.resources("web", "t").unwrap()[0].state, "failed");
    }
}
