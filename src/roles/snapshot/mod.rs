//! Snapshots for the lab console: every role publishes, once per `--telemetry` interval, what it
//! is and what it did since the last one (counters, and the messages it handled), to a
//! non-durable fanout exchange. produce-server's console aggregates them.
//!
//! It rides on the role's own connection, on the session's side channel, fire-and-forget: a
//! snapshot that cannot be sent is dropped, and nothing here can slow, fail or take the confirm
//! numbers of the role's real work (the side channel is never in confirm mode).

mod handled_log;
mod shape;
mod trace;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::debug;

use crate::amqp::{
    publish_fire_and_forget, ConnectionManager, Destination, ExchangeKind, ExchangeSpec,
    InstanceName, MessageExtras, OutgoingMessage, RoutingKey, SnapshotSettings, CALL_OUTCOMES,
};
use crate::message::{rfc3339_now, unix_seconds_now};
use crate::metrics::{Metrics, RejectLabels, RpcMetrics};
pub use handled_log::HandledLog;
pub use shape::Shape;
pub use trace::{Trace, PREVIEW_CHARS};

/// The most handled messages one snapshot lists; the rest are only counted (`cut`).
pub const MAX_HANDLED: usize = 200;

/// What happened to one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Handled and acked: the broker forgets it.
    Acked,
    /// Rejected with requeue: back on the queue, to be redelivered (maybe to another worker).
    Requeued,
    /// Rejected without requeue and routed to the dead-letter queue, where it can be inspected.
    DeadLettered,
    /// Rejected without requeue, with no dead-letter queue to take it: gone for good.
    Dropped,
    /// Failed, and parked in a delay queue: it comes back for its next attempt.
    Retried,
}

/// One message a consumer or subscriber handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handled {
    /// The AMQP `message_id` (empty if the publisher set none), to find it in the logs.
    pub message_id: String,
    /// Position in its burst, from the envelope; `None` for single messages and subscribers.
    #[serde(default)]
    pub seq: Option<u64>,
    /// The envelope's burst id, so the console shows how a burst was shared out.
    #[serde(default)]
    pub burst: Option<String>,
    /// The key it was delivered with; set by subscribers, `None` from the work-queue consumer.
    #[serde(default)]
    pub routing_key: Option<String>,
    /// The broker's redelivered flag: an earlier consumer got it and did not ack.
    pub redelivered: bool,
    /// What became of it, which decides whether the console highlights it.
    pub outcome: Outcome,
    /// Which attempt this was, with `--retry-delays` (1 = the first delivery); `None` without.
    #[serde(default)]
    pub attempt: Option<u32>,
    /// Its exchange, publisher, text and time: the console's dot and its list of recent messages.
    #[serde(flatten)]
    pub trace: Trace,
}

/// Counters since the role started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotCounters {
    /// Deliveries taken from the broker; the console's rate for consumers and subscribers.
    pub received: u64,
    /// Deliveries acked after handling.
    pub acked: u64,
    /// Deliveries rejected (simulated failures), requeued or not.
    pub rejected: u64,
    /// Deliveries flagged redelivered: an earlier consumer did not ack them.
    pub redelivered: u64,
    /// Rejections routed to the dead-letter queue, counted by the [`HandledLog`], not the metrics.
    pub dead_lettered: u64,
    /// Messages handed to the broker; with confirmed, shows what is in flight.
    pub published: u64,
    /// Publishes the broker acked, unroutable ones included; produce-server's console rate.
    pub confirmed: u64,
    /// Confirmed publishes that no queue was bound for (returned as unroutable).
    pub returned: u64,
    /// Failures parked in a delay queue for another attempt (`--retry-delays`).
    #[serde(default)]
    pub retried: u64,
    /// RPC calls made (produce-server's `/rpc`, `call`), however they ended.
    #[serde(default)]
    pub rpc_calls: u64,
    /// RPC calls that got no reply within their timeout.
    #[serde(default)]
    pub rpc_timeouts: u64,
    /// RPC calls that failed otherwise (no server, connection lost, …).
    #[serde(default)]
    pub rpc_failed: u64,
    /// Replies that came after their call had ended, dropped.
    #[serde(default)]
    pub rpc_late_replies: u64,
    /// Requests an rpc-server answered (error replies included).
    #[serde(default)]
    pub rpc_served: u64,
}

/// RPC round trips since the previous snapshot, for the console's p50/p99.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundTrips {
    /// How many calls got their reply in the window.
    pub replies: u64,
    /// Median round trip, microseconds.
    pub p50_us: u64,
    /// 99th percentile round trip, microseconds.
    pub p99_us: u64,
}

impl RoundTrips {
    /// The figures of `samples` (µs); `None` when there are none.
    pub fn of(mut samples: Vec<u64>) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let at = |p: f64| {
            let rank = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
            samples[rank - 1]
        };
        Some(Self {
            replies: samples.len() as u64,
            p50_us: at(0.50),
            p99_us: at(0.99),
        })
    }
}

/// What a role is, for the console's card.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The subcommand (`consume`, `topic-sub`, …): how the console labels and keys the card.
    pub role: String,
    /// `--name` (consumers, subscribers) or the service name (produce-server).
    pub instance: String,
    /// The work queue, or a subscriber's named queue; `None` for a server-named one.
    #[serde(default)]
    pub queue: Option<String>,
    /// How many unacked messages it may hold; `None` for roles that do not consume.
    #[serde(default)]
    pub prefetch: Option<u16>,
    /// The exchange a subscriber is bound to; `None` for the other roles.
    #[serde(default)]
    pub exchange: Option<String>,
    /// A topic or direct subscriber's binding keys; empty for fanout and the other roles.
    #[serde(default)]
    pub patterns: Vec<String>,
    /// A headers subscriber's binding (`all of {level=error}`): what it has instead of patterns.
    #[serde(default)]
    pub header_match: Option<String>,
}

/// One snapshot as published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Who sent it; flattened, so its fields sit at the top level of the JSON.
    #[serde(flatten)]
    pub identity: Identity,
    /// Tells two processes with the same name apart (host name and process id).
    pub process: String,
    /// The connection state (`connected`, `disconnected`, …) when it was taken.
    pub connection: String,
    /// The broker node (`host:port`) the role is connected to; in a cluster, the console shows
    /// which replica sits on which node and when it moved.
    #[serde(default)]
    pub node: Option<String>,
    /// Totals since the role started, not since the last snapshot: the console takes differences.
    pub counters: SnapshotCounters,
    /// The messages handled since the previous snapshot, at most [`MAX_HANDLED`] of them.
    pub handled: Vec<Handled>,
    /// Handled messages left out of `handled` because there were more than [`MAX_HANDLED`].
    pub cut: u64,
    /// RPC round trips in the window, for a role that makes calls.
    #[serde(default)]
    pub rpc: Option<RoundTrips>,
    /// The sender's snapshot interval; the console calls a card stale after three of them.
    pub interval_ms: u64,
    /// When it was published (RFC 3339 UTC); the time the console shows on its highlights.
    pub sent_at: String,
    /// A stream reader's position and lag; `None` for the other roles (and older senders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamPosition>,
    /// What the role declared, consumes and publishes to: its part of the topology diagram.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<Shape>,
}

/// Where a stream reader stands, as the console shows it on its card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamPosition {
    /// The offset of the last message handled; `None` before the first.
    #[serde(default)]
    pub offset: Option<i64>,
    /// Messages in the stream after the last one handled.
    #[serde(default)]
    pub lag: u64,
}

/// The telemetry exchange, for the role's topology.
pub fn exchange_spec(settings: &SnapshotSettings) -> ExchangeSpec {
    ExchangeSpec {
        name: settings.exchange.clone(),
        kind: ExchangeKind::Fanout,
        durable: false,
        arguments: amqprs::FieldTable::new(),
    }
}

/// What a snapshot task reads from: the role's manager (connection state, side channel,
/// metrics) and its log of handled messages.
pub struct Source {
    /// Read for the connection state, the side channel to publish on, and the counters.
    pub manager: Arc<ConnectionManager>,
    /// Shared with the role's consumer, which records into it.
    pub handled: Arc<HandledLog>,
}

/// Publishes a snapshot every interval until `stop`, as a task of `tracker`.
pub fn spawn(
    settings: SnapshotSettings,
    identity: Identity,
    source: Source,
    stop: CancellationToken,
    tracker: &TaskTracker,
) {
    let process = format!("{}/{}", crate::identity::host_name(), std::process::id());
    tracker.spawn(async move {
        // The instance name was checked as an AMQP short string at start-up.
        let Ok(app_id) = InstanceName::parse(identity.instance.clone()) else {
            return;
        };
        let mut ticker = tokio::time::interval(settings.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.cancelled() => return,
            }
            let Some(session) = source.manager.current() else {
                continue;
            };
            let (handled, cut, dead_lettered) = source.handled.take();
            let (state, node) = {
                let state = source.manager.state();
                let state = state.borrow();
                (state.name().to_owned(), state.node().map(str::to_owned))
            };
            let snapshot = Snapshot {
                identity: identity.clone(),
                process: process.clone(),
                connection: state,
                node,
                counters: SnapshotCounters {
                    retried: source.handled.retried(),
                    ..counters(source.manager.metrics(), dead_lettered)
                },
                handled,
                cut,
                rpc: RoundTrips::of(source.manager.metrics().rpc.take_recent()),
                interval_ms: u64::try_from(settings.interval.as_millis()).unwrap_or(u64::MAX),
                sent_at: rfc3339_now(),
                stream: stream_position(source.manager.metrics()),
                shape: Some(
                    Shape::of(
                        &source.manager,
                        &session,
                        &identity,
                        settings.exchange.as_str(),
                    )
                    .await,
                ),
            };
            let Ok(body) = serde_json::to_vec(&snapshot) else {
                continue;
            };
            let message = OutgoingMessage {
                destination: Destination::Exchange(settings.exchange.clone(), RoutingKey::empty()),
                body,
                message_id: uuid::Uuid::new_v4().to_string(),
                timestamp: unix_seconds_now(),
                persistent: false,
                content_type: "application/json",
                extras: MessageExtras::default(),
            };
            if let Err(error) = publish_fire_and_forget(&session, message, &app_id).await {
                debug!(%error, "snapshot not sent");
            }
        }
    });
}

/// A stream reader's position, from its gauges.
fn stream_position(m: &Metrics) -> Option<StreamPosition> {
    m.stream.as_ref().map(|gauges| StreamPosition {
        offset: Some(gauges.offset.get()).filter(|offset| *offset >= 0),
        lag: u64::try_from(gauges.lag.get()).unwrap_or(0),
    })
}

/// The role's counters since start, from its metrics.
fn counters(m: &Metrics, dead_lettered: u64) -> SnapshotCounters {
    let rejected: u64 = ["true", "false"]
        .iter()
        .map(|requeue| {
            m.rejected
                .get_or_create(&RejectLabels {
                    requeue: (*requeue).to_owned(),
                })
                .get()
        })
        .sum();
    SnapshotCounters {
        received: m.delivered.get(),
        acked: m.acked.get(),
        rejected,
        redelivered: m.redelivered.get(),
        dead_lettered,
        published: m.published.get(),
        confirmed: m.confirmed.get(),
        returned: m.returned.get(),
        rpc_calls: RpcMetrics::total(&m.rpc.calls, &CALL_OUTCOMES),
        rpc_timeouts: RpcMetrics::total(&m.rpc.calls, &["timeout"]),
        rpc_failed: RpcMetrics::total(&m.rpc.calls, &CALL_OUTCOMES[2..]),
        rpc_late_replies: m.rpc.late_replies.get(),
        rpc_served: RpcMetrics::total(&m.rpc.requests, &["replied", "error_reply"]),
        retried: 0,
    }
}
