//! `ctl server`: run the bundled reference server until Ctrl-C or SIGTERM.
//!
//! Owns the command line of the server and the process-level concerns: the multi-thread
//! runtime, logging to stderr, signals, and the readiness line. Everything else is
//! [`crate::server`]. This module must never print to stdout, and never print or log an API key
//! (keys travel as [`ApiKey`], whose `Debug` is redacted, and clap never echoes them because
//! they are validated after parsing).

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::server::auth::DEFAULT_TEAM;
use crate::server::{
    self, ApiKey, AppState, Catalogue, KeyRing, OpenFileLimit, ServerConfig, ServerError, ServerTls,
};

/// Run the bundled reference platform server.
///
/// It speaks the innominatus API plus event ids, resume, terminal events and deployment ids
/// (PROTOCOL.md Part B). Logs go to stderr; set RUST_LOG (e.g. `debug`, `ctl=trace`) to change
/// the level.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Address to listen on (HOST:PORT). Port 0 picks a free port; the address actually bound
    /// is printed to stderr as `listening on http://ADDR` (`https://` with --tls-cert).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8081")]
    pub listen: String,

    /// Directory of the server's database [default: the per-user data directory, e.g.
    /// ~/.local/share/ctl].
    #[arg(long, value_name = "DIR", conflicts_with = "in_memory")]
    pub data_dir: Option<PathBuf>,

    /// Keep everything in memory; nothing survives a restart.
    #[arg(long)]
    pub in_memory: bool,

    /// Provider catalogue (YAML) to use instead of the built-in one.
    #[arg(long, value_name = "FILE")]
    pub providers: Option<PathBuf>,

    /// API key for team `default` (repeatable). Without any key the server accepts every
    /// same-origin request and listens on loopback addresses only. (`--api-key` is the
    /// client's option.)
    #[arg(
        long = "key",
        value_name = "KEY",
        env = "CTL_SERVER_API_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub api_keys: Vec<ApiKey>,

    /// YAML file of API keys and their teams: `keys: [{key: KEY, team: TEAM}, ...]`. A team
    /// sees and deploys only its own applications.
    #[arg(long, value_name = "FILE")]
    pub api_keys_file: Option<PathBuf>,

    /// Interval of keep-alive comments on event streams (e.g. 15s, 500ms).
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = parse_interval)]
    pub keepalive: Duration,

    /// Keep at most N events, deleting the oldest. A stream resuming from before the oldest
    /// kept event gets one `stream.gap` event.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub retention: Option<u64>,

    /// Serve HTTPS with this PEM certificate chain (the server's certificate first); needs
    /// --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// A connection must send a whole request head within this time of connecting (after the
    /// TLS handshake), and a kept-alive one within this time of its previous response;
    /// otherwise it is closed.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_interval)]
    pub header_timeout: Duration,

    /// A request body must arrive whole within this time of its head; a slower one is
    /// answered 408 and its connection closed.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_interval)]
    pub body_timeout: Duration,

    /// At most N open connections that are not event streams; more are answered 503 and
    /// closed at once. Lowered, with a warning, to fit the open-file limit.
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = parse_count)]
    pub max_connections: usize,

    /// At most N event streams at once; more are answered 503. Lowered, with a warning, to fit
    /// the open-file limit.
    #[arg(long, value_name = "N", default_value_t = 16384, value_parser = parse_count)]
    pub max_streams: usize,
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if d.is_zero() => Err("must be greater than zero".to_owned()),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}

fn parse_count(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

impl ServerArgs {
    /// The TLS set-up `--tls-cert` and `--tls-key` describe, if given.
    pub fn tls(&self) -> Result<Option<ServerTls>, ServerError> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => ServerTls::from_pem_files(cert, key).map(Some),
            // clap requires both or neither.
            _ => Ok(None),
        }
    }

    /// Turns the arguments into a server configuration: reads the catalogue and the keys file
    /// and resolves the data directory.
    pub fn config(&self) -> Result<ServerConfig, ServerError> {
        let mut keys = KeyRing::new();
        for (i, key) in self.api_keys.iter().enumerate() {
            keys.insert(key, DEFAULT_TEAM, "--key/CTL_SERVER_API_KEYS", i + 1)?;
        }
        if let Some(path) = &self.api_keys_file {
            keys.add_file(path)?;
        }
        let catalogue = match &self.providers {
            Some(path) => Catalogue::load(path)?,
            None => Catalogue::builtin(),
        };
        let data_dir = if self.in_memory {
            None
        } else {
            match &self.data_dir {
                Some(dir) => Some(dir.clone()),
                None => Some(
                    dirs::data_dir()
                        .map(|d| d.join("ctl"))
                        .ok_or(ServerError::NoDataDir)?,
                ),
            }
        };
        Ok(ServerConfig {
            data_dir,
            catalogue: Arc::new(catalogue),
            keys,
            keepalive: self.keepalive,
            retention: self.retention,
            header_timeout: self.header_timeout,
            body_timeout: self.body_timeout,
            max_connections: self.max_connections,
            max_streams: self.max_streams,
            ..ServerConfig::in_memory()
        })
    }
}

/// The readiness line printed to stderr once the server accepts requests.
///
/// INTERFACE: tests and scripts read this exact line (`listening on http://ADDR`, or
/// `https://ADDR` over TLS, ADDR the address actually bound, so `--listen 127.0.0.1:0` reveals
/// the port) to learn where the server is and that it is ready. Do not change its wording.
pub fn readiness_line(addr: SocketAddr, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    format!("listening on {scheme}://{addr}")
}

/// Runs `ctl server`: builds a multi-thread runtime, logs to stderr, binds, prints the
/// readiness line and serves until Ctrl-C or SIGTERM.
pub fn run(args: ServerArgs) -> Result<(), ServerError> {
    init_tracing();
    // Before anything opens a file: the connection caps are fitted to this limit.
    match server::raise_open_file_limit() {
        Ok(OpenFileLimit::Raised { from, to }) => {
            let show = |n: Option<u64>| n.map_or("unlimited".to_owned(), |n| n.to_string());
            tracing::debug!("open-file limit raised from {} to {}", show(from), show(to));
        }
        Ok(OpenFileLimit::Unchanged(_)) => {}
        Err(e) => tracing::warn!("cannot raise the open-file limit: {e}"),
    }
    let tls = args.tls_cert.is_some();
    run_until(args, shutdown_signal(), |addr| {
        // Not `eprintln!`, which panics when stderr is gone.
        let _ = writeln!(
            LogWriter(std::io::stderr()),
            "{}",
            readiness_line(addr, tls)
        );
    })
}

/// [`run`] with the shutdown trigger and the readiness announcement given by the caller.
fn run_until(
    args: ServerArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ServerError> {
    let config = args.config()?;
    // Read before binding, so a bad certificate is reported without a port ever opening.
    let tls = args.tls()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ctl-server")
        .build()?;
    runtime.block_on(async move {
        let listener =
            TcpListener::bind(&args.listen)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: args.listen.clone(),
                    source,
                })?;
        let addr: SocketAddr = listener.local_addr()?;
        server::check_exposure(addr, &config.keys)?;
        match &config.data_dir {
            Some(dir) => tracing::info!(data_dir = %dir.display(), "opening store"),
            None => tracing::info!("in-memory store: nothing survives a restart"),
        }
        if config.keys.is_empty() {
            tracing::warn!("no API keys configured: open access (loopback only)");
        } else {
            tracing::info!(keys = config.keys.len(), "API key authentication enabled");
        }
        let state = AppState::open(config).await?;
        // Announced only once the store is open, so "ready" means requests will be served.
        ready(addr);
        server::serve_with_tls(listener, state, tls, shutdown).await
    })
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Logs go to stderr: stdout belongs to data output. `try_init` because an embedding
    // process (or a test) may have installed a subscriber already.
    // Colour only on a terminal, and never under NO_COLOR: `ctl server 2> log` must leave a
    // plain log file, not one full of escape codes.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(|| LogWriter(std::io::stderr()))
        // On a failed write the subscriber would report it with `eprintln!`, which panics
        // when stderr is the thing that failed.
        .log_internal_errors(false)
        .try_init();
}

/// Stderr for log lines, where a failed write is dropped silently.
///
/// A log line is never worth a request: when stderr is gone (`ctl server 2>&1 | head -3`, a
/// closed terminal), writes fail with EPIPE, and a writer that reports that (or a caller
/// that panics on it, as `eprintln!` does) would fail whatever request or shutdown step was
/// logging. tracing-subscriber has no writer with this behaviour, hence these few lines.
struct LogWriter<W>(W);

impl<W: Write> Write for LogWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // Claimed as written either way, so `write_all` does not retry or report.
        let _ = self.0.write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = self.0.flush();
        Ok(())
    }
}

/// Resolves on Ctrl-C or SIGTERM (what `docker stop` and systemd send).
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            // Cannot listen for Ctrl-C: rely on SIGTERM alone.
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Harness {
        #[command(flatten)]
        args: ServerArgs,
    }

    fn parse(argv: &[&str]) -> Result<ServerArgs, clap::Error> {
        let mut full = vec!["ctl-server"];
        full.extend_from_slice(argv);
        Harness::try_parse_from(full).map(|h| h.args)
    }

    #[test]
    fn defaults() {
        let args = parse(&["--in-memory"]).unwrap();
        assert_eq!(args.listen, "127.0.0.1:8081");
        assert_eq!(args.keepalive, Duration::from_secs(15));
        let config = args.config().unwrap();
        let builtin = ServerConfig::in_memory();
        assert_eq!(config.header_timeout, builtin.header_timeout);
        assert_eq!(config.body_timeout, builtin.body_timeout);
        assert_eq!(config.max_connections, builtin.max_connections);
        assert_eq!(config.max_streams, builtin.max_streams);
        assert!(config.data_dir.is_none());
        assert!(config.keys.is_empty());
    }

    #[test]
    fn keys_are_redacted_and_grouped_under_default() {
        let args = parse(&["--in-memory", "--key", "k1-secret", "--key", "k2"]).unwrap();
        assert!(!format!("{args:?}").contains("k1-secret"));
        let config = args.config().unwrap();
        assert_eq!(config.keys.team_for("k1-secret"), Some(DEFAULT_TEAM));
        assert_eq!(config.keys.len(), 2);
    }

    #[test]
    fn a_bad_key_is_reported_without_its_value() {
        let args = parse(&["--in-memory", "--key", "bad key"]).unwrap();
        let err = args.config().unwrap_err().to_string();
        assert!(!err.contains("bad key"), "{err}");
        assert!(err.contains("#1"), "{err}");
    }

    #[test]
    fn limits_are_settings() {
        let args = parse(&[
            "--header-timeout",
            "3s",
            "--body-timeout",
            "4s",
            "--max-connections",
            "7",
            "--max-streams",
            "9",
        ])
        .unwrap();
        let config = args.config().unwrap();
        assert_eq!(config.header_timeout, Duration::from_secs(3));
        assert_eq!(config.body_timeout, Duration::from_secs(4));
        assert_eq!((config.max_connections, config.max_streams), (7, 9));
        for zero in [
            &["--header-timeout", "0s"][..],
            &["--body-timeout", "0s"],
            &["--max-connections", "0"],
            &["--max-streams", "0"],
        ] {
            assert!(parse(zero).is_err(), "{zero:?}");
        }
    }

    #[test]
    fn zero_keepalive_and_zero_retention_are_rejected() {
        assert!(parse(&["--keepalive", "0s"]).is_err());
        assert!(parse(&["--retention", "0"]).is_err());
        assert!(parse(&["--data-dir", "/x", "--in-memory"]).is_err());
    }

    #[test]
    fn serves_until_shutdown_after_announcing_the_bound_address() {
        let deadline = Duration::from_secs(15);
        let args = parse(&["--in-memory", "--listen", "127.0.0.1:0"]).unwrap();
        let (announced, addr) = std::sync::mpsc::channel();
        let (done, result) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let shutdown = async {
                let _ = stopped.await;
            };
            let _ = done.send(run_until(args, shutdown, move |addr| {
                let _ = announced.send(addr);
            }));
        });
        let addr = addr
            .recv_timeout(deadline)
            .expect("the server announces itself");
        assert_ne!(addr.port(), 0);
        assert_eq!(
            readiness_line(addr, false),
            format!("listening on http://{addr}")
        );
        crate::client::tls::install_crypto_provider();
        let client = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let health = client.block_on(async {
            let response = reqwest::get(format!("http://{addr}/healthz"))
                .await
                .unwrap();
            response.text().await.unwrap()
        });
        assert_eq!(health, "ok");
        stop.send(()).unwrap();
        result.recv_timeout(deadline).expect("run returns").unwrap();
    }

    #[test]
    fn refuses_open_access_on_a_public_address_before_announcing() {
        let args = parse(&["--in-memory", "--listen", "0.0.0.0:0"]).unwrap();
        let mut announced = false;
        let err = run_until(args, std::future::pending(), |_| announced = true).unwrap_err();
        assert!(matches!(err, ServerError::OpenAccess { .. }), "{err}");
        assert!(!announced);
    }

    #[test]
    fn log_lines_to_a_closed_stderr_are_dropped_without_an_error() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
        }
        let mut writer = LogWriter(Closed);
        assert!(writeln!(writer, "a log line").is_ok());
        assert!(writer.flush().is_ok());
    }

    #[test]
    fn open_access_is_loopback_only() {
        let keys = KeyRing::new();
        assert!(server::check_exposure("127.0.0.1:1".parse().unwrap(), &keys).is_ok());
        assert!(server::check_exposure("[::1]:1".parse().unwrap(), &keys).is_ok());
        let err = server::check_exposure("0.0.0.0:1".parse().unwrap(), &keys).unwrap_err();
        assert!(err.to_string().contains("refusing to listen on 0.0.0.0:1"));
        let keys = keys.with_key("k", "t").unwrap();
        assert!(server::check_exposure("0.0.0.0:1".parse().unwrap(), &keys).is_ok());
    }
}
