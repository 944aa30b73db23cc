//! The JSON envelope every message of the lab carries: the contract between producers and
//! consumers, kept from the Node services so their consumers and scripts keep working.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

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
}

impl Envelope {
    /// A new envelope stamped now with a fresh id.
    pub fn new(message: impl Into<String>, service: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            timestamp: rfc3339_now(),
            service: service.into(),
            id: uuid::Uuid::new_v4().to_string(),
        }
    }
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
}
