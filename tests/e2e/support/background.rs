//! A TCP server on its own thread and runtime, on `127.0.0.1:0`, for the scripted servers of
//! the tests (the CONNECT proxy, the redirecting server). It stops, closing every connection,
//! on drop.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// A running server; stops on drop.
pub struct Background {
    /// The address it listens on.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Serves each accepted connection with `handler`, in its own task.
pub fn serve<F, Fut>(handler: F) -> Background
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (stop, stopped) = oneshot::channel::<()>();
    let (ready, addr) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("test server runtime");
        runtime.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            ready.send(listener.local_addr().unwrap()).unwrap();
            let accept = async {
                loop {
                    if let Ok((conn, _)) = listener.accept().await {
                        tokio::spawn(handler(conn));
                    }
                }
            };
            tokio::select! {
                () = accept => {}
                _ = stopped => {}
            }
        });
        // Dropping the runtime cancels every connection task: all connections close.
    });
    let addr = addr
        .recv_timeout(Duration::from_secs(10))
        .expect("test server started");
    Background {
        addr,
        stop: Some(stop),
        thread: Some(thread),
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads a request head (up to the blank line) from `conn`; returns it and whatever came
/// after it in the same reads. `None` if the connection closed first or the head is too large.
pub async fn read_head(conn: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::with_capacity(2048);
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Some((String::from_utf8_lossy(&buf).into_owned(), rest));
        }
        if buf.len() > 64 * 1024 {
            return None;
        }
        let mut chunk = [0u8; 4096];
        match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The value of header `name` (case-insensitive) in a request head.
pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
    })
}
