//! A role's declared topology as plain facts, for the lab console's diagram: which exchanges,
//! queues and bindings this role declared, with the broker's names for server-named queues.
//!
//! Every role already writes its topology down as data ([`Topology`]) and declares it on every
//! connect; describing that same data is how the console learns the lab's shape without the
//! management plugin, and it cannot drift from what was really declared.

use amqprs::{FieldTable, FieldValue};
use serde::{Deserialize, Serialize};

use super::topology::{BoundQueue, DeclaredTopology, Topology};

/// An exchange a role declared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeFacts {
    /// Its name.
    pub name: String,
    /// `topic`, `direct`, `fanout` or `headers`: decides how its bindings are drawn and matched.
    #[serde(rename = "type")]
    pub kind: String,
    /// The `alternate-exchange` argument: where what no binding matches goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternate: Option<String>,
}

/// What a queue is there for, so the diagram can mark dead-letter, delay and stream queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QueuePurpose {
    /// A shared, named queue that workers (or an rpc-server) consume.
    Work,
    /// A subscriber's private, server-named copy of what its exchange routes.
    Subscriber,
    /// Collects what another queue rejected or expired (bound to that queue's dead-letter exchange).
    DeadLetter,
    /// Holds failed messages for a while, then dead-letters them back (a retry delay).
    Delay,
    /// An append-only stream, read from an offset.
    Stream,
    /// Bound to an alternate exchange: keeps what no binding matched.
    Unrouted,
}

/// A queue a role declared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueFacts {
    /// The broker's name (its choice for a server-named queue).
    pub name: String,
    /// `classic`, `quorum` or `stream` (`x-queue-type`).
    #[serde(rename = "type")]
    pub kind: String,
    /// What it is for.
    pub purpose: QueuePurpose,
    /// Private to the declaring connection: nobody else can even look at it, so its owner
    /// reports its depth itself.
    pub exclusive: bool,
    /// `x-dead-letter-exchange`: where rejected and expired messages go (`""`: the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_exchange: Option<String>,
    /// `x-dead-letter-routing-key`, when set (a delay queue's way back to its work queue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_key: Option<String>,
    /// `x-message-ttl` in milliseconds (a delay queue's delay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_ms: Option<i64>,
    /// Messages ready, as the owner of an exclusive queue measured it; `None` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<u32>,
    /// Consumers on it, measured with `depth`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumers: Option<u32>,
}

/// A binding a role declared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindingFacts {
    /// The exchange whose messages it matches.
    pub exchange: String,
    /// The queue it routes to (the broker's name).
    pub queue: String,
    /// The binding key or pattern (empty for fanout and headers).
    pub key: String,
    /// A headers binding's match, as `all of {level=error}`; `None` for the other kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_match: Option<String>,
}

/// Everything one role declared, described.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescribedTopology {
    /// Exchanges, in declaration order.
    pub exchanges: Vec<ExchangeFacts>,
    /// Queues, in declaration order.
    pub queues: Vec<QueueFacts>,
    /// Bindings, in declaration order.
    pub bindings: Vec<BindingFacts>,
}

impl Topology {
    /// This topology as declared on a session (`declared` gives the server-named queues' names),
    /// leaving out the exchange `hidden` (the console's own telemetry plumbing) and what is bound
    /// to it.
    pub fn describe(&self, declared: &DeclaredTopology, hidden: &str) -> DescribedTopology {
        let exchanges: Vec<ExchangeFacts> = self
            .exchanges
            .iter()
            .filter(|exchange| exchange.name.as_str() != hidden)
            .map(|exchange| ExchangeFacts {
                name: exchange.name.as_str().to_owned(),
                kind: exchange.kind.as_str().to_owned(),
                alternate: text(&exchange.arguments, "alternate-exchange"),
            })
            .collect();
        let bindings: Vec<BindingFacts> = self
            .bindings
            .iter()
            .filter(|binding| binding.exchange.as_str() != hidden)
            .filter_map(|binding| {
                let queue = match &binding.queue {
                    BoundQueue::Named(name) => name.as_str().to_owned(),
                    BoundQueue::LastDeclared => declared.last_queue_name()?.as_str().to_owned(),
                };
                Some(BindingFacts {
                    exchange: binding.exchange.as_str().to_owned(),
                    queue,
                    key: binding.routing_key.as_str().to_owned(),
                    header_match: header_match(&binding.arguments),
                })
            })
            .collect();
        let hidden_queues: Vec<&str> = self
            .bindings
            .iter()
            .filter(|binding| binding.exchange.as_str() == hidden)
            .filter_map(|binding| match &binding.queue {
                BoundQueue::Named(name) => Some(name.as_str()),
                BoundQueue::LastDeclared => declared.last_queue_name().map(|n| n.as_str()),
            })
            .collect();
        let queues = self
            .queues
            .iter()
            .zip(&declared.queues)
            .filter(|(_, answer)| !hidden_queues.contains(&answer.name.as_str()))
            .map(|(spec, answer)| {
                let name = answer.name.as_str().to_owned();
                let arguments = &spec.arguments;
                let facts = QueueFacts {
                    kind: text(arguments, "x-queue-type").unwrap_or_else(|| "classic".to_owned()),
                    purpose: QueuePurpose::Work,
                    exclusive: spec.exclusive,
                    dead_letter_exchange: text(arguments, "x-dead-letter-exchange"),
                    dead_letter_key: text(arguments, "x-dead-letter-routing-key"),
                    ttl_ms: integer(arguments, "x-message-ttl"),
                    depth: None,
                    consumers: None,
                    name,
                };
                QueueFacts {
                    purpose: purpose(&facts, spec.is_server_named(), &exchanges, &bindings, self),
                    ..facts
                }
            })
            .collect();
        DescribedTopology {
            exchanges,
            queues,
            bindings,
        }
    }
}

/// What a queue is for, from its arguments and what it is bound to.
fn purpose(
    queue: &QueueFacts,
    server_named: bool,
    exchanges: &[ExchangeFacts],
    bindings: &[BindingFacts],
    topology: &Topology,
) -> QueuePurpose {
    let bound_to = |is: &dyn Fn(&str) -> bool| {
        bindings
            .iter()
            .any(|binding| binding.queue == queue.name && is(&binding.exchange))
    };
    let dead_letter_exchanges: Vec<String> = topology
        .queues
        .iter()
        .filter_map(|spec| text(&spec.arguments, "x-dead-letter-exchange"))
        .filter(|exchange| !exchange.is_empty())
        .collect();
    if queue.kind == "stream" {
        QueuePurpose::Stream
    } else if queue.ttl_ms.is_some() && queue.dead_letter_exchange.is_some() {
        QueuePurpose::Delay
    } else if bound_to(&|exchange| dead_letter_exchanges.iter().any(|dlx| dlx == exchange)) {
        QueuePurpose::DeadLetter
    } else if bound_to(&|exchange| {
        exchanges
            .iter()
            .any(|x| x.alternate.as_deref() == Some(exchange))
    }) {
        QueuePurpose::Unrouted
    } else if server_named {
        QueuePurpose::Subscriber
    } else {
        QueuePurpose::Work
    }
}

/// A string argument (`x-queue-type`, `x-dead-letter-exchange`, …).
fn text(arguments: &FieldTable, key: &str) -> Option<String> {
    let key = amqprs::ShortStr::try_from(key).ok()?;
    match arguments.get(&key)? {
        FieldValue::S(value) => Some(String::from(value.clone())),
        _ => None,
    }
}

/// An integer argument (`x-message-ttl`).
fn integer(arguments: &FieldTable, key: &str) -> Option<i64> {
    let key = amqprs::ShortStr::try_from(key).ok()?;
    match arguments.get(&key)? {
        FieldValue::l(n) => Some(*n),
        FieldValue::I(n) => Some(i64::from(*n)),
        FieldValue::i(n) => Some(i64::from(*n)),
        _ => None,
    }
}

/// A headers binding's `x-match` and headers as one line: `all of {level=error, service=pay}`.
fn header_match(arguments: &FieldTable) -> Option<String> {
    let mode = text(arguments, "x-match")?;
    let mut pairs: Vec<String> = arguments
        .as_ref()
        .iter()
        .filter(|(key, _)| !key.to_string().starts_with("x-"))
        .map(|(key, value)| match value {
            FieldValue::S(value) => format!("{key}={}", String::from(value.clone())),
            other => format!("{key}={other:?}"),
        })
        .collect();
    pairs.sort();
    Some(format!("{mode} of {{{}}}", pairs.join(", ")))
}

/// What the broker would answer for `topology`, naming its server-named queue `server_named`:
/// for tests of what roles report, without a broker.
#[cfg(test)]
pub(crate) fn declared_as(topology: &Topology, server_named: &str) -> DeclaredTopology {
    use super::names::QueueName;
    use super::topology::DeclaredQueue;
    DeclaredTopology {
        queues: topology
            .queues
            .iter()
            .map(|spec| DeclaredQueue {
                name: spec
                    .name
                    .clone()
                    .unwrap_or_else(|| QueueName::from_broker(server_named.to_owned())),
                messages: 0,
                consumers: 0,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amqp::names::{QueueName, RoutingKey};
    use crate::amqp::topology::{BindingSpec, ExchangeSpec, QueueSpec};
    use crate::amqp::{ExchangeKind, RetryDelays, RetryLadder, WorkQueue};

    #[test]
    fn a_work_queue_with_dead_letters_and_retries_is_described_with_every_purpose() {
        let name = QueueName::parse("jobs").unwrap();
        let delays = RetryDelays::new(vec![
            std::time::Duration::from_millis(200),
            std::time::Duration::from_secs(1),
        ])
        .unwrap();
        let queue = WorkQueue {
            dead_letter: Some(crate::amqp::DeadLetter::for_queue(&name, None).unwrap()),
            retry: Some(RetryLadder::for_queue(&name, &delays).unwrap()),
            ..WorkQueue::classic(name.clone())
        };
        let topology = queue.topology();
        let described =
            topology.describe(&declared_as(&topology, "unused"), "playground.telemetry");
        let purpose_of = |name: &str| {
            described
                .queues
                .iter()
                .find(|q| q.name == name)
                .map(|q| q.purpose)
        };
        assert_eq!(purpose_of("jobs"), Some(QueuePurpose::Work));
        assert_eq!(
            purpose_of("jobs.dead-letter"),
            Some(QueuePurpose::DeadLetter)
        );
        let delays: Vec<&QueueFacts> = described
            .queues
            .iter()
            .filter(|q| q.purpose == QueuePurpose::Delay)
            .collect();
        assert_eq!(delays.len(), 2);
        assert_eq!(delays[0].ttl_ms, Some(200));
        assert_eq!(delays[0].dead_letter_exchange.as_deref(), Some(""));
        assert_eq!(delays[0].dead_letter_key.as_deref(), Some("jobs"));
        let jobs = described.queues.iter().find(|q| q.name == "jobs").unwrap();
        assert_eq!(jobs.dead_letter_exchange.as_deref(), Some("jobs.dlx"));
        assert_eq!(described.exchanges[0].name, "jobs.dlx");
        assert_eq!(described.bindings[0].queue, "jobs.dead-letter");
    }

    #[test]
    fn a_subscriber_gets_the_brokers_name_and_the_telemetry_plumbing_is_left_out() {
        let topic = crate::amqp::ExchangeName::parse("logs-topic").unwrap();
        let telemetry = crate::amqp::ExchangeName::parse("playground.telemetry").unwrap();
        let topology = Topology {
            exchanges: vec![
                ExchangeSpec::durable(topic.clone(), ExchangeKind::Topic),
                ExchangeSpec::durable(telemetry.clone(), ExchangeKind::Fanout),
            ],
            queues: vec![QueueSpec::server_named()],
            bindings: vec![BindingSpec {
                queue: BoundQueue::LastDeclared,
                exchange: topic,
                routing_key: RoutingKey::parse("*.error").unwrap(),
                arguments: FieldTable::new(),
            }],
            ..Topology::default()
        };
        let described = topology.describe(&declared_as(&topology, "amq.gen-abc"), "other");
        assert_eq!(described.queues[0].name, "amq.gen-abc");
        assert_eq!(described.queues[0].purpose, QueuePurpose::Subscriber);
        assert!(described.queues[0].exclusive);
        assert_eq!(described.bindings[0].key, "*.error");
        assert_eq!(described.exchanges.len(), 2);
        let hidden = topology.describe(
            &declared_as(&topology, "amq.gen-abc"),
            "playground.telemetry",
        );
        assert_eq!(
            hidden.exchanges.len(),
            1,
            "the telemetry exchange is not drawn"
        );
    }
}
