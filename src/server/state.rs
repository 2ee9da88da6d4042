//! The shared state behind every request: store handle, catalogue, keys, and the machinery
//! that lets the server stop (cancellation token, tracked deployment tasks).
//!
//! This module must never hold a lock across an `.await`; there are no locks here at all,
//! only atomics and handles that are safe to share.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::auth::KeyRing;
use super::bus;
use super::catalogue::Catalogue;
use super::limits::{self, Limits};
use super::store::{Store, StoreError};
use super::{ServerConfig, ServerError};
use crate::event::Event;

/// What every handler and task shares.
pub(crate) struct App {
    /// The single-writer store.
    pub(crate) store: Store,
    /// Providers by resource type.
    pub(crate) catalogue: Arc<Catalogue>,
    /// API keys and their teams.
    pub(crate) keys: KeyRing,
    /// Interval of `: keepalive` comments on streams.
    pub(crate) keepalive: Duration,
    /// The `retry:` hint sent at the start of each stream.
    pub(crate) retry: Duration,
    /// How long shutdown waits for each stage.
    pub(crate) shutdown_grace: Duration,
    /// Head timeout and connection caps, used by the accept loop and each connection.
    pub(crate) limits: Limits,
    /// Fired once at shutdown: ends every stream and cancels every deployment.
    pub(crate) cancel: CancellationToken,
    /// Deployment driver tasks, awaited (with a bound) at shutdown.
    pub(crate) tasks: TaskTracker,
    /// Source of `client-<n>` ids for `connected` frames.
    pub(crate) next_client: AtomicU64,
    /// How many times a stream fell behind the bus and re-read the store (diagnostics, tests).
    pub(crate) lag_recoveries: AtomicU64,
}

/// The server's state, as handed to [`super::router`]. Cheap to clone.
#[derive(Clone)]
pub struct AppState(pub(crate) Arc<App>);

impl fmt::Debug for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppState")
            .field("keys", &self.0.keys)
            .field("keepalive", &self.0.keepalive)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Opens the store (creating the data directory and recovering interrupted deployments)
    /// and builds the state. Call [`AppState::shutdown`] when done with it.
    pub async fn open(config: ServerConfig) -> Result<AppState, ServerError> {
        AppState::open_with(config, bus::DEFAULT_CAPACITY).await
    }

    /// [`AppState::open`] with a chosen bus capacity (tests use a tiny one to force lagging).
    pub(crate) async fn open_with(
        config: ServerConfig,
        bus_capacity: usize,
    ) -> Result<AppState, ServerError> {
        let store = Store::open(config.data_dir, config.retention, bus_capacity).await?;
        Ok(AppState(Arc::new(App {
            store,
            catalogue: config.catalogue,
            keys: config.keys,
            // A zero period would make `tokio::time::interval` panic.
            keepalive: config.keepalive.max(Duration::from_millis(1)),
            retry: config.retry,
            shutdown_grace: config.shutdown_grace,
            limits: Limits::new(
                config.header_timeout,
                config.body_timeout,
                config.max_connections,
                config.max_streams,
                limits::open_file_limit(),
            ),
            cancel: CancellationToken::new(),
            tasks: TaskTracker::new(),
            next_client: AtomicU64::new(0),
            lag_recoveries: AtomicU64::new(0),
        })))
    }

    /// Stops everything: ends streams, cancels deployments and waits for them (at most the
    /// grace period), then closes the store (at most the grace period again). Never hangs;
    /// calling it twice is harmless.
    pub async fn shutdown(&self) {
        let app = &self.0;
        app.cancel.cancel();
        app.tasks.close();
        if tokio::time::timeout(app.shutdown_grace, app.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "deployments did not stop within {:?}; leaving them",
                app.shutdown_grace
            );
        }
        if tokio::time::timeout(app.shutdown_grace, app.store.close())
            .await
            .is_err()
        {
            tracing::warn!("the store did not close within {:?}", app.shutdown_grace);
        }
    }

    /// Publishes events as the server's own: stored in one transaction (ids assigned in the
    /// given order, timestamps filled in where missing), projected onto the state tables like
    /// the orchestrator's events, then broadcast to every stream whose filter admits them.
    /// `team` owns them (`auth::DEFAULT_TEAM` on a server without keys). Returns the ids.
    ///
    /// This is the server's ingest path without HTTP in front of it: for embedding the server
    /// and for load generation (`benches/wire.rs`).
    pub async fn ingest(&self, team: &str, events: Vec<Event>) -> Result<Vec<u64>, StoreError> {
        self.0.store.append_batch(events, Arc::from(team)).await
    }

    /// The configured keys.
    pub(crate) fn keys(&self) -> &KeyRing {
        &self.0.keys
    }
}
