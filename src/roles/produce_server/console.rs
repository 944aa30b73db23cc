//! The live lab console: produce-server reads every role's snapshots from the telemetry exchange
//! (with its own exclusive queue), keeps an aggregated view, and streams it to browsers as
//! Server-Sent Events at `GET /events`; `GET /` serves the page (embedded, no build step).
//!
//! The view answers what the work-queue and pub/sub lessons are about and the broker's own UI
//! does not show: which instance handled which message — bars per consumer for the last burst, a
//! routing key × subscriber matrix, redeliveries and dead letters.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio_stream::wrappers::WatchStream;
use tokio_stream::StreamExt;

use crate::http::{full_response, HttpResponse};
use crate::message::rfc3339_now;
use crate::roles::snapshot::{Outcome, Snapshot};

/// The page, embedded in the binary.
const PAGE: &str = include_str!("console.html");

/// How many highlighted events (redeliveries, dead letters) the view keeps.
const MAX_HIGHLIGHTS: usize = 20;

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

#[derive(Default)]
struct State {
    instances: BTreeMap<String, Instance>,
    bursts: BTreeMap<String, Burst>,
    bursts_seen: u64,
    /// routing key → subscriber → messages.
    matrix: BTreeMap<String, BTreeMap<String, u64>>,
    highlights: VecDeque<Value>,
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
                        *state
                            .matrix
                            .entry(key.clone())
                            .or_default()
                            .entry(name.clone())
                            .or_default() += 1;
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
            let mut names: Vec<&String> =
                state.matrix.values().flat_map(|row| row.keys()).collect();
            names.sort();
            names.dedup();
            names
        };
        json!({
            "generated_at": rfc3339_now(),
            "interval_ms": interval_ms,
            "instances": instances,
            "last_burst": last_burst,
            "matrix": {
                "routing_keys": state.matrix.keys().collect::<Vec<_>>(),
                "subscribers": subscribers,
                "counts": state.matrix,
            },
            "highlights": state.highlights,
        })
    }

    /// Ends every `/events` stream (on shutdown), so graceful shutdown does not wait on them.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.publish();
    }

    /// `GET /events`: the view now, then on every change (at least once per interval).
    pub fn events(self: &Arc<Self>) -> HttpResponse {
        let console = self.clone();
        let stream = WatchStream::new(self.view.subscribe())
            .take_while(move |_| !console.closed.load(Ordering::SeqCst))
            .map(|view| Ok::<_, Infallible>(Frame::data(Bytes::from(format!("data: {view}\n\n")))));
        let mut response = Response::new(StreamBody::new(stream).boxed());
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        response
    }

    /// `GET /` for a browser.
    pub fn page() -> HttpResponse {
        full_response(StatusCode::OK, "text/html; charset=utf-8", PAGE)
    }
}

/// Whether a request's `Accept` header prefers HTML (a browser) over JSON (curl, scripts).
pub fn wants_html(accept: Option<&str>) -> bool {
    accept.is_some_and(|accept| accept.contains("text/html"))
}

/// Keeps ages and staleness moving even when no snapshot arrives.
pub async fn refresh_every(console: Arc<Console>, stop: tokio_util::sync::CancellationToken) {
    let mut ticker = tokio::time::interval(console.interval.min(Duration::from_secs(1)));
    loop {
        tokio::select! {
            _ = ticker.tick() => console.publish(),
            _ = stop.cancelled() => return,
        }
    }
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
}
