//! The live lab console: produce-server reads every role's snapshots from the telemetry exchange
//! (with its own exclusive queue), keeps an aggregated view, and streams it to browsers as
//! Server-Sent Events at `GET /events`; `GET /` serves the page (embedded, no build step).
//!
//! The view answers what the work-queue and pub/sub lessons are about and the broker's own UI
//! does not show: which instance handled which message — bars per consumer for the last burst, a
//! routing key × subscriber matrix, redeliveries and dead letters. Everything it keeps is bounded:
//! it is pushed to every browser each second, and anyone can publish new routing keys or
//! snapshots.

mod feed;

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::Response;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio_stream::wrappers::WatchStream;
use tokio_stream::{Stream, StreamExt};

pub use feed::spawn_tasks;

use crate::http::full_response;
use crate::message::rfc3339_now;
use crate::roles::snapshot::{Outcome, Snapshot};

/// The page, embedded in the binary.
const PAGE: &str = include_str!("page.html");

/// How many highlighted events (redeliveries, dead letters) the view keeps.
const MAX_HIGHLIGHTS: usize = 20;

/// How many routing keys the matrix shows: the most recently seen; older ones are only counted.
pub const MAX_ROUTING_KEYS: usize = 50;

/// How many instances the view follows at once; the longest silent ones give way.
const MAX_INSTANCES: usize = 200;

/// An instance that sent nothing for this long disappears from the view.
const FORGET_AFTER: Duration = Duration::from_secs(30);

struct Instance {
    snapshot: Snapshot,
    seen: Instant,
    /// Messages per second between its last two snapshots.
    rate: f64,
}

/// The messages of one burst handled so far, per instance.
struct Burst {
    /// Order of first sight: the newest burst is the one shown.
    first_seen: u64,
    handled: BTreeMap<String, u64>,
}

/// How many recent bursts are tallied at once: a slow worker may still be finishing an older
/// burst while a new one is spread, and its late reports must not reset the new bars.
const TRACKED_BURSTS: usize = 8;

/// One routing key's row of the matrix.
#[derive(Default)]
struct Row {
    /// When a message with this key was last reported (a sequence number): the oldest row goes
    /// first when the matrix is full.
    last_seen: u64,
    /// subscriber → messages.
    counts: BTreeMap<String, u64>,
}

#[derive(Default)]
struct State {
    instances: BTreeMap<String, Instance>,
    bursts: BTreeMap<String, Burst>,
    bursts_seen: u64,
    /// routing key → its row; at most [`MAX_ROUTING_KEYS`].
    matrix: BTreeMap<String, Row>,
    /// Counts reports, to order the matrix's rows by recency.
    reports_seen: u64,
    /// Routing keys dropped from the matrix to keep it bounded.
    dropped_routing_keys: u64,
    highlights: VecDeque<Value>,
}

impl State {
    /// Counts one message with `key` for `subscriber`, making room for a new key by dropping
    /// the least recently seen one.
    fn count_routing_key(&mut self, key: &str, subscriber: &str) {
        self.reports_seen += 1;
        if !self.matrix.contains_key(key) && self.matrix.len() >= MAX_ROUTING_KEYS {
            let oldest = self
                .matrix
                .iter()
                .min_by_key(|(_, row)| row.last_seen)
                .map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                self.matrix.remove(&oldest);
                self.dropped_routing_keys += 1;
            }
        }
        let row = self.matrix.entry(key.to_owned()).or_default();
        row.last_seen = self.reports_seen;
        *row.counts.entry(subscriber.to_owned()).or_default() += 1;
    }

    /// Makes room for one more instance by forgetting the longest silent one.
    fn make_room_for_instance(&mut self, key: &str) {
        if self.instances.contains_key(key) || self.instances.len() < MAX_INSTANCES {
            return;
        }
        let oldest = self
            .instances
            .iter()
            .min_by_key(|(_, instance)| instance.seen)
            .map(|(key, _)| key.clone());
        if let Some(oldest) = oldest {
            self.instances.remove(&oldest);
        }
    }
}

/// The aggregated view, shared by the telemetry consumer and every `/events` stream.
pub struct Console {
    state: Mutex<State>,
    view: watch::Sender<Arc<String>>,
    interval: Duration,
    closed: AtomicBool,
}

impl Console {
    /// An empty console; `interval` is the roles' snapshot interval (staleness, refresh).
    pub fn new(interval: Duration) -> Arc<Self> {
        let (view, _) = watch::channel(Arc::new(String::from("{}")));
        let console = Arc::new(Self {
            state: Mutex::new(State::default()),
            view,
            interval,
            closed: AtomicBool::new(false),
        });
        console.publish();
        console
    }

    /// Folds one snapshot into the view.
    pub fn ingest(&self, snapshot: Snapshot) {
        if let Ok(mut state) = self.state.lock() {
            let key = format!("{}/{}", snapshot.identity.role, snapshot.process);
            let name = snapshot.identity.instance.clone();
            let subscriber = matches!(snapshot.identity.role.as_str(), "fanout-sub" | "topic-sub");
            for handled in &snapshot.handled {
                if let Some(burst) = &handled.burst {
                    if !state.bursts.contains_key(burst) {
                        state.bursts_seen += 1;
                        let first_seen = state.bursts_seen;
                        state.bursts.insert(
                            burst.clone(),
                            Burst {
                                first_seen,
                                handled: BTreeMap::new(),
                            },
                        );
                        if state.bursts.len() > TRACKED_BURSTS {
                            let oldest = state
                                .bursts
                                .iter()
                                .min_by_key(|(_, b)| b.first_seen)
                                .map(|(id, _)| id.clone());
                            if let Some(oldest) = oldest {
                                state.bursts.remove(&oldest);
                            }
                        }
                    }
                    if let Some(tally) = state.bursts.get_mut(burst) {
                        *tally.handled.entry(name.clone()).or_default() += 1;
                    }
                }
                if subscriber {
                    if let Some(key) = &handled.routing_key {
                        state.count_routing_key(key, &name);
                    }
                }
                let kind = match (handled.outcome, handled.redelivered) {
                    (Outcome::DeadLettered, _) => Some("dead_lettered"),
                    (Outcome::Requeued | Outcome::Dropped, _) => Some("rejected"),
                    (Outcome::Acked, true) => Some("redelivered"),
                    (Outcome::Acked, false) => None,
                };
                if let Some(kind) = kind {
                    state.highlights.push_front(json!({
                        "kind": kind,
                        "instance": name,
                        "message_id": handled.message_id,
                        "seq": handled.seq,
                        "routing_key": handled.routing_key,
                        "at": snapshot.sent_at,
                    }));
                    state.highlights.truncate(MAX_HIGHLIGHTS);
                }
            }
            let now = Instant::now();
            let count = |s: &Snapshot| {
                if s.identity.role == "produce-server" {
                    s.counters.confirmed
                } else {
                    s.counters.received
                }
            };
            state.make_room_for_instance(&key);
            let rate = state.instances.get(&key).map_or(0.0, |previous| {
                let seconds = now.duration_since(previous.seen).as_secs_f64().max(0.001);
                count(&snapshot).saturating_sub(count(&previous.snapshot)) as f64 / seconds
            });
            state.instances.insert(
                key,
                Instance {
                    snapshot,
                    seen: now,
                    rate,
                },
            );
        }
        self.publish();
    }

    /// Re-renders the view (ages, staleness) and hands it to every stream.
    pub fn publish(&self) {
        let view = self.render();
        self.view.send_replace(Arc::new(view.to_string()));
    }

    fn render(&self) -> Value {
        let Ok(mut state) = self.state.lock() else {
            return json!({});
        };
        let now = Instant::now();
        state
            .instances
            .retain(|_, instance| now.duration_since(instance.seen) < FORGET_AFTER);
        let interval_ms = u64::try_from(self.interval.as_millis()).unwrap_or(u64::MAX);
        let instances: Vec<Value> = state
            .instances
            .iter()
            .map(|(key, instance)| {
                let s = &instance.snapshot;
                let age = now.duration_since(instance.seen);
                let stale_after = Duration::from_millis(s.interval_ms.max(100) * 3);
                json!({
                    "key": key,
                    "role": s.identity.role,
                    "instance": s.identity.instance,
                    "queue": s.identity.queue,
                    "prefetch": s.identity.prefetch,
                    "exchange": s.identity.exchange,
                    "patterns": s.identity.patterns,
                    "connection": s.connection,
                    "counters": s.counters,
                    "rate": (instance.rate * 10.0).round() / 10.0,
                    "age_ms": u64::try_from(age.as_millis()).unwrap_or(u64::MAX),
                    "stale": age > stale_after,
                })
            })
            .collect();
        let last_burst = state
            .bursts
            .iter()
            .max_by_key(|(_, burst)| burst.first_seen)
            .map(|(id, burst)| {
                json!({
                    "id": id,
                    // Handled so far (a requeued message counts each time it is handled).
                    "count": burst.handled.values().sum::<u64>(),
                    "handled": burst.handled,
                })
            });
        let subscribers: Vec<&String> = {
            let mut names: Vec<&String> = state
                .matrix
                .values()
                .flat_map(|row| row.counts.keys())
                .collect();
            names.sort();
            names.dedup();
            names
        };
        let counts: BTreeMap<&String, &BTreeMap<String, u64>> = state
            .matrix
            .iter()
            .map(|(key, row)| (key, &row.counts))
            .collect();
        json!({
            "generated_at": rfc3339_now(),
            "interval_ms": interval_ms,
            "instances": instances,
            "last_burst": last_burst,
            "matrix": {
                "routing_keys": state.matrix.keys().collect::<Vec<_>>(),
                "subscribers": subscribers,
                "counts": counts,
                "dropped_routing_keys": state.dropped_routing_keys,
            },
            "highlights": state.highlights,
        })
    }

    /// Ends every `/events` stream (on shutdown), so graceful shutdown does not wait on them.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.publish();
    }

    /// `GET /events`: the view now, then on every change (at least once per interval), with
    /// keep-alive comments so proxies do not time the stream out; it ends on shutdown.
    pub fn events(
        self: &Arc<Self>,
    ) -> Sse<impl Stream<Item = Result<Event, Infallible>> + Send + 'static> {
        let console = self.clone();
        let stream = WatchStream::new(self.view.subscribe())
            .take_while(move |_| !console.closed.load(Ordering::SeqCst))
            .map(|view| Ok(Event::default().data(view.as_str())));
        Sse::new(stream).keep_alive(KeepAlive::default())
    }

    /// `GET /` for a browser.
    pub fn page() -> Response {
        full_response(StatusCode::OK, "text/html; charset=utf-8", PAGE)
    }
}

/// Whether a request's `Accept` header prefers HTML (a browser) over JSON (curl, scripts).
pub fn wants_html(accept: Option<&str>) -> bool {
    accept.is_some_and(|accept| accept.contains("text/html"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roles::snapshot::{Handled, Identity, SnapshotCounters};

    fn snapshot(role: &str, name: &str, handled: Vec<Handled>) -> Snapshot {
        Snapshot {
            identity: Identity {
                role: role.to_owned(),
                instance: name.to_owned(),
                ..Identity::default()
            },
            process: format!("host/{name}"),
            connection: "connected".to_owned(),
            counters: SnapshotCounters::default(),
            handled,
            cut: 0,
            interval_ms: 1000,
            sent_at: rfc3339_now(),
        }
    }

    fn handled(burst: Option<&str>, key: Option<&str>, outcome: Outcome) -> Handled {
        Handled {
            message_id: "m".to_owned(),
            seq: Some(1),
            burst: burst.map(str::to_owned),
            routing_key: key.map(str::to_owned),
            redelivered: false,
            outcome,
        }
    }

    #[test]
    fn bursts_matrix_and_highlights_are_aggregated() {
        let console = Console::new(Duration::from_secs(1));
        console.ingest(snapshot(
            "consume",
            "fast",
            vec![handled(Some("b1"), None, Outcome::Acked); 3],
        ));
        console.ingest(snapshot(
            "consume",
            "slow",
            vec![
                handled(Some("b1"), None, Outcome::Acked),
                handled(Some("b1"), None, Outcome::DeadLettered),
            ],
        ));
        console.ingest(snapshot(
            "topic-sub",
            "error-handler",
            vec![handled(None, Some("app.error"), Outcome::Acked)],
        ));
        let view = console.render();
        assert_eq!(view["last_burst"]["handled"]["fast"], 3);
        assert_eq!(view["last_burst"]["handled"]["slow"], 2);
        assert_eq!(view["last_burst"]["count"], 5);
        assert_eq!(view["matrix"]["counts"]["app.error"]["error-handler"], 1);
        assert_eq!(view["highlights"][0]["kind"], "dead_lettered");
        assert_eq!(view["instances"].as_array().unwrap().len(), 3);
        // A new burst starts new bars; a late report of the old one does not reset them.
        console.ingest(snapshot(
            "consume",
            "fast",
            vec![handled(Some("b2"), None, Outcome::Acked)],
        ));
        console.ingest(snapshot(
            "consume",
            "slow",
            vec![handled(Some("b1"), None, Outcome::Acked)],
        ));
        console.ingest(snapshot(
            "consume",
            "fast",
            vec![handled(Some("b2"), None, Outcome::Acked)],
        ));
        let view = console.render();
        assert_eq!(view["last_burst"]["id"], "b2");
        assert_eq!(view["last_burst"]["count"], 2);
    }

    #[test]
    fn the_matrix_keeps_the_most_recent_routing_keys_and_counts_the_rest() {
        let console = Console::new(Duration::from_secs(1));
        for batch in 0..100 {
            let handled = (0..100)
                .map(|i| {
                    let key = format!("key.{batch}.{i}");
                    handled(None, Some(key.as_str()), Outcome::Acked)
                })
                .collect();
            console.ingest(snapshot("topic-sub", "audit", handled));
        }
        let view = console.render();
        let keys = view["matrix"]["routing_keys"].as_array().unwrap();
        assert_eq!(keys.len(), MAX_ROUTING_KEYS);
        assert!(keys
            .iter()
            .all(|k| k.as_str().unwrap().starts_with("key.99.")));
        assert_eq!(
            view["matrix"]["dropped_routing_keys"],
            10_000 - MAX_ROUTING_KEYS as u64
        );
        assert!(
            view.to_string().len() < 16 * 1024,
            "{}",
            view.to_string().len()
        );
    }
}
