//! `perf`'s options.

use std::time::Duration;

use clap::Args;

use super::queue::QueueTypeArg;
use super::values;
use crate::amqp::QueueName;
use crate::roles::perf::{send_message_uri, PerfConfig};

/// `perf` options.
#[derive(Debug, Args)]
pub struct PerfArgs {
    /// Producers, each on its own connection (0 to 1000).
    #[arg(long, default_value = "1", value_parser = values::perf_connections)]
    pub producers: usize,

    /// Consumers, each on its own connection (0 to 1000).
    #[arg(long, default_value = "1", value_parser = values::perf_connections)]
    pub consumers: usize,

    /// Messages per second per producer (0: as fast as possible; else 0.01 to 1000000).
    #[arg(long, default_value = "0", value_parser = values::rate)]
    pub rate: f64,

    /// Publisher confirms: at most this many unconfirmed messages in flight per producer (0: no
    /// confirms; at most 65535).
    #[arg(long, default_value_t = 0, value_name = "W")]
    pub confirm: u16,

    /// Message size in bytes (at least 8: the send time is embedded for the latency).
    #[arg(long, default_value_t = 100, value_name = "BYTES",
          value_parser = clap::value_parser!(u64).range(8..=16 * 1024 * 1024))]
    pub size: u64,

    /// Consumer prefetch (unacked messages the broker may push).
    #[arg(long, default_value_t = 100)]
    pub prefetch: u16,

    /// Queue to use [default: a fresh queue, deleted at the end].
    #[arg(long, value_name = "NAME")]
    pub queue: Option<QueueName>,

    /// Queue type.
    #[arg(long, value_enum, default_value_t = QueueTypeArg::Classic)]
    pub queue_type: QueueTypeArg,

    /// Persistent messages (written to disk by a durable queue).
    #[arg(long)]
    pub persistent: bool,

    /// Stop after this long (e.g. 30s; at most 24h).
    #[arg(long, value_parser = values::duration, value_name = "DURATION")]
    pub time: Option<Duration>,

    /// Stop after each producer sent N messages (with --producers 0: after consumers got N).
    #[arg(long, value_name = "N", value_parser = values::at_least_one)]
    pub count: Option<u64>,

    /// Consumer processing time per message.
    #[arg(long, default_value = "0s", value_parser = values::duration, value_name = "DURATION")]
    pub work: Duration,

    /// Print the summary as one JSON object (for scripts).
    #[arg(long)]
    pub json: bool,

    /// Drive produce-server's POST /send-message at this URL (e.g. http://127.0.0.1:3000)
    /// instead of publishing over AMQP.
    #[arg(long, value_name = "URL", value_parser = send_message_uri)]
    pub http: Option<hyper::Uri>,

    /// Concurrent keep-alive HTTP connections for --http (1 to 1000).
    #[arg(long, default_value = "1", value_name = "C", value_parser = values::perf_concurrency)]
    pub concurrency: usize,
}

impl PerfArgs {
    /// The tool's settings.
    pub fn into_config(self) -> PerfConfig {
        PerfConfig {
            producers: self.producers,
            consumers: self.consumers,
            rate: self.rate,
            confirm: self.confirm,
            size: usize::try_from(self.size).unwrap_or(100),
            prefetch: self.prefetch,
            queue: self.queue,
            queue_type: self.queue_type.queue_type(),
            persistent: self.persistent,
            time: self.time,
            count: self.count,
            work: self.work,
            json: self.json,
            http: self.http,
            concurrency: self.concurrency,
        }
    }
}
