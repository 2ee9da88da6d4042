//! The load generator behind `docs/performance.md`: our server and client measured against the
//! wire, the tools scripts use today, and nginx with nchan, side by side in one run.
//!
//! ```text
//! cargo bench --bench wire -- <scenario> [--option value]...
//! ```
//!
//! | scenario  | what it measures                                                                  |
//! | --------- | --------------------------------------------------------------------------------- |
//! | `client`  | events/s from a preloaded server to a pipe: `curl -N`, `curl \| sed \| jq`, `ctl watch -o json`, `ctl watch` (text); `ctl`'s peak RSS |
//! | `latency` | publish -> line written by `ctl watch -o json`, at a fixed rate                   |
//! | `ingest`  | durable ingest (SQLite on disk, one subscriber checking every event arrives)      |
//! | `replay`  | one subscriber catching up from the start of the log: ours and nchan              |
//! | `fanout`  | N subscribers on one app, events published open-loop at a fixed rate: ours and nchan |
//! | `idle`    | resident memory of the server holding N idle subscribers: `ctl server` and nchan  |
//! | `serve`   | no measurement: a server preloaded with N events, until stdin closes (for profiling `ctl` by hand) |
//!
//! Our server runs in this process (through [`AppState::ingest`], the server's own ingest
//! path) except for `idle`, where the real `ctl server` binary runs so that its memory can be
//! read on its own. nchan runs as a real nginx (`bench/nchan.conf`, installed by
//! `bench/setup.sh`) and is published to over HTTP. Everything is loopback only, bounded in
//! count and time, and every process started here is killed before the scenario returns.
//!
//! Events are ~250 bytes of JSON on the wire. Each carries `seq` (its position in the run) and
//! `sent_ns` (when it was published, or in `fanout` when it fell due, on this process's
//! monotonic clock), which is how
//! subscribers check order and completeness and how latency is measured. Their type is
//! `workflow.started`; `client` and `serve` take `--kind TYPE` to preload another (`ctl watch
//! -o json` parses types the tracker reads, such as `resource.active`, in full). Text output
//! is counted only for `workflow.*` types, whose lines show the marker.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use ctl::client::sse::{SseParser, SseRef};
use ctl::event::{Event, EventKind};
use ctl::server::auth::DEFAULT_TEAM;
use ctl::server::{AppState, ServerConfig};
use futures::StreamExt;
use tokio::sync::oneshot;

/// The app every benchmark event belongs to.
const APP: &str = "bench";
/// Appears once in every benchmark event, whatever the output format: what the pipe counters
/// look for.
const MARKER: &str = "deploy-bench";
/// Target size of one event's JSON on the wire.
const EVENT_BYTES: usize = 250;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() -> Res<()> {
    // reqwest is built without a crypto provider of its own; ctl installs ring.
    ctl::client::tls::install_crypto_provider();
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let Some(scenario) = args.next() else {
        eprintln!(
            "usage: cargo bench --bench wire -- <client|latency|ingest|replay|fanout|idle> [--option value]..."
        );
        return Ok(());
    };
    let opts = Opts::parse(args)?;
    raise_fd_limit();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match scenario.as_str() {
        "client" => rt.block_on(client(&opts)),
        "latency" => rt.block_on(latency(&opts)),
        "ingest" => rt.block_on(ingest(&opts)),
        "replay" => rt.block_on(replay(&opts)),
        "fanout" => rt.block_on(fanout(&opts)),
        "idle" => rt.block_on(idle(&opts)),
        "serve" => rt.block_on(serve(&opts)),
        other => Err(format!("unknown scenario {other:?}").into()),
    }
}

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

/// `--key value` pairs.
struct Opts(Vec<(String, String)>);

impl Opts {
    fn parse(mut args: impl Iterator<Item = String>) -> Res<Opts> {
        let mut out = Vec::new();
        while let Some(key) = args.next() {
            let Some(key) = key.strip_prefix("--") else {
                return Err(format!("expected --option, got {key:?}").into());
            };
            let value = args.next().ok_or(format!("--{key} needs a value"))?;
            out.push((key.to_owned(), value));
        }
        Ok(Opts(out))
    }

    fn str(&self, key: &str, default: &str) -> String {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map_or_else(|| default.to_owned(), |(_, v)| v.clone())
    }

    fn num(&self, key: &str, default: u64) -> Res<u64> {
        let text = self.str(key, &default.to_string()).replace('_', "");
        Ok(text.parse().map_err(|_| format!("--{key}: not a number"))?)
    }

    /// The `ctl` binary to measure (the release build by default).
    fn ctl(&self) -> PathBuf {
        PathBuf::from(self.str("ctl", "target/release/ctl"))
    }

    fn nchan_conf(&self) -> PathBuf {
        PathBuf::from(self.str("nchan-conf", "bench/nchan.conf"))
    }

    /// Whether to run the nchan side too (`--nchan no` skips it).
    fn with_nchan(&self) -> bool {
        self.str("nchan", "yes") != "no"
    }
}

/// 10,000 subscribers need more descriptors than the usual soft limit of 1,024.
fn raise_fd_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        let _ = setrlimit(Resource::Nofile, limit);
    }
}

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

/// The process's clock for `sent_ns`.
fn clock() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Padding that brings an event's stored JSON to [`EVENT_BYTES`].
fn padding() -> &'static str {
    static PAD: OnceLock<String> = OnceLock::new();
    PAD.get_or_init(|| {
        let mut probe = event_with(1_000_000, 1_000_000_000_000, "");
        probe.id = "1000000".to_owned();
        probe.timestamp = Some(chrono::Local::now().fixed_offset());
        let len = probe.to_json().len();
        "x".repeat(EVENT_BYTES.saturating_sub(len))
    })
}

fn event_with(seq: u64, sent_ns: u64, pad: &str) -> Event {
    Event::new(EventKind::WorkflowStarted, APP)
        .with_source("bench")
        .with("workflow_name", MARKER)
        .with("seq", seq)
        .with("sent_ns", sent_ns)
        .with("message", pad)
}

/// Benchmark event number `seq`, stamped now.
fn event(seq: u64) -> Event {
    event_with(seq, clock(), padding())
}

/// The same event as nchan's message body: the JSON our server would send, with a made-up id.
fn nchan_body(seq: u64, sent_ns: u64) -> String {
    let mut ev = event_with(seq, sent_ns, padding());
    ev.id = seq.to_string();
    ev.timestamp = Some(chrono::Local::now().fixed_offset());
    ev.to_json()
}

/// A numeric field of an event's JSON, found by text search (subscribers must be cheap): the
/// digits after `key` (given with its quotes, as a prebuilt finder) and a colon.
fn field(json: &str, key: &memchr::memmem::Finder<'_>) -> Option<u64> {
    let at = key.find(json.as_bytes())? + key.needle().len();
    let digits = json[at..].trim_start_matches([':', ' ']);
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// Finders for the `seq` and `sent_ns` fields, built once.
fn seq_finders() -> &'static (
    memchr::memmem::Finder<'static>,
    memchr::memmem::Finder<'static>,
) {
    static FINDERS: OnceLock<(
        memchr::memmem::Finder<'static>,
        memchr::memmem::Finder<'static>,
    )> = OnceLock::new();
    FINDERS.get_or_init(|| {
        (
            memchr::memmem::Finder::new("\"seq\""),
            memchr::memmem::Finder::new("\"sent_ns\""),
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Our server, in process
// ---------------------------------------------------------------------------------------------

struct Ours {
    state: AppState,
    url: String,
    stop: Option<oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<()>,
    _dir: Option<tempfile::TempDir>,
}

impl Ours {
    /// Starts the server; `durable` puts the store on disk (a temporary directory).
    async fn start(durable: bool) -> Res<Ours> {
        let dir = if durable {
            Some(tempfile::tempdir()?)
        } else {
            None
        };
        let mut config = ServerConfig::in_memory();
        config.data_dir = dir.as_ref().map(|d| d.path().to_path_buf());
        let state = AppState::open(config).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn({
            let state = state.clone();
            async move {
                let _ = ctl::server::serve(listener, state, async {
                    let _ = stopped.await;
                })
                .await;
            }
        });
        Ok(Ours {
            state,
            url: format!("http://{addr}"),
            stop: Some(stop),
            served,
            _dir: dir,
        })
    }

    /// Publishes events `from..=to` in batches of `batch`.
    async fn preload(&self, from: u64, to: u64, batch: u64) -> Res<()> {
        self.preload_as(from, to, batch, &EventKind::WorkflowStarted)
            .await
    }

    /// [`Ours::preload`] with events of type `kind`.
    async fn preload_as(&self, from: u64, to: u64, batch: u64, kind: &EventKind) -> Res<()> {
        let mut seq = from;
        while seq <= to {
            let end = (seq + batch - 1).min(to);
            let events = (seq..=end)
                .map(|seq| Event {
                    kind: kind.clone(),
                    ..event(seq)
                })
                .collect();
            self.state.ingest(DEFAULT_TEAM, events).await?;
            seq = end + 1;
        }
        Ok(())
    }

    /// The app's stream from the first event on.
    fn stream_url(&self) -> String {
        format!("{}/api/events/stream?app={APP}&since=0", self.url)
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = self.served.await;
    }
}

// ---------------------------------------------------------------------------------------------
// nchan, as a real nginx
// ---------------------------------------------------------------------------------------------

struct Nchan {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Nchan {
    async fn start(template: &Path) -> Res<Nchan> {
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let conf = std::fs::read_to_string(template)
            .map_err(|e| format!("{}: {e} (run bench/setup.sh)", template.display()))?
            .replace("@PORT@", &port.to_string())
            .replace("@DIR@", &dir.path().display().to_string());
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf)?;
        std::fs::create_dir_all(dir.path().join("logs"))?;
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(dir.path().join("logs/error.log"))
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start nginx: {e} (run bench/setup.sh)"))?;
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if http.get(format!("{url}/healthz")).send().await.is_ok() {
                break;
            }
            if Instant::now() > deadline {
                return Err("nginx did not start listening within 10 s".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Nchan {
            child,
            url,
            _dir: dir,
        })
    }

    fn pub_url(&self, channel: &str) -> String {
        format!("{}/pub/{channel}", self.url)
    }

    fn sub_url(&self, channel: &str) -> String {
        format!("{}/sub/{channel}", self.url)
    }

    /// Publishes messages `from..=to` over one keep-alive connection.
    async fn publish(&self, http: &reqwest::Client, channel: &str, from: u64, to: u64) -> Res<()> {
        let url = self.pub_url(channel);
        for seq in from..=to {
            let status = http
                .post(&url)
                .body(nchan_body(seq, clock()))
                .send()
                .await?
                .status();
            if !status.is_success() {
                return Err(format!("nchan publish: {status}").into());
            }
        }
        Ok(())
    }

    /// Resident memory of nginx: the master and its workers.
    fn rss_kib(&self) -> u64 {
        let master = self.child.id();
        let mut total = rss_kib(master).unwrap_or(0);
        for pid in children(master) {
            total += rss_kib(pid).unwrap_or(0);
        }
        total
    }
}

impl Drop for Nchan {
    /// SIGTERM, so the master stops its workers (a killed master would leave them running);
    /// if it has not exited within 5 s, the workers and the master are killed.
    fn drop(&mut self) {
        use rustix::process::{Pid, Signal, kill_process};
        let master = self.child.id();
        let workers = children(master);
        if let Some(pid) = Pid::from_raw(master as i32) {
            let _ = kill_process(pid, Signal::TERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        for worker in workers {
            if let Some(pid) = Pid::from_raw(worker as i32) {
                let _ = kill_process(pid, Signal::KILL);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago (for nginx, which cannot be handed a socket).
fn free_port() -> Res<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `VmRSS` of a process, in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The direct children of `pid`.
fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat"))
                .ok()
                .and_then(|stat| {
                    // `pid (comm) state ppid ...`; comm may hold spaces, so split after ')'.
                    let rest = &stat[stat.rfind(')')? + 1..];
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(pid)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Subscribers
// ---------------------------------------------------------------------------------------------

/// How a subscriber speaks HTTP.
#[derive(Clone)]
enum Transport {
    /// Through reqwest, as a client application would.
    Reqwest(reqwest::Client),
    /// A plain TCP connection: the request written by hand and the chunked body decoded here.
    /// A thousand of these on the server's machine take a good deal less of it than a thousand
    /// HTTP clients, and subscribers would be elsewhere in a real deployment.
    Raw,
}

/// A body stream of pieces of an event stream's body, as they arrive.
type Body = futures::stream::BoxStream<'static, Res<bytes::Bytes>>;

/// Opens the event stream at `url` (`http://` only for [`Transport::Raw`]); fails unless the
/// answer is 200.
async fn open_stream(http: &Transport, url: &str) -> Res<Body> {
    let http = match http {
        Transport::Reqwest(http) => http,
        Transport::Raw => return raw_stream(url).await,
    };
    let response = http
        .get(url)
        .header("Accept", "text/event-stream")
        .send()
        .await?;
    if !response.status().is_success() {
        return Err(format!("{url}: {}", response.status()).into());
    }
    Ok(response.bytes_stream().map(|r| Ok(r?)).boxed())
}

/// [`Transport::Raw`]: GET over a new connection, the head checked, the body decoded.
async fn raw_stream(url: &str) -> Res<Body> {
    use tokio::io::AsyncWriteExt;
    let rest = url
        .strip_prefix("http://")
        .ok_or("raw subscribers take http:// URLs")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut conn = tokio::net::TcpStream::connect(authority).await?;
    conn.set_nodelay(true)?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: text/event-stream\r\n\r\n");
    conn.write_all(request.as_bytes()).await?;
    let mut body = RawBody {
        conn,
        buf: bytes::BytesMut::new(),
        chunked: false,
        state: Chunk::Size,
    };
    let head_end = loop {
        if let Some(at) = memchr::memmem::find(&body.buf, b"\r\n\r\n") {
            break at + 4;
        }
        if !body.fill().await? {
            return Err(format!("{url}: closed before the response head").into());
        }
    };
    let head = String::from_utf8_lossy(&body.buf[..head_end]).to_ascii_lowercase();
    if !head.starts_with("http/1.1 200") {
        return Err(format!("{url}: {}", head.lines().next().unwrap_or_default()).into());
    }
    body.chunked = head.contains("\r\ntransfer-encoding: chunked\r\n");
    let _ = body.buf.split_to(head_end);
    Ok(futures::stream::unfold(body, |mut body| async move {
        body.next().await.transpose().map(|piece| (piece, body))
    })
    .boxed())
}

/// A response body read from a plain connection.
struct RawBody {
    conn: tokio::net::TcpStream,
    /// Read and not yet decoded.
    buf: bytes::BytesMut,
    chunked: bool,
    state: Chunk,
}

/// Where a chunked body's decoder is.
enum Chunk {
    /// Expecting a size line.
    Size,
    /// This many bytes of the current chunk still to come.
    Data(usize),
    /// Expecting the CRLF after a chunk's data.
    Crlf,
    /// The last chunk was read.
    Done,
}

impl RawBody {
    /// Reads more from the connection; false at its end.
    async fn fill(&mut self) -> Res<bool> {
        use tokio::io::AsyncReadExt;
        self.buf.reserve(64 * 1024);
        Ok(self.conn.read_buf(&mut self.buf).await? > 0)
    }

    /// The next piece of the body, `None` at its end.
    async fn next(&mut self) -> Res<Option<bytes::Bytes>> {
        loop {
            if !self.chunked && !self.buf.is_empty() {
                return Ok(Some(self.buf.split().freeze()));
            }
            while self.chunked {
                match self.state {
                    Chunk::Size => {
                        let Some(end) = memchr::memmem::find(&self.buf, b"\r\n") else {
                            break;
                        };
                        let line = self.buf.split_to(end + 2);
                        let size = line[..end].split(|&b| b == b';').next().unwrap_or_default();
                        let size = usize::from_str_radix(std::str::from_utf8(size)?.trim(), 16)?;
                        self.state = if size == 0 {
                            Chunk::Done
                        } else {
                            Chunk::Data(size)
                        };
                    }
                    Chunk::Data(_) if self.buf.is_empty() => break,
                    Chunk::Data(left) => {
                        let take = left.min(self.buf.len());
                        self.state = if take == left {
                            Chunk::Crlf
                        } else {
                            Chunk::Data(left - take)
                        };
                        return Ok(Some(self.buf.split_to(take).freeze()));
                    }
                    Chunk::Crlf if self.buf.len() < 2 => break,
                    Chunk::Crlf => {
                        let _ = self.buf.split_to(2);
                        self.state = Chunk::Size;
                    }
                    Chunk::Done => return Ok(None),
                }
            }
            if !self.fill().await? {
                return Ok(None);
            }
        }
    }
}

/// What one subscriber saw.
#[derive(Default)]
struct Seen {
    /// Benchmark events received (those with `seq >= first`).
    events: u64,
    /// Events that arrived out of order, twice, or after a gap.
    disorder: u64,
    /// Publish-to-receive times, in nanoseconds.
    latencies: Vec<u64>,
}

/// Reads an SSE stream until `want` benchmark events with `seq >= first` have arrived (or the
/// stream ends, or `deadline`), checking they come in order, once each. `ready` is counted
/// down when the response headers arrive.
async fn subscribe(
    http: Transport,
    url: String,
    first: u64,
    want: u64,
    ready: Arc<AtomicUsize>,
    deadline: Instant,
    measure: bool,
) -> Res<Seen> {
    let mut body = open_stream(&http, &url).await?;
    ready.fetch_sub(1, Ordering::SeqCst);
    let mut parser = SseParser::new();
    let mut seen = Seen::default();
    let mut next = first;
    let (seq_key, sent_key) = seq_finders();
    // One timer for the whole run, not one per chunk.
    let give_up = tokio::time::sleep_until(deadline.into());
    tokio::pin!(give_up);
    while seen.events < want {
        let chunk = tokio::select! {
            chunk = body.next() => chunk,
            () = &mut give_up => None,
        };
        let Some(chunk) = chunk else { break };
        let now = clock();
        parser.feed_with(&chunk?, |item| {
            let SseRef::Event { data, .. } = item else {
                return;
            };
            let Some(seq) = field(data, seq_key) else {
                return;
            };
            if seq < first {
                return;
            }
            if seq != next {
                seen.disorder += 1;
            }
            next = seq + 1;
            seen.events += 1;
            if measure {
                if let Some(sent) = field(data, sent_key) {
                    seen.latencies.push(now.saturating_sub(sent));
                }
            }
        });
    }
    Ok(seen)
}

// ---------------------------------------------------------------------------------------------
// Child processes writing to a pipe
// ---------------------------------------------------------------------------------------------

/// A contestant: a command line whose stdout is counted.
struct Run {
    /// Seconds until the last expected event was read from the pipe.
    secs: f64,
    /// Peak resident memory of the process, sampled every 20 ms (direct commands only).
    peak_rss_kib: Option<u64>,
    /// RSS samples: (events read so far, KiB).
    samples: Vec<(u64, u64)>,
}

/// Runs `argv` (a shell pipeline when `shell`), reads its stdout until [`MARKER`] has been
/// seen `want` times, then kills it (its whole process group).
fn run_piped(argv: &[String], shell: bool, want: u64) -> Res<Run> {
    use std::os::unix::process::CommandExt;
    let mut cmd = if shell {
        let mut c = Command::new("sh");
        c.arg("-c").arg(argv.join(" "));
        c
    } else {
        let mut c = Command::new(&argv[0]);
        c.args(&argv[1..]);
        c
    };
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0);
    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("{}: {e}", argv[0]))?;
    let pid = child.id();
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let counted = Arc::new(AtomicU64::new(0));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = (!shell).then(|| {
        let (counted, done) = (counted.clone(), done.clone());
        std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !done.load(Ordering::Relaxed) {
                if let Some(kib) = rss_kib(pid) {
                    samples.push((counted.load(Ordering::Relaxed), kib));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            samples
        })
    });
    let finder = memchr::memmem::Finder::new(MARKER.as_bytes());
    let mut buf = vec![0u8; 256 * 1024];
    let keep = MARKER.len() - 1;
    let mut filled = 0;
    let mut found = 0u64;
    let result = loop {
        let n = match stdout.read(&mut buf[filled..]) {
            Ok(0) => break Err(format!("{} ended after {found} of {want} events", argv[0])),
            Ok(n) => n,
            Err(e) => break Err(e.to_string()),
        };
        let end = filled + n;
        found += finder.find_iter(&buf[..end]).count() as u64;
        counted.store(found, Ordering::Relaxed);
        if found >= want {
            break Ok(start.elapsed());
        }
        // Keep the tail that could be the start of a marker split across reads.
        let tail = end.saturating_sub(keep);
        buf.copy_within(tail..end, 0);
        filled = end - tail;
        // The kept bytes hold no complete marker, so they are not counted twice.
    };
    let _ = rustix::process::kill_process_group(
        rustix::process::Pid::from_raw(pid as i32).ok_or("bad pid")?,
        rustix::process::Signal::KILL,
    );
    let _ = child.wait();
    done.store(true, Ordering::Relaxed);
    let samples = sampler
        .map(|s| s.join().unwrap_or_default())
        .unwrap_or_default();
    let elapsed = result?;
    Ok(Run {
        secs: elapsed.as_secs_f64(),
        peak_rss_kib: samples.iter().map(|s| s.1).max(),
        samples,
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let at = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[at] as f64 / 1e6
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

/// Client throughput into a pipe, and the client's memory over a long watch.
async fn client(opts: &Opts) -> Res<()> {
    let events = opts.num("events", 1_000_000)?;
    let runs = opts.num("runs", 3)?;
    let only = opts.str("only", "");
    let kind = EventKind::parse(&opts.str("kind", "workflow.started"));
    let ctl = opts.ctl().display().to_string();
    let ours = Ours::start(false).await?;
    let started = Instant::now();
    ours.preload_as(1, events, 1000, &kind).await?;
    eprintln!(
        "preloaded {events} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let url = ours.stream_url();
    let contestants: Vec<(&str, Vec<String>, bool)> = vec![
        (
            "curl -N (the wire)",
            vec![
                "curl".into(),
                "-sN".into(),
                "-H".into(),
                "Accept: text/event-stream".into(),
                url.clone(),
            ],
            false,
        ),
        (
            // What a script does today: jq picks the `data:` lines out of the raw stream.
            // `--unbuffered`, because a live stream never ends and jq would otherwise hold
            // its last lines back.
            "curl -N | jq",
            vec![
                "curl".into(),
                "-sN".into(),
                "-H".into(),
                "'Accept: text/event-stream'".into(),
                format!("'{url}'"),
                "|".into(),
                "jq".into(),
                "-cR".into(),
                "--unbuffered".into(),
                "'select(startswith(\"data: \")) | .[6:] | fromjson'".into(),
            ],
            true,
        ),
        (
            "ctl watch -o json",
            [
                &ctl, "watch", APP, "--since", "0", "-o", "json", "--server", &ours.url,
            ]
            .map(String::from)
            .to_vec(),
            false,
        ),
        (
            "ctl watch (text)",
            [&ctl, "watch", APP, "--since", "0", "--server", &ours.url]
                .map(String::from)
                .to_vec(),
            false,
        ),
    ];
    println!(
        "client: {events} {kind} events of ~{EVENT_BYTES} bytes, preloaded; median of {runs} runs"
    );
    println!(
        "{:<26} {:>12} {:>10} {:>14}",
        "command", "events/s", "seconds", "peak RSS MiB"
    );
    for (name, argv, shell) in contestants {
        if !only.is_empty() && !name.contains(&only) {
            continue;
        }
        // Events are counted by the marker in `workflow_name`, which a text line shows only
        // for `workflow.*` types.
        if name.contains("(text)") && !kind.as_str().starts_with("workflow.") {
            println!("{name:<26} (skipped: text lines of {kind} do not show the marker)");
            continue;
        }
        let mut secs = Vec::new();
        let mut peak = None;
        let mut last = None;
        for _ in 0..runs {
            let run = run_piped(&argv, shell, events)?;
            secs.push(run.secs);
            peak = peak.max(run.peak_rss_kib);
            last = Some(run);
        }
        let secs = median(secs);
        let rss = peak.map_or("-".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0));
        println!(
            "{name:<26} {:>12.0} {secs:>10.2} {rss:>14}",
            events as f64 / secs
        );
        let samples = last.map(|run| run.samples).unwrap_or_default();
        if opts.str("samples", "no") == "yes" && !samples.is_empty() {
            // Ten evenly spaced samples show whether memory stays flat.
            let step = (samples.len() / 10).max(1);
            let line: Vec<String> = samples
                .iter()
                .step_by(step)
                .map(|(n, kib)| format!("{n}:{:.1}", *kib as f64 / 1024.0))
                .collect();
            println!("    RSS MiB by events read: {}", line.join("  "));
        }
    }
    ours.stop().await;
    Ok(())
}

/// A preloaded server held open for profiling the client by hand.
async fn serve(opts: &Opts) -> Res<()> {
    let events = opts.num("events", 1_000_000)?;
    let kind = EventKind::parse(&opts.str("kind", "workflow.started"));
    let ours = Ours::start(false).await?;
    ours.preload_as(1, events, 1000, &kind).await?;
    println!("{}", ours.url);
    eprintln!(
        "{events} events stored for app {APP:?}; e.g. ctl watch {APP} --since 0 -o json --server {}; close stdin to stop",
        ours.url
    );
    tokio::task::spawn_blocking(|| {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
    })
    .await?;
    ours.stop().await;
    Ok(())
}

/// Publish -> line written by `ctl watch -o json`, at `--rate` events/s for `--seconds`.
async fn latency(opts: &Opts) -> Res<()> {
    let rate = opts.num("rate", 1000)?;
    let seconds = opts.num("seconds", 10)?;
    let total = rate * seconds;
    let ours = Ours::start(true).await?;
    let mut child = Command::new(opts.ctl())
        .args(["watch", APP, "-o", "json", "--server", &ours.url])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    // The reader stamps each line as it arrives; warm-up events (seq 0) say it is connected.
    let (lines_tx, mut lines_rx) = tokio::sync::mpsc::unbounded_channel::<(u64, u64)>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let now = clock();
            if let (Some(seq), Some(sent)) = (
                field(&line, &seq_finders().0),
                field(&line, &seq_finders().1),
            ) {
                if lines_tx.send((seq, now.saturating_sub(sent))).is_err() {
                    break;
                }
            }
        }
    });
    // Warm up until `ctl` shows an event: its stream is then open.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        ours.state.ingest(DEFAULT_TEAM, vec![event(0)]).await?;
        if let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(100), lines_rx.recv()).await
        {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err("ctl watch showed nothing within 10 s".into());
        }
    }
    while lines_rx.try_recv().is_ok() {}
    let start = tokio::time::Instant::now();
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let publisher = {
        let state = ours.state.clone();
        tokio::spawn(async move {
            for seq in 1..=total {
                tokio::time::sleep_until(start + period * (seq as u32 - 1)).await;
                state.ingest(DEFAULT_TEAM, vec![event(seq)]).await?;
            }
            Res::Ok(())
        })
    };
    let mut latencies = Vec::with_capacity(total as usize);
    let mut disorder = 0;
    let mut next = 1;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds + 30);
    while (latencies.len() as u64) < total {
        match tokio::time::timeout_at(deadline, lines_rx.recv()).await {
            Ok(Some((seq, ns))) if seq >= 1 => {
                if seq != next {
                    disorder += 1;
                }
                next = seq + 1;
                latencies.push(ns);
            }
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    publisher.await??;
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    ours.stop().await;
    latencies.sort_unstable();
    println!(
        "latency: {rate} events/s for {seconds} s, publish -> line read from `ctl watch -o json`'s stdout"
    );
    println!(
        "received {}/{total}, out of order {disorder}; ms p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.9),
        percentile(&latencies, 0.99),
        percentile(&latencies, 0.999),
        percentile(&latencies, 1.0),
    );
    Ok(())
}

/// Durable ingest: events stored (SQLite on disk) and broadcast, one subscriber checking that
/// each arrives once, in order.
async fn ingest(opts: &Opts) -> Res<()> {
    let events = opts.num("events", 200_000)?;
    let batches: Vec<u64> = opts
        .str("batches", "1,100,1000")
        .split(',')
        .map(|b| b.trim().parse::<u64>().map_err(|_| "--batches: numbers"))
        .collect::<Result<_, _>>()?;
    println!("ingest: {events} events of ~{EVENT_BYTES} bytes per run, SQLite on disk (WAL)");
    println!(
        "{:<12} {:>12} {:>10} {:>22}",
        "batch", "events/s", "seconds", "subscriber received"
    );
    for batch in batches {
        let ours = Ours::start(true).await?;
        let http = reqwest::Client::new();
        let ready = Arc::new(AtomicUsize::new(1));
        let deadline = Instant::now() + Duration::from_secs(300);
        let sub = tokio::spawn(subscribe(
            Transport::Reqwest(http),
            format!("{}/api/events/stream?app={APP}", ours.url),
            1,
            events,
            ready.clone(),
            deadline,
            false,
        ));
        wait_zero(&ready).await?;
        let start = Instant::now();
        if batch == 1 {
            // Callers one event at a time, as many as the server's CPU can serve.
            let next = Arc::new(AtomicU64::new(1));
            let mut tasks = Vec::new();
            for _ in 0..64 {
                let (state, next) = (ours.state.clone(), next.clone());
                tasks.push(tokio::spawn(async move {
                    loop {
                        let seq = next.fetch_add(1, Ordering::Relaxed);
                        if seq > events {
                            return Res::Ok(());
                        }
                        state.ingest(DEFAULT_TEAM, vec![event(seq)]).await?;
                    }
                }));
            }
            for t in tasks {
                t.await??;
            }
        } else {
            ours.preload(1, events, batch).await?;
        }
        let secs = start.elapsed().as_secs_f64();
        let seen = sub.await??;
        // Concurrent single-event callers commit in any order: count, don't check order.
        let label = if batch == 1 {
            "1 (64 callers)".to_owned()
        } else {
            batch.to_string()
        };
        println!(
            "{label:<12} {:>12.0} {secs:>10.2} {:>22}",
            events as f64 / secs,
            format!(
                "{}/{events}{}",
                seen.events,
                if batch > 1 && seen.disorder > 0 {
                    " (disordered!)"
                } else {
                    ""
                }
            )
        );
        ours.stop().await;
    }
    Ok(())
}

/// One subscriber replaying the whole log: ours (SQLite on disk) and nchan (its memory store).
async fn replay(opts: &Opts) -> Res<()> {
    let events = opts.num("events", 500_000)?;
    let runs = opts.num("runs", 3)?;
    println!(
        "replay: one subscriber reads {events} stored events of ~{EVENT_BYTES} bytes; median of {runs} runs"
    );
    println!("{:<28} {:>12} {:>10}", "server", "events/s", "seconds");
    let http = reqwest::Client::new();
    replay_ours(&http, events, runs).await?;
    if opts.with_nchan() {
        // nchan finds each next message of a replay by walking its list from the newest, so a
        // replay costs O(n^2): its run is smaller (--nchan-events), and ours is repeated at the
        // same size for a like-for-like row.
        let small = opts.num("nchan-events", 20_000)?;
        replay_ours(&http, small, runs).await?;
        let nchan = Nchan::start(&opts.nchan_conf()).await?;
        let start = Instant::now();
        nchan.publish(&http, "replay", 1, small).await?;
        let publish = start.elapsed().as_secs_f64();
        let secs = replay_runs(&http, &nchan.sub_url("replay"), small, runs).await?;
        println!(
            "{:<28} {:>12.0} {secs:>10.2}",
            format!("nginx + nchan ({small})"),
            small as f64 / secs
        );
        println!(
            "(nchan accepted the {small} messages over one HTTP connection at {:.0}/s)",
            small as f64 / publish
        );
    }
    Ok(())
}

/// One row of the replay table for our server: `events` stored on disk, then replayed.
async fn replay_ours(http: &reqwest::Client, events: u64, runs: u64) -> Res<()> {
    let ours = Ours::start(true).await?;
    ours.preload(1, events, 1000).await?;
    let secs = replay_runs(http, &ours.stream_url(), events, runs).await?;
    println!(
        "{:<28} {:>12.0} {secs:>10.2}",
        format!("ctl server ({events})"),
        events as f64 / secs
    );
    ours.stop().await;
    Ok(())
}

async fn replay_runs(http: &reqwest::Client, url: &str, events: u64, runs: u64) -> Res<f64> {
    let mut secs = Vec::new();
    for _ in 0..runs {
        let ready = Arc::new(AtomicUsize::new(1));
        let start = Instant::now();
        let seen = subscribe(
            Transport::Reqwest(http.clone()),
            url.to_owned(),
            1,
            events,
            ready,
            Instant::now() + Duration::from_secs(600),
            false,
        )
        .await?;
        secs.push(start.elapsed().as_secs_f64());
        if seen.events != events || seen.disorder != 0 {
            return Err(format!(
                "{url}: replay delivered {} of {events}, {} out of order",
                seen.events, seen.disorder
            )
            .into());
        }
    }
    Ok(median(secs))
}

/// Resolves when `counter` reaches zero (every subscriber connected), or fails after 60 s.
async fn wait_zero(counter: &AtomicUsize) -> Res<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while counter.load(Ordering::SeqCst) > 0 {
        if Instant::now() > deadline {
            return Err(format!(
                "{} subscribers still not connected after 60 s",
                counter.load(Ordering::SeqCst)
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// `--subscribers` on one app, `--rate` events/s published for `--seconds`.
async fn fanout(opts: &Opts) -> Res<()> {
    let subscribers = opts.num("subscribers", 1000)? as usize;
    let rate = opts.num("rate", 1000)?;
    let seconds = opts.num("seconds", 10)?;
    println!(
        "fan-out: {subscribers} subscribers on one app, {rate} events/s published for {seconds} s"
    );
    println!(
        "{:<16} {:>22} {:>9} {:>9} {:>9} {:>9} {:>10}",
        "server", "delivered", "p50 ms", "p90 ms", "p99 ms", "max ms", "publish/s"
    );
    let ours = Ours::start(true).await?;
    let publish = {
        let state = ours.state.clone();
        move |due: Vec<(u64, u64)>| {
            let state = state.clone();
            async move {
                let events = due
                    .into_iter()
                    .map(|(seq, sent_ns)| event_with(seq, sent_ns, padding()))
                    .collect();
                state.ingest(DEFAULT_TEAM, events).await?;
                Res::Ok(())
            }
        }
    };
    let url = format!("{}/api/events/stream?app={APP}", ours.url);
    fanout_run("ctl server", &url, subscribers, rate, seconds, publish).await?;
    ours.stop().await;
    if opts.with_nchan() {
        let nchan = Nchan::start(&opts.nchan_conf()).await?;
        let http = reqwest::Client::new();
        let pub_url = nchan.pub_url("fanout");
        // nchan takes one message per request, so events that fall due together are posted
        // one after another.
        let publish = move |due: Vec<(u64, u64)>| {
            let (http, pub_url) = (http.clone(), pub_url.clone());
            async move {
                for (seq, sent_ns) in due {
                    let status = http
                        .post(&pub_url)
                        .body(nchan_body(seq, sent_ns))
                        .send()
                        .await?
                        .status();
                    if !status.is_success() {
                        return Err(format!("nchan publish: {status}").into());
                    }
                }
                Res::Ok(())
            }
        };
        let url = nchan.sub_url("fanout");
        fanout_run("nginx + nchan", &url, subscribers, rate, seconds, publish).await?;
    }
    Ok(())
}

async fn fanout_run<F, Fut>(
    name: &str,
    url: &str,
    subscribers: usize,
    rate: u64,
    seconds: u64,
    publish: F,
) -> Res<()>
where
    F: Fn(Vec<(u64, u64)>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Res<()>> + Send,
{
    let total = rate * seconds;
    // One connection per subscriber, as separate clients would have.
    let ready = Arc::new(AtomicUsize::new(subscribers));
    let deadline = Instant::now() + Duration::from_secs(seconds + 120);
    let mut subs = Vec::with_capacity(subscribers);
    for _ in 0..subscribers {
        subs.push(tokio::spawn(subscribe(
            Transport::Raw,
            url.to_owned(),
            1,
            total,
            ready.clone(),
            deadline,
            true,
        )));
    }
    wait_zero(&ready).await?;
    // Headers are not proof that the subscription is live everywhere: publish warm-up events
    // (seq 0, ignored by subscribers) for a moment first.
    for _ in 0..10 {
        publish(vec![(0, clock())]).await?;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Open loop: event `seq` falls due at its own time whatever became of the ones before it,
    // and its latency is counted from then. A publisher running late publishes everything
    // already due as one batch, in order, so a slow server cannot slow the schedule down and
    // hide its own delay from the figures. The publisher has a thread of its own, as the
    // producer of events would: on the subscribers' runtime it would wait behind their tasks.
    let start = tokio::time::Instant::now();
    let start_ns = clock();
    let period_ns = 1_000_000_000 / rate;
    let due_at = move |seq: u64| start_ns + (seq - 1) * period_ns;
    let publisher = tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async move {
            let mut next = 1;
            while next <= total {
                tokio::time::sleep_until(start + Duration::from_nanos(due_at(next) - start_ns))
                    .await;
                let now = clock();
                let last = (next..=total)
                    .take_while(|&seq| due_at(seq) <= now)
                    .last()
                    .unwrap_or(next);
                publish((next..=last).map(|seq| (seq, due_at(seq))).collect()).await?;
                next = last + 1;
            }
            Res::Ok(start.elapsed().as_secs_f64())
        })
    });
    let published_in = publisher.await??;
    let mut delivered = 0u64;
    let mut disorder = 0u64;
    let mut latencies = Vec::with_capacity(subscribers * total as usize);
    for sub in subs {
        let seen = sub.await??;
        delivered += seen.events;
        disorder += seen.disorder;
        latencies.extend(seen.latencies);
    }
    latencies.sort_unstable();
    let expected = total * subscribers as u64;
    println!(
        "{name:<16} {:>22} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>10.0}",
        format!(
            "{delivered}/{expected}{}",
            if disorder > 0 { " (disordered)" } else { "" }
        ),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.9),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0),
        total as f64 / published_in,
    );
    Ok(())
}

/// Resident memory of a server holding `--subscribers` idle event streams.
async fn idle(opts: &Opts) -> Res<()> {
    let subscribers = opts.num("subscribers", 10_000)? as usize;
    println!("idle: {subscribers} idle subscribers held open; server resident memory");
    println!(
        "{:<16} {:>14} {:>14} {:>18}",
        "server", "before MiB", "holding MiB", "KiB per subscriber"
    );
    // The real binary, so that its memory is its own.
    let mut server = Command::new(opts.ctl())
        .args(["server", "--in-memory", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = server.stderr.take().ok_or("no stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let addr: SocketAddr = loop {
        let line = lines.next().ok_or("ctl server exited before listening")??;
        if let Some(addr) = line.split("listening on http://").nth(1) {
            break addr.trim().parse()?;
        }
    };
    // Keep draining stderr so the server never blocks on it.
    std::thread::spawn(move || for _ in lines {});
    let pid = server.id();
    let result = idle_run(
        "ctl server",
        &format!("http://{addr}/api/events/stream?app={APP}"),
        subscribers,
        || rss_kib(pid).unwrap_or(0),
    )
    .await;
    let _ = server.kill();
    let _ = server.wait();
    result?;
    if opts.with_nchan() {
        let nchan = Nchan::start(&opts.nchan_conf()).await?;
        let url = nchan.sub_url("idle");
        idle_run("nginx + nchan", &url, subscribers, || nchan.rss_kib()).await?;
    }
    Ok(())
}

async fn idle_run(name: &str, url: &str, subscribers: usize, rss: impl Fn() -> u64) -> Res<()> {
    let before = rss();
    let ready = Arc::new(AtomicUsize::new(subscribers));
    let stop = Arc::new(tokio::sync::Notify::new());
    let errors = Arc::new(Mutex::new(Vec::new()));
    let mut held = Vec::with_capacity(subscribers);
    for _ in 0..subscribers {
        let (url, ready, stop, errors) =
            (url.to_owned(), ready.clone(), stop.clone(), errors.clone());
        held.push(tokio::spawn(async move {
            let http = match reqwest::Client::builder().http1_only().build() {
                Ok(h) => h,
                Err(e) => {
                    return errors
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(e.to_string());
                }
            };
            match http
                .get(&url)
                .header("Accept", "text/event-stream")
                .send()
                .await
            {
                Ok(response) if response.status().is_success() => {
                    ready.fetch_sub(1, Ordering::SeqCst);
                    // Hold the stream open (reading whatever keep-alives come) until told.
                    let mut body = response.bytes_stream();
                    loop {
                        tokio::select! {
                            () = stop.notified() => break,
                            chunk = body.next() => if chunk.is_none() { break },
                        }
                    }
                }
                Ok(response) => errors
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(response.status().to_string()),
                Err(e) => errors
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(e.to_string()),
            }
        }));
    }
    let connected = wait_zero(&ready).await;
    // Let the server settle (buffers allocated on first write are part of holding a stream).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let holding = rss();
    stop.notify_waiters();
    for h in held {
        h.abort();
    }
    if let Err(e) = connected {
        let errors = errors.lock().unwrap_or_else(|p| p.into_inner());
        return Err(format!("{e}; first errors: {:?}", &errors[..errors.len().min(3)]).into());
    }
    println!(
        "{name:<16} {:>14.1} {:>14.1} {:>18.1}",
        before as f64 / 1024.0,
        holding as f64 / 1024.0,
        holding.saturating_sub(before) as f64 / subscribers as f64
    );
    Ok(())
}
