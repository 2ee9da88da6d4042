//! A forward proxy, as `HTTPS_PROXY`/`HTTP_PROXY` name one: `CONNECT host:port` opens a tunnel
//! (HTTPS), and an absolute-form request (`GET http://host:port/path`) is forwarded (plain
//! HTTP). Every host name is taken to be `127.0.0.1`, so a test can give the server a name that
//! does not resolve (`deploy.test`): then only requests that went through this proxy can reach
//! it. It logs each connection's first request line (`CONNECT deploy.test:443`,
//! `POST http://deploy.test:80/api/applications`).

use std::sync::{Arc, Mutex};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::background::{self, Background};

/// A running proxy; stops on drop.
pub struct ConnectProxy {
    /// `http://127.0.0.1:PORT`, for `HTTPS_PROXY`.
    pub url: String,
    log: Arc<Mutex<Vec<String>>>,
    _server: Background,
}

impl ConnectProxy {
    /// Starts a proxy.
    pub fn start() -> Self {
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::clone(&log);
        let server = background::serve(move |conn| proxy(conn, Arc::clone(&shared)));
        ConnectProxy {
            url: format!("http://{}", server.addr),
            log,
            _server: server,
        }
    }

    /// The first request line of each connection so far, without the HTTP version.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// How many `CONNECT` tunnels were asked for so far.
    pub fn tunnels(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.starts_with("CONNECT "))
            .count()
    }
}

async fn proxy(mut client: TcpStream, log: Arc<Mutex<Vec<String>>>) {
    let Some((head, rest)) = background::read_head(&mut client).await else {
        return;
    };
    let mut words = head.lines().next().unwrap_or("").split(' ');
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    log.lock().unwrap().push(format!("{method} {target}"));
    let authority = if method == "CONNECT" {
        target
    } else {
        let Some(after) = target.strip_prefix("http://") else {
            let _ = client
                .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                .await;
            return;
        };
        after.split('/').next().unwrap_or("")
    };
    let Some(port) = authority.rsplit_once(':').map(|(_, port)| port) else {
        return;
    };
    let Ok(mut server) = TcpStream::connect(format!("127.0.0.1:{port}")).await else {
        let _ = client
            .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
            .await;
        return;
    };
    if method == "CONNECT" {
        if client
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await
            .is_err()
        {
            return;
        }
    } else if server.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    if server.write_all(&rest).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}
