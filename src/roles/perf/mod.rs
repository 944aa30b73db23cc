//! `playground perf`: a load tool in the spirit of RabbitMQ's PerfTest, built on the same
//! connection manager and publisher as the roles, so "how fast is the broker" and "how much of it
//! do our services keep" are measured with one ruler. `--http` drives `produce-server` instead.
//!
//! Every producer and consumer has its own connection (as PerfTest does). Each message carries the
//! time it was sent in its first 8 bytes; consumers turn that into an end-to-end latency.
//!
//! - [`amqp_load`]: the AMQP run (connections, producers, consumers, the drain at the end);
//!   [`clients`]: one producer and one consumer; [`http_load`]: the `--http` run;
//! - [`stats`]: counters and latency histograms; [`report`]: the lines it prints.

mod amqp_load;
mod clients;
mod http_load;
mod report;
mod stats;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::amqp::{AmqpOptions, QueueName, QueueType};
pub use http_load::send_message_uri;
use stats::Stats;

/// Settings of `perf`, built from its flags.
#[derive(Debug, Clone)]
pub struct PerfConfig {
    /// Producers, each on its own connection; 0 to only consume.
    pub producers: usize,
    /// Consumers, each on its own connection; 0 to only publish.
    pub consumers: usize,
    /// Messages per second per producer; 0 = as fast as possible.
    pub rate: f64,
    /// Unconfirmed publishes in flight per producer; 0 = no publisher confirms.
    pub confirm: u16,
    /// Message body size in bytes (at least 8: the send time).
    pub size: usize,
    /// Unacked messages the broker may push to each consumer.
    pub prefetch: u16,
    /// A named queue; `None` = a fresh queue deleted at the end.
    pub queue: Option<QueueName>,
    /// A fresh classic queue is transient; a quorum queue is always durable.
    pub queue_type: QueueType,
    /// Publish persistent messages, which a durable queue writes to disk (slower).
    pub persistent: bool,
    /// Stop after this long…
    pub time: Option<Duration>,
    /// …or after each producer sent this many.
    pub count: Option<u64>,
    /// Simulated processing time per message in consumers.
    pub work: Duration,
    /// Print the summary as JSON.
    pub json: bool,
    /// Drive `produce-server`'s `POST /send-message` at this URL instead of publishing over AMQP.
    pub http: Option<hyper::Uri>,
    /// Concurrent keep-alive HTTP connections in `--http` mode.
    pub concurrency: usize,
}

/// Runs the load until `--time`, `--count` or `shutdown`, printing a line per second and a
/// summary.
pub async fn run(
    config: PerfConfig,
    amqp: AmqpOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let stats = Arc::new(Stats::new()?);
    match config.http.clone() {
        Some(uri) => http_load::run(&config, uri, stats, shutdown).await,
        None => amqp_load::run(&config, amqp, stats, shutdown).await,
    }
}

/// Waits for whichever comes first: `time` elapsed (if given), `finished`, or `shutdown`.
pub(super) async fn run_until(
    time: Option<Duration>,
    finished: impl std::future::Future<Output = ()>,
    shutdown: &CancellationToken,
) {
    let deadline = async {
        match time {
            Some(time) => tokio::time::sleep(time).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = deadline => {}
        _ = finished => {}
        _ = shutdown.cancelled() => {}
    }
}
