//! Noticing that the broker stopped confirming publishes — the sign of a resource alarm.
//!
//! During a memory or disk alarm RabbitMQ blocks publishing connections. It says so with
//! `connection.blocked`, but only to clients that advertise the capability, and amqprs does not
//! (shared/NOTES.md): publishes are simply never confirmed. So the stall is inferred: a confirm
//! timed out more recently than any confirm arrived. It clears by itself when the alarm lifts and
//! the held-back publishes are confirmed, on a reconnect, or 30 s after the last timeout.
//! Process-wide, as there is one connection per process.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static LAST_CONFIRM_MS: AtomicU64 = AtomicU64::new(0);
static LAST_TIMEOUT_MS: AtomicU64 = AtomicU64::new(0);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Any ack or nack from the broker: it is processing publishes.
pub fn broker_confirmed() {
    LAST_CONFIRM_MS.store(now_ms(), Ordering::Relaxed);
}

/// A publish waited its whole timeout for a confirm.
pub fn confirm_timed_out() {
    LAST_TIMEOUT_MS.store(now_ms(), Ordering::Relaxed);
}

/// A new connection starts unstalled: if the alarm is still on, the next publish says so again.
pub fn connection_renewed() {
    broker_confirmed();
}

/// How long a confirm timeout keeps the role "blocked" without a new one. A blocked role gets no
/// traffic (Kubernetes takes it out of the Service), so nothing would ever clear the flag; after
/// this long it is ready again, and if the alarm is still on, the next publish finds out.
const STALL_MEMORY_MS: u64 = 30_000;

/// Whether publishing looks blocked: the last confirm timeout came after the last confirm, and
/// recently.
pub fn publishing_stalled() -> bool {
    let timeout = LAST_TIMEOUT_MS.load(Ordering::Relaxed);
    timeout > LAST_CONFIRM_MS.load(Ordering::Relaxed)
        && now_ms().saturating_sub(timeout) < STALL_MEMORY_MS
}
