//! What a perf run counts: messages sent, confirmed and received, and latencies in HDR histograms
//! (fixed memory, exact enough at every percentile, unlike a sorted vector of samples).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use hdrhistogram::Histogram;
use serde::Serialize;

/// Latencies are recorded in microseconds, from 1 µs to 60 s, 3 significant digits.
fn histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, 60_000_000, 3).context("creating a latency histogram")
}

/// Shared by producers, consumers and the reporter.
pub struct Stats {
    pub sent: AtomicU64,
    pub confirmed: AtomicU64,
    pub received: AtomicU64,
    /// Publishes or requests that failed (not confirmed, non-200).
    pub failed: AtomicU64,
    /// When the first and the last message were received (ns since the Unix epoch; `u64::MAX`
    /// and 0 while none was), so a drain rate can be taken from first to last, as for any
    /// consumer's log.
    first_received_ns: AtomicU64,
    last_received_ns: AtomicU64,
    /// Latencies since the last report line.
    interval: Mutex<Histogram<u64>>,
    /// Latencies of the whole run.
    total: Mutex<Histogram<u64>>,
}

impl Stats {
    /// Empty counters and histograms (1 µs to 60 s, 3 significant digits).
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            sent: AtomicU64::new(0),
            confirmed: AtomicU64::new(0),
            received: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            first_received_ns: AtomicU64::new(u64::MAX),
            last_received_ns: AtomicU64::new(0),
            interval: Mutex::new(histogram()?),
            total: Mutex::new(histogram()?),
        })
    }
}

/// Counters at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counters {
    pub sent: u64,
    pub confirmed: u64,
    pub received: u64,
    pub failed: u64,
}

/// min / p50 / p95 / p99 / max in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Latency {
    pub min_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub samples: u64,
}

impl Latency {
    fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |us: u64| (us as f64 / 100.0).round() / 10.0;
        Self {
            min_ms: ms(h.min()),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p95_ms: ms(h.value_at_quantile(0.95)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
            samples: h.len(),
        }
    }

    /// `0.4/1.2/3.1/5.0/9.8 ms`.
    pub fn line(&self) -> String {
        format!(
            "{:.1}/{:.1}/{:.1}/{:.1}/{:.1} ms",
            self.min_ms, self.p50_ms, self.p95_ms, self.p99_ms, self.max_ms
        )
    }
}

impl Stats {
    /// Counts one message received (and acked) now.
    pub fn received_one(&self) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        self.received_at(now);
    }

    /// Counts one message received at `now` (ns since the Unix epoch).
    fn received_at(&self, now: u64) {
        self.first_received_ns.fetch_min(now, Ordering::Relaxed);
        self.last_received_ns.fetch_max(now, Ordering::Relaxed);
        self.received.fetch_add(1, Ordering::Relaxed);
    }

    /// Messages per second between the first and the last one received, the same measure a
    /// consumer's log gives; `None` before two arrived.
    pub fn received_rate_first_to_last(&self) -> Option<f64> {
        let first = self.first_received_ns.load(Ordering::Relaxed);
        let last = self.last_received_ns.load(Ordering::Relaxed);
        let received = self.received.load(Ordering::Relaxed);
        if last <= first || received < 2 {
            return None;
        }
        Some((received - 1) as f64 / ((last - first) as f64 / 1e9))
    }

    /// The counters now, for a report line.
    pub fn counters(&self) -> Counters {
        Counters {
            sent: self.sent.load(Ordering::Relaxed),
            confirmed: self.confirmed.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }

    /// Records one latency.
    pub fn record(&self, latency: Duration) {
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        for histogram in [&self.interval, &self.total] {
            if let Ok(mut h) = histogram.lock() {
                h.saturating_record(us);
            }
        }
    }

    /// The interval's latencies, and a fresh interval.
    pub fn take_interval(&self) -> Latency {
        match self.interval.lock() {
            Ok(mut h) => {
                let latency = Latency::of(&h);
                h.reset();
                latency
            }
            Err(_) => Latency::default(),
        }
    }

    /// The whole run's latencies.
    pub fn total_latency(&self) -> Latency {
        self.total
            .lock()
            .map(|h| Latency::of(&h))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_histogram() {
        let stats = Stats::new().unwrap();
        for ms in 1..=100 {
            stats.record(Duration::from_millis(ms));
        }
        let latency = stats.total_latency();
        assert_eq!(latency.samples, 100);
        assert_eq!(latency.min_ms, 1.0);
        assert_eq!(latency.p50_ms, 50.0);
        assert_eq!(latency.p99_ms, 99.0);
        assert_eq!(latency.max_ms, 100.0);
        assert_eq!(stats.take_interval().samples, 100);
        assert_eq!(stats.take_interval().samples, 0, "the interval starts over");
    }

    #[test]
    fn the_drain_rate_runs_from_the_first_message_to_the_last() {
        let stats = Stats::new().unwrap();
        assert_eq!(
            stats.received_rate_first_to_last(),
            None,
            "nothing received"
        );
        let start = 1_000_000_000_000;
        stats.received_at(start + 500_000_000);
        assert_eq!(
            stats.received_rate_first_to_last(),
            None,
            "one message has no rate"
        );
        // 1,001 messages over exactly one second: 1,000 intervals, 1,000 per second, whatever
        // order the receiving tasks record them in.
        for i in (0..=1_000u64).rev().filter(|i| *i != 500) {
            stats.received_at(start + i * 1_000_000);
        }
        assert_eq!(stats.received.load(Ordering::Relaxed), 1_001);
        let rate = stats.received_rate_first_to_last().unwrap();
        assert!((rate - 1_000.0).abs() < 1e-6, "rate {rate}");
    }
}
