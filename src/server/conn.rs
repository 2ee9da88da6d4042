//! Accepted connections: event streams are written by a small HTTP/1.1 writer of our own,
//! everything else is served by hyper.
//!
//! Why: a server holds event streams by the thousand, and under hyper each one keeps a 16 KiB
//! read buffer and about 8 KiB of connection state for its whole life (heaptrack, in
//! docs/performance.md), two thirds of what an idle subscriber costs. A stream needs neither
//! once its request is read: from then on it only writes. So the request head is read here,
//! into a buffer dropped as soon as it is parsed. A plain `GET /api/events/stream` goes through
//! the same axum router as every request (authentication, validation and errors are the
//! router's), and its response is written here: status and headers, then the body as chunks
//! as they come, then the connection is closed. Anything else, and anything this reader is
//! not sure of (HTTP/1.0, a body, an upgrade, a malformed or oversized head), is handed to
//! hyper with the bytes already read put back in front, so hyper answers it exactly as it
//! would have.
//!
//! Connections are plain TCP or TLS over TCP (`ctl server --tls-cert`): both are a
//! [`Connection`], so streams are written the same way over either.
//!
//! Limits (docs/server.md, "Limits and hardening"): the whole first request head must arrive
//! within the header timeout, whatever the byte rate, on either path; hyper then applies the
//! same timeout to every later head of a kept-alive connection, idle time included. A
//! connection holds a permit of the connection cap while it is an ordinary connection, and
//! trades it for one of the stream cap when it becomes an event stream.

use std::future::Future as _;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::http::{Method, Request, Response, Version, header};
use axum::response::IntoResponse;
use bytes::{Buf, Bytes};
use futures::StreamExt;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, OwnedSemaphorePermit};
use tokio::time::Instant;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::api_error::ApiError;
use super::limits::Limits;

/// The path whose plain GETs this module answers itself.
const STREAM_PATH: &str = "/api/events/stream";

/// The largest request head read here; a larger one goes to hyper (which refuses it).
const HEAD_LIMIT: usize = 16 * 1024;

/// At most this many headers in a stream request; more go to hyper.
const MAX_HEADERS: usize = 64;

/// An accepted connection: a TCP stream, or TLS over one.
pub(crate) trait Connection: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// The reading half of [`Connection::halves`].
    type Reader<'a>: AsyncRead + Unpin + Send
    where
        Self: 'a;
    /// The writing half of [`Connection::halves`].
    type Writer<'a>: AsyncWrite + Unpin + Send
    where
        Self: 'a;

    /// Reading and writing halves usable at the same time (a stream writes while it watches
    /// for the client leaving).
    fn halves(&mut self) -> (Self::Reader<'_>, Self::Writer<'_>);

    /// Sends small writes at once (`TCP_NODELAY`).
    fn set_nodelay(&self);
}

impl Connection for TcpStream {
    type Reader<'a> = tokio::net::tcp::ReadHalf<'a>;
    type Writer<'a> = tokio::net::tcp::WriteHalf<'a>;

    fn halves(&mut self) -> (Self::Reader<'_>, Self::Writer<'_>) {
        // Borrowed halves: no lock between them, unlike `tokio::io::split`.
        self.split()
    }

    fn set_nodelay(&self) {
        // Best effort: a socket that refuses it still works.
        let _ = TcpStream::set_nodelay(self, true);
    }
}

impl Connection for TlsStream<TcpStream> {
    type Reader<'a> = tokio::io::ReadHalf<&'a mut TlsStream<TcpStream>>;
    type Writer<'a> = tokio::io::WriteHalf<&'a mut TlsStream<TcpStream>>;

    fn halves(&mut self) -> (Self::Reader<'_>, Self::Writer<'_>) {
        // One TLS session cannot be split without a lock: reading may need to write (alerts,
        // key updates), so both halves share the session.
        tokio::io::split(self)
    }

    fn set_nodelay(&self) {
        let _ = self.get_ref().0.set_nodelay(true);
    }
}

/// A connection admitted under the connection cap: what it is served with.
pub(crate) struct Admitted {
    router: Router,
    limits: Limits,
    /// Its place under the connection cap, released when the connection ends or becomes a
    /// stream.
    permit: OwnedSemaphorePermit,
}

impl Admitted {
    /// A connection holding `permit`, to be served by `router` within `limits`.
    pub(crate) fn new(router: Router, limits: Limits, permit: OwnedSemaphorePermit) -> Self {
        Admitted {
            router,
            limits,
            permit,
        }
    }
}

/// Serves one accepted connection until it closes, or, after `shutdown`, until its request in
/// flight is answered (streams end on `shutdown` by themselves). A connection whose first
/// request head is not complete within the header timeout is closed without an answer.
pub(crate) async fn serve_connection<S: Connection>(
    mut stream: S,
    admitted: Admitted,
    shutdown: CancellationToken,
) {
    let Admitted {
        router,
        limits,
        permit,
    } = admitted;
    let deadline = Instant::now() + limits.header_timeout;
    let mut head = Vec::with_capacity(1024);
    let request = loop {
        let read = tokio::select! {
            read = stream.read_buf(&mut head) => read,
            // Shutting down: a connection that has not finished its request gets no answer.
            () = shutdown.cancelled() => return,
            // Silent, or sending its head too slowly (a "slow loris"): it holds a descriptor
            // and a place under the cap, so it goes.
            () = tokio::time::sleep_until(deadline) => {
                tracing::debug!(
                    "no complete request head within {:?}; closing the connection",
                    limits.header_timeout
                );
                return;
            }
        };
        match read {
            // Closed (or failed) before a whole head arrived: nothing to answer.
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        match stream_request(&head) {
            Parsed::Stream(request) => break Some(request),
            Parsed::Incomplete if head.len() < HEAD_LIMIT => continue,
            Parsed::Incomplete | Parsed::Other => break None,
        }
    };
    match request {
        Some(request) => {
            drop(head);
            // A stream's frames are small and each should leave at once, as nginx does for its
            // streams; measured, it costs fan-out nothing here (docs/performance.md).
            stream.set_nodelay();
            // From here on this connection is a stream: it counts against the stream cap
            // instead of the connection cap.
            let Ok(_stream_permit) = limits.streams.clone().try_acquire_owned() else {
                drop(permit);
                tracing::debug!("event stream limit reached; answering 503");
                let _ =
                    write_response(&mut stream, ApiError::busy("event streams").into_response())
                        .await;
                return;
            };
            drop(permit);
            let response = match router.oneshot(*request).await {
                Ok(response) => response,
                Err(infallible) => match infallible {},
            };
            // An error here is the client gone; there is no one left to tell.
            let _ = write_response(&mut stream, response).await;
        }
        None => {
            serve_with_hyper(
                stream,
                Bytes::from(head),
                router,
                &limits,
                deadline,
                shutdown,
            )
            .await;
            drop(permit);
        }
    }
}

/// What the bytes read so far are.
enum Parsed {
    /// A plain stream request, complete, with nothing after its head.
    Stream(Box<Request<Body>>),
    /// Not a whole head yet.
    Incomplete,
    /// Something for hyper.
    Other,
}

/// Reads a request head, and accepts it only if it is a plain HTTP/1.1 `GET` of the stream
/// path: no body, no upgrade, nothing pipelined behind it, every header well-formed.
fn stream_request(bytes: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let len = match parsed.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Incomplete,
        Err(_) => return Parsed::Other,
    };
    let (Some("GET"), Some(path), Some(1)) = (parsed.method, parsed.path, parsed.version) else {
        return Parsed::Other;
    };
    if len != bytes.len() || path.split('?').next() != Some(STREAM_PATH) {
        return Parsed::Other;
    }
    let mut request = Request::builder()
        .method(Method::GET)
        .uri(path)
        .version(Version::HTTP_11);
    for h in parsed.headers.iter() {
        let name = h.name.to_ascii_lowercase();
        let with_body = match name.as_str() {
            "content-length" => h.value != b"0",
            "transfer-encoding" | "upgrade" | "expect" => true,
            _ => false,
        };
        if with_body {
            return Parsed::Other;
        }
        request = request.header(name, h.value);
    }
    match request.body(Body::empty()) {
        Ok(request) => Parsed::Stream(Box::new(request)),
        // A header name or value the http crate refuses: hyper decides what to say.
        Err(_) => Parsed::Other,
    }
}

/// Writes `response`: status line and headers, the body (chunked unless its length is known),
/// then closes. Stops as soon as the client goes away, dropping the body, which is how the
/// stream behind it learns it has no reader.
async fn write_response<S: Connection>(stream: &mut S, response: Response<Body>) -> io::Result<()> {
    let (parts, body) = response.into_parts();
    let length = body.size_hint().exact();
    let mut head = Vec::with_capacity(512);
    head.extend_from_slice(b"HTTP/1.1 ");
    head.extend_from_slice(parts.status.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(parts.status.canonical_reason().unwrap_or("").as_bytes());
    head.extend_from_slice(b"\r\n");
    for (name, value) in &parts.headers {
        if name == header::CONTENT_LENGTH
            || name == header::TRANSFER_ENCODING
            || name == header::CONNECTION
        {
            continue;
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    let date = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT");
    head.extend_from_slice(format!("date: {date}\r\n").as_bytes());
    match length {
        Some(n) => head.extend_from_slice(format!("content-length: {n}\r\n").as_bytes()),
        None => head.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    head.extend_from_slice(b"connection: close\r\n\r\n");
    stream.write_all(&head).await?;
    drop(head);

    let chunked = length.is_none();
    let (mut reader, mut writer) = stream.halves();
    let mut body = body.into_data_stream();
    let mut probe = [0u8; 64];
    loop {
        tokio::select! {
            data = body.next() => match data {
                Some(Ok(data)) if data.is_empty() => {}
                Some(Ok(data)) if chunked => write_chunk(&mut writer, &data).await?,
                Some(Ok(data)) => writer.write_all(&data).await?,
                // The body failed: end without the last chunk, so the client sees a cut stream
                // rather than a complete one.
                Some(Err(_)) => return Ok(()),
                None => break,
            },
            // The client closed its side (or sent something nobody asked for, which is read
            // and dropped). Either way a stream has nothing more to read from it.
            read = reader.read(&mut probe) => match read {
                Ok(0) | Err(_) => return Ok(()),
                Ok(_) => {}
            },
        }
    }
    if chunked {
        writer.write_all(b"0\r\n\r\n").await?;
    }
    writer.shutdown().await
}

/// Writes `data` as one chunk of a chunked body: size line, data, CRLF, in one system call
/// when the socket takes it all.
async fn write_chunk(writer: &mut (impl AsyncWrite + Unpin), data: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    let mut size = [0u8; 18];
    // 16 hex digits and CRLF fit any length.
    let mut line = io::Cursor::new(&mut size[..]);
    write!(line, "{:x}\r\n", data.len())?;
    let used = line.position() as usize;
    let chunk = Buf::chain(Buf::chain(&size[..used], data), &b"\r\n"[..]);
    write_all_vectored(writer, chunk).await
}

/// Writes all of `buf`, several slices per system call.
async fn write_all_vectored(
    writer: &mut (impl AsyncWrite + Unpin),
    mut buf: impl Buf,
) -> io::Result<()> {
    while buf.has_remaining() {
        let mut slices = [IoSlice::new(&[]); 4];
        let n = buf.chunks_vectored(&mut slices);
        let written = writer.write_vectored(&slices[..n]).await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        buf.advance(written);
    }
    Ok(())
}

/// Serves the connection with hyper, replaying `read` (the bytes already taken from it) first.
/// The first request's head must still be complete by `deadline`; every later one within the
/// header timeout of the previous response (hyper's `header_read_timeout`). On `shutdown`,
/// hyper finishes the request in flight and closes.
async fn serve_with_hyper<S: Connection>(
    stream: S,
    read: Bytes,
    router: Router,
    limits: &Limits,
    deadline: Instant,
    shutdown: CancellationToken,
) {
    // Told when hyper has parsed a request head (the router is then called).
    let head_read = Arc::new(Notify::new());
    let service = TowerToHyperService::new(router.map_request({
        let head_read = head_read.clone();
        let body_timeout = limits.body_timeout;
        move |request: Request<hyper::body::Incoming>| {
            head_read.notify_one();
            request.map(|body| {
                if body.is_end_stream() {
                    Body::new(body)
                } else {
                    Body::new(DeadlineBody::new(body, body_timeout))
                }
            })
        }
    }));
    // HTTP/1.1 only: HTTP/2 in cleartext (prior knowledge) is not served, see "Limits and
    // hardening" in docs/server.md. An HTTP/2 preface is closed without an answer.
    let mut builder =
        hyper_util::server::conn::auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let io = TokioIo::new(Replay { read, stream });
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    // hyper's timer starts afresh when it takes the connection; the head begun here keeps
    // its first deadline.
    let first_head_late = async {
        tokio::select! {
            () = head_read.notified() => std::future::pending().await,
            () = tokio::time::sleep_until(deadline) => {}
        }
    };
    tokio::select! {
        _ = conn.as_mut() => {}
        () = first_head_late => {
            tracing::debug!(
                "no complete request head within {:?}; closing the connection",
                limits.header_timeout
            );
        }
        () = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// The error of a request body that did not arrive whole in time (answered `408` by
/// `ApiError`'s conversion of body errors).
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub(crate) struct BodyTimeout(pub(crate) Duration);

/// A request body that must arrive whole by a deadline, however steadily it trickles in: a
/// body sent a byte at a time would otherwise hold its connection for as long as the sender
/// likes.
struct DeadlineBody {
    body: hyper::body::Incoming,
    timeout: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl DeadlineBody {
    fn new(body: hyper::body::Incoming, timeout: Duration) -> Self {
        DeadlineBody {
            body,
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(BodyTimeout(self.timeout).into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// A connection whose first bytes were already read: they are read again first.
struct Replay<S> {
    read: Bytes,
    stream: S,
}

impl<S: Connection> AsyncRead for Replay<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.read.is_empty() {
            return Pin::new(&mut self.stream).poll_read(cx, buf);
        }
        let n = self.read.len().min(buf.remaining());
        buf.put_slice(&self.read.split_to(n));
        if self.read.is_empty() {
            // Free the head's buffer for the rest of the connection's life.
            self.read = Bytes::new();
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: Connection> AsyncWrite for Replay<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use axum::routing::{get, post};
    use tokio::net::TcpListener;
    use tokio::sync::mpsc;

    use super::*;

    const DEADLINE: Duration = Duration::from_secs(10);

    /// A server whose stream handler hands the test the sending end of each stream's body.
    async fn start() -> (
        SocketAddr,
        mpsc::UnboundedReceiver<mpsc::Sender<Bytes>>,
        CancellationToken,
    ) {
        start_with(None).await
    }

    /// The default limits, with no open-file limit to fit.
    fn default_limits() -> Limits {
        use crate::server::limits::*;
        Limits::new(
            HEADER_TIMEOUT,
            BODY_TIMEOUT,
            MAX_CONNECTIONS,
            MAX_STREAMS,
            None,
        )
    }

    /// [`start`], over TLS when `tls` is given.
    async fn start_with(
        tls: Option<crate::server::ServerTls>,
    ) -> (
        SocketAddr,
        mpsc::UnboundedReceiver<mpsc::Sender<Bytes>>,
        CancellationToken,
    ) {
        start_limited(tls, default_limits()).await
    }

    /// [`start_with`], with `limits`.
    async fn start_limited(
        tls: Option<crate::server::ServerTls>,
        limits: Limits,
    ) -> (
        SocketAddr,
        mpsc::UnboundedReceiver<mpsc::Sender<Bytes>>,
        CancellationToken,
    ) {
        let (bodies, streams) = mpsc::unbounded_channel();
        let router = Router::new()
            .route(
                STREAM_PATH,
                get(move || {
                    let bodies = bodies.clone();
                    async move {
                        let (tx, rx) = mpsc::channel::<Bytes>(4);
                        let _ = bodies.send(tx);
                        let frames = tokio_stream::wrappers::ReceiverStream::new(rx)
                            .map(Ok::<_, std::convert::Infallible>);
                        Body::from_stream(frames)
                    }
                }),
            )
            .route("/echo", post(|body: Bytes| async move { body }))
            .route("/other", get(|| async { "ok" }));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cancel = CancellationToken::new();
        tokio::spawn(super::super::accept(
            listener,
            router,
            tls,
            limits,
            cancel.clone(),
        ));
        (addr, streams, cancel)
    }

    /// A connection to `addr` that has sent `bytes`.
    async fn send(addr: SocketAddr, bytes: &[u8]) -> TcpStream {
        let mut conn = TcpStream::connect(addr).await.unwrap();
        conn.write_all(bytes).await.unwrap();
        conn
    }

    /// Reads from `conn` into `seen` until `done` holds for what was read; fails at the deadline.
    async fn read_until(
        conn: &mut (impl AsyncRead + Unpin),
        seen: &mut String,
        done: impl Fn(&str) -> bool,
    ) {
        let mut buf = [0u8; 4096];
        while !done(seen) {
            let n = tokio::time::timeout(DEADLINE, conn.read(&mut buf))
                .await
                .expect("the server answers in time")
                .unwrap();
            assert!(n > 0 || done(seen), "closed early; got {seen:?}");
            if n == 0 {
                break;
            }
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }

    async fn read_to_end(conn: &mut TcpStream) -> String {
        let mut out = Vec::new();
        tokio::time::timeout(DEADLINE, conn.read_to_end(&mut out))
            .await
            .expect("the server closes in time")
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[tokio::test]
    async fn a_stream_is_written_chunked_and_closed_when_its_body_ends() {
        let (addr, mut streams, _cancel) = start().await;
        let mut conn = TcpStream::connect(addr).await.unwrap();
        // The head arrives in pieces.
        for part in [
            "GET /api/events/stream?app=shop HTTP/1.1\r\n",
            "Host: x\r\nAccept: text/event-stream\r\n",
            "\r\n",
        ] {
            conn.write_all(part.as_bytes()).await.unwrap();
            conn.flush().await.unwrap();
        }
        let body = streams.recv().await.unwrap();
        body.send(Bytes::from_static(b"data: a\n\n")).await.unwrap();
        let mut seen = String::new();
        read_until(&mut conn, &mut seen, |s| s.contains("data: a")).await;
        assert!(seen.starts_with("HTTP/1.1 200 OK\r\n"), "{seen}");
        assert!(seen.contains("transfer-encoding: chunked\r\n"), "{seen}");
        assert!(seen.contains("connection: close\r\n"), "{seen}");
        assert!(seen.ends_with("\r\n\r\n9\r\ndata: a\n\n\r\n"), "{seen}");
        drop(body);
        assert_eq!(read_to_end(&mut conn).await, "0\r\n\r\n");
    }

    #[tokio::test]
    async fn over_tls_a_stream_is_written_here_and_dropped_when_its_client_leaves() {
        use std::sync::Arc;
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (cert_file, key_file) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&cert_file, cert.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        let tls = crate::server::ServerTls::from_pem_files(&cert_file, &key_file).unwrap();
        let (addr, mut streams, _cancel) = start_with(Some(tls)).await;

        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.der().clone()).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut conn = connector.connect(name, tcp).await.unwrap();
        conn.write_all(b"GET /api/events/stream HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let body = streams.recv().await.unwrap();
        body.send(Bytes::from_static(b"data: a\n\n")).await.unwrap();
        let mut seen = String::new();
        read_until(&mut conn, &mut seen, |s| s.contains("data: a")).await;
        // Our writer's answer (hyper's would keep the connection alive).
        assert!(seen.starts_with("HTTP/1.1 200 OK\r\n"), "{seen}");
        assert!(seen.contains("connection: close\r\n"), "{seen}");
        drop(conn);
        tokio::time::timeout(DEADLINE, body.closed())
            .await
            .expect("the server lets go of the stream");
    }

    #[tokio::test]
    async fn a_stream_whose_client_leaves_drops_its_body() {
        let (addr, mut streams, _cancel) = start().await;
        let conn = send(addr, b"GET /api/events/stream HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let body = streams.recv().await.unwrap();
        drop(conn);
        tokio::time::timeout(DEADLINE, body.closed())
            .await
            .expect("the server lets go of the stream");
    }

    #[tokio::test]
    async fn other_requests_are_served_by_hyper_with_keep_alive() {
        let (addr, _streams, _cancel) = start().await;
        let mut conn = send(
            addr,
            b"POST /echo HTTP/1.1\r\nHost: x\r\ncontent-length: 5\r\n\r\nhello",
        )
        .await;
        let mut seen = String::new();
        read_until(&mut conn, &mut seen, |s| s.ends_with("hello")).await;
        assert!(seen.starts_with("HTTP/1.1 200 OK\r\n"), "{seen}");
        assert!(!seen.contains("connection: close"), "{seen}");
        // The same connection serves the next request.
        conn.write_all(b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut seen = String::new();
        read_until(&mut conn, &mut seen, |s| s.ends_with("ok")).await;
        assert!(seen.starts_with("HTTP/1.1 200 OK\r\n"), "{seen}");
    }

    #[tokio::test]
    async fn shutdown_closes_a_connection_still_sending_its_head() {
        let (addr, _streams, cancel) = start().await;
        let mut conn = send(addr, b"GET /api/events/stream HTTP/1.1\r\nHost:").await;
        cancel.cancel();
        // Closed without an answer: an end of stream, or a reset if the listener was dropped
        // before it took the connection.
        let mut out = Vec::new();
        let read = tokio::time::timeout(DEADLINE, conn.read_to_end(&mut out))
            .await
            .expect("the server closes in time");
        assert!(out.is_empty(), "answered: {out:?} ({read:?})");
    }

    #[test]
    fn only_plain_stream_requests_are_taken() {
        let taken = |head: &str| matches!(stream_request(head.as_bytes()), Parsed::Stream(_));
        assert!(taken("GET /api/events/stream HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(taken(
            "GET /api/events/stream?app=a&since=3 HTTP/1.1\r\ncontent-length: 0\r\n\r\n"
        ));
        for other in [
            "GET /api/events/streams HTTP/1.1\r\n\r\n",
            "GET /api/applications HTTP/1.1\r\n\r\n",
            "POST /api/events/stream HTTP/1.1\r\n\r\n",
            "HEAD /api/events/stream HTTP/1.1\r\n\r\n",
            "GET /api/events/stream HTTP/1.0\r\n\r\n",
            "GET /api/events/stream HTTP/1.1\r\ncontent-length: 3\r\n\r\nabc",
            "GET /api/events/stream HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n",
            "GET /api/events/stream HTTP/1.1\r\nupgrade: h2c\r\n\r\n",
            "GET /api/events/stream HTTP/1.1\r\nexpect: 100-continue\r\n\r\n",
            // Pipelined: the next request would be lost.
            "GET /api/events/stream HTTP/1.1\r\n\r\nGET /other HTTP/1.1\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "not http at all\r\n\r\n",
        ] {
            assert!(!taken(other), "{other:?}");
        }
        assert!(matches!(
            stream_request(b"GET /api/events/stream HTTP/1.1\r\nHost:"),
            Parsed::Incomplete
        ));
    }

    #[tokio::test]
    async fn a_head_too_large_for_the_stream_reader_still_gets_an_answer() {
        let (addr, mut streams, _cancel) = start().await;
        let big = "x".repeat(HEAD_LIMIT);
        let head = format!("GET /api/events/stream HTTP/1.1\r\nHost: x\r\nx-big: {big}\r\n\r\n");
        let mut conn = send(addr, head.as_bytes()).await;
        // Hyper serves it: the handler runs, and the answer is hyper's (no `connection: close`).
        let body = streams.recv().await.unwrap();
        body.send(Bytes::from_static(b"data: b\n\n")).await.unwrap();
        let mut seen = String::new();
        read_until(&mut conn, &mut seen, |s| s.contains("data: b")).await;
        assert!(seen.starts_with("HTTP/1.1 200 OK\r\n"), "{seen}");
        assert!(!seen.contains("connection: close"), "{seen}");
    }

    /// Short enough for a quick test, long enough that a loaded machine does not trip it.
    const SHORT: Duration = Duration::from_millis(600);

    fn limits(header_timeout: Duration, max_connections: usize, max_streams: usize) -> Limits {
        Limits::new(header_timeout, SHORT, max_connections, max_streams, None)
    }

    /// Sends `prefix`, then one more byte of an endless header every 50 ms: a head that never
    /// completes, at a byte rate that never stops. Returns what the server answered and how
    /// long after the trickle began it closed the connection (reset included).
    async fn trickle(conn: TcpStream, prefix: &[u8]) -> (Vec<u8>, Duration) {
        let (mut reader, mut writer) = conn.into_split();
        writer.write_all(prefix).await.unwrap();
        let started = tokio::time::Instant::now();
        let sender = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            loop {
                tick.tick().await;
                if writer.write_all(b"a").await.is_err() {
                    break;
                }
            }
        });
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(DEADLINE, reader.read_to_end(&mut answer))
            .await
            .expect("the server closes a head that never ends");
        let elapsed = started.elapsed();
        sender.abort();
        (answer, elapsed)
    }

    /// Waits for the server to close `conn`; returns what it sent first.
    async fn closed(conn: &mut TcpStream) -> Vec<u8> {
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(DEADLINE, conn.read_to_end(&mut answer))
            .await
            .expect("the server closes the connection");
        answer
    }

    #[tokio::test]
    async fn a_head_sent_a_byte_at_a_time_is_cut_at_the_header_timeout() {
        let (addr, _streams, _cancel) = start_limited(None, limits(SHORT, 8, 8)).await;
        for path in ["/api/events/stream", "/other"] {
            let conn = TcpStream::connect(addr).await.unwrap();
            let prefix = format!("GET {path} HTTP/1.1\r\nHost: x\r\nx-pad: ");
            let (answer, elapsed) = trickle(conn, prefix.as_bytes()).await;
            assert!(answer.is_empty(), "{path}: answered {answer:?}");
            assert!(elapsed >= SHORT, "{path}: closed after {elapsed:?}");
        }
    }

    #[tokio::test]
    async fn a_head_handed_to_hyper_unfinished_keeps_its_header_timeout() {
        let (addr, _streams, _cancel) = start_limited(None, limits(SHORT, 8, 8)).await;
        let conn = TcpStream::connect(addr).await.unwrap();
        // Past the stream reader's limit: hyper takes the rest of the head.
        let prefix = format!(
            "GET /other HTTP/1.1\r\nHost: x\r\nx-big: {}\r\nx-pad: ",
            "x".repeat(HEAD_LIMIT)
        );
        let (answer, elapsed) = trickle(conn, prefix.as_bytes()).await;
        assert!(answer.is_empty(), "answered {answer:?}");
        assert!(elapsed >= SHORT, "closed after {elapsed:?}");
    }

    #[tokio::test]
    async fn a_silent_connection_is_closed_at_the_header_timeout() {
        let (addr, _streams, _cancel) = start_limited(None, limits(SHORT, 8, 8)).await;
        let started = tokio::time::Instant::now();
        let mut conn = TcpStream::connect(addr).await.unwrap();
        assert!(closed(&mut conn).await.is_empty());
        assert!(started.elapsed() >= SHORT);
    }

    #[tokio::test]
    async fn a_kept_alive_connection_is_closed_when_idle_or_slow() {
        let (addr, _streams, _cancel) = start_limited(None, limits(SHORT, 8, 8)).await;
        // Idle after a response.
        let mut conn = send(addr, b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let mut seen = String::new();
        read_until(&mut conn, &mut seen, |s| s.ends_with("ok")).await;
        let answered = tokio::time::Instant::now();
        assert!(closed(&mut conn).await.is_empty());
        assert!(answered.elapsed() >= SHORT);

        // A second head, sent a byte at a time.
        let mut conn = send(addr, b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let mut seen = String::new();
        read_until(&mut conn, &mut seen, |s| s.ends_with("ok")).await;
        // (hyper's timer started at the end of the response, before the trickle.)
        let (answer, _) = trickle(conn, b"GET /other HTTP/1.1\r\nx-pad: ").await;
        assert!(answer.is_empty(), "answered {answer:?}");
    }

    #[tokio::test]
    async fn over_the_connection_cap_a_connection_is_refused_until_others_close() {
        let (addr, _streams, _cancel) = start_limited(None, limits(DEADLINE * 6, 2, 8)).await;
        let held = [
            TcpStream::connect(addr).await.unwrap(),
            TcpStream::connect(addr).await.unwrap(),
        ];
        let mut refused = TcpStream::connect(addr).await.unwrap();
        let answer = String::from_utf8(closed(&mut refused).await).unwrap();
        assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{answer}"
        );
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["error"]["code"], "unavailable");

        drop(held);
        // Served again once the server has seen them close.
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let mut conn = send(addr, b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n").await;
            let mut seen = String::new();
            read_until(&mut conn, &mut seen, |s| {
                s.ends_with("ok") || s.ends_with("}}")
            })
            .await;
            if seen.starts_with("HTTP/1.1 200 ") {
                break;
            }
            assert!(seen.starts_with("HTTP/1.1 503 "), "{seen}");
            assert!(tokio::time::Instant::now() < deadline, "still refused");
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn over_the_stream_cap_a_stream_is_answered_503_and_streams_leave_the_connection_cap() {
        // One ordinary connection allowed: streams must not take it.
        let (addr, mut streams, _cancel) = start_limited(None, limits(DEADLINE * 6, 1, 2)).await;
        let request = b"GET /api/events/stream HTTP/1.1\r\nHost: x\r\n\r\n";
        let first = send(addr, request).await;
        let first_body = streams.recv().await.unwrap();
        let _second = send(addr, request).await;
        let _second_body = streams.recv().await.unwrap();

        let mut third = send(addr, request).await;
        let answer = String::from_utf8(closed(&mut third).await).unwrap();
        assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
        assert!(answer.contains("too many event streams"), "{answer}");

        // The connection cap is free for an ordinary request.
        let mut other = send(addr, b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let mut seen = String::new();
        read_until(&mut other, &mut seen, |s| s.ends_with("ok")).await;
        assert!(seen.starts_with("HTTP/1.1 200 "), "{seen}");
        drop(other);

        // A stream that ends frees its place.
        drop(first);
        tokio::time::timeout(DEADLINE, first_body.closed())
            .await
            .expect("the server lets go of the stream");
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let mut conn = send(addr, request).await;
            tokio::select! {
                body = streams.recv() => {
                    assert!(body.is_some());
                    break;
                }
                answer = closed(&mut conn) => {
                    let answer = String::from_utf8(answer).unwrap();
                    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
                }
            }
            assert!(tokio::time::Instant::now() < deadline, "still refused");
        }
    }
}
