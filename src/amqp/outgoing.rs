//! What one message to publish is: where it goes, its body and the AMQP properties the lab sets,
//! turned into the frame the publish gate sends. Kept apart from the publisher, which decides
//! when a message counts as sent; every publishing path (confirmed, fire-and-forget, a retry's
//! copy) builds its frame here.

use amqprs::channel::BasicPublishArguments;
use amqprs::{BasicProperties, FieldTable};

use super::names::{ExchangeName, InstanceName, QueueName, RoutingKey};
use super::publish_gate::Frame;

/// Where a message goes: a queue (through the default exchange) or an exchange with a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Straight to this queue, through the default exchange (the queue name is the key).
    Queue(QueueName),
    /// To this exchange with this key; its bindings decide which queues get a copy.
    Exchange(ExchangeName, RoutingKey),
}

impl Destination {
    /// `(exchange, routing key)` as AMQP addresses them.
    pub fn address(&self) -> (&str, &str) {
        match self {
            Destination::Queue(queue) => ("", queue.as_str()),
            Destination::Exchange(exchange, key) => (exchange.as_str(), key.as_str()),
        }
    }
}

/// One message to publish; properties that every message of this lab carries.
#[derive(Debug, Clone)]
pub struct OutgoingMessage {
    /// Queue, or exchange and key; named back if no queue is bound for it.
    pub destination: Destination,
    /// The bytes as published: the lab's JSON envelope, or `perf`'s timestamped filler.
    pub body: Vec<u8>,
    /// AMQP `message_id` (the envelope's id), so a message can be followed across logs.
    pub message_id: String,
    /// Unix seconds, AMQP's `timestamp` property.
    pub timestamp: u64,
    /// Written to disk by durable queues (the lab's messages); `perf` can measure without.
    pub persistent: bool,
    /// `application/json` for the lab's envelopes.
    pub content_type: &'static str,
    /// The AMQP properties only some patterns use (headers, reply-to, correlation id, expiry).
    pub extras: MessageExtras,
}

/// The message properties beyond the lab's usual ones, each set only by the pattern that needs
/// it: a headers exchange routes on `headers`, a retry carries its `x-death` history in them;
/// request/reply needs `reply_to` and `correlation_id`; a request nobody waits for any more should
/// not be worked on, hence `expiration`.
#[derive(Debug, Clone, Default)]
pub struct MessageExtras {
    /// Application headers (`None`: the property is not sent).
    pub headers: Option<FieldTable>,
    /// Where the answer to this message should be published (direct reply-to for RPC).
    pub reply_to: Option<String>,
    /// Matches a reply to its request.
    pub correlation_id: Option<String>,
    /// Per-message TTL in milliseconds, as AMQP writes it (a decimal string).
    pub expiration: Option<String>,
    /// A reply to a direct reply-to address: published without `mandatory`, because RabbitMQ
    /// 3.10 returns such a publish as unroutable (the pseudo-queue is not a queue) while it
    /// delivers it all the same — measured: every reply came back as a `basic.return`.
    pub direct_reply: bool,
}

impl OutgoingMessage {
    /// The frame, stamped with `app_id`; `mandatory` asks the broker to return it when no queue
    /// matches instead of dropping it behind an ack.
    pub fn into_frame(self, app_id: &InstanceName, mandatory: bool) -> Frame {
        let (exchange, routing_key) = self.destination.address();
        let mut properties = BasicProperties::default();
        properties
            .with_content_type(self.content_type)
            .with_persistence(self.persistent)
            .with_message_id(&self.message_id)
            .with_timestamp(self.timestamp)
            .with_app_id(app_id.as_str());
        let extras = self.extras;
        if let Some(headers) = extras.headers {
            properties.with_headers(headers);
        }
        if let Some(reply_to) = &extras.reply_to {
            properties.with_reply_to(reply_to);
        }
        if let Some(correlation_id) = &extras.correlation_id {
            properties.with_correlation_id(correlation_id);
        }
        if let Some(expiration) = &extras.expiration {
            properties.with_expiration(expiration);
        }
        Frame {
            properties: properties.finish(),
            args: BasicPublishArguments::new(exchange, routing_key)
                .mandatory(mandatory)
                .finish(),
            body: self.body,
            message_id: self.message_id,
        }
    }
}
