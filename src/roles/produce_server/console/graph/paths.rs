//! The path one handled message took through the diagram (which edges its dot runs along), and
//! the edge ids both sides agree on.

use super::matching::binding_matches;
use crate::amqp::described::QueueFacts;
use crate::amqp::QueuePurpose;
use crate::roles::snapshot::{Handled, Outcome, Shape};

/// `publish|<instance>|x:<exchange>`.
pub fn publish_edge(from: &str, exchange: &str) -> String {
    format!("publish|{from}|x:{exchange}")
}

/// `binding|x:<exchange>|q:<queue>|<key>`.
pub fn binding_edge(exchange: &str, queue: &str, key: &str) -> String {
    format!("binding|x:{exchange}|q:{queue}|{key}")
}

/// `consume|q:<queue>|<instance>`.
pub fn consume_edge(queue: &str, to: &str) -> String {
    format!("consume|q:{queue}|{to}")
}

/// `dead-letter|q:<queue>|x:<exchange>`.
pub fn dead_letter_edge(queue: &str, exchange: &str) -> String {
    format!("dead-letter|q:{queue}|x:{exchange}")
}

/// The colour of a message's dot.
pub fn kind_of(handled: &Handled) -> &'static str {
    match (handled.outcome, handled.redelivered) {
        (Outcome::Acked, false) => "acked",
        (Outcome::Acked, true) => "redelivered",
        (Outcome::Requeued, _) => "requeued",
        (Outcome::DeadLettered, _) => "dead_lettered",
        (Outcome::Retried, _) => "retried",
        (Outcome::Dropped, _) => "dropped",
    }
}

/// Where one consumer's messages come from and go, from its own shape.
pub struct Route<'a> {
    pub shape: &'a Shape,
    /// The queue it consumes.
    pub queue: &'a str,
    /// Its node id.
    pub consumer: &'a str,
    /// The node of the message's publisher, when known (first attempts only: a retried copy
    /// comes back from a delay queue, not from its publisher).
    pub publisher: Option<&'a str>,
}

impl Route<'_> {
    /// The edges `handled` took, in order. `count(edge, true)` is called for each edge whose
    /// count comes from handled messages (the others are totals the roles report).
    pub fn edges(&self, handled: &Handled, mut count: impl FnMut(&str, bool)) -> Vec<String> {
        let queue = self.queue;
        let mut edges = Vec::new();
        let mut take = |edge: String, counted: bool, edges: &mut Vec<String>| {
            count(&edge, counted);
            edges.push(edge);
        };
        let attempt = handled.attempt.unwrap_or(1);
        let key = handled.routing_key.as_deref();
        match handled.trace.exchange.as_deref() {
            // Back from the delay queue of the attempt before, through the default exchange.
            Some("") if attempt > 1 => {
                if let Some(delay) = self.delay_queue(attempt - 1) {
                    take(dead_letter_edge(&delay.name, ""), true, &mut edges);
                }
                take(binding_edge("", queue, queue), true, &mut edges);
            }
            Some(exchange) => {
                // A publisher that reports its own publishes has them counted from its report;
                // one known only from its messages (or not at all) is counted here.
                let unreported = self.publisher.is_none_or(|p| p.starts_with("i:app:"));
                if let Some(publisher) = self.publisher {
                    take(publish_edge(publisher, exchange), unreported, &mut edges);
                }
                if exchange.is_empty() {
                    take(binding_edge("", queue, queue), unreported, &mut edges);
                } else if let Some(binding) = self.binding(exchange, Some(queue), key) {
                    take(binding, true, &mut edges);
                }
            }
            None => {}
        }
        take(consume_edge(queue, self.consumer), false, &mut edges);
        match handled.outcome {
            Outcome::DeadLettered => {
                let Some(facts) = self.facts(queue) else {
                    return edges;
                };
                let Some(dlx) = facts.dead_letter_exchange.as_deref() else {
                    return edges;
                };
                take(dead_letter_edge(queue, dlx), true, &mut edges);
                // Dead-lettered with its own key unless the queue sets one.
                let key =
                    facts
                        .dead_letter_key
                        .as_deref()
                        .or(match handled.trace.exchange.as_deref() {
                            Some("") => Some(queue),
                            _ => key,
                        });
                if let Some(binding) = self.binding(dlx, None, key) {
                    take(binding, true, &mut edges);
                }
            }
            Outcome::Retried => {
                if let Some(delay) = self.delay_queue(attempt) {
                    take(publish_edge(self.consumer, ""), false, &mut edges);
                    take(
                        binding_edge("", &delay.name, &delay.name),
                        false,
                        &mut edges,
                    );
                }
            }
            Outcome::Acked | Outcome::Requeued | Outcome::Dropped => {}
        }
        edges
    }

    /// The first binding of `exchange` (to `queue`, if given) that a message with `key` matches;
    /// with no key known, the first binding.
    fn binding(&self, exchange: &str, queue: Option<&str>, key: Option<&str>) -> Option<String> {
        let kind = self
            .shape
            .declared
            .exchanges
            .iter()
            .find(|x| x.name == exchange)
            .map_or("direct", |x| x.kind.as_str());
        self.shape
            .declared
            .bindings
            .iter()
            .filter(|b| b.exchange == exchange && queue.is_none_or(|q| b.queue == q))
            .find(|b| key.is_none_or(|key| binding_matches(kind, &b.key, key)))
            .map(|b| binding_edge(&b.exchange, &b.queue, &b.key))
    }

    fn facts(&self, queue: &str) -> Option<&QueueFacts> {
        self.shape.declared.queues.iter().find(|q| q.name == queue)
    }

    /// The delay queue a message that failed its `attempt`-th try waits in: the work queue's
    /// delay queues, in ladder (declaration) order.
    fn delay_queue(&self, attempt: u32) -> Option<&QueueFacts> {
        let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
        self.shape
            .declared
            .queues
            .iter()
            .filter(|q| q.purpose == QueuePurpose::Delay)
            .filter(|q| q.dead_letter_key.as_deref() == Some(self.queue))
            .nth(index)
    }
}
