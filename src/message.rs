//! The JSON envelope every message of the lab carries: the contract between producers and
//! consumers, kept from the Node services so their consumers and scripts keep working.

use std::borrow::Cow;
use std::time::SystemTime;

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer, Serialize};

/// `{"message":…,"timestamp":…,"service":…,"id":…}` as published to the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The user's text.
    pub message: String,
    /// When it was accepted, RFC 3339 UTC with milliseconds (as Node's `toISOString()`).
    pub timestamp: String,
    /// The producing service's name (`--service-name`).
    pub service: String,
    /// A UUID v4; also the AMQP `message_id`, so a message can be followed across logs.
    pub id: String,
    /// Position in a burst (`/send-burst`, `playground send`), so workers' logs show which task of
    /// the burst each one got. Absent on single messages, as in the Node services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The burst it belongs to (one id per `/send-burst` or `send --count`), so the console can
    /// show how the last burst was shared between workers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<String>,
    /// The routing key it was published with (`/publish`, `send --exchange`), so a subscriber's
    /// log shows it even when the body is forwarded elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_key: Option<String>,
}

impl Envelope {
    /// A new envelope stamped now with a fresh id.
    pub fn new(message: impl Into<String>, service: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            timestamp: rfc3339_now(),
            service: service.into(),
            id: uuid::Uuid::new_v4().to_string(),
            seq: None,
            burst: None,
            routing_key: None,
        }
    }

    /// The JSON bytes published to the queue.
    pub fn to_json(&self) -> Vec<u8> {
        // Strings and numbers only: serialising cannot fail, so the fallback is never taken.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The envelope of task `seq` of a burst of `count`: the text is numbered (`Task... 7 of 30`)
    /// unless the burst is a single message.
    pub fn numbered(text: &str, seq: u64, count: u64, service: impl Into<String>) -> Self {
        Self {
            seq: Some(seq),
            ..Self::new(numbered_text(text, seq, count), service)
        }
    }
}

/// The text of task `seq` of `count`: `Task... 7 of 30`; a single message keeps its text.
pub fn numbered_text(text: &str, seq: u64, count: u64) -> String {
    if count == 1 {
        text.to_owned()
    } else {
        format!("{text} {seq} of {count}")
    }
}

/// What a consumer reads from a body that may or may not be an envelope: any JSON object is
/// accepted, a field that is missing or of another type is just `None`, and strings are borrowed
/// from the body where they can be. Consumers take any message (another producer's, a poison one)
/// and must never fail on its shape.
#[derive(Debug, Default, Deserialize)]
pub struct EnvelopeView<'a> {
    /// The user's text, whose dots set a worker's simulated work.
    #[serde(default, borrow, deserialize_with = "lenient")]
    pub message: Option<Cow<'a, str>>,
    /// When the producer stamped it; see [`Self::produced_at`].
    #[serde(default, borrow, deserialize_with = "lenient")]
    pub timestamp: Option<Cow<'a, str>>,
    /// Position in a burst, for the worker's log and the console.
    #[serde(default, deserialize_with = "lenient")]
    pub seq: Option<u64>,
    /// The burst's id, so the console can show how it was shared between workers.
    #[serde(default, borrow, deserialize_with = "lenient")]
    pub burst: Option<Cow<'a, str>>,
}

impl<'a> EnvelopeView<'a> {
    /// The view of `body`; `None` when it is not a JSON object.
    pub fn parse(body: &'a [u8]) -> Option<Self> {
        // serde would also take a struct from a JSON array; an envelope is an object.
        if body.trim_ascii_start().first() != Some(&b'{') {
            return None;
        }
        serde_json::from_slice(body).ok()
    }

    /// When the producer stamped it, for the end-to-end latency.
    pub fn produced_at(&self) -> Option<SystemTime> {
        humantime::parse_rfc3339_weak(self.timestamp.as_deref()?).ok()
    }
}

/// `Some(value)` when the field has the expected type, `None` (not an error) otherwise.
fn lenient<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Loose<T> {
        Expected(T),
        Other(IgnoredAny),
    }
    Ok(match Loose::<T>::deserialize(deserializer)? {
        Loose::Expected(value) => Some(value),
        Loose::Other(_) => None,
    })
}

/// The current time as `2025-11-28T13:01:12.087Z`.
pub fn rfc3339_now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// The current time in Unix seconds, for AMQP's `timestamp` property.
pub fn unix_seconds_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_has_the_node_shape() {
        let e = Envelope::new("hi", "hello-world");
        let v = serde_json::to_value(&e).unwrap();
        let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["id", "message", "service", "timestamp"]);
        assert!(e.timestamp.ends_with('Z') && e.timestamp.contains('T'));
        assert_eq!(uuid::Uuid::parse_str(&e.id).unwrap().get_version_num(), 4);
    }

    #[test]
    fn any_json_object_can_be_viewed_as_an_envelope() {
        let e = Envelope::numbered("Task...", 7, 30, "s");
        let bytes = e.to_json();
        let view = EnvelopeView::parse(&bytes).unwrap();
        assert_eq!(view.message.as_deref(), Some("Task... 7 of 30"));
        assert_eq!(view.seq, Some(7));
        assert!(view.produced_at().is_some());
        let odd = EnvelopeView::parse(br#"{"message":5,"seq":"x","burst":null}"#).unwrap();
        assert!(odd.message.is_none() && odd.seq.is_none() && odd.burst.is_none());
        let escaped = EnvelopeView::parse(br#"{"message":"a\nb"}"#).unwrap();
        assert_eq!(escaped.message.as_deref(), Some("a\nb"));
        for not_an_object in [&b"[1]"[..], b"\"x\"", b"plain", b""] {
            assert!(EnvelopeView::parse(not_an_object).is_none());
        }
    }

    #[test]
    fn burst_messages_are_numbered_and_keep_their_dots() {
        let e = Envelope::numbered("Task...", 7, 30, "s");
        assert_eq!(e.message, "Task... 7 of 30");
        assert_eq!(e.seq, Some(7));
        assert_eq!(serde_json::to_value(&e).unwrap()["seq"], 7);
        assert_eq!(Envelope::numbered("one", 1, 1, "s").message, "one");
        let routed = Envelope {
            routing_key: Some("logs.error".to_owned()),
            ..Envelope::new("disk full", "s")
        };
        for envelope in [e, Envelope::new("plain", "s"), routed] {
            let bytes = envelope.to_json();
            assert_eq!(
                serde_json::from_slice::<Envelope>(&bytes).unwrap(),
                envelope
            );
            assert_eq!(
                serde_json::from_slice::<serde_json::Value>(&bytes).unwrap(),
                serde_json::to_value(&envelope).unwrap()
            );
        }
    }
}
