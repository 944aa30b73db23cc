//! The alternate exchange: where a lab exchange hands the messages none of its bindings matched,
//! so they land in a visible durable queue instead of vanishing.
//!
//! RabbitMQ counts a message the alternate exchange took as *routed*: a `mandatory` publish gets
//! no basic.return, just the ack. So the publisher learns it another way, with an
//! [`UnroutedTap`]: its own exclusive queue bound to the (fanout) alternate exchange, which gets a
//! copy of every message the exchange took. A queue confirms a message to its publisher only
//! after it enqueued it, and handles requests in order, so a `basic.get` sent *after* the ack
//! finds the copy if there is one: no window to guess, no race.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use amqprs::{FieldTable, FieldValue, ShortStr};

use super::names::{ExchangeName, QueueName, RoutingKey};
use super::routing::ExchangeKind;
use super::session::Session;
use super::topology::{BindingSpec, BoundQueue, ExchangeSpec, QueueSpec, Topology};

/// An alternate exchange and the durable queue behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlternateExchange {
    /// The fanout exchange the lab's exchanges name in their `alternate-exchange` argument.
    pub exchange: ExchangeName,
    /// The durable queue bound to it, where unroutable messages wait to be looked at.
    pub queue: QueueName,
}

impl AlternateExchange {
    /// `exchange` with `queue`, or `<exchange>.unrouted` when `queue` is `None`.
    pub fn new(exchange: ExchangeName, queue: Option<QueueName>) -> Result<Self, String> {
        let queue = match queue {
            Some(queue) => queue,
            None => QueueName::parse(format!("{exchange}.unrouted"))
                .map_err(|e| format!("the derived queue name {exchange}.unrouted {e}"))?,
        };
        Ok(Self { exchange, queue })
    }

    /// The exchange argument that points an exchange at this one.
    pub fn argument(&self) -> FieldTable {
        let mut table = FieldTable::new();
        if let Ok(key) = ShortStr::try_from("alternate-exchange") {
            table.insert(key, FieldValue::from(self.exchange.as_str().to_owned()));
        }
        table
    }

    /// Declares the fanout exchange, the durable queue and their binding. The queue is put
    /// first: roles consume the queue declared last.
    pub fn add_to(&self, topology: &mut Topology) {
        topology.exchanges.push(ExchangeSpec::durable(
            self.exchange.clone(),
            ExchangeKind::Fanout,
        ));
        topology
            .queues
            .insert(0, QueueSpec::durable(self.queue.clone()));
        topology.bindings.push(BindingSpec {
            queue: BoundQueue::Named(self.queue.clone()),
            exchange: self.exchange.clone(),
            routing_key: RoutingKey::empty(),
            arguments: FieldTable::new(),
        });
    }

    /// For hints and logs: `with alternate exchange "x"` or `without an alternate exchange`.
    pub fn describe(alternate: Option<&Self>) -> String {
        match alternate {
            Some(alternate) => format!("with alternate exchange {:?}", alternate.exchange.as_str()),
            None => "without an alternate exchange".to_owned(),
        }
    }
}

/// What became of a confirmed message, as the tap saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// A binding of the exchange matched: the alternate exchange never saw it.
    No,
    /// The alternate exchange took it into its queue.
    Kept,
    /// The alternate exchange took it, but its queue had been deleted: nobody has it.
    QueueGone,
}

/// How long an id seen on the tap is remembered: copies of other publishers' messages are never
/// asked about and must not pile up.
const REMEMBER: Duration = Duration::from_secs(60);

/// A publisher's private view of the alternate exchange: which of its confirmed messages the
/// alternate exchange took. See the module comment for why it is exact.
pub struct UnroutedTap {
    queue: QueueName,
    exchange: ExchangeName,
    /// The alternate exchange's own queue: the tap makes the alternate exchange route even
    /// when that queue was deleted, so a message seen on the tap is only *kept* if it exists.
    kept_in: QueueName,
    /// Ids taken off the queue and not asked about yet (other callers' messages, or other
    /// publishers'), with when they were seen.
    seen: tokio::sync::Mutex<HashMap<String, Instant>>,
}

impl UnroutedTap {
    /// A tap on `alternate` through a queue named for this process.
    pub fn new(alternate: &AlternateExchange) -> Self {
        Self {
            queue: QueueName::unique("playground.unrouted-tap"),
            exchange: alternate.exchange.clone(),
            kept_in: alternate.queue.clone(),
            seen: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The exclusive queue (gone with the connection, declared again with the topology) and its
    /// binding. Bounded: it only fills between two publishes, with other publishers' strays.
    pub fn add_to(&self, topology: &mut Topology) {
        let mut arguments = FieldTable::new();
        if let Ok(key) = ShortStr::try_from("x-max-length") {
            arguments.insert(key, FieldValue::l(10_000));
        }
        if let Ok(key) = ShortStr::try_from("x-message-ttl") {
            arguments.insert(key, FieldValue::l(60_000));
        }
        let position = topology.queues.len().min(1);
        topology.queues.insert(
            position,
            QueueSpec {
                name: Some(self.queue.clone()),
                durable: false,
                exclusive: true,
                auto_delete: false,
                arguments,
            },
        );
        topology.bindings.push(BindingSpec {
            queue: BoundQueue::Named(self.queue.clone()),
            exchange: self.exchange.clone(),
            routing_key: RoutingKey::empty(),
            arguments: FieldTable::new(),
        });
    }

    /// After the broker acked `message_id` on `session`: whether the alternate exchange took
    /// it. `None` when it cannot be known (the session ended, so the tap queue went with it).
    pub async fn took(&self, session: &Session, message_id: &str) -> Option<Taken> {
        // One caller at a time: amqprs keeps one answer slot per channel and request type.
        let mut seen = self.seen.lock().await;
        if !self.seen_on_tap(&mut seen, session, message_id).await? {
            return Some(Taken::No);
        }
        if session.queue_exists(&self.kept_in).await {
            return Some(Taken::Kept);
        }
        // The broker closed the channel over the missing queue; a new session declares it again.
        session.end(format!(
            "queue {} of the alternate exchange vanished; declaring it again",
            self.kept_in
        ));
        Some(Taken::QueueGone)
    }

    async fn seen_on_tap(
        &self,
        seen: &mut HashMap<String, Instant>,
        session: &Session,
        message_id: &str,
    ) -> Option<bool> {
        if session.is_ended() {
            return None;
        }
        match session.take_message_ids(&self.queue).await {
            Ok(ids) => {
                let now = Instant::now();
                seen.extend(ids.into_iter().map(|id| (id, now)));
            }
            Err(error) => {
                tracing::warn!(%error, queue = %self.queue, "cannot read the unrouted tap");
                return None;
            }
        }
        seen.retain(|_, at| at.elapsed() < REMEMBER);
        Some(seen.remove(message_id).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_is_derived_from_the_exchange_unless_named() {
        let exchange = ExchangeName::parse("lab.ae").unwrap();
        let derived = AlternateExchange::new(exchange.clone(), None).unwrap();
        assert_eq!(derived.queue.as_str(), "lab.ae.unrouted");
        let named = QueueName::parse("parked").unwrap();
        assert_eq!(
            AlternateExchange::new(exchange, Some(named))
                .unwrap()
                .queue
                .as_str(),
            "parked"
        );
        let long = ExchangeName::parse("e".repeat(250)).unwrap();
        assert!(AlternateExchange::new(long, None).is_err());
    }

    #[test]
    fn its_queue_goes_first_and_the_tap_second_so_the_last_queue_stays_the_roles() {
        let alternate =
            AlternateExchange::new(ExchangeName::parse("lab.ae").unwrap(), None).unwrap();
        let mut topology = Topology {
            queues: vec![QueueSpec::server_named()],
            ..Topology::default()
        };
        alternate.add_to(&mut topology);
        UnroutedTap::new(&alternate).add_to(&mut topology);
        assert_eq!(topology.queues.len(), 3);
        assert_eq!(topology.queues[0].name.as_ref(), Some(&alternate.queue));
        assert!(topology.queues[1].exclusive);
        assert!(topology.queues[2].is_server_named());
        assert_eq!(topology.bindings.len(), 2);
    }
}
