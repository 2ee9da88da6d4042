//! Capped exponential backoff with full jitter and an attempt budget.
//!
//! Pure arithmetic, no clock and no global randomness: the caller passes the random draw, so the
//! schedule is unit-tested exactly and the watcher can sleep with `tokio::time` (pausable in
//! tests).

use std::time::Duration;

/// Reconnection schedule for one outage. Reset it after a successful reconnect.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    max_attempts: u32,
    attempt: u32,
}

impl Backoff {
    /// A schedule starting at `base`, doubling up to `cap`, giving up after `max_attempts`
    /// consecutive failures.
    pub fn new(base: Duration, cap: Duration, max_attempts: u32) -> Self {
        Backoff {
            base,
            cap,
            max_attempts,
            attempt: 0,
        }
    }

    /// Honours the server's `retry:` hint: it becomes the base delay (never above the cap).
    pub fn set_base(&mut self, base: Duration) {
        self.base = base.min(self.cap);
    }

    /// Attempts made since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Starts a fresh outage.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The delay before the next attempt, or `None` when the budget is spent. `jitter` is a
    /// uniform draw in `[0, 1)`; the delay is drawn from `[ceiling / 2, ceiling)` so that
    /// reconnecting clients spread out but never hammer the server with zero delays.
    pub fn next_delay(&mut self, jitter: f64) -> Option<Duration> {
        if self.attempt >= self.max_attempts {
            return None;
        }
        let exp = self.attempt.min(16);
        self.attempt += 1;
        let ceiling = self.base.saturating_mul(1 << exp).min(self.cap);
        let jitter = jitter.clamp(0.0, 1.0);
        Some(ceiling.mul_f64(0.5 + jitter / 2.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_then_gives_up() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000), 6);
        let delays: Vec<_> = std::iter::from_fn(|| b.next_delay(0.0)).collect();
        let ms: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, vec![50, 100, 200, 400, 500, 500]);
        assert_eq!(b.next_delay(0.0), None);
        b.reset();
        assert_eq!(b.next_delay(0.999_999).unwrap().as_millis(), 99);
    }

    #[test]
    fn server_retry_hint_sets_the_base() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(5), 3);
        b.set_base(Duration::from_secs(2));
        assert_eq!(b.next_delay(0.0), Some(Duration::from_secs(1)));
        b.set_base(Duration::from_secs(60));
        assert_eq!(
            b.next_delay(0.0),
            Some(Duration::from_millis(2500)),
            "capped"
        );
    }
}
