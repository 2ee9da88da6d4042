//! `--local`: the bundled server, started in-process on an ephemeral loopback port with an
//! in-memory store, so `ctl deploy FILE -w --local` works on a machine with nothing else.
//!
//! The client still talks to it over real HTTP: `--local` exercises exactly the code path used
//! against a remote server.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::error::Error;
use crate::server::{self, ServerConfig};

/// A running in-process server.
pub(crate) struct LocalServer {
    addr: std::net::SocketAddr,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<Result<(), server::ServerError>>,
}

impl LocalServer {
    /// Binds `127.0.0.1:0` and starts serving with the default catalogue, or `providers`.
    pub(crate) async fn start(providers: Option<&Path>) -> Result<Self, Error> {
        let mut config = ServerConfig::in_memory();
        if let Some(path) = providers {
            let catalogue = server::catalogue::Catalogue::load(path)
                .map_err(|e| Error::Usage(e.to_string()))?;
            config.catalogue = Arc::new(catalogue);
        }
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (shutdown, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server::run(listener, config, async move {
            let _ = rx.await;
        }));
        Ok(LocalServer {
            addr,
            shutdown,
            task,
        })
    }

    /// The base URL to talk to it.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Shuts it down, waiting a bounded time.
    pub(crate) async fn stop(self) {
        let _ = self.shutdown.send(());
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}
