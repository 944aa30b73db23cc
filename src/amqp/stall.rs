//! Noticing that the broker stopped confirming publishes — the sign of a resource alarm.
//!
//! During a memory or disk alarm RabbitMQ blocks publishing connections. It says so with
//! `connection.blocked`, but only to clients that advertise the capability, and amqprs does not:
//! publishes are simply never confirmed. So the stall is inferred: a confirm timed out more
//! recently than any confirm arrived. It clears by itself when the alarm lifts and the held-back
//! publishes are confirmed, on a reconnect, or 30 s after the last timeout.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// How long a confirm timeout keeps the role "blocked" without a new one. A blocked role gets no
/// traffic (Kubernetes takes it out of the Service), so nothing would ever clear the flag; after
/// this long it is ready again, and if the alarm is still on, the next publish finds out.
const STALL_MEMORY_MS: u64 = 30_000;

/// One connection manager's view of whether its broker is confirming; fed by the channel
/// callbacks and the publishers, read by `/ready`.
#[derive(Debug, Default)]
pub struct PublishStall {
    last_confirm_ms: AtomicU64,
    last_timeout_ms: AtomicU64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl PublishStall {
    /// Any ack or nack from the broker: it is processing publishes.
    pub fn broker_confirmed(&self) {
        self.last_confirm_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// A publish waited its whole timeout for a confirm.
    pub fn confirm_timed_out(&self) {
        self.last_timeout_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// A new connection starts unstalled: if the alarm is still on, the next publish says so
    /// again.
    pub fn connection_renewed(&self) {
        self.broker_confirmed();
    }

    /// Whether publishing looks blocked: the last confirm timeout came after the last confirm,
    /// and recently.
    pub fn is_stalled(&self) -> bool {
        let timeout = self.last_timeout_ms.load(Ordering::Relaxed);
        timeout > self.last_confirm_ms.load(Ordering::Relaxed)
            && now_ms().saturating_sub(timeout) < STALL_MEMORY_MS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_stalls_until_the_next_confirm() {
        let stall = PublishStall::default();
        assert!(!stall.is_stalled());
        stall.confirm_timed_out();
        assert!(stall.is_stalled());
        std::thread::sleep(std::time::Duration::from_millis(2));
        stall.broker_confirmed();
        assert!(!stall.is_stalled());
    }
}
