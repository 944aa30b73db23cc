//! The console's aggregated view: snapshots in, one JSON document out. Pure data, no I/O, so the
//! aggregation is tested without a broker or a browser. Everything it keeps is bounded: it is
//! rendered for every browser each second, and anyone can publish new routing keys or snapshots.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::graph::{Graph, Member};
use crate::message::rfc3339_now;
use crate::roles::snapshot::{Handled, Outcome, Snapshot};

/// How many highlighted events (redeliveries, dead letters) the view keeps.
const MAX_HIGHLIGHTS: usize = 20;

/// How many routing keys the matrix shows: the most recently seen; older ones are only counted.
pub const MAX_ROUTING_KEYS: usize = 50;

/// How many instances the view follows at once; the longest silent ones give way.
const MAX_INSTANCES: usize = 200;

/// An instance that sent nothing for this long disappears from the view.
const FORGET_AFTER: Duration = Duration::from_secs(30);

/// How many recent bursts are tallied at once: a slow worker may still be finishing an older
/// burst while a new one is spread, and its late reports must not reset the new bars.
const TRACKED_BURSTS: usize = 8;

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

/// One routing key's row of the matrix.
#[derive(Default)]
struct Row {
    /// When a message with this key was last reported (a sequence number): the oldest row goes
    /// first when the matrix is full.
    last_seen: u64,
    /// subscriber → messages.
    counts: BTreeMap<String, u64>,
}

/// What the console knows, folded from every snapshot.
#[derive(Default)]
pub struct View {
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
    /// Messages parked for another attempt, by the attempt that failed (`--retry-delays`):
    /// how far up the retry ladder they climb. Bounded by the ladder (at most 10 delays).
    retries: BTreeMap<u32, u64>,
    /// The topology diagram.
    graph: Graph,
}

impl View {
    /// Folds one snapshot in.
    pub fn ingest(&mut self, snapshot: Snapshot) {
        let name = snapshot.identity.instance.clone();
        let subscriber = matches!(snapshot.identity.role.as_str(), "fanout-sub" | "topic-sub");
        for handled in &snapshot.handled {
            if let Some(burst) = &handled.burst {
                self.count_burst(burst, &name);
            }
            if let (true, Some(key)) = (subscriber, &handled.routing_key) {
                self.count_routing_key(key, &name);
            }
            self.highlight(handled, &name, &snapshot.sent_at);
            if let (Outcome::Retried, Some(attempt)) = (handled.outcome, handled.attempt) {
                if attempt <= crate::amqp::MAX_RETRY_DELAYS as u32 {
                    *self.retries.entry(attempt).or_default() += 1;
                }
            }
        }
        let now = Instant::now();
        let key = instance_key(&snapshot);
        let members = members(&self.instances, now);
        self.graph.ingest(&key, &snapshot, &members, now);
        self.update_instance(snapshot);
    }

    /// The queues to ask the broker about now (see [`Graph::probe_targets`]).
    pub fn probe_targets(&self) -> Vec<String> {
        let now = Instant::now();
        self.graph
            .probe_targets(&members(&self.instances, now), now)
    }

    /// Keeps the broker's answer about a queue's depth and consumers.
    pub fn record_probe(
        &mut self,
        queue: String,
        answer: Result<crate::amqp::QueueCounts, crate::amqp::ProbeFailure>,
    ) {
        self.graph.record_probe(queue, answer, Instant::now());
    }

    /// Keeps where the lab's queues live, from the management API.
    pub fn record_homes(
        &mut self,
        homes: std::collections::HashMap<String, crate::management_api::QueueHome>,
    ) {
        let now = Instant::now();
        self.graph
            .record_homes(homes, &members(&self.instances, now), now);
    }

    fn count_burst(&mut self, burst: &str, instance: &str) {
        if !self.bursts.contains_key(burst) {
            self.bursts_seen += 1;
            let first_seen = self.bursts_seen;
            let handled = BTreeMap::new();
            let new = Burst {
                first_seen,
                handled,
            };
            if self.bursts.len() >= TRACKED_BURSTS {
                remove_oldest(&mut self.bursts, |b| b.first_seen);
            }
            self.bursts.insert(burst.to_owned(), new);
        }
        if let Some(tally) = self.bursts.get_mut(burst) {
            *tally.handled.entry(instance.to_owned()).or_default() += 1;
        }
    }

    /// Counts one message with `key` for `subscriber`, making room for a new key by dropping
    /// the least recently seen one.
    fn count_routing_key(&mut self, key: &str, subscriber: &str) {
        self.reports_seen += 1;
        if !self.matrix.contains_key(key) && self.matrix.len() >= MAX_ROUTING_KEYS {
            remove_oldest(&mut self.matrix, |row| row.last_seen);
            self.dropped_routing_keys += 1;
        }
        let row = self.matrix.entry(key.to_owned()).or_default();
        row.last_seen = self.reports_seen;
        *row.counts.entry(subscriber.to_owned()).or_default() += 1;
    }

    /// Redeliveries, rejections and dead letters are worth a line of their own.
    fn highlight(&mut self, handled: &Handled, instance: &str, at: &str) {
        let kind = match (handled.outcome, handled.redelivered) {
            (Outcome::DeadLettered, _) => "dead_lettered",
            (Outcome::Retried, _) => "retried",
            (Outcome::Requeued | Outcome::Dropped, _) => "rejected",
            (Outcome::Acked, true) => "redelivered",
            (Outcome::Acked, false) => return,
        };
        self.highlights.push_front(json!({
            "kind": kind,
            "instance": instance,
            "message_id": handled.message_id,
            "seq": handled.seq,
            "routing_key": handled.routing_key,
            "attempt": handled.attempt,
            "at": at,
        }));
        self.highlights.truncate(MAX_HIGHLIGHTS);
    }

    /// Keeps the instance's latest snapshot and its rate since the one before.
    fn update_instance(&mut self, snapshot: Snapshot) {
        let key = instance_key(&snapshot);
        if !self.instances.contains_key(&key) && self.instances.len() >= MAX_INSTANCES {
            remove_oldest(&mut self.instances, |instance| instance.seen);
        }
        let now = Instant::now();
        let count = |s: &Snapshot| {
            if s.identity.role == "produce-server" {
                s.counters.confirmed
            } else {
                s.counters.received
            }
        };
        let rate = self.instances.get(&key).map_or(0.0, |previous| {
            let seconds = now.duration_since(previous.seen).as_secs_f64().max(0.001);
            count(&snapshot).saturating_sub(count(&previous.snapshot)) as f64 / seconds
        });
        // The round trips of the last window that had calls stay on the card until new ones come.
        let mut snapshot = snapshot;
        if snapshot.rpc.is_none() {
            snapshot.rpc = self.instances.get(&key).and_then(|p| p.snapshot.rpc);
        }
        let instance = Instance {
            snapshot,
            seen: now,
            rate,
        };
        self.instances.insert(key, instance);
    }

    /// The document `/events` sends; forgets instances silent for too long. `interval` is the
    /// roles' snapshot interval.
    pub fn render(&mut self, interval: Duration) -> Value {
        let now = Instant::now();
        self.instances
            .retain(|_, instance| now.duration_since(instance.seen) < FORGET_AFTER);
        let instances: Vec<Value> = self
            .instances
            .iter()
            .map(|(key, instance)| render_instance(key, instance, now))
            .collect();
        let last_burst = self
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
        let topology = self.graph.render(&members(&self.instances, now), now);
        json!({
            "generated_at": rfc3339_now(),
            "interval_ms": u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
            "instances": instances,
            "last_burst": last_burst,
            "matrix": self.render_matrix(),
            "highlights": self.highlights,
            "retries": self.retries,
            "topology": topology,
        })
    }

    fn render_matrix(&self) -> Value {
        let mut subscribers: Vec<&String> = self
            .matrix
            .values()
            .flat_map(|row| row.counts.keys())
            .collect();
        subscribers.sort();
        subscribers.dedup();
        let counts: BTreeMap<&String, &BTreeMap<String, u64>> = self
            .matrix
            .iter()
            .map(|(key, row)| (key, &row.counts))
            .collect();
        json!({
            "routing_keys": self.matrix.keys().collect::<Vec<_>>(),
            "subscribers": subscribers,
            "counts": counts,
            "dropped_routing_keys": self.dropped_routing_keys,
        })
    }
}

/// Makes room in a bounded map: removes the entry whose `age` is least (seen first or longest ago).
fn remove_oldest<V, A: Ord>(map: &mut BTreeMap<String, V>, age: impl Fn(&V) -> A) {
    let oldest = map
        .iter()
        .min_by_key(|(_, value)| age(value))
        .map(|(key, _)| key.clone());
    if let Some(oldest) = oldest {
        map.remove(&oldest);
    }
}

/// An instance's key in the view: its role and process (two roles may share a name).
fn instance_key(snapshot: &Snapshot) -> String {
    format!("{}/{}", snapshot.identity.role, snapshot.process)
}

/// Silent for more than three of its own intervals.
fn is_stale(instance: &Instance, now: Instant) -> bool {
    let stale_after = Duration::from_millis(instance.snapshot.interval_ms.max(100) * 3);
    now.duration_since(instance.seen) > stale_after
}

/// The instances as the graph sees them.
fn members(instances: &BTreeMap<String, Instance>, now: Instant) -> Vec<Member<'_>> {
    instances
        .iter()
        .map(|(key, instance)| Member {
            key,
            snapshot: &instance.snapshot,
            stale: is_stale(instance, now),
        })
        .collect()
}

fn render_instance(key: &str, instance: &Instance, now: Instant) -> Value {
    let s = &instance.snapshot;
    let age = now.duration_since(instance.seen);
    json!({
        "key": key,
        "role": s.identity.role,
        "instance": s.identity.instance,
        "queue": s.identity.queue,
        "prefetch": s.identity.prefetch,
        "exchange": s.identity.exchange,
        "patterns": s.identity.patterns,
        "header_match": s.identity.header_match,
        "connection": s.connection,
        "node": s.node,
        "counters": s.counters,
        "rpc": s.rpc,
        "stream_offset": s.stream.and_then(|stream| stream.offset),
        "stream_lag": s.stream.map(|stream| stream.lag),
        "rate": (instance.rate * 10.0).round() / 10.0,
        "age_ms": u64::try_from(age.as_millis()).unwrap_or(u64::MAX),
        "stale": is_stale(instance, now),
    })
}

#[cfg(test)]
mod tests;
