//! A chaos proxy between `ctl` and a server: plain TCP on `127.0.0.1:0`, forwarding both ways,
//! breaking the server-to-client direction on purpose.
//!
//! - `cut_after`: every connection is closed abruptly once it has carried this many bytes
//!   from the server (headers included), so a long event stream needs many reconnects;
//! - `stall_stream`: the Nth event-stream request is forwarded, but nothing of its answer ever
//!   reaches the client (the connection stays open, silent);
//! - `delay`: every chunk from the server waits this long before it is forwarded;
//! - `lose_post_answer`: the first `POST` is forwarded to the server, which acts on it, but the
//!   connection is closed as soon as the answer starts, so the client never learns the outcome.
//!
//! It runs on its own thread and runtime, and stops (closing every connection) on drop.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// What the proxy breaks.
#[derive(Debug, Clone, Default)]
pub struct Chaos {
    /// Close each connection after this many bytes from the server.
    pub cut_after: Option<usize>,
    /// Silence the answer of the Nth (1-based) event-stream request.
    pub stall_stream: Option<usize>,
    /// Hold every chunk from the server this long.
    pub delay: Option<Duration>,
    /// Drop the answer to the first `POST`.
    pub lose_post_answer: bool,
}

#[derive(Default)]
struct Counters {
    connections: AtomicUsize,
    streams: AtomicUsize,
    posts: AtomicUsize,
    post_answer_lost: AtomicBool,
}

/// A running proxy; stops on drop.
pub struct ChaosProxy {
    /// `http://127.0.0.1:PORT`, to pass as `--server`.
    pub url: String,
    counters: Arc<Counters>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ChaosProxy {
    /// Starts a proxy in front of `upstream` (`http://HOST:PORT`).
    pub fn start(upstream: &str, chaos: Chaos) -> Self {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let counters = Arc::new(Counters::default());
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready, addr) = std::sync::mpsc::channel();
        let shared = Arc::clone(&counters);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("proxy runtime");
            runtime.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy bind");
                ready.send(listener.local_addr().unwrap()).unwrap();
                let chaos = Arc::new(chaos);
                let accept = async {
                    loop {
                        let Ok((client, _)) = listener.accept().await else {
                            continue;
                        };
                        let (upstream, chaos, shared) =
                            (upstream.clone(), Arc::clone(&chaos), Arc::clone(&shared));
                        tokio::spawn(async move {
                            if let Ok(server) = TcpStream::connect(&upstream).await {
                                relay(client, server, &chaos, &shared).await;
                            }
                        });
                    }
                };
                tokio::select! {
                    () = accept => {}
                    _ = stopped => {}
                }
            });
            // Dropping the runtime cancels every relay task: all connections close.
        });
        let addr = addr
            .recv_timeout(Duration::from_secs(10))
            .expect("proxy started");
        ChaosProxy {
            url: format!("http://{addr}"),
            counters,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.counters.connections.load(Ordering::SeqCst)
    }

    /// Event-stream requests seen so far.
    pub fn streams(&self) -> usize {
        self.counters.streams.load(Ordering::SeqCst)
    }

    /// `POST` requests seen so far.
    pub fn posts(&self) -> usize {
        self.counters.posts.load(Ordering::SeqCst)
    }

    /// Whether a `POST` answer was dropped.
    pub fn lost_a_post_answer(&self) -> bool {
        self.counters.post_answer_lost.load(Ordering::SeqCst)
    }
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What this connection's requests were, as far as the chaos rules care.
#[derive(Default)]
struct Seen {
    /// The number of the stream request carried here (0: none).
    stream: AtomicUsize,
    /// A `POST` whose answer must be lost went through here.
    doomed_post: AtomicBool,
}

async fn relay(client: TcpStream, server: TcpStream, chaos: &Chaos, counters: &Counters) {
    counters.connections.fetch_add(1, Ordering::SeqCst);
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut server_rx, mut server_tx) = server.into_split();
    let seen = Seen::default();

    // Client to server: forwarded as is; requests are recognised by their first bytes (good
    // enough for the small requests `ctl` sends, which arrive in one read).
    let up = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match client_rx.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let head = &buf[..n];
            if head.starts_with(b"GET /api/events/stream") {
                let number = counters.streams.fetch_add(1, Ordering::SeqCst) + 1;
                seen.stream.store(number, Ordering::SeqCst);
            } else if head.starts_with(b"POST ") {
                counters.posts.fetch_add(1, Ordering::SeqCst);
                if chaos.lose_post_answer && !counters.post_answer_lost.swap(true, Ordering::SeqCst)
                {
                    seen.doomed_post.store(true, Ordering::SeqCst);
                }
            }
            if server_tx.write_all(head).await.is_err() {
                return;
            }
        }
    };

    // Server to client: where the chaos happens.
    let down = async {
        let mut buf = vec![0u8; 16 * 1024];
        let mut carried = 0usize;
        loop {
            let n = match server_rx.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if seen.doomed_post.load(Ordering::SeqCst) {
                // The server has acted on the POST; its answer never arrives.
                return;
            }
            let stream = seen.stream.load(Ordering::SeqCst);
            if stream != 0 && chaos.stall_stream == Some(stream) {
                // Open and silent until the client gives up on it.
                std::future::pending::<()>().await;
            }
            if let Some(delay) = chaos.delay {
                tokio::time::sleep(delay).await;
            }
            let mut chunk = &buf[..n];
            if let Some(limit) = chaos.cut_after {
                let room = limit.saturating_sub(carried);
                if chunk.len() >= room {
                    chunk = &chunk[..room];
                    let _ = client_tx.write_all(chunk).await;
                    return;
                }
            }
            carried += chunk.len();
            if client_tx.write_all(chunk).await.is_err() {
                return;
            }
        }
    };

    // Whichever side ends first ends the connection: both sockets are dropped here.
    tokio::select! {
        () = up => {}
        () = down => {}
    }
}
