//! Connection limits: how many connections the server holds at once, and the open-file limit
//! they draw on (docs/server.md, "Limits and hardening").
//!
//! Every connection is a file descriptor. Without a cap, a client opening connections and
//! saying nothing (or a head at one byte a second) exhausts the process's open-file limit,
//! after which `accept` fails and nobody is served, `/healthz` included. So connections are
//! counted in two pools: ordinary requests (short-lived, served by hyper) and event streams
//! (long-lived by design: a server holds them by the thousand). A connection over its pool's
//! cap is refused at once. Both caps are kept under the open-file limit, with room left for
//! the database, the listener and provider steps, so the caps bind before the kernel does.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

/// Default of [`super::ServerConfig::header_timeout`].
pub(crate) const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Default of [`super::ServerConfig::body_timeout`].
pub(crate) const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Default of [`super::ServerConfig::max_connections`].
pub(crate) const MAX_CONNECTIONS: usize = 1024;

/// Default of [`super::ServerConfig::max_streams`]: above the 10,000 idle streams measured in
/// docs/performance.md (about 5 KiB each, so 80 MiB at the cap).
pub(crate) const MAX_STREAMS: usize = 16_384;

/// File descriptors left for everything but connections: standard streams, the listener, the
/// database and its journal files, the runtime's own descriptors, pipes of provider steps.
pub(crate) const RESERVED_FILES: u64 = 64;

/// The connection pools, shared by the accept loop and every connection.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// The whole request head must arrive within this time; on a kept-alive connection, the
    /// next head must be complete within this time of the previous response.
    pub(crate) header_timeout: Duration,
    /// A request body must arrive whole within this time of its head.
    pub(crate) body_timeout: Duration,
    /// One permit per open connection that is not an event stream.
    pub(crate) connections: Arc<Semaphore>,
    /// One permit per event stream written by the server's own stream writer.
    pub(crate) streams: Arc<Semaphore>,
}

impl Limits {
    /// Pools of the configured sizes, lowered to fit `open_files` (the soft open-file limit,
    /// `None` when unlimited or unknown) with a warning when they do not fit.
    pub(crate) fn new(
        header_timeout: Duration,
        body_timeout: Duration,
        max_connections: usize,
        max_streams: usize,
        open_files: Option<u64>,
    ) -> Limits {
        let (connections, streams) = fit_caps(max_connections, max_streams, open_files);
        if (connections, streams) != (max_connections, max_streams) {
            tracing::warn!(
                open_files = open_files.unwrap_or_default(),
                "the open-file limit allows {connections} connections and {streams} event \
                 streams (configured: {max_connections} and {max_streams}); raise the hard \
                 limit (ulimit -Hn, LimitNOFILE=) to allow more"
            );
        }
        Limits {
            header_timeout,
            body_timeout,
            connections: Arc::new(Semaphore::new(connections)),
            streams: Arc::new(Semaphore::new(streams)),
        }
    }
}

/// The caps actually used: the configured ones when both fit in `open_files` minus
/// [`RESERVED_FILES`]; otherwise ordinary connections get at most half of what is left (so
/// `/healthz` and deployments stay reachable whatever the streams do), streams the rest.
/// Never zero: a server that can hold no connection would be useless.
pub(crate) fn fit_caps(
    max_connections: usize,
    max_streams: usize,
    open_files: Option<u64>,
) -> (usize, usize) {
    let Some(open_files) = open_files else {
        return (max_connections, max_streams);
    };
    let budget = usize::try_from(open_files.saturating_sub(RESERVED_FILES)).unwrap_or(usize::MAX);
    if max_connections.saturating_add(max_streams) <= budget {
        return (max_connections, max_streams);
    }
    let connections = max_connections.min(budget / 2).max(1);
    let streams = max_streams.min(budget.saturating_sub(connections)).max(1);
    (connections, streams)
}

/// The soft open-file limit of this process; `None` when unlimited or not known.
pub(crate) fn open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// What [`raise_open_file_limit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenFileLimit {
    /// The soft limit already was the hard limit (or this platform has no such limits).
    Unchanged(Option<u64>),
    /// The soft limit was raised `from` `to` (`None`: unlimited).
    Raised {
        /// The soft limit before.
        from: Option<u64>,
        /// The soft limit now.
        to: Option<u64>,
    },
}

/// Raises this process's soft open-file limit (`RLIMIT_NOFILE`) to its hard limit, as nginx's
/// `worker_rlimit_nofile` or systemd's services do: the soft limit is often 1024 (or 256 on
/// macOS), far below what a server holding event streams needs, while the hard limit any
/// process may raise itself to is much higher. Where setting the hard limit fails (macOS
/// refuses more than `OPEN_MAX`, 10240), 10240 is tried instead.
pub fn raise_open_file_limit() -> std::io::Result<OpenFileLimit> {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let before = getrlimit(Resource::Nofile);
        let higher = |new: Option<u64>| match (before.current, new) {
            (_, None) => before.current.is_some(),
            (None, Some(_)) => false,
            (Some(old), Some(new)) => new > old,
        };
        if !higher(before.maximum) {
            return Ok(OpenFileLimit::Unchanged(before.current));
        }
        let set = |current: Option<u64>| {
            setrlimit(
                Resource::Nofile,
                Rlimit {
                    current,
                    maximum: before.maximum,
                },
            )
        };
        const OPEN_MAX: u64 = 10240;
        let to = match set(before.maximum) {
            Ok(()) => before.maximum,
            Err(_) if higher(Some(OPEN_MAX)) && before.maximum.is_none_or(|max| max > OPEN_MAX) => {
                set(Some(OPEN_MAX))?;
                Some(OPEN_MAX)
            }
            Err(e) => return Err(e.into()),
        };
        Ok(OpenFileLimit::Raised {
            from: before.current,
            to,
        })
    }
    #[cfg(not(unix))]
    {
        Ok(OpenFileLimit::Unchanged(None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_that_fit_are_kept() {
        assert_eq!(fit_caps(1024, 20_000, None), (1024, 20_000));
        assert_eq!(fit_caps(1024, 20_000, Some(1 << 20)), (1024, 20_000));
        assert_eq!(
            fit_caps(MAX_CONNECTIONS, MAX_STREAMS, Some(20_000)),
            (MAX_CONNECTIONS, MAX_STREAMS)
        );
        assert_eq!(fit_caps(10, 20, Some(94)), (10, 20));
    }

    #[test]
    fn caps_are_lowered_to_fit_the_open_file_limit() {
        // The review's 256: 192 descriptors for connections, half at most for requests.
        assert_eq!(fit_caps(1024, 20_000, Some(256)), (96, 96));
        // Few requests allowed: streams get the rest.
        assert_eq!(fit_caps(10, 20_000, Some(1024)), (10, 950));
        // Few streams allowed: requests keep their half.
        assert_eq!(fit_caps(1024, 5, Some(1024)), (480, 5));
        let (connections, streams) = fit_caps(1024, 20_000, Some(4096));
        assert!(connections + streams <= 4096 - RESERVED_FILES as usize);
    }

    #[test]
    fn a_tiny_open_file_limit_still_leaves_one_of_each() {
        assert_eq!(fit_caps(1024, 20_000, Some(10)), (1, 1));
    }
}
