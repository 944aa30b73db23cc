//! The work queue's shape: its type (classic or quorum), its dead-letter exchange and queue, its
//! delivery limit — turned into the topology every role that touches the queue declares.
//!
//! RabbitMQ refuses a second declaration of a queue with other arguments (406 PRECONDITION_FAILED),
//! so producers and consumers must declare it identically. Building the arguments in one place
//! from one set of options is how they stay identical. The default is the Node services' plain
//! durable classic queue with no arguments at all, so both fleets can share `hello-world-queue`.

use amqprs::{FieldTable, FieldValue, ShortStr};

use super::topology::{BindingSpec, ExchangeSpec, QueueSpec, Topology};

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
    pub exchange: String,
    /// The queue that collects them (`<queue>.dead-letter` by default).
    pub queue: String,
}

/// The options shared by every role that touches the work queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkQueue {
    pub name: String,
    pub queue_type: QueueType,
    pub dead_letter: Option<DeadLetter>,
    /// Quorum queues only: deliveries after which a message is given up on.
    pub delivery_limit: Option<u32>,
}

/// The longest queue or exchange name AMQP allows.
const MAX_NAME: usize = 255;

impl WorkQueue {
    /// The Node-compatible default: a plain durable classic queue.
    pub fn classic(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            queue_type: QueueType::Classic,
            dead_letter: None,
            delivery_limit: None,
        }
    }

    /// The dead-letter exchange's name for a work queue.
    pub fn dead_letter_exchange_for(queue: &str) -> String {
        format!("{queue}.dlx")
    }

    /// The default dead-letter queue's name for a work queue.
    pub fn default_dead_letter_queue(queue: &str) -> String {
        format!("{queue}.dead-letter")
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
        if let Some(dead_letter) = &self.dead_letter {
            for name in [&dead_letter.exchange, &dead_letter.queue] {
                if name.len() > MAX_NAME {
                    return Err(format!(
                        "dead-letter name {name:?} is {} bytes; AMQP allows at most {MAX_NAME} \
                         (use a shorter queue name or --dead-letter-queue)",
                        name.len()
                    ));
                }
            }
            if dead_letter.queue == self.name {
                return Err("the dead-letter queue must not be the work queue itself".to_owned());
            }
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
                FieldValue::from(dead_letter.exchange.as_str()),
            );
        }
        arguments
    }

    /// Everything to declare: the dead-letter exchange and queue (when on), then the work queue.
    pub fn topology(&self) -> Topology {
        let mut topology = Topology::default();
        if let Some(dead_letter) = &self.dead_letter {
            topology.exchanges.push(ExchangeSpec {
                name: dead_letter.exchange.clone(),
                kind: "fanout".to_owned(),
                durable: true,
            });
            // A plain classic queue whatever the work queue's type, so that
            // `playground consume --queue <queue>.dead-letter` can read it with default options.
            topology.queues.push(QueueSpec::durable(&dead_letter.queue));
            topology.bindings.push(BindingSpec {
                queue: dead_letter.queue.clone(),
                exchange: dead_letter.exchange.clone(),
                routing_key: String::new(),
            });
        }
        let mut queue = QueueSpec::durable(&self.name);
        queue.arguments = self.arguments();
        topology.queues.push(queue);
        topology.queue_mismatch_hint = Some(format!(
            "Every producer and consumer of {:?} must use the same --queue-type, --dead-letter and \
             --delivery-limit (env QUEUE_TYPE, DEAD_LETTER, DELIVERY_LIMIT); this role declares it \
             as {}",
            self.name,
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

    #[test]
    fn the_default_declares_no_arguments_like_the_node_services() {
        let queue = WorkQueue::classic("hello-world-queue");
        assert_eq!(queue.arguments(), FieldTable::new());
        let topology = queue.topology();
        assert!(topology.exchanges.is_empty() && topology.bindings.is_empty());
        assert_eq!(topology.queues.len(), 1);
        assert!(topology.queues[0].durable);
    }

    #[test]
    fn quorum_with_dead_letters_declares_everything_it_needs() {
        let queue = WorkQueue {
            name: "jobs".to_owned(),
            queue_type: QueueType::Quorum,
            dead_letter: Some(DeadLetter {
                exchange: WorkQueue::dead_letter_exchange_for("jobs"),
                queue: WorkQueue::default_dead_letter_queue("jobs"),
            }),
            delivery_limit: Some(5),
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
        assert_eq!(topology.exchanges[0].name, "jobs.dlx");
        assert_eq!(topology.queues[0].name, "jobs.dead-letter");
        assert_eq!(topology.queues[1].name, "jobs");
        assert_eq!(topology.bindings[0].queue, "jobs.dead-letter");
        assert!(queue.describe().contains("delivery limit 5"));
    }

    #[test]
    fn a_delivery_limit_needs_a_quorum_queue() {
        let mut queue = WorkQueue::classic("q");
        queue.delivery_limit = Some(3);
        assert!(queue.validate().unwrap_err().contains("quorum"));
    }
}
