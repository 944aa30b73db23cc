//! The diagram's structure: which nodes and edges there are, from the roles' shapes, in a
//! deterministic order (every map is ordered by id).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::paths::{binding_edge, consume_edge, dead_letter_edge, publish_edge};
use super::{instance_id, is_producer, shown_purpose, Member};
use crate::amqp::{QueueCounts, QueuePurpose, DIRECT_REPLY_TO};

/// A publisher known only from its messages is drawn faded once quiet for this long.
const PUBLISHER_QUIET: Duration = Duration::from_secs(5);

/// One edge of the structure; `reported` is the total a role reports for it, if any.
pub struct EdgeSpec {
    pub id: String,
    pub kind: &'static str,
    pub from: String,
    pub to: String,
    pub label: String,
    pub reported: Option<u64>,
}

/// One queue node before the broker's answer is added.
pub struct QueueNode {
    pub name: String,
    pub kind: String,
    pub purpose: &'static str,
    pub exclusive: bool,
    /// Counts its owner measured (exclusive queues).
    pub owner_counts: Option<QueueCounts>,
}

/// The diagram's nodes and edges, in a deterministic order.
#[derive(Default)]
pub struct Layout {
    pub instances: Vec<Value>,
    pub exchanges: Vec<Value>,
    pub queues: Vec<QueueNode>,
    pub bindings: Vec<Value>,
    pub edges: Vec<EdgeSpec>,
    nodes: BTreeSet<String>,
}

impl Layout {
    /// Whether `id` is a node of the diagram.
    pub fn has_node(&self, id: &str) -> bool {
        self.nodes.contains(id)
    }

    /// The structure the `members`' shapes describe, with the publishers known only from their
    /// messages (`publishers`, name → last seen) and their `inferred` publish edges.
    pub fn of(
        members: &[Member<'_>],
        publishers: &BTreeMap<String, Instant>,
        inferred: &[String],
        now: Instant,
    ) -> Self {
        let mut layout = Layout::default();
        let shapes = || {
            members
                .iter()
                .filter_map(|m| Some((m, m.snapshot.shape.as_ref()?)))
        };
        for member in members {
            layout.add_instance(member);
        }
        for (name, seen) in publishers {
            if members
                .iter()
                .any(|m| &m.snapshot.identity.instance == name)
            {
                continue;
            }
            let id = format!("i:app:{name}");
            layout.instances.push(json!({
                "id": id, "role": "publisher", "instance": name, "column": "producer",
                "prefetch": null, "node": null, "connection": null,
                "stale": now.duration_since(*seen) > PUBLISHER_QUIET,
            }));
            layout.nodes.insert(id);
        }
        let mut exchanges: BTreeMap<String, String> = BTreeMap::new();
        let mut queues: BTreeMap<String, QueueNode> = BTreeMap::new();
        let mut edges: BTreeMap<String, EdgeSpec> = BTreeMap::new();
        let mut bindings: BTreeMap<String, Value> = BTreeMap::new();
        // To the default exchange, per queue: every role's confirmed publishes.
        let mut to_default: BTreeMap<String, u64> = BTreeMap::new();
        for (member, shape) in shapes() {
            let rpc_server = member.snapshot.identity.role == "rpc-server";
            for exchange in &shape.declared.exchanges {
                exchanges
                    .entry(exchange.name.clone())
                    .or_insert_with(|| exchange.kind.clone());
            }
            for queue in &shape.declared.queues {
                let counts = queue
                    .depth
                    .zip(queue.consumers)
                    .map(|(messages, consumers)| QueueCounts {
                        messages,
                        consumers,
                    });
                let consumed_here = rpc_server && shape.consumes.contains(&queue.name);
                let node = queues
                    .entry(queue.name.clone())
                    .or_insert_with(|| QueueNode {
                        name: queue.name.clone(),
                        kind: queue.kind.clone(),
                        purpose: shown_purpose(queue.purpose, false),
                        exclusive: queue.exclusive,
                        owner_counts: None,
                    });
                if consumed_here {
                    node.purpose = shown_purpose(queue.purpose, true);
                }
                node.owner_counts = node.owner_counts.or(counts);
                if let Some(dlx) = &queue.dead_letter_exchange {
                    let label = match (queue.ttl_ms, &queue.dead_letter_key) {
                        (Some(ttl), _) => format!(
                            "after {}",
                            humantime::format_duration(Duration::from_millis(
                                u64::try_from(ttl).unwrap_or(0)
                            ),)
                        ),
                        (None, Some(key)) => key.clone(),
                        (None, None) => String::new(),
                    };
                    edges
                        .entry(dead_letter_edge(&queue.name, dlx))
                        .or_insert(EdgeSpec {
                            id: dead_letter_edge(&queue.name, dlx),
                            kind: "dead-letter",
                            from: format!("q:{}", queue.name),
                            to: format!("x:{dlx}"),
                            label,
                            reported: None,
                        });
                    if dlx.is_empty() {
                        if let Some(key) = &queue.dead_letter_key {
                            to_default.entry(key.clone()).or_default();
                        }
                    }
                }
                if matches!(queue.purpose, QueuePurpose::Work | QueuePurpose::Delay) {
                    to_default.entry(queue.name.clone()).or_default();
                }
            }
            for binding in &shape.declared.bindings {
                let id = binding_edge(&binding.exchange, &binding.queue, &binding.key);
                bindings.entry(id.clone()).or_insert_with(|| {
                    json!({
                        "id": id, "exchange": binding.exchange, "queue": binding.queue,
                        "key": binding.key, "match": binding.header_match,
                    })
                });
                edges.entry(id.clone()).or_insert(EdgeSpec {
                    id,
                    kind: "binding",
                    from: format!("x:{}", binding.exchange),
                    to: format!("q:{}", binding.queue),
                    label: binding
                        .header_match
                        .clone()
                        .unwrap_or_else(|| binding.key.clone()),
                    reported: None,
                });
            }
            let from = instance_id(member.key);
            let mut per_exchange: BTreeMap<&str, u64> = BTreeMap::new();
            for published in &shape.published_to {
                *per_exchange.entry(&published.exchange).or_default() += published.count;
                if let Some(queue) = &published.queue {
                    *to_default.entry(queue.clone()).or_default() += published.count;
                }
            }
            for (exchange, total) in per_exchange {
                let id = publish_edge(&from, exchange);
                edges.insert(
                    id.clone(),
                    EdgeSpec {
                        id,
                        kind: "publish",
                        from: from.clone(),
                        to: format!("x:{exchange}"),
                        label: String::new(),
                        reported: Some(total),
                    },
                );
                if !exchange.is_empty() {
                    exchanges
                        .entry(exchange.to_owned())
                        .or_insert_with(|| "unknown".to_owned());
                }
            }
            for queue in &shape.consumes {
                let counters = &member.snapshot.counters;
                let received = if queue == DIRECT_REPLY_TO {
                    let answered = counters.rpc_calls.saturating_sub(counters.rpc_timeouts);
                    queues.entry(queue.clone()).or_insert_with(|| QueueNode {
                        name: queue.clone(),
                        kind: "reply".to_owned(),
                        purpose: "reply",
                        exclusive: false,
                        owner_counts: None,
                    });
                    answered.saturating_sub(counters.rpc_failed)
                } else {
                    counters.received
                };
                let id = consume_edge(queue, &from);
                let label = member
                    .snapshot
                    .identity
                    .prefetch
                    .filter(|_| queue != DIRECT_REPLY_TO)
                    .map(|n| format!("prefetch {n}"))
                    .unwrap_or_default();
                edges.insert(
                    id.clone(),
                    EdgeSpec {
                        id,
                        kind: "consume",
                        from: format!("q:{queue}"),
                        to: from.clone(),
                        label,
                        reported: Some(received),
                    },
                );
            }
        }
        for id in inferred {
            let mut parts = id.splitn(3, '|');
            let (_, Some(from), Some(to)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            edges.entry(id.clone()).or_insert(EdgeSpec {
                id: id.clone(),
                kind: "publish",
                from: from.to_owned(),
                to: to.to_owned(),
                label: String::new(),
                reported: None,
            });
        }
        for (queue, total) in to_default {
            if !queues.contains_key(&queue) {
                continue;
            }
            let id = binding_edge("", &queue, &queue);
            edges.insert(
                id.clone(),
                EdgeSpec {
                    id: id.clone(),
                    kind: "binding",
                    from: "x:".to_owned(),
                    to: format!("q:{queue}"),
                    label: queue.clone(),
                    reported: Some(total),
                },
            );
            bindings.entry(id.clone()).or_insert_with(
                || json!({"id": id, "exchange": "", "queue": queue, "key": queue, "match": null}),
            );
        }
        if edges
            .values()
            .any(|edge| edge.from == "x:" || edge.to == "x:")
        {
            exchanges
                .entry(String::new())
                .or_insert_with(|| "direct".to_owned());
        }
        for (name, kind) in exchanges {
            let id = format!("x:{name}");
            layout
                .exchanges
                .push(json!({"id": id, "name": name, "type": kind}));
            layout.nodes.insert(id);
        }
        for queue in queues.into_values() {
            layout.nodes.insert(format!("q:{}", queue.name));
            layout.queues.push(queue);
        }
        layout.bindings = bindings.into_values().collect();
        layout.edges = edges.into_values().collect();
        layout
    }

    fn add_instance(&mut self, member: &Member<'_>) {
        let s = member.snapshot;
        let id = instance_id(member.key);
        self.instances.push(json!({
            "id": id,
            "role": s.identity.role,
            "instance": s.identity.instance,
            "column": if is_producer(&s.identity.role) { "producer" } else { "consumer" },
            "prefetch": s.identity.prefetch,
            "node": s.node,
            "connection": s.connection,
            "stale": member.stale,
        }));
        self.nodes.insert(id);
    }
}
