//! What a worker needs to know about a message, whatever its body: read once, from the
//! envelope when there is one, so the hot path parses each body a single time.

use std::time::{Duration, SystemTime};

use super::behaviour::WorkerBehaviour;
use crate::amqp::Delivery;
use crate::message::EnvelopeView;
use crate::roles::body::{render_body, BodyStyle};

/// One delivery, read.
pub struct Incoming {
    pub delivery_tag: u64,
    pub redelivered: bool,
    pub message_id: String,
    /// The envelope's `seq`, for burst messages.
    pub seq: Option<u64>,
    /// The envelope's `burst` id.
    pub burst: Option<String>,
    /// Quorum queues count failed deliveries: how close the message is to the delivery limit.
    pub delivery_count: Option<i64>,
    /// When the producer stamped it (envelope `timestamp`), for the end-to-end latency.
    pub produced_at: Option<SystemTime>,
    /// The simulated work: the envelope's `message` (or the whole body) has the dots.
    pub work: Duration,
    /// The body as logged.
    pub body: String,
    pub bytes: usize,
}

impl Incoming {
    /// Reads `delivery` for a worker that behaves like `behaviour`.
    pub fn read(delivery: &Delivery, behaviour: &WorkerBehaviour, style: BodyStyle) -> Self {
        let content = delivery.body();
        let envelope = EnvelopeView::parse(content);
        let work = match envelope.as_ref().and_then(|e| e.message.as_deref()) {
            Some(text) => behaviour.work_for(text.as_bytes()),
            None => behaviour.work_for(content),
        };
        Self {
            delivery_tag: delivery.delivery_tag(),
            redelivered: delivery.redelivered(),
            message_id: delivery.message_id().to_owned(),
            seq: envelope.as_ref().and_then(|e| e.seq),
            burst: envelope
                .as_ref()
                .and_then(|e| e.burst.as_deref().map(str::to_owned)),
            delivery_count: delivery.delivery_count(),
            produced_at: envelope.as_ref().and_then(EnvelopeView::produced_at),
            work,
            body: render_body(content, envelope.is_some(), style),
            bytes: content.len(),
        }
    }
}
