//! A scripted event-stream server for the WHATWG vectors: a tiny HTTP/1.1 server on
//! `127.0.0.1:0` that answers each event-stream request with the next scripted reply (status,
//! headers, body chunks, then close or hold), and records every request's headers exactly as
//! they arrived, so a test can check what `ctl` sent (how many `Accept` fields, which
//! `Last-Event-ID` bytes) as well as what it printed.
//!
//! Written on plain sockets rather than axum: a reply must be able to say anything a real
//! server might (a `204`, a `202` with a stream, odd media types, a body cut at any byte), and a
//! request must be seen before any framework folds or normalises its header fields.
//!
//! Other paths: `GET /api/applications` answers the JSON set with
//! [`ScriptedServer::with_applications`] (`{}` by default); `GET /api/deployments/ID` says that
//! deployment is `shop`'s and running; anything else answers `404` JSON.
//! Every reply closes its connection, so each request arrives on a fresh one.
//!
//! One thread accepts, one per connection serves; all stop (held connections are closed) and
//! are joined when the server is dropped.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One part of a reply body.
#[derive(Debug, Clone)]
pub enum Part {
    /// Bytes written (and flushed) as one chunk.
    Bytes(Vec<u8>),
    /// The server waits this long before the next part: part of the scenario (a connection
    /// that stays up), never a way to synchronise with the client.
    Pause(Duration),
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Header fields, as written.
    pub headers: Vec<(String, String)>,
    /// The body, in parts.
    pub body: Vec<Part>,
    /// Keep the connection open after the body (until the server stops) instead of closing it.
    pub hold: bool,
}

impl Reply {
    /// `200 text/event-stream` with this body, then close.
    pub fn stream(body: &str) -> Self {
        Self::stream_bytes(body.as_bytes())
    }

    /// `200 text/event-stream` with these bytes, then close.
    pub fn stream_bytes(body: &[u8]) -> Self {
        Reply {
            status: 200,
            headers: vec![("Content-Type".into(), "text/event-stream".into())],
            body: vec![Part::Bytes(body.to_vec())],
            hold: false,
        }
    }

    /// A status with a media type and a body, then close.
    pub fn with_status(status: u16, content_type: &str, body: &str) -> Self {
        let mut headers = Vec::new();
        if !content_type.is_empty() {
            headers.push(("Content-Type".to_owned(), content_type.to_owned()));
        }
        if status != 204 {
            headers.push(("Content-Length".to_owned(), body.len().to_string()));
        }
        Reply {
            status,
            headers,
            body: vec![Part::Bytes(body.as_bytes().to_vec())],
            hold: false,
        }
    }

    /// Replaces the `Content-Type`.
    pub fn content_type(mut self, value: &str) -> Self {
        self.headers
            .retain(|(name, _)| !name.eq_ignore_ascii_case("content-type"));
        self.headers.push(("Content-Type".into(), value.into()));
        self
    }

    /// Keeps the connection open after the body.
    pub fn held(mut self) -> Self {
        self.hold = true;
        self
    }
}

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// When its head had been read.
    pub at: Instant,
    /// `GET`, `POST`, ...
    pub method: String,
    /// The request target (path and query).
    pub target: String,
    /// Every header field, in order, names as sent, values as raw bytes.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Recorded {
    /// How many fields of this name (case-insensitive) the request carried.
    pub fn count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }

    /// The raw value of the first field of this name.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// The `Last-Event-ID` sent, as text (`None`: not sent).
    pub fn last_event_id(&self) -> Option<String> {
        self.header("last-event-id")
            .map(|v| String::from_utf8(v.to_vec()).expect("a UTF-8 Last-Event-ID"))
    }

    /// Whether this was an event-stream request.
    pub fn is_stream(&self) -> bool {
        self.target.starts_with("/api/events/stream")
    }
}

struct Shared {
    streams: Mutex<VecDeque<Reply>>,
    after: Reply,
    applications: Mutex<String>,
    requests: Mutex<Vec<Recorded>>,
    stopping: AtomicBool,
    /// Held connections wait on this until the server stops.
    stop: (Mutex<bool>, Condvar),
}

/// A running scripted server; stops on drop.
pub struct ScriptedServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    shared: Arc<Shared>,
    addr: std::net::SocketAddr,
    acceptor: Option<JoinHandle<()>>,
    workers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl ScriptedServer {
    /// Answers the event-stream requests with `streams` in order, then every later one with
    /// `after`.
    pub fn start(streams: Vec<Reply>, after: Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the scripted server");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            streams: Mutex::new(streams.into()),
            after,
            applications: Mutex::new("{}".to_owned()),
            requests: Mutex::default(),
            stopping: AtomicBool::new(false),
            stop: (Mutex::new(false), Condvar::new()),
        });
        let workers: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let acceptor = {
            let shared = Arc::clone(&shared);
            let workers = Arc::clone(&workers);
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if shared.stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let shared = Arc::clone(&shared);
                    let worker = std::thread::spawn(move || serve(conn, &shared));
                    workers.lock().unwrap().push(worker);
                }
            })
        };
        ScriptedServer {
            url: format!("http://{addr}"),
            shared,
            addr,
            acceptor: Some(acceptor),
            workers,
        }
    }

    /// Sets the answer to `GET /api/applications` (a JSON object text).
    pub fn with_applications(self, json: &str) -> Self {
        *self.shared.applications.lock().unwrap() = json.to_owned();
        self
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// The event-stream requests so far.
    pub fn stream_requests(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(Recorded::is_stream)
            .collect()
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        {
            let (lock, wake) = &self.shared.stop;
            *lock.lock().unwrap() = true;
            wake.notify_all();
        }
        // Wake the acceptor, which then sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let workers = std::mem::take(&mut *self.workers.lock().unwrap());
        for worker in workers {
            let _ = worker.join();
        }
    }
}

/// Reads one request head, records it, and plays the reply for it.
fn serve(conn: TcpStream, shared: &Shared) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(match conn.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    });
    let mut head = Vec::new();
    loop {
        let before = head.len();
        match reader.read_until(b'\n', &mut head) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let line = &head[before..];
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        if head.len() > 64 * 1024 {
            return;
        }
    }
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut fields);
    if !matches!(request.parse(&head), Ok(httparse::Status::Complete(_))) {
        return;
    }
    let recorded = Recorded {
        at: Instant::now(),
        method: request.method.unwrap_or_default().to_owned(),
        target: request.path.unwrap_or_default().to_owned(),
        headers: request
            .headers
            .iter()
            .map(|h| (h.name.to_owned(), h.value.to_vec()))
            .collect(),
    };
    // A request body (none is expected) is drained so the client is not reset mid-send.
    if let Some(len) = recorded
        .header("content-length")
        .and_then(|v| std::str::from_utf8(v).ok()?.trim().parse::<u64>().ok())
    {
        let _ = std::io::copy(&mut reader.by_ref().take(len), &mut std::io::sink());
    }
    let reply = if recorded.is_stream() {
        shared
            .streams
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| shared.after.clone())
    } else if recorded.target.split('?').next() == Some("/api/applications") {
        let json = shared.applications.lock().unwrap().clone();
        Reply::with_status(200, "application/json", &json)
    } else if let Some(id) = recorded.target.strip_prefix("/api/deployments/") {
        // Every deployment asked about is one of `shop`'s, still running.
        let json =
            format!(r#"{{"id":"{id}","app_name":"shop","status":"running","resources":[]}}"#);
        Reply::with_status(200, "application/json", &json)
    } else {
        Reply::with_status(404, "application/json", r#"{"error":"not found"}"#)
    };
    shared.requests.lock().unwrap().push(recorded);
    play(conn, &reply, shared);
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        204 => "No Content",
        404 => "Not Found",
        503 => "Service Unavailable",
        _ => "Whatever",
    }
}

fn play(mut conn: TcpStream, reply: &Reply, shared: &Shared) {
    let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("Cache-Control: no-store\r\nConnection: close\r\n\r\n");
    if conn.write_all(head.as_bytes()).is_err() {
        return;
    }
    if reply.status != 204 {
        for part in &reply.body {
            match part {
                Part::Bytes(bytes) => {
                    if conn.write_all(bytes).and_then(|()| conn.flush()).is_err() {
                        return;
                    }
                }
                Part::Pause(pause) => std::thread::sleep(*pause),
            }
        }
    }
    if reply.hold {
        let (lock, wake) = &shared.stop;
        let mut stopped = lock.lock().unwrap();
        while !*stopped {
            stopped = wake.wait(stopped).unwrap();
        }
    }
    let _ = conn.shutdown(Shutdown::Write);
}
