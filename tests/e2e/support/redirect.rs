//! A server that answers every request with a redirect, as a proxy or an old address in front
//! of a platform does, and logs what it was sent (method, target, whether an `Authorization`
//! header came along).

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::background::{self, Background};

/// What to answer.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The status for `GET` requests (the event stream included).
    pub get: u16,
    /// The status for `POST` requests.
    pub post: u16,
    /// Where to: this base URL followed by the request's path and query; or, when it starts
    /// with `/` or `http` and `fixed` is set, exactly this.
    pub to: String,
    /// Send `to` as the `Location` as it is, without the request's path.
    pub fixed: bool,
}

/// One request as the redirector saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The request target (path and query).
    pub target: String,
    /// Whether it carried an `Authorization` header.
    pub authorization: bool,
    /// Whether it carried a body (a non-zero `Content-Length`).
    pub body: bool,
}

/// A running redirector; stops on drop.
pub struct Redirector {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    log: Arc<Mutex<Vec<Seen>>>,
    _server: Background,
}

impl Redirector {
    /// Starts a redirector answering by `rules`.
    pub fn start(rules: Rules) -> Self {
        let log = Arc::new(Mutex::new(Vec::new()));
        let (shared, rules) = (Arc::clone(&log), Arc::new(rules));
        let server =
            background::serve(move |conn| answer(conn, Arc::clone(&rules), Arc::clone(&shared)));
        Redirector {
            url: format!("http://{}", server.addr),
            log,
            _server: server,
        }
    }

    /// The requests seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }
}

async fn answer(mut conn: TcpStream, rules: Arc<Rules>, log: Arc<Mutex<Vec<Seen>>>) {
    let Some((head, rest)) = background::read_head(&mut conn).await else {
        return;
    };
    let mut words = head.lines().next().unwrap_or("").split(' ');
    let method = words.next().unwrap_or("").to_owned();
    let target = words.next().unwrap_or("").to_owned();
    // Read the whole body: closing a socket with unread data resets the connection, and the
    // client might then never read the answer.
    let length: usize = background::header(&head, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut read = rest.len();
    let mut buf = [0u8; 4096];
    while read < length {
        match conn.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => read += n,
        }
    }
    log.lock().unwrap().push(Seen {
        method: method.clone(),
        target: target.clone(),
        authorization: background::header(&head, "authorization").is_some(),
        body: length > 0,
    });
    let status = if method == "POST" {
        rules.post
    } else {
        rules.get
    };
    let location = if rules.fixed {
        rules.to.clone()
    } else {
        format!("{}{target}", rules.to)
    };
    let reply = format!(
        "HTTP/1.1 {status} Redirect\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
    let _ = conn.write_all(reply.as_bytes()).await;
    let _ = conn.shutdown().await;
}
