//! How long to wait between connection attempts.
//!
//! Exponential with "equal jitter": the ceiling doubles per failed attempt (bounded by `max`) and the
//! wait is a random point in its upper half. The jitter keeps a fleet of pods that lost the broker at
//! the same moment from reconnecting in lock-step; the lower half-bound keeps the wait meaningful.

use std::time::Duration;

/// The reconnect schedule of one connection manager; `reset` after a successful connect.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// A schedule between `min` and `max` (`max` is raised to `min` if smaller).
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max: max.max(min),
            attempt: 0,
        }
    }

    /// The wait before the next attempt; each call counts one more failure.
    pub fn next_delay(&mut self) -> Duration {
        let factor = 2u32.saturating_pow(self.attempt.min(30));
        let ceiling = self.min.saturating_mul(factor).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let half = ceiling / 2;
        let jitter = Duration::from_secs_f64(half.as_secs_f64() * fastrand::f64());
        (half + jitter).max(self.min.min(ceiling))
    }

    /// Back to the shortest wait, after a connection succeeded.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_within_bounds() {
        let (min, max) = (Duration::from_millis(200), Duration::from_secs(10));
        let mut b = Backoff::new(min, max);
        let delays: Vec<_> = (0..20).map(|_| b.next_delay()).collect();
        assert!(delays.iter().all(|d| *d >= min && *d <= max), "{delays:?}");
        // After enough failures the wait is in the upper half of max.
        assert!(delays[10..].iter().all(|d| *d >= max / 2), "{delays:?}");
        b.reset();
        assert!(b.next_delay() <= min);
    }
}
