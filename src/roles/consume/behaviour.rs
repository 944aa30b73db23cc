//! What a worker does with a message besides logging it: simulated work, simulated failures and
//! a simulated crash — the knobs that make RabbitMQ's work-queue behaviour visible.

use std::time::Duration;

/// How the worker treats each message (`--work`, `--work-per-dot`, `--crash-after`,
/// `--fail-rate`, `--requeue`). The default is the Node consumer: log, ack, next.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkerBehaviour {
    /// Fixed processing time per message.
    pub work: Duration,
    /// Extra time per `.` in the text: the RabbitMQ tutorial's way to send heavier tasks.
    pub work_per_dot: Duration,
    /// Exit, without acking, on receiving this many messages since start.
    pub crash_after: Option<u64>,
    /// Share of messages whose processing fails (0.0 never, 1.0 always).
    pub fail_rate: f64,
    /// Failed messages go back to the queue instead of the dead-letter queue (or nowhere).
    pub requeue: bool,
}

/// The exit code of a crash on purpose, so it is told apart from a real failure (1).
pub const CRASH_EXIT_CODE: i32 = 3;

impl WorkerBehaviour {
    /// How long processing `text` takes (its bytes: a dot is a dot in any encoding).
    pub fn work_for(&self, text: &[u8]) -> Duration {
        let dots = text.iter().filter(|&&b| b == b'.').count();
        let dots = u32::try_from(dots).unwrap_or(u32::MAX);
        self.work
            .saturating_add(self.work_per_dot.saturating_mul(dots))
    }

    /// Whether to crash on the `received`-th message (1-based, counted since start).
    pub fn crashes_on(&self, received: u64) -> bool {
        self.crash_after == Some(received)
    }

    /// Rolls the dice for one message.
    pub fn fails(&self) -> bool {
        self.fail_rate > 0.0 && fastrand::f64() < self.fail_rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dots_add_work_like_the_tutorial() {
        let behaviour = WorkerBehaviour {
            work: Duration::from_millis(250),
            work_per_dot: Duration::from_secs(1),
            ..WorkerBehaviour::default()
        };
        assert_eq!(
            behaviour.work_for(b"Task... 7 of 30"),
            Duration::from_millis(3250)
        );
        assert_eq!(behaviour.work_for(b"no dots"), Duration::from_millis(250));
    }

    #[test]
    fn fail_rate_bounds_are_exact() {
        let never = WorkerBehaviour::default();
        let always = WorkerBehaviour {
            fail_rate: 1.0,
            ..WorkerBehaviour::default()
        };
        assert!((0..1000).all(|_| !never.fails() && always.fails()));
        let crash = WorkerBehaviour {
            crash_after: Some(2),
            ..WorkerBehaviour::default()
        };
        assert!(!crash.crashes_on(1) && crash.crashes_on(2) && !crash.crashes_on(3));
    }
}
