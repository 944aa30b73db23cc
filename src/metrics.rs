//! Prometheus metrics for every role, served as text at `GET /metrics`.
//!
//! Each role creates one [`Metrics`] and hands it (in an `Arc`) to its connection manager, its
//! publishers, its HTTP server and its consumers: no process-wide registry, so unit tests and
//! the several managers of `perf` never share counters by accident. A role that does not publish
//! simply leaves the publishing series at zero. Label values are bounded (routes, outcomes,
//! states), never ids.

use std::time::{Duration, SystemTime};

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

mod published_to;
pub mod reference;
mod rpc;
mod stream;
pub use published_to::{PublishedTo, PublishedToTally, MAX_DESTINATIONS};
pub use rpc::{OutcomeLabels, RpcMetrics};
pub use stream::{StreamGauges, STREAM_ROLE};

/// `route`/`method`/`status` of an HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// A known route (`/send-message`) or `other`, so scanners cannot explode the series count.
    pub route: String,
    /// The request's method (`GET`, `POST`, …), as the client sent it.
    pub method: String,
    /// The response's status code, so errors can be rated against successes.
    pub status: u16,
}

/// `route` of a request latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// A known route or `other`, as in [`RequestLabels::route`].
    pub route: String,
}

/// Why a publish did not end in an ack.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    /// `not_connected`, `connection_lost`, `timeout`.
    pub reason: String,
}

/// Where a published message that no binding matched went.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UnroutedLabels {
    /// `alternate_exchange` (kept in its queue) or `nowhere` (dropped by the broker).
    pub to: String,
}

/// `requeue` of a rejected message.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RejectLabels {
    /// `true` if the message went back to the queue, `false` if dead-lettered or dropped.
    pub requeue: String,
}

/// `attempt` of a retried message.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttemptLabels {
    /// The attempt that failed (1 = the first delivery); bounded by the retry delays (≤ 10).
    pub attempt: String,
}

/// The connection state a gauge stands for.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    /// One of [`CONNECTION_STATES`]; exactly one of them is 1 at a time.
    pub state: String,
    /// The endpoint (`host:port`) the manager is connected to or trying: in a cluster, which
    /// node this replica sits on.
    pub node: String,
}

/// Every series the lab exports.
pub struct Metrics {
    registry: Registry,
    // Publishing.
    /// Messages handed to the broker; with confirmed, shows what is in flight.
    pub published: Counter,
    /// Publishes the broker acked, unroutable (returned) ones included.
    pub confirmed: Counter,
    /// `POST /publish` messages no binding matched, by where they went (alternate exchange or
    /// nowhere).
    pub unrouted: Family<UnroutedLabels, Counter>,
    /// Publishes the broker refused (nack): not stored, and reported to the caller as failed.
    pub nacked: Counter,
    /// Publishes no queue was bound for: acked, yet stored nowhere (also counted in confirmed).
    pub returned: Counter,
    /// Publishes that got no confirm at all, by reason; a nack counts in nacked instead.
    pub publish_failures: Family<FailureLabels, Counter>,
    /// Seconds from handing a message to the broker to its ack (returned ones included).
    pub confirm_latency: Histogram,
    // HTTP.
    /// HTTP requests answered, by route, method and status (probes and scrapes included).
    pub requests: Family<RequestLabels, Counter>,
    /// Seconds from receiving a request to its response, by route.
    pub request_latency: Family<RouteLabels, Histogram>,
    // Consuming.
    /// Messages the broker delivered to this consumer, redeliveries included.
    pub delivered: Counter,
    /// Deliveries acked after handling: work done.
    pub acked: Counter,
    /// Deliveries rejected (simulated failures), by whether they were requeued.
    pub rejected: Family<RejectLabels, Counter>,
    /// Deliveries flagged redelivered: a consumer before us got them and did not ack.
    pub redelivered: Counter,
    /// Seconds from delivery to ack or reject, simulated work included.
    pub processing_time: Histogram,
    /// Seconds from the envelope's timestamp to the end of handling; only enveloped messages.
    pub end_to_end_latency: Histogram,
    // Connection.
    /// 1 for the current connection state, 0 for the others (see `set_connection_state`).
    pub connection_state: Family<StateLabels, Gauge>,
    /// Successful connects after the first: how often the connection was lost and regained.
    pub reconnects: Counter,
    /// Reconnects that landed on another node than the session before: failovers in a cluster.
    pub failovers: Counter,
    /// The node the state gauge is labelled with, so a move to another node drops the old series.
    state_node: std::sync::Mutex<String>,
    /// Unix time (seconds) of the last successful connect; 0 until the first.
    pub last_connect: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// Request/reply: calls, round trips, late replies, requests served.
    pub rpc: RpcMetrics,
    /// Failed messages parked in a delay queue for another attempt, by the attempt that failed:
    /// how far up the retry ladder messages climb.
    pub retries: Family<AttemptLabels, Counter>,
    /// A stream reader's position and lag; `None` (and not exported) for every other role.
    pub stream: Option<StreamGauges>,
    /// Confirmed publishes per destination, for the console's diagram (not exported).
    pub published_to: PublishedToTally,
}

/// The states the `playground_connection_state` gauge can show.
pub const CONNECTION_STATES: [&str; 5] = [
    "connecting",
    "connected",
    "disconnected",
    "failed",
    "closed",
];

fn latency_buckets() -> Histogram {
    // 0.5 ms … ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Metrics {
    /// A registry for `role` (it shows in `playground_build_info`), every series at zero.
    pub fn new(role: &str) -> Self {
        let mut registry = Registry::with_prefix("playground");
        registry.register(
            "build",
            "The role this process runs and the binary's version",
            Info::new(vec![
                ("role".to_owned(), role.to_owned()),
                ("version".to_owned(), env!("CARGO_PKG_VERSION").to_owned()),
            ]),
        );
        let metrics = Self {
            published: Counter::default(),
            confirmed: Counter::default(),
            nacked: Counter::default(),
            returned: Counter::default(),
            unrouted: Family::default(),
            publish_failures: Family::default(),
            confirm_latency: latency_buckets(),
            requests: Family::default(),
            request_latency: Family::new_with_constructor(latency_buckets),
            delivered: Counter::default(),
            acked: Counter::default(),
            rejected: Family::default(),
            redelivered: Counter::default(),
            processing_time: latency_buckets(),
            end_to_end_latency: latency_buckets(),
            connection_state: Family::default(),
            reconnects: Counter::default(),
            failovers: Counter::default(),
            state_node: std::sync::Mutex::new(String::new()),
            last_connect: Gauge::default(),
            rpc: RpcMetrics::new(),
            retries: Family::default(),
            stream: (role == STREAM_ROLE).then(StreamGauges::default),
            published_to: PublishedToTally::default(),
            registry: Registry::default(),
        };
        if let Some(stream) = &metrics.stream {
            stream.register(&mut registry);
        }
        registry.register(
            "messages_published",
            "Messages handed to the broker",
            metrics.published.clone(),
        );
        registry.register(
            "messages_confirmed",
            "Published messages the broker confirmed (acked)",
            metrics.confirmed.clone(),
        );
        registry.register(
            "messages_nacked",
            "Published messages the broker refused (nack)",
            metrics.nacked.clone(),
        );
        registry.register(
            "messages_returned",
            "Published messages no queue was bound for (returned as unroutable)",
            metrics.returned.clone(),
        );
        registry.register(
            "publish_failures",
            "Publishes that got no confirm, by reason",
            metrics.publish_failures.clone(),
        );
        registry.register(
            "publish_confirm_duration_seconds",
            "From handing a message to the broker to its confirm",
            metrics.confirm_latency.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            metrics.requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            metrics.request_latency.clone(),
        );
        registry.register(
            "messages_delivered",
            "Messages the broker delivered to this consumer",
            metrics.delivered.clone(),
        );
        registry.register(
            "messages_acked",
            "Delivered messages acked after handling",
            metrics.acked.clone(),
        );
        registry.register(
            "messages_rejected",
            "Delivered messages rejected, by requeue",
            metrics.rejected.clone(),
        );
        registry.register(
            "messages_redelivered",
            "Deliveries flagged redelivered (a consumer before us did not ack)",
            metrics.redelivered.clone(),
        );
        registry.register(
            "message_processing_duration_seconds",
            "From delivery to ack or reject",
            metrics.processing_time.clone(),
        );
        registry.register(
            "message_end_to_end_latency_seconds",
            "From the envelope's timestamp (producer) to the end of handling (consumer)",
            metrics.end_to_end_latency.clone(),
        );
        registry.register(
            "connection_state",
            "1 for the current broker connection state, 0 for the others",
            metrics.connection_state.clone(),
        );
        registry.register(
            "reconnects",
            "Successful connects after the first",
            metrics.reconnects.clone(),
        );
        registry.register(
            "failovers",
            "Reconnects that landed on another broker node than the session before",
            metrics.failovers.clone(),
        );
        registry.register(
            "unrouted",
            "Messages published to a lab exchange that no binding matched, by where they went",
            metrics.unrouted.clone(),
        );
        registry.register(
            "last_connect_timestamp_seconds",
            "Unix time of the last successful connect",
            metrics.last_connect.clone(),
        );
        metrics.rpc.register(&mut registry);
        registry.register(
            "retries",
            "Failed messages sent to a delay queue for another attempt, by the attempt that failed",
            metrics.retries.clone(),
        );
        Self {
            registry,
            ..metrics
        }
    }

    /// Marks `state` as the current connection state, at `node` (connected to, or trying).
    pub fn set_connection_state(&self, state: &str, node: &str) {
        let mut labelled = self.state_node.lock().unwrap_or_else(|p| p.into_inner());
        if *labelled != node {
            // One node's series at a time: the gauge says where this replica is now.
            self.connection_state.clear();
            node.clone_into(&mut labelled);
        }
        for candidate in CONNECTION_STATES {
            let value = i64::from(candidate == state);
            self.connection_state
                .get_or_create(&StateLabels {
                    state: candidate.to_owned(),
                    node: node.to_owned(),
                })
                .set(value);
        }
    }

    /// Counts a successful connect (a reconnect after the first, a failover when `moved` to
    /// another node) and stamps its time.
    pub fn connected(&self, generation: u64, moved: bool) {
        if generation > 1 {
            self.reconnects.inc();
        }
        if moved {
            self.failovers.inc();
        }
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.last_connect.set(now);
    }

    /// Counts one HTTP request.
    pub fn request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                method: method.to_owned(),
                status,
            })
            .inc();
        self.request_latency
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// The Prometheus text exposition of every series.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_registry_counts_on_its_own() {
        let (a, b) = (Metrics::new("consume"), Metrics::new("send"));
        a.acked.inc();
        assert_eq!((a.acked.get(), b.acked.get()), (1, 0));
        a.set_connection_state("connected", "127.0.0.1:5681");
        a.set_connection_state("connecting", "127.0.0.1:5682");
        let text = a.render();
        assert!(
            text.contains(
                r#"playground_connection_state{state="connecting",node="127.0.0.1:5682"} 1"#
            ),
            "{text}"
        );
        assert!(
            !text.contains("5681"),
            "the old node's series is gone: {text}"
        );
        assert!(text.contains(r#"role="consume""#), "{text}");
    }
}
