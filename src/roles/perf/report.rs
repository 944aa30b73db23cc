//! What `perf` prints: a line per second while it runs, and a summary (text or `--json`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::stats::{Counters, Latency, Stats};
use super::PerfConfig;

/// A line per second: rates since the previous line and the interval's latencies.
pub(super) async fn report_every_second(
    stats: Arc<Stats>,
    stop: CancellationToken,
    started: Instant,
    http: bool,
) {
    let mut ticker = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(1),
        Duration::from_secs(1),
    );
    let mut before = Counters::default();
    let mut at = Instant::now();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.cancelled() => return,
        }
        let now = stats.counters();
        let seconds = at.elapsed().as_secs_f64();
        let rate = |a: u64, b: u64| ((a - b) as f64 / seconds).round() as u64;
        if http {
            println!(
                "time {:.1} s, {} req/s, {} ok/s, {} failed/s, latency min/p50/p95/p99/max {}",
                started.elapsed().as_secs_f64(),
                rate(now.sent, before.sent),
                rate(now.confirmed, before.confirmed),
                rate(now.failed, before.failed),
                stats.take_interval().line()
            );
        } else {
            println!(
                "time {:.1} s, sent {} msg/s, confirmed {} msg/s, received {} msg/s, latency \
                 min/p50/p95/p99/max {}",
                started.elapsed().as_secs_f64(),
                rate(now.sent, before.sent),
                rate(now.confirmed, before.confirmed),
                rate(now.received, before.received),
                stats.take_interval().line()
            );
        }
        before = now;
        at = Instant::now();
    }
}

pub(super) fn print_summary(
    config: &PerfConfig,
    stats: &Stats,
    totals: Counters,
    publishing: Duration,
    elapsed: Duration,
) {
    let per_second =
        |n: u64, over: Duration| (n as f64 / over.as_secs_f64().max(0.001)).round() as u64;
    let latency: Latency = stats.total_latency();
    let summary = json!({
        "mode": if config.http.is_some() { "http" } else { "amqp" },
        "producers": config.producers,
        "consumers": config.consumers,
        "confirm": config.confirm,
        "concurrency": config.concurrency,
        "size": config.size,
        "prefetch": config.prefetch,
        "elapsed_s": (elapsed.as_secs_f64() * 100.0).round() / 100.0,
        "sent": totals.sent,
        "confirmed": totals.confirmed,
        "received": totals.received,
        "failed": totals.failed,
        "sent_per_s": per_second(totals.sent, publishing),
        "confirmed_per_s": per_second(totals.confirmed, publishing),
        "received_per_s": per_second(totals.received, elapsed),
        "received_per_s_first_to_last": stats.received_rate_first_to_last().map(f64::round),
        "latency": latency,
    });
    if config.json {
        println!("{summary}");
    } else if config.http.is_some() {
        println!(
            "summary: {:.1} s, {} requests ({} req/s), {} ok, {} failed, latency \
             min/p50/p95/p99/max {}",
            elapsed.as_secs_f64(),
            totals.sent,
            summary["sent_per_s"],
            totals.confirmed,
            totals.failed,
            latency.line()
        );
    } else {
        println!(
            "summary: {:.1} s, sent {} ({} msg/s), confirmed {} ({} msg/s), received {} ({} \
             msg/s), failed {}, latency min/p50/p95/p99/max {}",
            elapsed.as_secs_f64(),
            totals.sent,
            summary["sent_per_s"],
            totals.confirmed,
            summary["confirmed_per_s"],
            totals.received,
            summary["received_per_s"],
            totals.failed,
            latency.line()
        );
    }
}
