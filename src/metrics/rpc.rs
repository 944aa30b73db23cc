//! The request/reply series: calls by outcome and their round trip on the caller's side, requests
//! by outcome on the server's. Kept apart from the messaging series because only the RPC roles
//! (and produce-server's `/rpc`) move them.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// `outcome` of a call or a handled request (a small fixed set, never an id).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `replied`, `timeout`, `no_server`, … (calls); `replied`, `error_reply`, … (requests).
    pub outcome: String,
}

/// The RPC series of one role.
#[derive(Debug)]
pub struct RpcMetrics {
    /// Calls by how they ended (`replied` or the failure's name).
    pub calls: Family<OutcomeLabels, Counter>,
    /// From handing a request over to its reply, for calls that got one.
    pub round_trip: Histogram,
    /// Replies that came after their call had ended (timed out, or its caller gone): dropped.
    pub late_replies: Counter,
    /// Calls waiting for their reply now.
    pub pending: Gauge,
    /// Requests an rpc-server handled, by outcome.
    pub requests: Family<OutcomeLabels, Counter>,
    /// Round trips (µs) since the console last took them, for its p50/p99: a histogram's
    /// buckets are too coarse for a lab where a round trip is a millisecond.
    recent: Mutex<Vec<u64>>,
}

/// The most round trips kept between two console snapshots; beyond, the rest are not sampled.
const MAX_RECENT: usize = 10_000;

impl RpcMetrics {
    pub(super) fn new() -> Self {
        Self {
            calls: Family::default(),
            round_trip: super::latency_buckets(),
            late_replies: Counter::default(),
            pending: Gauge::default(),
            requests: Family::default(),
            recent: Mutex::new(Vec::new()),
        }
    }

    pub(super) fn register(&self, registry: &mut Registry) {
        registry.register(
            "rpc_calls",
            "RPC calls by outcome (replied, timeout, no_server, connection_lost, …)",
            self.calls.clone(),
        );
        registry.register(
            "rpc_round_trip_seconds",
            "From publishing an RPC request to receiving its reply",
            self.round_trip.clone(),
        );
        registry.register(
            "rpc_late_replies",
            "Replies that arrived after their call had ended; dropped",
            self.late_replies.clone(),
        );
        registry.register(
            "rpc_pending_calls",
            "RPC calls waiting for their reply",
            self.pending.clone(),
        );
        registry.register(
            "rpc_requests",
            "RPC requests this server handled, by outcome",
            self.requests.clone(),
        );
    }

    /// Counts one finished call; `round_trip` for those that got a reply.
    pub fn record_call(&self, outcome: &str, round_trip: Option<Duration>, pending: usize) {
        self.calls
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_owned(),
            })
            .inc();
        if let Some(round_trip) = round_trip {
            self.round_trip.observe(round_trip.as_secs_f64());
            let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
            if recent.len() < MAX_RECENT {
                recent.push(u64::try_from(round_trip.as_micros()).unwrap_or(u64::MAX));
            }
        }
        self.pending.set(i64::try_from(pending).unwrap_or(i64::MAX));
    }

    /// The round trips (µs) recorded since the last call, for the console.
    pub fn take_recent(&self) -> Vec<u64> {
        std::mem::take(&mut *self.recent.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The total of `family` over `outcomes`.
    pub fn total(family: &Family<OutcomeLabels, Counter>, outcomes: &[&str]) -> u64 {
        outcomes
            .iter()
            .map(|outcome| {
                family
                    .get_or_create(&OutcomeLabels {
                        outcome: (*outcome).to_owned(),
                    })
                    .get()
            })
            .sum()
    }

    /// Counts one request a server handled.
    pub fn record_request(&self, outcome: &str) {
        self.requests
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_owned(),
            })
            .inc();
    }
}
