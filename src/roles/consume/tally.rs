//! Counts of what a worker did, and the periodic summary line that shows, in
//! `kubectl logs -l app=message-consumer`, how the work was shared between replicas.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tracing::info;

/// Counters since start, updated by the delivery loop and read by the summary task.
#[derive(Debug, Default)]
pub struct Tally {
    received: AtomicU64,
    acked: AtomicU64,
    rejected: AtomicU64,
    redelivered: AtomicU64,
    retried: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub received: u64,
    pub acked: u64,
    pub rejected: u64,
    pub redelivered: u64,
    /// Failures parked in a delay queue for another attempt.
    pub retried: u64,
}

impl Tally {
    /// Counts one delivery; returns how many were received so far, this one included.
    pub fn received(&self, redelivered: bool) -> u64 {
        if redelivered {
            self.redelivered.fetch_add(1, Ordering::Relaxed);
        }
        self.received.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Counts a message acked after handling.
    pub fn acked(&self) {
        self.acked.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a message rejected (simulated failure).
    pub fn rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a failure parked in a delay queue (`--retry-delays`).
    pub fn retried(&self) {
        self.retried.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now, for a summary line.
    pub fn counts(&self) -> Counts {
        Counts {
            received: self.received.load(Ordering::Relaxed),
            acked: self.acked.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            redelivered: self.redelivered.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
        }
    }
}

/// Logs one summary line: totals since start, and the rate over the last `window`.
pub fn log_summary(consumer: &str, queue: &str, now: Counts, before: Counts, window: Duration) {
    let seconds = window.as_secs_f64().max(0.001);
    let per_second = (now.received - before.received) as f64 / seconds;
    info!(
        consumer = %consumer,
        queue = %queue,
        received = now.received,
        acked = now.acked,
        rejected = now.rejected,
        redelivered = now.redelivered,
        retried = now.retried,
        received_in_window = now.received - before.received,
        window_secs = (seconds * 10.0).round() / 10.0,
        rate_per_sec = (per_second * 10.0).round() / 10.0,
        "summary"
    );
}

/// Logs a summary every `every` until `stop`.
pub async fn log_summaries(
    tally: Arc<Tally>,
    every: Duration,
    consumer: String,
    queue: String,
    stop: CancellationToken,
) {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let mut before = tally.counts();
    let mut since = Instant::now();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.cancelled() => return,
        }
        let now = tally.counts();
        log_summary(&consumer, &queue, now, before, since.elapsed());
        before = now;
        since = Instant::now();
    }
}
