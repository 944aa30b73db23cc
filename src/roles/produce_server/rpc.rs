//! `POST /rpc {"message": "…", "timeout_ms": 5000}`: a call to an rpc-server through RabbitMQ,
//! answered with the server's reply, which server answered, and the round trip. The request goes
//! to `--rpc-queue` with direct reply-to; the HTTP request waits for the reply, within its
//! timeout.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use tracing::{info, warn};

use super::requests::MessageText;
use super::routes::App;
use crate::amqp::{CallError, RpcReply, RpcRequest};
use crate::http::{json_response, ApiError, JsonBody};
use crate::message::Envelope;
use crate::roles::rpc_reply::ReplyBody;

/// The wait for a reply when the request names none.
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;
/// The longest wait a request may ask for: 5 minutes.
pub const MAX_TIMEOUT_MS: u64 = 300_000;

/// `POST /rpc` body.
#[derive(Debug, Deserialize)]
pub struct RpcBody {
    message: Option<MessageText>,
    timeout_ms: Option<serde_json::Value>,
}

/// A validated call.
#[derive(Debug, PartialEq, Eq)]
pub struct RpcCall {
    pub text: String,
    pub timeout_ms: u64,
}

impl RpcBody {
    /// A text to send and a timeout from 1 ms to [`MAX_TIMEOUT_MS`].
    pub fn validate(self) -> Result<RpcCall, ApiError> {
        let text = self.message.map(|m| m.0).ok_or_else(|| {
            ApiError::BadRequest(
                r#"missing field "message": send {"message":"hello","timeout_ms":5000}"#.to_owned(),
            )
        })?;
        let timeout_ms = match self.timeout_ms {
            None => DEFAULT_TIMEOUT_MS,
            Some(value) => value
                .as_u64()
                .filter(|ms| (1..=MAX_TIMEOUT_MS).contains(ms))
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        r#"field "timeout_ms" must be a whole number of milliseconds from 1 to {MAX_TIMEOUT_MS} (got {value})"#
                    ))
                })?,
        };
        Ok(RpcCall { text, timeout_ms })
    }
}

/// The handler.
pub async fn rpc(
    State(app): State<Arc<App>>,
    JsonBody(body): JsonBody<RpcBody>,
) -> Result<Response, ApiError> {
    let call = body.validate()?;
    let envelope = Envelope::new(call.text, app.config.service_name.as_str());
    let queue = app.config.rpc_queue.clone();
    let request = RpcRequest {
        queue: queue.clone(),
        body: envelope.to_json(),
        message_id: envelope.id.clone(),
        timeout: std::time::Duration::from_millis(call.timeout_ms),
    };
    let reply = app.rpc.call(request).await.map_err(|error| {
        warn!(message_id = %envelope.id, %queue, %error, "call failed");
        call_failure(error)
    })?;
    answer(&envelope, &reply)
}

/// 200 with the server's reply; 502 when the server answered with an error.
fn answer(envelope: &Envelope, reply: &RpcReply) -> Result<Response, ApiError> {
    let round_trip_ms = reply.round_trip.as_secs_f64() * 1000.0;
    let body: Option<ReplyBody> = serde_json::from_slice(&reply.body).ok();
    let server = reply.server.clone().unwrap_or_default();
    info!(
        message_id = %envelope.id,
        correlation_id = %reply.correlation_id,
        server = %server,
        round_trip_ms,
        ok = body.as_ref().map(|b| b.ok),
        "reply received"
    );
    match body {
        Some(body) if body.ok => Ok(json_response(
            StatusCode::OK,
            &json!({
                "success": true,
                "reply": body.reply,
                "server": server,
                "round_trip_ms": round_trip_ms,
                "correlation_id": reply.correlation_id,
                "request": envelope,
                "redelivered": body.redelivered,
            }),
        )),
        Some(body) => Err(ApiError::UpstreamFailed(format!(
            "rpc-server {server} failed the request: {}",
            body.error.as_deref().unwrap_or("no reason given")
        ))),
        None => Err(ApiError::UpstreamFailed(format!(
            "rpc-server {server} answered with a body that is not a reply ({} bytes)",
            reply.body.len()
        ))),
    }
}

/// The HTTP answer to a call that got no reply.
fn call_failure(error: CallError) -> ApiError {
    match error {
        CallError::Timeout(_) => ApiError::ReplyTimeout(format!(
            "{error}; the request may still be handled, its reply will be dropped"
        )),
        CallError::NoServer { .. } => {
            ApiError::NoRpcServer(format!("{error}; start one: playground rpc-server"))
        }
        CallError::NotConnected | CallError::ConnectionLost | CallError::TooManyPending(_) => {
            ApiError::BrokerUnavailable(format!("{error}; retry later"))
        }
        CallError::Nacked => ApiError::Nacked(error.to_string()),
    }
}
