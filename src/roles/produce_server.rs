//! `playground produce-server`: the HTTP front door that turns `POST /send-message` into a
//! confirmed, persistent message on the work queue. Replaces the Node `hello-world` service and
//! keeps its endpoints and JSON shapes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::CONTENT_LENGTH;
use hyper::{Method, Request, StatusCode};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::amqp::{
    AmqpOptions, ChannelSetup, ConfirmedPublisher, ConnectionManager, OutgoingMessage,
    PublishError, QueueSpec, Topology,
};
use crate::http::{json_response, server, ApiError, Health, HttpResponse};
use crate::identity;
use crate::message::{rfc3339_now, unix_seconds_now, Envelope};

/// Settings of `produce-server`, built from its flags.
#[derive(Debug, Clone)]
pub struct ProduceServerConfig {
    /// Where to listen (`--bind`, `--port`); port 0 picks a free one (tests).
    pub listen: SocketAddr,
    /// The durable queue messages go to (through the default exchange).
    pub queue: String,
    /// Stamped into every envelope and response as `service`.
    pub service_name: String,
    /// Largest request body accepted; larger is a 413.
    pub max_body: usize,
    /// How long a request waits for the broker's confirm before answering 504.
    pub publish_timeout: Duration,
}

/// Everything a request handler needs; one per process, shared by all connections.
struct App {
    config: ProduceServerConfig,
    publisher: ConfirmedPublisher,
    health: Health,
    manager: Arc<ConnectionManager>,
}

/// Runs until `shutdown`, then drains in-flight requests (their confirms included) and closes
/// the broker connection. Fails if the listen address cannot be bound or the broker refuses the
/// topology for good.
pub async fn run(
    config: ProduceServerConfig,
    amqp: AmqpOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let listener = server::bind(config.listen).await?;
    let local = listener.local_addr()?;
    let manager = Arc::new(ConnectionManager::start(amqp.for_role(
        identity::connection_name("produce-server"),
        Topology {
            queues: vec![QueueSpec::durable(&config.queue)],
            ..Topology::default()
        },
        ChannelSetup {
            confirms: true,
            prefetch: None,
        },
    )));
    let app = Arc::new(App {
        publisher: ConfirmedPublisher::new(
            manager.sessions(),
            config.publish_timeout,
            config.service_name.clone(),
        ),
        health: Health::new(
            "produce-server",
            config.service_name.clone(),
            manager.state(),
            true,
        ),
        manager: manager.clone(),
        config,
    });
    info!(
        addr = %local,
        port = local.port(),
        queue = %app.config.queue,
        service = %app.config.service_name,
        url = %amqp.settings,
        "produce-server listening"
    );

    // Stop serving when asked to, or when the broker refused our topology for good.
    let stop = shutdown.child_token();
    let failure = {
        let manager = manager.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                error = manager.failed() => { stop.cancel(); Some(error) }
                _ = stop.cancelled() => None,
            }
        })
    };
    {
        let stop = stop.clone();
        let health = app.health.clone();
        tokio::spawn(async move {
            stop.cancelled().await;
            health.set_role_ready(false);
        });
    }
    let handler_app = app.clone();
    // In-flight requests end by themselves within the publish timeout; a little more is slack.
    let grace = app.config.publish_timeout + Duration::from_secs(2);
    server::serve(
        listener,
        move |request| handle(handler_app.clone(), request),
        stop.clone(),
        grace,
    )
    .await;
    stop.cancel();
    manager.close().await;
    match failure.await {
        Ok(Some(error)) => anyhow::bail!(error),
        _ => {
            info!("produce-server stopped");
            Ok(())
        }
    }
}

/// Routes one request; every outcome is a JSON response.
async fn handle(app: Arc<App>, request: Request<Incoming>) -> HttpResponse {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = match (&method, path.as_str()) {
        (&Method::GET | &Method::HEAD, "/") => json_response(
            StatusCode::OK,
            &json!({
                "message": "Hello World!",
                "service": app.config.service_name,
                "timestamp": rfc3339_now(),
            }),
        ),
        (&Method::GET | &Method::HEAD, "/health") => app.health.health(),
        (&Method::GET | &Method::HEAD, "/ready") => app.health.ready(),
        (&Method::POST, "/send-message") => send_message(&app, request)
            .await
            .unwrap_or_else(ApiError::into_response),
        (_, "/" | "/health" | "/ready") => ApiError::MethodNotAllowed {
            method: method.to_string(),
            path: path.clone(),
            allow: "GET, HEAD",
        }
        .into_response(),
        (_, "/send-message") => ApiError::MethodNotAllowed {
            method: method.to_string(),
            path: path.clone(),
            allow: "POST",
        }
        .into_response(),
        _ => ApiError::NotFound {
            method: method.to_string(),
            path: path.clone(),
        }
        .into_response(),
    };
    let status = response.status().as_u16();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    if path == "/health" || path == "/ready" {
        debug!(%method, %path, status, elapsed_ms, "request");
    } else {
        info!(%method, %path, status, elapsed_ms, "request");
    }
    response
}

/// `POST /send-message {"message": "…"}` → publish the envelope, answer after the confirm.
async fn send_message(app: &App, request: Request<Incoming>) -> Result<HttpResponse, ApiError> {
    let body = read_body(request, app.config.max_body).await?;
    let text = parse_message(&body)?;
    let envelope = Envelope::new(text, &app.config.service_name);
    let payload = serde_json::to_vec(&envelope)
        .map_err(|e| ApiError::BadRequest(format!("cannot encode the message: {e}")))?;
    app.publisher
        .publish(OutgoingMessage {
            exchange: String::new(),
            routing_key: app.config.queue.clone(),
            body: payload,
            message_id: envelope.id.clone(),
            timestamp: unix_seconds_now(),
        })
        .await
        .map_err(|error| {
            warn!(message_id = %envelope.id, %error, "message not confirmed");
            match error {
                PublishError::NotConnected => ApiError::BrokerUnavailable(
                    "RabbitMQ not connected; nothing was published, retry later".to_owned(),
                ),
                PublishError::ConnectionLost => ApiError::BrokerUnavailable(format!(
                    "{error}; it may or may not have been queued, retry later"
                )),
                PublishError::Timeout(_) => {
                    ApiError::ConfirmTimeout(format!("{error}; it may or may not have been queued"))
                }
                PublishError::Nacked => ApiError::Nacked(error.to_string()),
                PublishError::Unroutable { .. } => {
                    // Our queue was deleted under us: reconnecting declares it again.
                    if let Some(session) = app.manager.current() {
                        session.end(format!(
                            "queue {} vanished; declaring it again",
                            app.config.queue
                        ));
                    }
                    ApiError::BrokerUnavailable(format!("{error}; retry in a moment"))
                }
            }
        })?;
    info!(message_id = %envelope.id, queue = %app.config.queue, "message confirmed");
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "success": true,
            "message": "Message sent to queue",
            "data": envelope,
            "queue": app.config.queue,
        }),
    ))
}

/// Reads the whole body, refusing more than `limit` bytes (declared or actual) with a 413.
async fn read_body(request: Request<Incoming>, limit: usize) -> Result<Bytes, ApiError> {
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    match Limited::new(request.into_body(), limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(ApiError::PayloadTooLarge { limit })
        }
        Err(e) => Err(ApiError::BadRequest(format!(
            "could not read the request body: {e}"
        ))),
    }
}

/// Extracts the non-empty string `message` from a JSON object.
fn parse_message(body: &[u8]) -> Result<String, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("malformed JSON body: {e}")))?;
    let object = value.as_object().ok_or_else(|| {
        ApiError::BadRequest(
            r#"the body must be a JSON object like {"message":"hello"}"#.to_owned(),
        )
    })?;
    match object.get("message") {
        None => Err(ApiError::BadRequest(
            r#"missing field "message": send {"message":"hello"}"#.to_owned(),
        )),
        Some(serde_json::Value::String(text)) if text.trim().is_empty() => Err(
            ApiError::BadRequest(r#"field "message" must not be empty"#.to_owned()),
        ),
        Some(serde_json::Value::String(text)) => Ok(text.clone()),
        Some(other) => Err(ApiError::BadRequest(format!(
            r#"field "message" must be a string, not {}"#,
            json_type(other)
        ))),
    }
}

fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_must_be_a_non_empty_string_in_an_object() {
        assert_eq!(parse_message(br#"{"message":"hi"}"#).unwrap(), "hi");
        for bad in [
            &br#"{"message":""}"#[..],
            br#"{"message":"   "}"#,
            br#"{"message":5}"#,
            br#"{"msg":"x"}"#,
            br#"["message"]"#,
            br#"{"message":"x""#,
            b"",
        ] {
            assert!(
                matches!(parse_message(bad), Err(ApiError::BadRequest(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
