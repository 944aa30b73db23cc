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

/// `route`/`method`/`status` of an HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// A known route (`/send-message`) or `other`, so scanners cannot explode the series count.
    pub route: String,
    pub method: String,
    pub status: u16,
}

/// `route` of a request latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

/// Why a publish did not end in an ack.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    /// `not_connected`, `connection_lost`, `timeout`.
    pub reason: String,
}

/// `requeue` of a rejected message.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RejectLabels {
    pub requeue: String,
}

/// The connection state a gauge stands for.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: String,
}

/// Every series the lab exports.
pub struct Metrics {
    registry: Registry,
    // Publishing.
    pub published: Counter,
    pub confirmed: Counter,
    pub nacked: Counter,
    pub returned: Counter,
    pub publish_failures: Family<FailureLabels, Counter>,
    pub confirm_latency: Histogram,
    // HTTP.
    pub requests: Family<RequestLabels, Counter>,
    pub request_latency: Family<RouteLabels, Histogram>,
    // Consuming.
    pub delivered: Counter,
    pub acked: Counter,
    pub rejected: Family<RejectLabels, Counter>,
    pub redelivered: Counter,
    pub processing_time: Histogram,
    pub end_to_end_latency: Histogram,
    // Connection.
    pub connection_state: Family<StateLabels, Gauge>,
    pub reconnects: Counter,
    pub last_connect: Gauge<f64, std::sync::atomic::AtomicU64>,
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
            last_connect: Gauge::default(),
            registry: Registry::default(),
        };
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
            "last_connect_timestamp_seconds",
            "Unix time of the last successful connect",
            metrics.last_connect.clone(),
        );
        Self {
            registry,
            ..metrics
        }
    }

    /// Marks `state` as the current connection state.
    pub fn set_connection_state(&self, state: &str) {
        for candidate in CONNECTION_STATES {
            let value = i64::from(candidate == state);
            self.connection_state
                .get_or_create(&StateLabels {
                    state: candidate.to_owned(),
                })
                .set(value);
        }
    }

    /// Counts a successful connect (a reconnect after the first) and stamps its time.
    pub fn connected(&self, generation: u64) {
        if generation > 1 {
            self.reconnects.inc();
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
        a.set_connection_state("connected");
        let text = a.render();
        assert!(
            text.contains(r#"playground_connection_state{state="connected"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"role="consume""#), "{text}");
    }
}
