//! Where a role's confirmed publishes went, per exchange (and per queue for the default
//! exchange): the lab console draws a producer's edges from it. Not exported to Prometheus, where
//! a label per routing key would grow without bound; here the map itself is bounded.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// The most destinations one role tallies; publishes to further ones are not tallied. A lab role
/// publishes to a handful.
pub const MAX_DESTINATIONS: usize = 32;

/// Direct reply-to addresses carry a per-channel suffix (`amq.rabbitmq.reply-to.g1h2…`); they are
/// all one pseudo-queue in the diagram.
const DIRECT_REPLY_TO: &str = "amq.rabbitmq.reply-to";

/// One destination's confirmed publishes since the role started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedTo {
    /// The exchange (`""`: the default exchange).
    pub exchange: String,
    /// For the default exchange, the queue the routing key names; `None` for a named exchange,
    /// whose routing keys are not tallied (anyone can invent new ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// Publishes the broker confirmed (unroutable ones included: they reached the exchange).
    pub count: u64,
}

/// The tally, shared by every publisher of the role.
#[derive(Debug, Default)]
pub struct PublishedToTally {
    counts: Mutex<BTreeMap<(String, Option<String>), u64>>,
}

impl PublishedToTally {
    /// Counts one confirmed publish to `exchange` with `routing_key`.
    pub fn record(&self, exchange: &str, routing_key: &str) {
        let queue = exchange.is_empty().then(|| {
            if routing_key.starts_with(DIRECT_REPLY_TO) {
                DIRECT_REPLY_TO
            } else {
                routing_key
            }
        });
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        // Found by comparison (at most MAX_DESTINATIONS entries) so that the common case, a
        // destination already tallied, allocates nothing: this runs for every confirmed publish.
        let room = counts.len() < MAX_DESTINATIONS;
        let known = counts
            .iter_mut()
            .find(|((x, q), _)| x == exchange && q.as_deref() == queue);
        match known {
            Some((_, count)) => *count += 1,
            None if room => {
                counts.insert((exchange.to_owned(), queue.map(str::to_owned)), 1);
            }
            None => {}
        }
    }

    /// Every destination with its count, in a stable order.
    pub fn totals(&self) -> Vec<PublishedTo> {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts
            .iter()
            .map(|((exchange, queue), count)| PublishedTo {
                exchange: exchange.clone(),
                queue: queue.clone(),
                count: *count,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_tallied_replies_folded_and_the_map_bounded() {
        let tally = PublishedToTally::default();
        tally.record("", "jobs");
        tally.record("", "jobs");
        tally.record("logs-topic", "app.error");
        tally.record("logs-topic", "app.info");
        tally.record("", "amq.rabbitmq.reply-to.g1h2AA");
        tally.record("", "amq.rabbitmq.reply-to.g1h2BB");
        let totals = tally.totals();
        assert_eq!(
            totals,
            vec![
                PublishedTo {
                    exchange: String::new(),
                    queue: Some("amq.rabbitmq.reply-to".to_owned()),
                    count: 2
                },
                PublishedTo {
                    exchange: String::new(),
                    queue: Some("jobs".to_owned()),
                    count: 2
                },
                PublishedTo {
                    exchange: "logs-topic".to_owned(),
                    queue: None,
                    count: 2
                },
            ]
        );
        for i in 0..100 {
            tally.record("", &format!("q{i}"));
        }
        assert_eq!(tally.totals().len(), MAX_DESTINATIONS);
    }
}
