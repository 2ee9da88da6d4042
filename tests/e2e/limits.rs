//! Connection limits of `ctl server` (docs/server.md "Limits and hardening"): request heads
//! that never finish, silent connections, the connection cap, and the open-file limit.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::ServerProcess;

const DEADLINE: Duration = Duration::from_secs(20);

/// A connection to the server, with reads bounded by [`DEADLINE`].
fn connect(server: &ServerProcess) -> TcpStream {
    let conn = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    conn.set_read_timeout(Some(DEADLINE)).unwrap();
    conn
}

/// Everything the server sends until it closes `conn` (a reset counts as closing); fails if
/// it keeps the connection open past the deadline.
fn until_closed(conn: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the server kept the connection open: {e}"),
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// `GET /healthz` on a new connection; the whole answer.
fn healthz(server: &ServerProcess) -> String {
    let mut conn = connect(server);
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    until_closed(&mut conn)
}

#[test]
fn a_head_sent_a_byte_at_a_time_and_a_silent_connection_are_closed_at_the_header_timeout() {
    let server = ServerProcess::start(&["--header-timeout", "1s"]);

    let started = Instant::now();
    let mut silent = connect(&server);
    assert_eq!(until_closed(&mut silent), "");
    assert!(started.elapsed() >= Duration::from_secs(1));

    let mut slow = connect(&server);
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nx-pad: ")
        .unwrap();
    let started = Instant::now();
    let mut writer = slow.try_clone().unwrap();
    // One byte every 100 ms, until the server closes the connection.
    let trickle = std::thread::spawn(move || {
        while started.elapsed() < DEADLINE && writer.write_all(b"a").is_ok() {
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    assert_eq!(until_closed(&mut slow), "");
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert!(
        started.elapsed() < DEADLINE,
        "kept open while the head trickled in"
    );
    drop(slow);
    trickle.join().unwrap();

    assert!(healthz(&server).ends_with("ok"));
}

#[test]
fn with_the_connection_cap_reached_healthz_is_refused_then_served_again() {
    let server = ServerProcess::start(&["--max-connections", "3", "--header-timeout", "60s"]);
    let held: Vec<TcpStream> = (0..3).map(|_| connect(&server)).collect();

    let refused = healthz(&server);
    assert!(refused.starts_with("HTTP/1.1 503 "), "{refused}");
    assert!(refused.contains("too many open connections"), "{refused}");

    drop(held);
    // Served again once the server has seen them close.
    let deadline = Instant::now() + DEADLINE;
    loop {
        let answer = healthz(&server);
        if answer.starts_with("HTTP/1.1 200 ") {
            assert!(answer.ends_with("ok"), "{answer}");
            break;
        }
        assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
        assert!(
            Instant::now() < deadline,
            "still refused after the connections closed"
        );
    }
}

/// The soft and hard open-file limits of process `pid`, from /proc.
#[cfg(target_os = "linux")]
fn open_file_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let mut fields = line["Max open files".len()..].split_whitespace();
    (
        fields.next().unwrap().to_owned(),
        fields.next().unwrap().to_owned(),
    )
}

#[cfg(target_os = "linux")]
#[test]
fn the_soft_open_file_limit_is_raised_to_the_hard_limit() {
    use std::io::{BufRead, BufReader};
    use std::process::{Child, Command, Stdio};

    struct Owned(Child);
    impl Drop for Owned {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    // The shell lowers its soft limit, then becomes the server (same process id).
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        "ulimit -Sn 128 && exec \"$0\" server --listen 127.0.0.1:0 --in-memory",
        crate::support::ctl_bin(),
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    crate::support::clean_env(&mut cmd);
    let mut server = Owned(cmd.spawn().expect("spawn sh"));
    let stderr = server.0.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    // Readiness comes after the limit is raised; the pipe closes if the server exits.
    assert!(
        lines
            .by_ref()
            .map_while(Result::ok)
            .any(|l| l.starts_with("listening on ")),
        "the server did not start"
    );
    let (soft, hard) = open_file_limits(server.0.id());
    assert_eq!(soft, hard);
    // Drain the rest of stderr so the server never blocks on it.
    std::thread::spawn(move || lines.for_each(drop));
}
