//! A role's part of the console's topology diagram: what it declared (with the broker's names),
//! which queue it consumes, and where its confirmed publishes went. Sent with every snapshot, so
//! the console draws the lab from what the roles really did, with no management plugin.

use serde::{Deserialize, Serialize};

use super::Identity;
use crate::amqp::{
    ConnectionManager, DescribedTopology, QueueName, Session, CALL_OUTCOMES, DIRECT_REPLY_TO,
};
use crate::metrics::{PublishedTo, RpcMetrics};

/// The shape one role reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    /// Its exchanges, queues and bindings; exclusive queues carry their depth, which only this
    /// role's connection may ask for.
    #[serde(flatten)]
    pub declared: DescribedTopology,
    /// The queues it consumes (the broker's names); `amq.rabbitmq.reply-to` for an RPC caller.
    #[serde(default)]
    pub consumes: Vec<String>,
    /// Its confirmed publishes per destination, since it started.
    #[serde(default)]
    pub published_to: Vec<PublishedTo>,
}

impl Shape {
    /// The shape of the role behind `manager`, on `session`; `hidden` is the telemetry exchange,
    /// which is plumbing, not part of the lab.
    pub async fn of(
        manager: &ConnectionManager,
        session: &Session,
        identity: &Identity,
        hidden: &str,
    ) -> Self {
        let mut declared = manager.topology().describe(session.declared(), hidden);
        for queue in declared.queues.iter_mut().filter(|queue| queue.exclusive) {
            // The broker's own name for it (`amq.gen-…`), as its declare answered.
            let name = QueueName::from_broker(queue.name.clone());
            if let Some(counts) = session.own_queue_counts(&name).await {
                queue.depth = Some(counts.messages);
                queue.consumers = Some(counts.consumers);
            }
        }
        // A role that consumes says so with its prefetch; its queue is named, or the one the
        // broker named for this session.
        let mut consumes: Vec<String> = identity
            .prefetch
            .and_then(|_| {
                identity.queue.clone().or_else(|| {
                    session
                        .declared()
                        .last_queue_name()
                        .map(|name| name.as_str().to_owned())
                })
            })
            .into_iter()
            .collect();
        // Every produce-server can make calls; it is drawn as a caller once it made one.
        let metrics = manager.metrics();
        if manager.takes_direct_replies()
            && RpcMetrics::total(&metrics.rpc.calls, &CALL_OUTCOMES) > 0
        {
            consumes.push(DIRECT_REPLY_TO.to_owned());
        }
        Self {
            declared,
            consumes,
            published_to: metrics.published_to.totals(),
        }
    }
}
