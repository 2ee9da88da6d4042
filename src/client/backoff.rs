//! Capped exponential backoff with jitter and an attempt budget.
//!
//! Pure arithmetic, no clock and no global randomness: the caller passes the random draw, so the
//! schedule is unit-tested exactly and the watcher can sleep with `tokio::time` (pausable in
//! tests).
//!
//! Jitter only ever lengthens a wait: each delay is drawn from `[ceiling, 1.5 × ceiling)`, so
//! reconnecting clients spread out, yet none comes back sooner than the schedule (or the
//! server's `retry:`) says.

use std::time::Duration;

/// The shortest base delay, whatever the server's `retry:` says: `retry: 0` from a server that
/// then fails at once must not turn the client into a busy loop.
pub const RETRY_FLOOR: Duration = Duration::from_millis(250);

/// Reconnection schedule for one outage. Reset it after a connection that worked.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    max_attempts: u32,
    attempt: u32,
}

impl Backoff {
    /// A schedule starting at `base` (at least [`RETRY_FLOOR`]), doubling up to `cap`, giving
    /// up after `max_attempts` consecutive failures.
    pub fn new(base: Duration, cap: Duration, max_attempts: u32) -> Self {
        let base = base.max(RETRY_FLOOR);
        Backoff {
            base,
            cap: cap.max(base),
            max_attempts,
            attempt: 0,
        }
    }

    /// Honours the server's `retry:` hint: it becomes the base delay, raised to
    /// [`RETRY_FLOOR`]. A hint above the cap raises the cap with it: the server asked for at
    /// least that long.
    pub fn set_base(&mut self, base: Duration) {
        self.base = base.max(RETRY_FLOOR);
        self.cap = self.cap.max(self.base);
    }

    /// The current base delay.
    pub fn base(&self) -> Duration {
        self.base
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
    /// uniform draw in `[0, 1)`; the delay is `ceiling × (1 + jitter / 2)`, where the ceiling is
    /// the base doubled once per earlier attempt, up to the cap: never less than the schedule.
    pub fn next_delay(&mut self, jitter: f64) -> Option<Duration> {
        if self.attempt >= self.max_attempts {
            return None;
        }
        let exp = self.attempt.min(16);
        self.attempt += 1;
        let ceiling = self.base.saturating_mul(1 << exp).min(self.cap);
        let jitter = jitter.clamp(0.0, 1.0);
        Some(ceiling.mul_f64(1.0 + jitter / 2.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(d: Duration) -> u128 {
        d.as_millis()
    }

    #[test]
    fn doubles_up_to_the_cap_then_gives_up() {
        let mut b = Backoff::new(Duration::from_millis(250), Duration::from_millis(2000), 6);
        let delays: Vec<u128> = std::iter::from_fn(|| b.next_delay(0.0)).map(ms).collect();
        assert_eq!(delays, vec![250, 500, 1000, 2000, 2000, 2000]);
        assert_eq!(b.next_delay(0.0), None);
        b.reset();
        assert_eq!(ms(b.next_delay(0.999_999).unwrap()), 374);
    }

    #[test]
    fn jitter_only_lengthens_the_wait() {
        for draw in [0.0, 0.25, 0.5, 0.75, 0.999_999] {
            let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(8), 10);
            for attempt in 0..6 {
                let ceiling = Duration::from_secs(1 << attempt).min(Duration::from_secs(8));
                let delay = b.next_delay(draw).unwrap();
                assert!(
                    delay >= ceiling && delay < ceiling.mul_f64(1.5),
                    "draw {draw}, attempt {attempt}: {delay:?}"
                );
            }
        }
    }

    #[test]
    fn server_retry_hint_sets_the_base_above_the_floor() {
        let mut b = Backoff::new(Duration::from_millis(250), Duration::from_secs(8), 10);
        b.set_base(Duration::from_secs(2));
        assert_eq!(b.next_delay(0.0), Some(Duration::from_secs(2)));
        // `retry: 0` and `retry: 10` are raised to the floor.
        for hint in [0, 10] {
            b.set_base(Duration::from_millis(hint));
            b.reset();
            assert_eq!(b.next_delay(0.0), Some(RETRY_FLOOR), "retry: {hint}");
        }
        // A hint above the cap is honoured in full.
        b.set_base(Duration::from_secs(20));
        b.reset();
        assert_eq!(b.next_delay(0.0), Some(Duration::from_secs(20)));
        assert_eq!(b.next_delay(0.0), Some(Duration::from_secs(20)), "capped");
    }

    #[test]
    fn a_base_below_the_floor_is_raised() {
        let mut b = Backoff::new(Duration::ZERO, Duration::from_secs(8), 3);
        assert_eq!(b.next_delay(0.0), Some(RETRY_FLOOR));
    }
}
