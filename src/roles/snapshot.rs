//! Snapshots for the lab console: every role publishes, once per `--telemetry` interval, what it
//! is and what it did since the last one (counters, and the messages it handled), to a
//! non-durable fanout exchange. produce-server's console aggregates them.
//!
//! It rides on the role's own connection manager and publisher, fire-and-forget: a snapshot that
//! cannot be sent is dropped, and nothing here can slow or fail the role's real work. Like the
//! metrics, the record of handled messages is process-wide (one role per process).

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::amqp::{
    ConfirmedPublisher, ConnectionState, ExchangeSpec, OutgoingMessage, Session, SnapshotSettings,
};
use crate::message::{rfc3339_now, unix_seconds_now};
use crate::metrics::metrics;

/// The most handled messages one snapshot lists; the rest are only counted (`cut`).
pub const MAX_HANDLED: usize = 200;

/// What happened to one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Acked,
    Requeued,
    DeadLettered,
    Dropped,
}

/// One message a consumer or subscriber handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handled {
    pub message_id: String,
    #[serde(default)]
    pub seq: Option<u64>,
    #[serde(default)]
    pub burst: Option<String>,
    #[serde(default)]
    pub routing_key: Option<String>,
    pub redelivered: bool,
    pub outcome: Outcome,
}

/// Counters since the role started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotCounters {
    pub received: u64,
    pub acked: u64,
    pub rejected: u64,
    pub redelivered: u64,
    pub dead_lettered: u64,
    pub published: u64,
    pub confirmed: u64,
    pub returned: u64,
}

/// What a role is, for the console's card.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub role: String,
    /// `--name` (consumers, subscribers) or the service name (produce-server).
    pub instance: String,
    #[serde(default)]
    pub queue: Option<String>,
    #[serde(default)]
    pub prefetch: Option<u16>,
    #[serde(default)]
    pub exchange: Option<String>,
    #[serde(default)]
    pub patterns: Vec<String>,
}

/// One snapshot as published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    #[serde(flatten)]
    pub identity: Identity,
    /// Tells two processes with the same name apart (host name and process id).
    pub process: String,
    pub connection: String,
    pub counters: SnapshotCounters,
    pub handled: Vec<Handled>,
    /// Handled messages left out of `handled` because there were more than [`MAX_HANDLED`].
    pub cut: u64,
    pub interval_ms: u64,
    pub sent_at: String,
}

#[derive(Default)]
struct Recorder {
    handled: Vec<Handled>,
    cut: u64,
    dead_lettered: u64,
}

fn recorder() -> &'static Mutex<Recorder> {
    static RECORDER: OnceLock<Mutex<Recorder>> = OnceLock::new();
    RECORDER.get_or_init(Mutex::default)
}

/// Notes a handled message for the next snapshot.
pub fn record(handled: Handled) {
    if let Ok(mut recorder) = recorder().lock() {
        if handled.outcome == Outcome::DeadLettered {
            recorder.dead_lettered += 1;
        }
        if recorder.handled.len() < MAX_HANDLED {
            recorder.handled.push(handled);
        } else {
            recorder.cut += 1;
        }
    }
}

/// The handled messages since the last call, and how many did not fit.
fn take_handled() -> (Vec<Handled>, u64, u64) {
    match recorder().lock() {
        Ok(mut recorder) => {
            let handled = std::mem::take(&mut recorder.handled);
            let cut = std::mem::take(&mut recorder.cut);
            (handled, cut, recorder.dead_lettered)
        }
        Err(_) => (Vec::new(), 0, 0),
    }
}

/// The telemetry exchange, for the role's topology.
pub fn exchange_spec(settings: &SnapshotSettings) -> ExchangeSpec {
    ExchangeSpec {
        name: settings.exchange.clone(),
        kind: "fanout".to_owned(),
        durable: false,
    }
}

/// Publishes a snapshot every interval until `stop`.
pub fn spawn(
    settings: SnapshotSettings,
    identity: Identity,
    sessions: watch::Receiver<Option<Session>>,
    state: watch::Receiver<ConnectionState>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let publisher = Arc::new(ConfirmedPublisher::new(
        sessions,
        Duration::from_secs(1),
        "playground-telemetry",
    ));
    let process = format!("{}/{}", crate::identity::host_name(), std::process::id());
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(settings.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.cancelled() => return,
            }
            let (handled, cut, dead_lettered) = take_handled();
            let m = metrics();
            let rejected: u64 = ["true", "false"]
                .iter()
                .map(|requeue| {
                    m.rejected
                        .get_or_create(&crate::metrics::RejectLabels {
                            requeue: (*requeue).to_owned(),
                        })
                        .get()
                })
                .sum();
            let snapshot = Snapshot {
                identity: identity.clone(),
                process: process.clone(),
                connection: state.borrow().name().to_owned(),
                counters: SnapshotCounters {
                    received: m.delivered.get(),
                    acked: m.acked.get(),
                    rejected,
                    redelivered: m.redelivered.get(),
                    dead_lettered,
                    published: m.published.get(),
                    confirmed: m.confirmed.get(),
                    returned: m.returned.get(),
                },
                handled,
                cut,
                interval_ms: u64::try_from(settings.interval.as_millis()).unwrap_or(u64::MAX),
                sent_at: rfc3339_now(),
            };
            let Ok(body) = serde_json::to_vec(&snapshot) else {
                continue;
            };
            let message = OutgoingMessage {
                exchange: settings.exchange.clone(),
                routing_key: String::new(),
                body,
                message_id: uuid::Uuid::new_v4().to_string(),
                timestamp: unix_seconds_now(),
                persistent: false,
                content_type: "application/json",
            };
            if let Err(error) = publisher.publish_fire_and_forget(message).await {
                debug!(%error, "snapshot not sent");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handled_messages_are_bounded_and_counted() {
        for i in 0..(MAX_HANDLED + 5) {
            record(Handled {
                message_id: i.to_string(),
                seq: None,
                burst: None,
                routing_key: None,
                redelivered: false,
                outcome: Outcome::Acked,
            });
        }
        let (handled, cut, _) = take_handled();
        assert_eq!(handled.len(), MAX_HANDLED);
        assert_eq!(cut, 5);
        assert_eq!(take_handled().0.len(), 0, "taken once");
    }
}
