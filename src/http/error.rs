//! JSON responses, and the error enum every handler returns, mapped to status codes in one place.

use axum::body::Body;
use axum::http::header::{HeaderValue, ALLOW, CONNECTION, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A JSON response with `status`.
pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    full_response(status, "application/json", body.to_string())
}

/// A response with a complete body of `content_type`.
pub fn full_response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Body>,
) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// What went wrong with a request, as the client should learn it: `{"error":…,"message":…}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request itself is wrong (malformed JSON, missing field): 400.
    #[error("{0}")]
    BadRequest(String),
    /// Body over the limit: 413.
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The largest body accepted, in bytes (`--max-body`).
        limit: usize,
    },
    /// The body is not declared as JSON: 415 (nothing is guessed from a form or text body).
    #[error("send the body as JSON with the header Content-Type: application/json (got {0})")]
    UnsupportedMediaType(String),
    /// Headers larger than the server accepts: 431.
    #[error("request headers are {size} bytes; at most {limit} are accepted")]
    HeadersTooLarge {
        /// The request's headers in bytes: each name and value, plus 4 for `: ` and CRLF.
        size: usize,
        /// The most header bytes accepted (fixed, not a flag).
        limit: usize,
    },
    /// No such route: 404.
    #[error("no route for {method} {path}")]
    NotFound {
        /// The request's method, echoed in the message.
        method: String,
        /// The path asked for; may carry a hint (`/events` says when the console is off).
        path: String,
    },
    /// Route exists, method does not: 405 with `Allow`.
    #[error("{method} is not allowed on {path}; allowed: {allow}")]
    MethodNotAllowed {
        /// The method that was tried.
        method: String,
        /// The path, which has a route for other methods only.
        path: String,
        /// The methods the route takes, comma-separated: also the `Allow` header's value.
        allow: String,
    },
    /// The broker is unreachable or the connection dropped: 503, retry later.
    #[error("{0}")]
    BrokerUnavailable(String),
    /// The broker did not confirm in time: 504; the message may or may not be queued.
    #[error("{0}")]
    ConfirmTimeout(String),
    /// The broker refused the message (nack): 503. A nack is the broker saying it could not
    /// take the message now (a quorum queue without a majority, a full queue that rejects
    /// publishes), not a fault of this server, so it is told like an outage: retry later.
    #[error("{0}")]
    Nacked(String),
    /// A call got no reply in time: 504; the request may still be handled.
    #[error("{0}")]
    ReplyTimeout(String),
    /// Nobody consumes the queue a call was sent to (the request was unroutable): 503.
    #[error("{0}")]
    NoRpcServer(String),
    /// The service this one called answered with an error (an rpc-server's error reply): 502.
    #[error("{0}")]
    UpstreamFailed(String),
}

impl ApiError {
    /// The status code and the short `error` title for this kind of failure.
    fn status_and_title(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "Bad Request"),
            ApiError::PayloadTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large")
            }
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "Unsupported Media Type")
            }
            ApiError::HeadersTooLarge { .. } => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "Request Header Fields Too Large",
            ),
            ApiError::NotFound { .. } => (StatusCode::NOT_FOUND, "Not Found"),
            ApiError::MethodNotAllowed { .. } => {
                (StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
            }
            ApiError::BrokerUnavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "RabbitMQ not connected")
            }
            ApiError::ConfirmTimeout(_) => (StatusCode::GATEWAY_TIMEOUT, "Publish not confirmed"),
            ApiError::Nacked(_) => (StatusCode::SERVICE_UNAVAILABLE, "Publish rejected"),
            ApiError::ReplyTimeout(_) => (StatusCode::GATEWAY_TIMEOUT, "No reply"),
            ApiError::NoRpcServer(_) => (StatusCode::SERVICE_UNAVAILABLE, "No RPC server"),
            ApiError::UpstreamFailed(_) => (StatusCode::BAD_GATEWAY, "RPC server failed"),
        }
    }

    /// The response with `message` replaced and `extra` fields added (e.g. how much of a burst
    /// was confirmed before it failed).
    pub fn into_response_with(self, message: String, extra: serde_json::Value) -> Response {
        let (status, title) = self.status_and_title();
        let mut body = json!({ "error": title, "message": message });
        if let (Some(body), serde_json::Value::Object(extra)) = (body.as_object_mut(), extra) {
            body.extend(extra);
        }
        let mut response = json_response(status, &body);
        self.add_headers(&mut response);
        response
    }

    fn add_headers(&self, response: &mut Response) {
        let headers = response.headers_mut();
        match self {
            // Answered before the body was read (or while it was): the rest of it is still on
            // the connection, so it cannot carry another request. Say so, or a keep-alive client
            // sends its next request into a connection hyper is about to close.
            ApiError::PayloadTooLarge { .. }
            | ApiError::UnsupportedMediaType(_)
            | ApiError::HeadersTooLarge { .. } => {
                headers.insert(CONNECTION, HeaderValue::from_static("close"));
            }
            ApiError::MethodNotAllowed { allow, .. } => {
                if let Ok(allow) = HeaderValue::from_str(allow) {
                    headers.insert(ALLOW, allow);
                }
            }
            ApiError::BrokerUnavailable(_) | ApiError::NoRpcServer(_) => {
                headers.insert("retry-after", HeaderValue::from_static("1"));
            }
            _ => {}
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = self.to_string();
        self.into_response_with(message, serde_json::Value::Null)
    }
}
