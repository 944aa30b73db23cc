//! The work queue's shape: its type (classic or quorum), its dead-letter exchange and queue, its
//! delivery limit, its retry delay queues — turned into the topology every role that touches the queue declares.
//!
//! RabbitMQ refuses a second declaration of a queue with other arguments (406 PRECONDITION_FAILED),
//! so producers and consumers must declare it identically. Building the arguments in one place
//! from one set of options is how they stay identical. The default is the Node services' plain
//! durable classic queue with no arguments at all, so both fleets can share `hello-world-queue`.

use amqprs::{FieldTable, FieldValue, ShortStr};

use super::names::{ExchangeName, QueueName, RoutingKey};
use super::retry::RetryLadder;
use super::routing::ExchangeKind;
use super::topology::{BindingSpec, BoundQueue, ExchangeSpec, QueueSpec, Topology};

/// `x-queue-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueType {
    /// The classic queue: what the Node services declared; no poison-message limit.
    Classic,
    /// A replicated Raft queue: RabbitMQ's recommendation for work queues; counts deliveries and
    /// stops (dead-letters or drops) a message after `delivery_limit` failed attempts.
    Quorum,
}

impl QueueType {
    /// The declaration's arguments for this type alone (`x-queue-type` for a quorum queue; none
    /// for a classic one, as the Node services declared it), for queues that are not work queues.
    pub fn arguments(self) -> FieldTable {
        let mut arguments = FieldTable::new();
        if self == QueueType::Quorum {
            insert(&mut arguments, "x-queue-type", FieldValue::from("quorum"));
        }
        arguments
    }

    /// The name RabbitMQ uses.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueType::Classic => "classic",
            QueueType::Quorum => "quorum",
        }
    }
}

/// Where rejected and expired messages go instead of vanishing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// A fanout exchange named after the work queue, so a user can bind more queues to it.
    pub exchange: ExchangeName,
    /// The queue that collects them (`<queue>.dead-letter` by default).
    pub queue: QueueName,
}

impl DeadLetter {
    /// The dead letters of `work_queue`: its `<queue>.dlx` exchange, and `queue` or
    /// `<queue>.dead-letter`. Fails when a derived name would not fit AMQP's 255 bytes.
    pub fn for_queue(work_queue: &QueueName, queue: Option<QueueName>) -> Result<Self, String> {
        let too_long = |e| {
            format!(
                "the dead-letter names are derived from the queue name, and {e} \
                 (use a shorter queue name or --dead-letter-queue)"
            )
        };
        let exchange = ExchangeName::for_queue(work_queue, ".dlx")
            .map_err(|e| too_long(format!("\"{work_queue}.dlx\" {e}")))?;
        let queue = match queue {
            Some(queue) => queue,
            None => work_queue
                .with_suffix(".dead-letter")
                .map_err(|e| too_long(format!("\"{work_queue}.dead-letter\" {e}")))?,
        };
        if &queue == work_queue {
            return Err("the dead-letter queue must not be the work queue itself".to_owned());
        }
        Ok(Self { exchange, queue })
    }
}

/// The options shared by every role that touches the work queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkQueue {
    /// The queue producers publish to and workers consume (`--queue`).
    pub name: QueueName,
    /// Fixed when the queue is created: a declaration with another type is refused (406).
    pub queue_type: QueueType,
    /// Where rejected messages go instead of vanishing; `None` (the default) drops them.
    pub dead_letter: Option<DeadLetter>,
    /// Quorum queues only: deliveries after which a message is given up on.
    pub delivery_limit: Option<u32>,
    /// The delay queues a failed message waits in before its next attempt (`--retry-delays`);
    /// `None`: a failure is settled at once (requeued, dead-lettered or dropped).
    pub retry: Option<RetryLadder>,
}

impl WorkQueue {
    /// The Node-compatible default: a plain durable classic queue.
    pub fn classic(name: QueueName) -> Self {
        Self {
            name,
            queue_type: QueueType::Classic,
            dead_letter: None,
            delivery_limit: None,
            retry: None,
        }
    }

    /// Checks what the broker would refuse later with a less helpful message.
    pub fn validate(&self) -> Result<(), String> {
        if self.delivery_limit.is_some() && self.queue_type != QueueType::Quorum {
            return Err(
                "--delivery-limit needs --queue-type quorum (classic queues do not count deliveries)"
                    .to_owned(),
            );
        }
        if self.delivery_limit == Some(0) {
            return Err("--delivery-limit must be at least 1".to_owned());
        }
        if self.retry.is_some() && self.dead_letter.is_none() {
            // "Retry, then park it": after the last delay the message needs somewhere to go
            // other than nowhere (a drop would lose it silently) or back (a hot loop).
            return Err(
                "--retry-delays needs --dead-letter (env DEAD_LETTER=true): a message that \
                 failed after the last delay is parked in the dead-letter queue"
                    .to_owned(),
            );
        }
        Ok(())
    }

    /// The `x-…` arguments of the work queue. Empty for the default, so the declaration matches a
    /// queue the Node services created.
    pub fn arguments(&self) -> FieldTable {
        let mut arguments = FieldTable::new();
        if self.queue_type == QueueType::Quorum {
            insert(&mut arguments, "x-queue-type", FieldValue::from("quorum"));
            if let Some(limit) = self.delivery_limit {
                // RabbitMQ reads the limit as a signed integer.
                let limit = i64::from(limit);
                insert(&mut arguments, "x-delivery-limit", FieldValue::l(limit));
            }
        }
        if let Some(dead_letter) = &self.dead_letter {
            insert(
                &mut arguments,
                "x-dead-letter-exchange",
                FieldValue::from(dead_letter.exchange.as_str().to_owned()),
            );
        }
        arguments
    }

    /// Everything to declare: the dead-letter exchange and queue (when on), then the work queue.
    pub fn topology(&self) -> Topology {
        let mut topology = Topology::default();
        if let Some(dead_letter) = &self.dead_letter {
            topology.exchanges.push(ExchangeSpec::durable(
                dead_letter.exchange.clone(),
                ExchangeKind::Fanout,
            ));
            // A plain classic queue whatever the work queue's type, so that
            // `playground consume --queue <queue>.dead-letter` can read it with default options.
            topology
                .queues
                .push(QueueSpec::durable(dead_letter.queue.clone()));
            topology.bindings.push(BindingSpec {
                queue: BoundQueue::Named(dead_letter.queue.clone()),
                exchange: dead_letter.exchange.clone(),
                routing_key: RoutingKey::empty(),
                arguments: FieldTable::new(),
            });
        }
        if let Some(retry) = &self.retry {
            topology.queues.extend(retry.queue_specs(self.queue_type));
        }
        let mut queue = QueueSpec::durable(self.name.clone());
        queue.arguments = self.arguments();
        topology.queues.push(queue);
        topology.queue_mismatch_hint = Some(format!(
            "Every producer and consumer of {:?} must use the same --queue-type, --dead-letter, \
             --delivery-limit and --retry-delays (env QUEUE_TYPE, DEAD_LETTER, DELIVERY_LIMIT, \
             RETRY_DELAYS); this role declares it as {}",
            self.name.as_str(),
            self.describe()
        ));
        topology
    }

    /// One line for logs: `quorum, delivery limit 5, dead letters to q.dead-letter`.
    pub fn describe(&self) -> String {
        let mut text = self.queue_type.as_str().to_owned();
        if let Some(limit) = self.delivery_limit {
            text.push_str(&format!(", delivery limit {limit}"));
        }
        match &self.dead_letter {
            Some(dead_letter) => text.push_str(&format!(", dead letters to {}", dead_letter.queue)),
            None => text.push_str(", no dead-letter queue"),
        }
        if let Some(retry) = &self.retry {
            text.push_str(&format!(", retries after {}", retry.describe()));
        }
        text
    }
}

fn insert(table: &mut FieldTable, key: &'static str, value: FieldValue) {
    // Every key here is a short constant, well under ShortStr's 255 bytes.
    if let Ok(key) = ShortStr::try_from(key) {
        table.insert(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> ShortStr {
        ShortStr::try_from(k).unwrap()
    }

    fn name(queue: &str) -> QueueName {
        QueueName::parse(queue).unwrap()
    }

    #[test]
    fn the_default_declares_no_arguments_like_the_node_services() {
        let queue = WorkQueue::classic(name("hello-world-queue"));
        assert_eq!(queue.arguments(), FieldTable::new());
        let topology = queue.topology();
        assert!(topology.exchanges.is_empty() && topology.bindings.is_empty());
        assert_eq!(topology.queues.len(), 1);
        assert!(topology.queues[0].durable);
    }

    #[test]
    fn quorum_with_dead_letters_declares_everything_it_needs() {
        let queue = WorkQueue {
            name: name("jobs"),
            queue_type: QueueType::Quorum,
            dead_letter: Some(DeadLetter::for_queue(&name("jobs"), None).unwrap()),
            delivery_limit: Some(5),
            retry: None,
        };
        queue.validate().unwrap();
        let arguments = queue.arguments();
        assert_eq!(
            arguments.get(&key("x-queue-type")),
            Some(&FieldValue::from("quorum"))
        );
        assert_eq!(
            arguments.get(&key("x-delivery-limit")),
            Some(&FieldValue::l(5))
        );
        assert_eq!(
            arguments.get(&key("x-dead-letter-exchange")),
            Some(&FieldValue::from("jobs.dlx"))
        );
        let topology = queue.topology();
        assert_eq!(topology.exchanges[0].name.as_str(), "jobs.dlx");
        assert_eq!(topology.queues[0].name, Some(name("jobs.dead-letter")));
        assert_eq!(topology.queues[1].name, Some(name("jobs")));
        assert_eq!(
            topology.bindings[0].queue,
            BoundQueue::Named(name("jobs.dead-letter"))
        );
        assert!(queue.describe().contains("delivery limit 5"));
    }

    #[test]
    fn retry_delays_add_their_queues_and_need_a_dead_letter_queue() {
        use crate::amqp::retry::RetryDelays;
        use std::time::Duration;
        let delays = RetryDelays::new(vec![Duration::from_millis(200)]).unwrap();
        let mut queue = WorkQueue::classic(name("jobs"));
        queue.retry = Some(RetryLadder::for_queue(&queue.name, &delays).unwrap());
        assert!(queue.validate().unwrap_err().contains("--dead-letter"));
        queue.dead_letter = Some(DeadLetter::for_queue(&queue.name, None).unwrap());
        queue.validate().unwrap();
        let topology = queue.topology();
        let names: Vec<&str> = topology
            .queues
            .iter()
            .map(|q| q.name.as_ref().unwrap().as_str())
            .collect();
        assert_eq!(names, ["jobs.dead-letter", "jobs.retry.200ms", "jobs"]);
        assert!(queue.describe().ends_with("retries after 200ms"));
        assert!(topology
            .queue_mismatch_hint
            .unwrap()
            .contains("RETRY_DELAYS"));
    }

    #[test]
    fn a_delivery_limit_needs_a_quorum_queue() {
        let mut queue = WorkQueue::classic(name("q"));
        queue.delivery_limit = Some(3);
        assert!(queue.validate().unwrap_err().contains("quorum"));
    }

    #[test]
    fn dead_letter_names_must_fit_and_differ_from_the_work_queue() {
        let long = name(&"q".repeat(250));
        assert!(DeadLetter::for_queue(&long, None)
            .unwrap_err()
            .contains("--dead-letter-queue"));
        assert!(DeadLetter::for_queue(&long, Some(name("dlq"))).is_ok());
        assert!(DeadLetter::for_queue(&name("q"), Some(name("q"))).is_err());
    }
}
