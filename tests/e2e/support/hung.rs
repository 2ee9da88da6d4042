//! A server that hangs: it accepts TCP connections on `127.0.0.1:0`, reads what the client
//! sends, and then never finishes an answer. What `--timeout` must hold against (a hung
//! server, or a proxy in front of a dead one).
//!
//! - [`Hang::Silent`]: no request is ever answered, not even with a status line;
//! - [`Hang::HeadersOnly`]: the event stream's request is answered `200 text/event-stream` and
//!   then nothing (no frame, no keep-alive); every other request gets silence.
//!
//! Connections are held open until the server is dropped, which closes them all.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// How the server fails to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hang {
    /// Accept, read, say nothing.
    Silent,
    /// Answer the event stream's headers, then nothing.
    HeadersOnly,
    /// Answer the event stream with its first frame; never answer anything else.
    SubmissionOnly,
}

/// A running hung server.
pub struct HungServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
    held: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl HungServer {
    /// Starts listening.
    pub fn start(hang: Hang) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let held = Arc::new(Mutex::new(Vec::new()));
        let acceptor = {
            let (stop, requests, held) = (stop.clone(), requests.clone(), held.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(conn) = conn else { continue };
                    let (requests, held) = (requests.clone(), held.clone());
                    std::thread::spawn(move || serve(conn, hang, &requests, &held));
                }
            })
        };
        HungServer {
            url: format!("http://{addr}"),
            addr,
            stop,
            requests,
            held,
            acceptor: Some(acceptor),
        }
    }

    /// Request heads read so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Reads one request head and answers as `hang` says; the connection is then kept (silent)
/// until the server is dropped.
fn serve(mut conn: TcpStream, hang: Hang, requests: &AtomicUsize, held: &Mutex<Vec<TcpStream>>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    requests.fetch_add(1, Ordering::SeqCst);
    let stream = head.starts_with(b"GET /api/events/stream");
    if hang != Hang::Silent && stream {
        let _ = conn.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n",
        );
        if hang == Hang::SubmissionOnly {
            let frame = "data: {\"type\":\"connected\",\"client_id\":\"client-1\"}\n\n";
            let _ = write!(conn, "{:x}\r\n{frame}\r\n", frame.len());
        }
    }
    held.lock().unwrap().push(conn);
}

impl Drop for HungServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so its thread sees the flag and ends.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        for conn in self.held.lock().unwrap().drain(..) {
            let _ = conn.shutdown(std::net::Shutdown::Both);
        }
    }
}
