//! The aggregation from snapshots to the diagram, with shapes described from the roles' real
//! topologies (not hand-written JSON), so a change in what a role declares shows up here; the
//! broker's answers about depths in [`depths`], the size of the whole `/events` document for a
//! large lab in [`document_size`].

mod depths;
mod document_size;

use std::time::{Duration, Instant};

use serde_json::Value;

use super::*;
use crate::amqp::described::{declared_as, DescribedTopology};
use crate::amqp::topology::{BindingSpec, BoundQueue};
use crate::amqp::{
    DeadLetter, ExchangeKind, ExchangeName, QueueName, QueueSpec, RoutingKey, Topology, WorkQueue,
};
use crate::metrics::PublishedTo;
use crate::roles::snapshot::{Handled, Identity, Shape, SnapshotCounters, Trace};

fn described(topology: &Topology, server_named: &str) -> DescribedTopology {
    topology.describe(&declared_as(topology, server_named), "playground.telemetry")
}

fn jobs() -> Topology {
    let name = QueueName::parse("jobs").unwrap();
    WorkQueue {
        dead_letter: Some(DeadLetter::for_queue(&name, None).unwrap()),
        ..WorkQueue::classic(name)
    }
    .topology()
}

fn subscriber(pattern: &str, queue: &str) -> DescribedTopology {
    let topic = ExchangeName::parse("logs-topic").unwrap();
    let topology = Topology {
        exchanges: vec![crate::amqp::ExchangeSpec::durable(
            topic.clone(),
            ExchangeKind::Topic,
        )],
        queues: vec![QueueSpec::server_named()],
        bindings: vec![BindingSpec {
            queue: BoundQueue::LastDeclared,
            exchange: topic,
            routing_key: RoutingKey::parse(pattern).unwrap(),
            arguments: amqprs::FieldTable::new(),
        }],
        ..Topology::default()
    };
    described(&topology, queue)
}

fn snapshot(role: &str, name: &str, shape: Shape, handled: Vec<Handled>) -> Snapshot {
    Snapshot {
        identity: Identity {
            role: role.to_owned(),
            instance: name.to_owned(),
            prefetch: (role != "produce-server").then_some(1),
            ..Identity::default()
        },
        process: format!("host/{name}"),
        connection: "connected".to_owned(),
        node: Some("127.0.0.1:5672".to_owned()),
        counters: SnapshotCounters {
            received: handled.len() as u64,
            ..SnapshotCounters::default()
        },
        handled,
        cut: 0,
        rpc: None,
        interval_ms: 1000,
        sent_at: String::new(),
        stream: None,
        shape: Some(shape),
    }
}

fn handled(id: &str, exchange: &str, key: Option<&str>, outcome: Outcome) -> Handled {
    Handled {
        message_id: id.to_owned(),
        seq: None,
        burst: None,
        routing_key: key.map(str::to_owned),
        redelivered: false,
        outcome,
        attempt: None,
        trace: Trace {
            exchange: Some(exchange.to_owned()),
            publisher: Some("hello-world".to_owned()),
            preview: format!("text of {id}"),
            at: "2026-12-01T03:00:00.000Z".to_owned(),
        },
    }
}

/// A lab: produce-server (20 to the default exchange), two workers on `jobs`, two topic
/// subscribers.
struct Lab {
    graph: Graph,
    snapshots: Vec<(String, Snapshot)>,
}

impl Lab {
    fn new() -> Self {
        let producer = Shape {
            declared: described(&jobs(), ""),
            consumes: vec![],
            published_to: vec![PublishedTo {
                exchange: String::new(),
                queue: Some("jobs".to_owned()),
                count: 20,
            }],
        };
        let worker = || Shape {
            declared: described(&jobs(), ""),
            consumes: vec!["jobs".to_owned()],
            published_to: vec![],
        };
        let subscriber = |pattern: &str, queue: &str| Shape {
            declared: subscriber(pattern, queue),
            consumes: vec![queue.to_owned()],
            published_to: vec![],
        };
        let fast: Vec<Handled> = (0..15)
            .map(|i| handled(&format!("m{i}"), "", None, Outcome::Acked))
            .collect();
        let mut slow: Vec<Handled> = (15..19)
            .map(|i| handled(&format!("m{i}"), "", None, Outcome::Acked))
            .collect();
        slow.push(handled("poison", "", None, Outcome::DeadLettered));
        let snapshots = vec![
            snapshot("produce-server", "hello-world", producer, vec![]),
            snapshot("consume", "worker-fast", worker(), fast),
            snapshot("consume", "worker-slow", worker(), slow),
            snapshot(
                "topic-sub",
                "error-handler",
                subscriber("*.error", "amq.gen-e"),
                vec![handled(
                    "e1",
                    "logs-topic",
                    Some("app.error"),
                    Outcome::Acked,
                )],
            ),
            snapshot(
                "topic-sub",
                "audit",
                subscriber("audit.#", "amq.gen-a"),
                vec![],
            ),
        ];
        let mut graph = Graph::default();
        let now = Instant::now();
        let keyed: Vec<(String, Snapshot)> = snapshots
            .into_iter()
            .map(|s| (format!("{}/{}", s.identity.role, s.process), s))
            .collect();
        for (key, snapshot) in &keyed {
            let members = members(&keyed, &[]);
            graph.ingest(key, snapshot, &members, now);
        }
        Self {
            graph,
            snapshots: keyed,
        }
    }

    fn render(&mut self, stale: &[&str], gone: &[&str], at: Instant) -> Value {
        let kept: Vec<(String, Snapshot)> = self
            .snapshots
            .iter()
            .filter(|(_, s)| !gone.contains(&s.identity.instance.as_str()))
            .cloned()
            .collect();
        let members = members(&kept, stale);
        self.graph.render(&members, at)
    }
}

fn members<'a>(snapshots: &'a [(String, Snapshot)], stale: &[&str]) -> Vec<Member<'a>> {
    snapshots
        .iter()
        .map(|(key, snapshot)| Member {
            key,
            snapshot,
            stale: stale.contains(&snapshot.identity.instance.as_str()),
        })
        .collect()
}

fn ids(topology: &Value, list: &str) -> Vec<String> {
    topology[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect()
}

fn edge<'a>(topology: &'a Value, id: &str) -> &'a Value {
    topology["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .unwrap_or_else(|| panic!("no edge {id} in {:#}", topology["edges"]))
}

#[test]
fn the_lab_is_drawn_with_its_exchanges_queues_bindings_and_consumers() {
    let mut lab = Lab::new();
    let topology = lab.render(&[], &[], Instant::now());
    assert_eq!(
        ids(&topology, "exchanges"),
        ["x:", "x:jobs.dlx", "x:logs-topic"]
    );
    assert_eq!(
        ids(&topology, "queues"),
        ["q:amq.gen-a", "q:amq.gen-e", "q:jobs", "q:jobs.dead-letter"]
    );
    let purposes: Vec<&str> = topology["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["purpose"].as_str().unwrap())
        .collect();
    assert_eq!(
        purposes,
        ["subscriber", "subscriber", "work", "dead-letter"]
    );
    assert_eq!(
        ids(&topology, "bindings"),
        [
            "binding|x:jobs.dlx|q:jobs.dead-letter|",
            "binding|x:logs-topic|q:amq.gen-a|audit.#",
            "binding|x:logs-topic|q:amq.gen-e|*.error",
            "binding|x:|q:jobs|jobs",
        ]
    );
    let producer = "i:produce-server/host/hello-world";
    let publish = edge(&topology, &format!("publish|{producer}|x:"));
    assert_eq!(publish["count"], 20, "the producer's confirmed publishes");
    assert_eq!(edge(&topology, "binding|x:|q:jobs|jobs")["count"], 20);
    let fast = edge(&topology, "consume|q:jobs|i:consume/host/worker-fast");
    assert_eq!(
        (fast["count"].as_u64(), fast["label"].as_str()),
        (Some(15), Some("prefetch 1"))
    );
    assert_eq!(
        edge(&topology, "consume|q:jobs|i:consume/host/worker-slow")["count"],
        5
    );
    // Only the matching subscriber's binding counts the app.error message.
    assert_eq!(
        edge(&topology, "binding|x:logs-topic|q:amq.gen-e|*.error")["count"],
        1
    );
    assert_eq!(
        edge(&topology, "binding|x:logs-topic|q:amq.gen-a|audit.#")["count"],
        0
    );
    // The dead-lettered message left jobs for its dead-letter exchange and queue.
    assert_eq!(edge(&topology, "dead-letter|q:jobs|x:jobs.dlx")["count"], 1);
    assert_eq!(
        edge(&topology, "binding|x:jobs.dlx|q:jobs.dead-letter|")["count"],
        1
    );
    let columns: Vec<(&str, &str)> = topology["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["instance"].as_str().unwrap(),
                i["column"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(columns.contains(&("hello-world", "producer")));
    assert!(columns.contains(&("worker-fast", "consumer")));
}

#[test]
fn each_message_moves_along_its_path_and_is_listed_where_it_went() {
    let mut lab = Lab::new();
    let topology = lab.render(&[], &[], Instant::now());
    let moves = topology["moves"].as_array().unwrap();
    assert_eq!(moves.len(), 21, "20 handled on jobs and one app.error");
    let poison = moves.iter().find(|m| m["kind"] == "dead_lettered").unwrap();
    assert_eq!(
        poison["edges"],
        serde_json::json!([
            "publish|i:produce-server/host/hello-world|x:",
            "binding|x:|q:jobs|jobs",
            "consume|q:jobs|i:consume/host/worker-slow",
            "dead-letter|q:jobs|x:jobs.dlx",
            "binding|x:jobs.dlx|q:jobs.dead-letter|",
        ])
    );
    let seqs: Vec<u64> = moves.iter().map(|m| m["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "increasing: {seqs:?}");
    let recent = &topology["recent"]["q:jobs"];
    assert_eq!(recent.as_array().unwrap().len(), MAX_RECENT);
    assert_eq!(recent[0]["message_id"], "poison", "newest first");
    assert_eq!(recent[0]["by"], "worker-slow");
    assert_eq!(recent[0]["preview"], "text of poison");
    assert_eq!(
        topology["recent"]["i:topic-sub/host/error-handler"][0]["message_id"],
        "e1"
    );
}

#[test]
fn stale_instances_fade_and_forgotten_ones_take_their_queues_with_them() {
    let mut lab = Lab::new();
    let now = Instant::now();
    let topology = lab.render(&["audit"], &[], now);
    let audit = topology["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["instance"] == "audit")
        .unwrap();
    assert_eq!(audit["stale"], true);
    assert!(ids(&topology, "queues").contains(&"q:amq.gen-a".to_owned()));
    // Gone from the view: its private queue, binding and edges go too; the rest stays.
    let topology = lab.render(&[], &["audit"], now);
    assert!(!ids(&topology, "queues").contains(&"q:amq.gen-a".to_owned()));
    assert!(!ids(&topology, "bindings")
        .iter()
        .any(|b| b.contains("amq.gen-a")));
    assert!(!ids(&topology, "edges")
        .iter()
        .any(|e| e.contains("amq.gen-a")));
    assert!(ids(&topology, "queues").contains(&"q:amq.gen-e".to_owned()));
}

#[test]
fn a_publisher_known_only_from_its_messages_is_drawn_and_the_moves_are_bounded() {
    let mut graph = Graph::default();
    let worker = Shape {
        declared: described(&jobs(), ""),
        consumes: vec!["jobs".to_owned()],
        published_to: vec![],
    };
    let mut message = handled("s1", "", None, Outcome::Acked);
    message.trace.publisher = Some("send".to_owned());
    let snapshot = snapshot("consume", "w", worker, vec![message; MAX_MOVES + 10]);
    let keyed = vec![("consume/host/w".to_owned(), snapshot)];
    let now = Instant::now();
    graph.ingest(&keyed[0].0, &keyed[0].1, &members(&keyed, &[]), now);
    let topology = graph.render(&members(&keyed, &[]), now);
    assert!(ids(&topology, "instances").contains(&"i:app:send".to_owned()));
    assert_eq!(
        edge(&topology, "publish|i:app:send|x:")["count"],
        MAX_MOVES as u64 + 10
    );
    // Nobody reports those publishes, so the default exchange's binding counts them as handled.
    assert_eq!(
        edge(&topology, "binding|x:|q:jobs|jobs")["count"],
        MAX_MOVES as u64 + 10
    );
    assert_eq!(topology["moves"].as_array().unwrap().len(), MAX_MOVES);
}
