//! One message the broker pushed to a consumer, and the only way to settle it.
//!
//! Settling (ack or reject) is where two RabbitMQ facts meet: a message must be settled on the
//! channel it came on, and anything sent on a channel the broker already closed is answered with
//! 504 CHANNEL_ERROR, which closes the whole (next) connection. So a delivery carries its session,
//! checks it is still alive before settling, and is consumed by settling, so it cannot be acked
//! twice. A message that cannot be settled is not lost: the broker redelivers it.

use amqprs::channel::{
    BasicAckArguments, BasicPublishArguments, BasicRejectArguments, ConsumerMessage,
};
use amqprs::{BasicProperties, FieldTable, FieldValue, ShortStr};

use super::death::DeathHistory;
use super::names::QueueName;
use super::publish_gate::Frame;
use super::session::Session;

/// Why a delivery was not settled; either way the broker will deliver it again.
#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    /// The connection or channel ended before the ack could be sent.
    #[error(
        "the connection was lost before the message was settled; the broker will redeliver it"
    )]
    SessionGone,
    /// amqprs could not send it (its writer is gone).
    #[error("settling failed ({0}); the broker will redeliver it")]
    Failed(amqprs::error::Error),
}

/// A delivered message with what consumers look at, and its session.
pub struct Delivery {
    session: Session,
    delivery_tag: u64,
    redelivered: bool,
    exchange: String,
    routing_key: String,
    properties: BasicProperties,
    body: Vec<u8>,
}

impl Delivery {
    /// `None` for the incomplete messages amqprs can hand over (no `deliver` or no content).
    pub(super) fn new(session: &Session, message: ConsumerMessage) -> Option<Self> {
        let deliver = message.deliver?;
        Some(Self {
            session: session.clone(),
            delivery_tag: deliver.delivery_tag(),
            redelivered: deliver.redelivered(),
            exchange: deliver.exchange().clone(),
            routing_key: deliver.routing_key().clone(),
            properties: message.basic_properties.unwrap_or_default(),
            body: message.content?,
        })
    }

    /// The session it came on: a consumer that works on a message waits on its `ended()`.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The broker's number for it on this channel.
    pub fn delivery_tag(&self) -> u64 {
        self.delivery_tag
    }

    /// A consumer before us received it and did not ack it.
    pub fn redelivered(&self) -> bool {
        self.redelivered
    }

    /// The exchange it was published to (`""` for the default exchange).
    pub fn exchange(&self) -> &str {
        &self.exchange
    }

    /// The routing key it was published with.
    pub fn routing_key(&self) -> &str {
        &self.routing_key
    }

    /// The `message_id` property, or `""`.
    pub fn message_id(&self) -> &str {
        self.properties.message_id().map_or("", String::as_str)
    }

    /// The `reply_to` property: where a request's answer goes (RPC), or `None`.
    pub fn reply_to(&self) -> Option<&str> {
        self.properties.reply_to().map(String::as_str)
    }

    /// The `correlation_id` property, copied into a reply so the caller can match it.
    pub fn correlation_id(&self) -> Option<&str> {
        self.properties.correlation_id().map(String::as_str)
    }

    /// The `app_id` property: which instance published it.
    pub fn app_id(&self) -> Option<&str> {
        self.properties.app_id().map(String::as_str)
    }

    /// The body as published.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The application headers, if the message carries any (what a headers exchange routed on).
    pub fn headers(&self) -> Option<&FieldTable> {
        self.properties.headers()
    }

    /// Quorum queues count failed deliveries in the `x-delivery-count` header: how close the
    /// message is to the delivery limit.
    pub fn delivery_count(&self) -> Option<i64> {
        let key = ShortStr::try_from("x-delivery-count").ok()?;
        match self.properties.headers()?.get(&key)? {
            FieldValue::l(n) => Some(*n),
            FieldValue::I(n) => Some(i64::from(*n)),
            FieldValue::i(n) => Some(i64::from(*n)),
            _ => None,
        }
    }

    /// Its `x-death` history: every time the broker dead-lettered it, newest first.
    pub fn deaths(&self) -> DeathHistory {
        DeathHistory::from_headers(self.properties.headers())
    }

    /// A copy for `queue` (through the default exchange), with the same body and every property
    /// — headers and their `x-death` history included — so that when it comes back from a delay
    /// queue it is the same message with one more death. Published with
    /// [`ConfirmedPublisher::publish_copy`](super::ConfirmedPublisher::publish_copy), which only
    /// sends it on this delivery's session: the copy is confirmed on the channel the original
    /// will be acked on.
    pub fn copy_to(&self, queue: &QueueName) -> MessageCopy {
        MessageCopy {
            generation: self.session.generation(),
            queue: queue.clone(),
            frame: Frame {
                properties: self.properties.clone(),
                body: self.body.clone(),
                args: BasicPublishArguments::new("", queue.as_str())
                    .mandatory(true)
                    .finish(),
                message_id: self.message_id().to_owned(),
            },
        }
    }

    /// A stream's position of the message (header `x-stream-offset`); `None` off a stream.
    pub fn stream_offset(&self) -> Option<i64> {
        let key = ShortStr::try_from("x-stream-offset").ok()?;
        match self.properties.headers()?.get(&key)? {
            FieldValue::l(n) => Some(*n),
            FieldValue::I(n) => Some(i64::from(*n)),
            FieldValue::i(n) => Some(i64::from(*n)),
            _ => None,
        }
    }

    /// Acknowledges it: the broker forgets it.
    pub async fn ack(self) -> Result<(), SettleError> {
        self.live()?;
        self.session
            .channel()
            .basic_ack(BasicAckArguments::new(self.delivery_tag, false))
            .await
            .map_err(SettleError::Failed)
    }

    /// Rejects it: back to the queue (`requeue`), or to the dead-letter exchange (or nowhere).
    pub async fn reject(self, requeue: bool) -> Result<(), SettleError> {
        self.live()?;
        self.session
            .channel()
            .basic_reject(BasicRejectArguments::new(self.delivery_tag, requeue))
            .await
            .map_err(SettleError::Failed)
    }

    fn live(&self) -> Result<(), SettleError> {
        if self.session.is_ended() {
            return Err(SettleError::SessionGone);
        }
        Ok(())
    }
}

/// A delivered message, copied for another queue (see [`Delivery::copy_to`]).
pub struct MessageCopy {
    /// The session the original came on; the copy is published on no other.
    pub(super) generation: u64,
    /// Where it goes, named in errors.
    pub(super) queue: QueueName,
    /// Ready for the publish gate.
    pub(super) frame: Frame,
}
