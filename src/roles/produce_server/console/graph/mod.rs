//! The console's topology diagram as data: producers → exchanges → queues → consumers, folded
//! from what the roles report (their declared shape, their publishes, the messages they handled)
//! and what the broker answers about queue depths. Pure data, no I/O, so it is unit-tested
//! without a broker; everything kept is bounded, as the rest of the view.
//!
//! Node ids: `i:<role>/<process>` (an instance; `i:app:<name>` for a publisher only seen in its
//! messages' `app_id`), `x:<exchange>` (`x:` is the default exchange), `q:<queue>`. Edge ids:
//! `<kind>|<from>|<to>` (and `|<key>` for bindings), kinds `publish`, `binding`, `consume`,
//! `dead-letter`.

mod layout;
mod matching;
mod paths;
mod tally;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};

use crate::amqp::{ProbeFailure, QueueCounts, QueuePurpose, DIRECT_REPLY_TO};
use crate::management_api::QueueHome;
use crate::roles::snapshot::{Outcome, Snapshot};
use tally::EdgeTally;

/// How many moving dots the view keeps: the newest; a browser animates those it has not seen.
const MAX_MOVES: usize = 60;

/// How many recent messages a queue or consumer lists when clicked.
const MAX_RECENT: usize = 5;

/// How many queues and consumers keep a list of recent messages.
const MAX_RECENT_NODES: usize = 100;

/// How many edges are tallied; the ones quiet longest give way.
const MAX_EDGES: usize = 400;

/// How many publishers known only from their messages' `app_id` are drawn.
const MAX_PUBLISHERS: usize = 50;

/// How many queues the console asks the broker about each interval.
pub const MAX_PROBED_QUEUES: usize = 64;

/// A broker answer older than this is no longer shown (the console lost its connection).
const PROBE_FRESH: Duration = Duration::from_secs(10);

/// A queue the broker said is gone is asked about again only this often (each miss is a channel
/// error in the broker's log).
const MISSING_RECHECK: Duration = Duration::from_secs(10);

/// Anything not heard of for this long leaves the diagram, as instances leave the view.
const FORGET_AFTER: Duration = Duration::from_secs(30);

/// Roles drawn in the producers' column; every other role consumes.
const PRODUCER_ROLES: [&str; 4] = ["produce-server", "send", "call", "perf"];

/// One instance as the view holds it, lent to the graph.
pub struct Member<'a> {
    /// The view's key, `<role>/<process>`.
    pub key: &'a str,
    /// Its latest snapshot.
    pub snapshot: &'a Snapshot,
    /// Silent for more than three of its intervals.
    pub stale: bool,
}

/// A dot to draw: one handled message along the edges it took.
#[derive(Debug, Clone, Serialize)]
struct Move {
    seq: u64,
    kind: &'static str,
    edges: Vec<String>,
}

/// One line of a node's list of recent messages.
#[derive(Debug, Clone, Serialize)]
struct Recent {
    message_id: String,
    preview: String,
    at: String,
    by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    attempt: Option<u32>,
    outcome: Outcome,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    redelivered: bool,
}

/// What the broker last said about a queue, and when.
struct Probe {
    answer: Result<QueueCounts, ProbeFailure>,
    at: Instant,
}

/// The diagram's memory between snapshots.
#[derive(Default)]
pub struct Graph {
    edges: BTreeMap<String, EdgeTally>,
    /// Publishers seen only in `app_id`s → when last seen.
    publishers: BTreeMap<String, Instant>,
    probes: BTreeMap<String, Probe>,
    /// Where the lab's queues live, as the management API last said, and when it said so.
    homes: Option<(BTreeMap<String, QueueHome>, Instant)>,
    moves: VecDeque<Move>,
    moves_seen: u64,
    /// node id → (update order, newest first).
    recent: BTreeMap<String, (u64, VecDeque<Recent>)>,
    recent_updates: u64,
}

/// The id of an instance node.
pub fn instance_id(key: &str) -> String {
    format!("i:{key}")
}

impl Graph {
    /// Folds in the messages `snapshot` (from instance `key`) handled; `members` are the other
    /// instances, to find who published them.
    pub fn ingest(&mut self, key: &str, snapshot: &Snapshot, members: &[Member<'_>], now: Instant) {
        let Some(shape) = &snapshot.shape else {
            return;
        };
        let consumer = instance_id(key);
        let Some(queue) = shape.consumes.iter().find(|q| *q != DIRECT_REPLY_TO) else {
            return;
        };
        for handled in &snapshot.handled {
            let publisher = handled
                .trace
                .publisher
                .as_deref()
                .filter(|_| handled.attempt.unwrap_or(1) == 1)
                .map(|name| self.publisher_id(name, members, now));
            let route = paths::Route {
                shape,
                queue,
                consumer: &consumer,
                publisher: publisher.as_deref(),
            };
            let edges = route.edges(handled, |edge, counted| {
                if counted {
                    self.edges.entry(edge.to_owned()).or_default().add(1);
                }
            });
            self.moves_seen += 1;
            self.moves.push_back(Move {
                seq: self.moves_seen,
                kind: paths::kind_of(handled),
                edges,
            });
            if self.moves.len() > MAX_MOVES {
                self.moves.pop_front();
            }
            let line = Recent {
                message_id: handled.message_id.clone(),
                preview: handled.trace.preview.clone(),
                at: handled.trace.at.clone(),
                by: snapshot.identity.instance.clone(),
                attempt: handled.attempt,
                outcome: handled.outcome,
                redelivered: handled.redelivered,
            };
            self.remember(format!("q:{queue}"), line.clone());
            self.remember(consumer.clone(), line);
        }
    }

    /// The node of the publisher called `name` (an `app_id`): a reporting instance of that name,
    /// else a publisher known only from its messages.
    fn publisher_id(&mut self, name: &str, members: &[Member<'_>], now: Instant) -> String {
        let named = |m: &&Member<'_>| m.snapshot.identity.instance == name;
        let producer = members
            .iter()
            .filter(named)
            .find(|m| is_producer(&m.snapshot.identity.role))
            .or_else(|| members.iter().find(named));
        if let Some(member) = producer {
            return instance_id(member.key);
        }
        if self.publishers.contains_key(name) || self.publishers.len() < MAX_PUBLISHERS {
            self.publishers.insert(name.to_owned(), now);
        }
        format!("i:app:{name}")
    }

    fn remember(&mut self, node: String, line: Recent) {
        self.recent_updates += 1;
        if !self.recent.contains_key(&node) && self.recent.len() >= MAX_RECENT_NODES {
            let oldest = self
                .recent
                .iter()
                .min_by_key(|(_, (order, _))| *order)
                .map(|(node, _)| node.clone());
            if let Some(oldest) = oldest {
                self.recent.remove(&oldest);
            }
        }
        let (order, lines) = self.recent.entry(node).or_default();
        *order = self.recent_updates;
        lines.push_front(line);
        lines.truncate(MAX_RECENT);
    }

    /// The queues to ask the broker about now: every shared queue a live role declared (an
    /// exclusive one only its owner may ask about), except those just found missing.
    pub fn probe_targets(&self, members: &[Member<'_>], now: Instant) -> Vec<String> {
        let mut targets = BTreeSet::new();
        for member in members {
            let Some(shape) = &member.snapshot.shape else {
                continue;
            };
            for queue in shape.declared.queues.iter().filter(|q| !q.exclusive) {
                let missing_lately = self.probes.get(&queue.name).is_some_and(|probe| {
                    probe.answer == Err(ProbeFailure::NotFound)
                        && now.duration_since(probe.at) < MISSING_RECHECK
                });
                if !missing_lately {
                    targets.insert(queue.name.clone());
                }
            }
        }
        targets.into_iter().take(MAX_PROBED_QUEUES).collect()
    }

    /// Keeps the broker's answer about `queue`.
    pub fn record_probe(
        &mut self,
        queue: String,
        answer: Result<QueueCounts, ProbeFailure>,
        now: Instant,
    ) {
        if !self.probes.contains_key(&queue) && self.probes.len() >= MAX_PROBED_QUEUES * 2 {
            self.probes
                .retain(|_, probe| now.duration_since(probe.at) < FORGET_AFTER);
        }
        if self.probes.len() < MAX_PROBED_QUEUES * 2 || self.probes.contains_key(&queue) {
            self.probes.insert(queue, Probe { answer, at: now });
        }
    }

    /// Keeps where the queues the roles declared live (the management API's answer about every
    /// queue of the vhost, cut down to the lab's).
    pub fn record_homes(
        &mut self,
        mut homes: std::collections::HashMap<String, QueueHome>,
        members: &[Member<'_>],
        now: Instant,
    ) {
        let lab: BTreeMap<String, QueueHome> = members
            .iter()
            .filter_map(|member| member.snapshot.shape.as_ref())
            .flat_map(|shape| &shape.declared.queues)
            .filter_map(|queue| homes.remove_entry(&queue.name))
            .collect();
        self.homes = Some((lab, now));
    }

    /// The `topology` object of `/events`.
    pub fn render(&mut self, members: &[Member<'_>], now: Instant) -> Value {
        self.publishers
            .retain(|_, seen| now.duration_since(*seen) < FORGET_AFTER);
        let inferred: Vec<String> = self
            .edges
            .keys()
            .filter(|id| id.starts_with("publish|i:app:"))
            .cloned()
            .collect();
        let layout = layout::Layout::of(members, &self.publishers, &inferred, now);
        let mut edges = Vec::new();
        for edge in &layout.edges {
            if !(layout.has_node(&edge.from) && layout.has_node(&edge.to)) {
                continue;
            }
            let tally = self.edges.entry(edge.id.clone()).or_default();
            if let Some(total) = edge.reported {
                tally.report(total);
            }
            let rate = tally.sample(now);
            edges.push(json!({
                "id": edge.id,
                "kind": edge.kind,
                "from": edge.from,
                "to": edge.to,
                "label": edge.label,
                "count": tally.count(),
                "rate": rate,
            }));
        }
        self.forget_quiet_edges(now);
        let queues: Vec<Value> = layout
            .queues
            .iter()
            .map(|queue| self.render_queue(queue, now))
            .collect();
        let recent: BTreeMap<&String, &VecDeque<Recent>> = self
            .recent
            .iter()
            .filter(|(node, _)| layout.has_node(node))
            .map(|(node, (_, lines))| (node, lines))
            .collect();
        json!({
            "instances": layout.instances,
            "exchanges": layout.exchanges,
            "queues": queues,
            "bindings": layout.bindings,
            "edges": edges,
            "moves": self.moves,
            "recent": recent,
        })
    }

    fn render_queue(&self, queue: &layout::QueueNode, now: Instant) -> Value {
        let probe = self
            .probes
            .get(&queue.name)
            .filter(|probe| now.duration_since(probe.at) < PROBE_FRESH);
        let home = self
            .homes
            .as_ref()
            .filter(|(_, at)| now.duration_since(*at) < PROBE_FRESH)
            .and_then(|(homes, _)| homes.get(&queue.name));
        let (depth, consumers, missing) = match (queue.owner_counts, probe) {
            (Some(counts), _) => (Some(counts.messages), Some(counts.consumers), false),
            (None, Some(Probe { answer: Ok(c), .. })) => {
                (Some(c.messages), Some(c.consumers), false)
            }
            (
                None,
                Some(Probe {
                    answer: Err(ProbeFailure::NotFound),
                    ..
                }),
            ) => (None, None, true),
            _ => (None, None, false),
        };
        json!({
            "id": format!("q:{}", queue.name),
            "name": queue.name,
            "type": queue.kind,
            "purpose": queue.purpose,
            "depth": depth,
            "consumers": consumers,
            "exclusive": queue.exclusive,
            "missing": missing,
            "leader": home.map(|h| &h.leader),
            "members": home.map(|h| &h.members),
        })
    }

    /// Drops tallies of edges nobody drew for a while, and the quietest beyond the bound.
    fn forget_quiet_edges(&mut self, now: Instant) {
        self.edges.retain(|_, tally| {
            tally
                .last_sampled()
                .is_none_or(|at| now.duration_since(at) < FORGET_AFTER)
        });
        while self.edges.len() > MAX_EDGES {
            let quietest = self
                .edges
                .iter()
                .min_by_key(|(_, tally)| tally.last_sampled())
                .map(|(id, _)| id.clone());
            match quietest {
                Some(id) => self.edges.remove(&id),
                None => break,
            };
        }
    }
}

/// Whether a role is drawn with the producers.
fn is_producer(role: &str) -> bool {
    PRODUCER_ROLES.contains(&role)
}

/// The purpose the diagram shows for a queue: the role's description, with RPC queues (consumed
/// by an rpc-server) told apart from work queues.
fn shown_purpose(purpose: QueuePurpose, consumed_by_rpc_server: bool) -> &'static str {
    match purpose {
        QueuePurpose::Work if consumed_by_rpc_server => "rpc",
        QueuePurpose::Work => "work",
        QueuePurpose::Subscriber => "subscriber",
        QueuePurpose::DeadLetter => "dead-letter",
        QueuePurpose::Delay => "delay",
        QueuePurpose::Stream => "stream",
        QueuePurpose::Unrouted => "unrouted",
    }
}
