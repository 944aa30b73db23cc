//! The reply an rpc-server publishes and every caller reads (`POST /rpc`, `playground call`):
//! the contract between the two sides of request/reply, in one place.

use serde::{Deserialize, Serialize};

/// `{"ok":true,"reply":"…","server":"rpc-1","request_id":"…","redelivered":false,"handled_ms":3}`,
/// or with `"ok":false` and `"error"` when the server failed the request (an error reply, so the
/// caller learns it at once instead of waiting out its timeout).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyBody {
    /// Whether the server handled the request.
    pub ok: bool,
    /// The answer (the lab's work is an echo: the request's text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// Why the server failed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The rpc-server that answered (`--name`).
    pub server: String,
    /// The request's envelope id, so the caller can check the reply is for its own request.
    pub request_id: String,
    /// The request reached this server after another one took it and did not ack it.
    #[serde(default)]
    pub redelivered: bool,
    /// How long the server worked on it.
    #[serde(default)]
    pub handled_ms: u64,
}

impl ReplyBody {
    /// The JSON bytes to publish.
    pub fn to_json(&self) -> Vec<u8> {
        // Strings, numbers and booleans only: serialising cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}
