//! The bundled reference platform server (`ctl server`): PROTOCOL.md Part B.
//!
//! Layout:
//! - [`run`] / [`serve`]: serve a listener until a shutdown future resolves (mini-redis shape);
//! - `conn`: each accepted connection: event streams written by our own small HTTP/1.1 writer,
//!   everything else served by hyper;
//! - [`tls`]: HTTPS (`--tls-cert`, `--tls-key`);
//! - `limits`: caps on open connections and event streams, and the open-file limit;
//! - `routes`: [`router`], the HTTP API and its JSON shapes;
//! - `sse`: the event stream (replay from the store, then live, no gap, no duplicate);
//! - `store`: SQLite on one dedicated thread, the single writer that assigns event ids;
//! - `bus`: the broadcast doorbell the store rings after each commit;
//! - `deploy`: accepting deployments and driving them through the orchestrator;
//! - [`orchestrator`] and [`catalogue`]: what a deployment does, per provider workflow;
//! - [`auth`]: API keys, teams, and who is calling;
//! - `guard`: cross-site request protection of a server without keys;
//! - `api_error`: the one JSON error envelope.
//!
//! Everything here runs on whatever tokio runtime the caller provides, current-thread included
//! (`ctl deploy --local` runs the server in-process). This module must never write to stdout
//! (it belongs to the client's output) and never log or return an API key.

pub mod auth;
pub mod catalogue;
pub mod orchestrator;
pub mod tls;

mod api_error;
mod bus;
mod conn;
mod deploy;
mod guard;
mod limits;
mod routes;
mod sse;
mod state;
mod store;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use auth::{ApiKey, KeyError, KeyRing};
pub use catalogue::{Catalogue, CatalogueError};
pub use limits::{OpenFileLimit, raise_open_file_limit};
pub use routes::router;
pub use state::AppState;
pub use store::StoreError;
pub use tls::ServerTls;

/// Everything `ctl server` can be configured with.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where the SQLite database lives (created if missing); `None` keeps everything in memory.
    pub data_dir: Option<PathBuf>,
    /// The providers, by resource type.
    pub catalogue: Arc<Catalogue>,
    /// API keys and their teams; empty means open access (loopback only).
    pub keys: KeyRing,
    /// Interval of `: keepalive` comments on event streams (PROTOCOL.md B.1 default 15 s).
    pub keepalive: Duration,
    /// The `retry:` hint sent at the start of every stream.
    pub retry: Duration,
    /// Keep at most this many events (oldest deleted first); `None` keeps everything.
    pub retention: Option<u64>,
    /// How long shutdown waits for open connections, then again for running deployments,
    /// then again for the store, before giving up on each.
    pub shutdown_grace: Duration,
    /// A connection must send a whole request head within this time of being accepted (after
    /// the TLS handshake), and a kept-alive one within this time of its previous response:
    /// this is also the keep-alive idle timeout.
    pub header_timeout: Duration,
    /// A request body must arrive whole within this time of its head; a slower one is
    /// answered `408`.
    pub body_timeout: Duration,
    /// At most this many open connections that are not event streams; more are refused.
    pub max_connections: usize,
    /// At most this many event streams; more are answered 503.
    pub max_streams: usize,
}

impl ServerConfig {
    /// An in-memory server with the built-in catalogue, no keys, and the protocol defaults.
    pub fn in_memory() -> Self {
        ServerConfig {
            data_dir: None,
            catalogue: Arc::new(Catalogue::builtin()),
            keys: KeyRing::new(),
            keepalive: Duration::from_secs(15),
            retry: Duration::from_secs(1),
            retention: None,
            shutdown_grace: Duration::from_secs(5),
            header_timeout: limits::HEADER_TIMEOUT,
            body_timeout: limits::BODY_TIMEOUT,
            max_connections: limits::MAX_CONNECTIONS,
            max_streams: limits::MAX_STREAMS,
        }
    }
}

/// Why the server could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address as given.
        addr: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// No API key is configured and the address is reachable from other machines.
    #[error(
        "refusing to listen on {addr} without API keys: anyone who can reach it could deploy; \
         configure a key (--key, CTL_SERVER_API_KEYS or --api-keys-file) or listen on a \
         loopback address such as 127.0.0.1"
    )]
    OpenAccess {
        /// The bound address.
        addr: SocketAddr,
    },
    /// No data directory was given and none could be determined.
    #[error("cannot determine a data directory for this user; pass --data-dir DIR or --in-memory")]
    NoDataDir,
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The provider catalogue is invalid.
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
    /// The API keys are invalid.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// The TLS certificate or key could not be loaded.
    #[error("{0}")]
    Tls(String),
    /// Another I/O failure (building the runtime, reading the bound address, serving).
    #[error("server I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Refuses open access beyond loopback (PROTOCOL.md B.3).
pub fn check_exposure(addr: SocketAddr, keys: &KeyRing) -> Result<(), ServerError> {
    if keys.is_empty() && !addr.ip().is_loopback() {
        return Err(ServerError::OpenAccess { addr });
    }
    Ok(())
}

/// Accepts connections until `cancel`, then waits for the open ones to close (event streams
/// end on `cancel`; other connections finish the request in flight). With `tls`, each
/// connection's handshake runs in its own task, so a slow client holds up no other.
///
/// A connection over [`limits::Limits::connections`] is refused at once (see [`refuse`]), so
/// the server never runs out of file descriptors and serves again as soon as load drops.
async fn accept(
    listener: TcpListener,
    router: axum::Router,
    tls: Option<ServerTls>,
    limits: limits::Limits,
    cancel: CancellationToken,
) {
    let connections = TaskTracker::new();
    let mut last_refusal_logged: Option<tokio::time::Instant> = None;
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                let Ok(permit) = limits.connections.clone().try_acquire_owned() else {
                    // One warning a minute at most: a flood must not become a flood of logs.
                    if last_refusal_logged.is_none_or(|at| at.elapsed() >= Duration::from_secs(60))
                    {
                        tracing::warn!(
                            "connection limit reached; refusing new connections (--max-connections)"
                        );
                        last_refusal_logged = Some(tokio::time::Instant::now());
                    }
                    refuse(stream, tls.is_some());
                    continue;
                };
                let connection = conn::Admitted::new(router.clone(), limits.clone(), permit);
                match &tls {
                    None => {
                        connections.spawn(conn::serve_connection(
                            stream,
                            connection,
                            cancel.clone(),
                        ));
                    }
                    Some(ServerTls(acceptor)) => {
                        let (acceptor, cancel) = (acceptor.clone(), cancel.clone());
                        connections.spawn(async move {
                            let handshake = tokio::time::timeout(
                                tls::HANDSHAKE_TIMEOUT,
                                acceptor.accept(stream),
                            );
                            let stream = tokio::select! {
                                () = cancel.cancelled() => return,
                                done = handshake => match done {
                                    Ok(Ok(stream)) => stream,
                                    Ok(Err(e)) => {
                                        tracing::debug!("TLS handshake failed: {e}");
                                        return;
                                    }
                                    Err(_) => {
                                        tracing::debug!("TLS handshake timed out");
                                        return;
                                    }
                                },
                            };
                            conn::serve_connection(stream, connection, cancel).await;
                        });
                    }
                }
            }
            // The client gave up before we took the connection: nothing to do.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset
                ) => {}
            // Out of file descriptors, most likely: wait for some to close rather than spin.
            Err(e) => {
                tracing::error!("accepting a connection failed: {e}; retrying in 1s");
                tokio::select! {
                    () = cancel.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// The answer to a connection over the cap, written without reading its request.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\n\
retry-after: 1\r\n\
connection: close\r\n\
content-length: 85\r\n\r\n\
{\"error\":{\"code\":\"unavailable\",\"message\":\"The server has too many open connections\"}}";

/// Refuses a connection over the cap without spending anything on it: a plain one gets
/// [`BUSY`] if its socket takes it at once, a TLS one (which would need a handshake first) is
/// just closed. Either way the descriptor is released now.
fn refuse(stream: tokio::net::TcpStream, tls: bool) {
    if tls {
        return;
    }
    // One write straight to the socket, never waiting (tokio's `try_write` would refuse until
    // the reactor has seen the new socket writable): a socket that cannot take 200 bytes now
    // is not worth more.
    if let Ok(stream) = stream.into_std() {
        use std::io::Write as _;
        let _ = (&stream).write(BUSY);
        let _ = stream.shutdown(std::net::Shutdown::Write);
    }
}

/// Serves the API on `listener` until `shutdown` resolves, then stops cleanly: every event
/// stream ends, running deployments are cancelled and awaited (bounded by
/// [`ServerConfig::shutdown_grace`]), the store is closed, and this returns. It never hangs.
///
/// Refuses ([`ServerError::OpenAccess`]) a non-loopback listener when no key is configured.
/// Works on a current-thread runtime.
pub async fn run(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    check_exposure(listener.local_addr()?, &config.keys)?;
    let state = AppState::open(config).await?;
    serve(listener, state, shutdown).await
}

/// [`run`] with an already opened state (so a caller can report readiness only once the store
/// is open). Shuts the state down before returning. Does not check exposure.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    serve_with_tls(listener, state, None, shutdown).await
}

/// [`serve`], over TLS when `tls` is given.
pub async fn serve_with_tls(
    listener: TcpListener,
    state: AppState,
    tls: Option<ServerTls>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let cancel = state.0.cancel.clone();
    let grace = state.0.shutdown_grace;
    let trigger = tokio::spawn({
        let cancel = cancel.clone();
        async move {
            shutdown.await;
            tracing::info!("shutting down");
            cancel.cancel();
        }
    });
    let limits = state.0.limits.clone();
    let server = accept(listener, router(state.clone()), tls, limits, cancel.clone());
    let result = tokio::select! {
        () = server => Ok(()),
        // Streams end on `cancel`, but a client could still hold a request open (a slow
        // upload); past the grace period it is dropped rather than keeping us alive.
        _ = async {
            cancel.cancelled().await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!("connections still open {grace:?} after shutdown; closing them");
            Ok(())
        }
    };
    trigger.abort();
    state.shutdown().await;
    result
}
