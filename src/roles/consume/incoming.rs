//! What a worker needs to know about a message, whatever its body: read once, from the
//! envelope when there is one, so the hot path parses each body a single time.

use std::time::{Duration, SystemTime};

use super::behaviour::WorkerBehaviour;
use crate::amqp::{DeathHistory, Delivery, RetryLadder};
use crate::message::EnvelopeView;
use crate::roles::body::{render_body, BodyStyle};
use crate::roles::snapshot::Trace;

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
    /// Its `x-death` history: where and why the broker dead-lettered it before.
    pub deaths: DeathHistory,
    /// Which attempt this is, with `--retry-delays` (1 = first delivery); `None` without.
    pub attempt: Option<u32>,
    /// Whether the body is a JSON object (the lab's envelope, or any other object).
    pub is_envelope: bool,
    /// Why handling it failed, once the worker decided it did (logged as `reason`).
    pub failure: Option<&'static str>,
    /// Its route and text, for the console.
    pub trace: Trace,
}

impl Incoming {
    /// Reads `delivery` for a worker that behaves like `behaviour`.
    /// With a retry `ladder`, its attempt is read from its `x-death` history.
    pub fn read(
        delivery: &Delivery,
        behaviour: &WorkerBehaviour,
        ladder: Option<&RetryLadder>,
        style: BodyStyle,
    ) -> Self {
        let content = delivery.body();
        let deaths = delivery.deaths();
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
            attempt: ladder.map(|ladder| ladder.attempt_of(&deaths)),
            deaths,
            is_envelope: envelope.is_some(),
            failure: None,
            trace: Trace::of(delivery, envelope.as_ref()),
        }
    }
}
