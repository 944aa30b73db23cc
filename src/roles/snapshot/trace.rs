//! Where a handled message came from and what it said: enough for the console to draw the dot
//! along the path it took and to list it when someone clicks its queue or consumer.

use serde::{Deserialize, Serialize};

use crate::amqp::Delivery;
use crate::message::{rfc3339_now, EnvelopeView};

/// How much of a message's text the console shows.
pub const PREVIEW_CHARS: usize = 80;

/// One handled message's route and text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace {
    /// The exchange it was published to (`""`: the default exchange); `None` from older senders.
    #[serde(default)]
    pub exchange: Option<String>,
    /// The publisher's `app_id` (the lab stamps its instance name), when it set one.
    #[serde(default)]
    pub publisher: Option<String>,
    /// The first [`PREVIEW_CHARS`] characters of its text (the envelope's `message`, or the body).
    #[serde(default)]
    pub preview: String,
    /// When it was handled (RFC 3339, UTC).
    #[serde(default)]
    pub at: String,
}

impl Trace {
    /// The trace of `delivery`, whose body was already read as `envelope` (if it is one).
    pub fn of(delivery: &Delivery, envelope: Option<&EnvelopeView<'_>>) -> Self {
        let text = match envelope.and_then(|envelope| envelope.message.as_deref()) {
            Some(message) => message.chars().take(PREVIEW_CHARS).collect(),
            None => String::from_utf8_lossy(delivery.body())
                .chars()
                .take(PREVIEW_CHARS)
                .collect(),
        };
        Self {
            exchange: Some(delivery.exchange().to_owned()),
            publisher: delivery.app_id().map(str::to_owned),
            preview: text,
            at: rfc3339_now(),
        }
    }
}
