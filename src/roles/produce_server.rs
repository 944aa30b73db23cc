//! `playground produce-server`: the HTTP front door that turns `POST /send-message` into a
//! confirmed, persistent message on the work queue, and `POST /send-burst` into many. Replaces the
//! Node `hello-world` service and keeps its endpoints and JSON shapes; also serves the live lab
//! console (`GET /` for browsers, `GET /events`).

mod console;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use amqprs::channel::BasicAckArguments;
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, StatusCode};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::amqp::routing::validate_routing_key;
use crate::amqp::{
    consume_across_sessions, publish_burst, AmqpOptions, BindingSpec, ChannelSetup,
    ConfirmedPublisher, ConnectionManager, ConsumerEvent, ExchangeKind, LabExchanges,
    OutgoingMessage, PublishError, QueueSpec, SnapshotSettings, Topology, WorkQueue, BURST_WINDOW,
};
use crate::http::{json_response, metrics_response, server, ApiError, Health, HttpResponse};
use crate::identity;
use crate::message::{rfc3339_now, unix_seconds_now, Envelope};
use crate::metrics::{self, metrics};
use crate::roles::snapshot::{self, Identity, Snapshot};
use crate::telemetry::elapsed_ms;
use console::Console;

/// Settings of `produce-server`, built from its flags.
#[derive(Debug, Clone)]
pub struct ProduceServerConfig {
    /// Where to listen (`--bind`, `--port`); port 0 picks a free one (tests).
    pub listen: SocketAddr,
    /// The durable queue messages go to (through the default exchange), and its shape.
    pub queue: WorkQueue,
    /// Stamped into every envelope and response as `service`.
    pub service_name: String,
    /// Largest request body accepted; larger is a 413.
    pub max_body: usize,
    /// How long a request waits for the broker's confirm before answering 504.
    pub publish_timeout: Duration,
    /// Largest `count` of a `/send-burst`.
    pub max_burst: u64,
    /// The topic, direct and fanout exchanges of `/publish`.
    pub exchanges: LabExchanges,
}

/// Everything a request handler needs; one per process, shared by all connections.
struct App {
    config: ProduceServerConfig,
    publisher: Arc<ConfirmedPublisher>,
    health: Health,
    manager: Arc<ConnectionManager>,
    /// The lab console; `None` with `--telemetry off`.
    console: Option<Arc<Console>>,
}

/// Runs until `shutdown`, then drains in-flight requests (their confirms included) and closes
/// the broker connection. Fails if the listen address cannot be bound or the broker refuses the
/// topology for good.
pub async fn run(
    config: ProduceServerConfig,
    amqp: AmqpOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    metrics::init("produce-server");
    let listener = server::bind(config.listen).await?;
    let local = listener.local_addr()?;
    let manager = Arc::new(ConnectionManager::start(amqp.for_role(
        identity::connection_name("produce-server"),
        topology(&config, amqp.snapshots.as_ref()),
        ChannelSetup {
            confirms: true,
            prefetch: None,
        },
    )));
    let console = amqp
        .snapshots
        .as_ref()
        .map(|settings| Console::new(settings.interval));
    let app = Arc::new(App {
        console: console.clone(),
        publisher: Arc::new(ConfirmedPublisher::new(
            manager.sessions(),
            config.publish_timeout,
            config.service_name.clone(),
        )),
        health: Health::new(
            "produce-server",
            config.service_name.clone(),
            manager.state(),
            true,
        )
        .watching_publishes(),
        manager: manager.clone(),
        config,
    });
    info!(
        addr = %local,
        port = local.port(),
        queue = %app.config.queue.name,
        queue_shape = %app.config.queue.describe(),
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
    if let (Some(console), Some(settings)) = (&console, amqp.snapshots.clone()) {
        tokio::spawn(console::refresh_every(console.clone(), stop.clone()));
        tokio::spawn(read_snapshots(
            manager.clone(),
            console.clone(),
            stop.clone(),
        ));
        snapshot::spawn(
            settings,
            Identity {
                role: "produce-server".to_owned(),
                instance: app.config.service_name.clone(),
                queue: Some(app.config.queue.name.clone()),
                ..Identity::default()
            },
            manager.sessions(),
            manager.state(),
            stop.clone(),
        );
        let console = console.clone();
        let stop = stop.clone();
        // Open /events streams must not hold graceful shutdown up.
        tokio::spawn(async move {
            stop.cancelled().await;
            console.close();
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

/// The work queue (with its dead letters), the three exchanges, and for the console the
/// telemetry exchange with a private queue bound to it (declared last: the binding's empty queue
/// name means the queue just declared, whatever the broker named it).
fn topology(config: &ProduceServerConfig, snapshots: Option<&SnapshotSettings>) -> Topology {
    let mut topology = config.queue.topology();
    topology.exchanges.extend(config.exchanges.specs());
    topology.exchange_mismatch_hint = Some(config.exchanges.mismatch_hint());
    if let Some(settings) = snapshots {
        topology.exchanges.push(snapshot::exchange_spec(settings));
        topology.queues.push(QueueSpec::server_named());
        topology.bindings.push(BindingSpec {
            queue: String::new(),
            exchange: settings.exchange.clone(),
            routing_key: String::new(),
        });
    }
    topology
}

/// Feeds every role's snapshots into the console, on whatever session is current.
async fn read_snapshots(
    manager: Arc<ConnectionManager>,
    console: Arc<Console>,
    stop: CancellationToken,
) {
    let tag = format!("console.{}", std::process::id());
    let _ = consume_across_sessions(
        &manager,
        &tag,
        &stop,
        |session| session.declared().last_queue_name(),
        |_: ConsumerEvent<'_>| {},
        |session, delivery| {
            let console = console.clone();
            async move {
                let (Some(deliver), Some(content)) = (delivery.deliver, delivery.content) else {
                    return;
                };
                if let Ok(snapshot) = serde_json::from_slice::<Snapshot>(&content) {
                    console.ingest(snapshot);
                }
                if !session.is_ended() {
                    let _ = session
                        .channel()
                        .basic_ack(BasicAckArguments::new(deliver.delivery_tag(), false))
                        .await;
                }
            }
        },
    )
    .await;
}

/// Routes one request; every outcome is a JSON response.
async fn handle(app: Arc<App>, request: Request<Incoming>) -> HttpResponse {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = match (&method, path.as_str()) {
        (&Method::GET | &Method::HEAD, "/")
            if app.console.is_some()
                && console::wants_html(
                    request.headers().get(ACCEPT).and_then(|v| v.to_str().ok()),
                ) =>
        {
            Console::page()
        }
        (&Method::GET, "/events") => match &app.console {
            Some(console) => console.events(),
            None => ApiError::NotFound {
                method: method.to_string(),
                path: "/events (the console is off: --telemetry off)".to_owned(),
            }
            .into_response(),
        },
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
        (&Method::GET | &Method::HEAD, "/metrics") => metrics_response(),
        (&Method::POST, "/send-message") => send_message(&app, request)
            .await
            .unwrap_or_else(ApiError::into_response),
        (&Method::POST, "/send-burst") => send_burst(&app, request).await,
        (&Method::POST, "/publish") => publish(&app, request)
            .await
            .unwrap_or_else(ApiError::into_response),
        (_, "/" | "/health" | "/ready" | "/metrics" | "/events") => ApiError::MethodNotAllowed {
            method: method.to_string(),
            path: path.clone(),
            allow: "GET, HEAD",
        }
        .into_response(),
        (_, "/send-message" | "/send-burst" | "/publish") => ApiError::MethodNotAllowed {
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
    let route = match path.as_str() {
        "/" | "/health" | "/ready" | "/metrics" | "/events" | "/send-message" | "/send-burst"
        | "/publish" => path.as_str(),
        _ => "other",
    };
    metrics().request(route, method.as_str(), status, started.elapsed());
    let elapsed_ms = elapsed_ms(started);
    if matches!(route, "/health" | "/ready" | "/metrics" | "/events") {
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
    let queue = &app.config.queue.name;
    app.publisher
        .publish(outgoing(&envelope, "", queue))
        .await
        .map_err(|error| {
            warn!(message_id = %envelope.id, %error, "message not confirmed");
            publish_failure(app, error)
        })?;
    info!(message_id = %envelope.id, queue = %queue, "message confirmed");
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "success": true,
            "message": "Message sent to queue",
            "data": envelope,
            "queue": queue,
        }),
    ))
}

/// `POST /send-burst {"count": N, "message": "Task..."}` → N numbered, confirmed messages; the
/// answer comes after the last confirm, or at the first failure with the count confirmed so far.
async fn send_burst(app: &App, request: Request<Incoming>) -> HttpResponse {
    let burst = match read_body(request, app.config.max_body)
        .await
        .and_then(|body| parse_burst(&body, app.config.max_burst))
    {
        Ok(burst) => burst,
        Err(error) => return error.into_response(),
    };
    let started = Instant::now();
    let queue = &app.config.queue.name;
    let service = &app.config.service_name;
    let burst_id = uuid::Uuid::new_v4().to_string();
    let report = publish_burst(
        app.publisher.clone(),
        burst.count,
        BURST_WINDOW,
        false,
        |seq| {
            outgoing(
                &Envelope {
                    burst: Some(burst_id.clone()),
                    ..Envelope::numbered(&burst.text, seq, burst.count, service)
                },
                "",
                queue,
            )
        },
        |_| {},
    )
    .await;
    let elapsed_ms = elapsed_ms(started);
    match report.failure {
        None => {
            info!(count = burst.count, queue = %queue, elapsed_ms, "burst confirmed");
            json_response(
                StatusCode::OK,
                &json!({
                    "success": true,
                    "message": format!(
                        "{} {} sent to queue",
                        burst.count,
                        if burst.count == 1 { "message" } else { "messages" }
                    ),
                    "sent": report.confirmed,
                    "queue": queue,
                    "burst": burst_id,
                    "elapsed_ms": elapsed_ms,
                }),
            )
        }
        Some((seq, error)) => {
            warn!(count = burst.count, confirmed = report.confirmed, failed_seq = seq, %error, "burst stopped");
            let summary = format!(
                "burst stopped at message {seq} of {}: {error}; {} were confirmed",
                burst.count, report.confirmed
            );
            publish_failure(app, error).into_response_with(
                summary,
                json!({
                    "success": false,
                    "sent": report.confirmed,
                    "requested": burst.count,
                    "failed_seq": seq,
                    "queue": queue,
                    "elapsed_ms": elapsed_ms,
                }),
            )
        }
    }
}

/// `POST /publish {"routing_key":"logs.error","message":"disk full","exchange":"topic"}` →
/// publish to one of the three exchanges; 200 once confirmed, with `routed` saying whether any
/// queue was bound for the key (an unroutable message was still accepted: that is the lesson).
async fn publish(app: &App, request: Request<Incoming>) -> Result<HttpResponse, ApiError> {
    let body = read_body(request, app.config.max_body).await?;
    let request = parse_publish(&body)?;
    let exchange = app.config.exchanges.name_of(request.kind);
    let envelope = Envelope {
        routing_key: Some(request.routing_key.clone()),
        ..Envelope::new(request.text, &app.config.service_name)
    };
    let routed = match app
        .publisher
        .publish(outgoing(&envelope, exchange, &request.routing_key))
        .await
    {
        Ok(()) => true,
        Err(PublishError::Unroutable { .. }) => false,
        Err(error) => {
            warn!(message_id = %envelope.id, %error, "message not confirmed");
            return Err(publish_failure(app, error));
        }
    };
    info!(message_id = %envelope.id, exchange, routing_key = %request.routing_key, routed, "message published");
    let message = if routed {
        format!("Message published to exchange {exchange}")
    } else {
        format!(
            "Message published to exchange {exchange}, but no queue is bound for routing key {:?}: nobody received it",
            request.routing_key
        )
    };
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "success": true,
            "routed": routed,
            "message": message,
            "exchange": exchange,
            "exchange_type": request.kind.as_str(),
            "routing_key": request.routing_key,
            "data": envelope,
        }),
    ))
}

/// A validated `/publish` request.
#[derive(Debug, PartialEq, Eq)]
struct PublishRequest {
    kind: ExchangeKind,
    routing_key: String,
    text: String,
}

/// `{"message": non-empty string, "routing_key": string ≤ 255 bytes (optional for fanout),
/// "exchange": "topic" (default) | "direct" | "fanout"}`.
fn parse_publish(body: &[u8]) -> Result<PublishRequest, ApiError> {
    let object = parse_object(
        body,
        r#"{"routing_key":"logs.error","message":"disk full","exchange":"topic"}"#,
    )?;
    let kind = match object.get("exchange") {
        None | Some(serde_json::Value::Null) => ExchangeKind::Topic,
        Some(serde_json::Value::String(name)) => ExchangeKind::parse(name).ok_or_else(|| {
            ApiError::BadRequest(format!(
                r#"unknown exchange {name:?}: use "topic", "direct" or "fanout""#
            ))
        })?,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                r#"field "exchange" must be "topic", "direct" or "fanout", not {}"#,
                json_type(other)
            )))
        }
    };
    let routing_key = match object.get("routing_key") {
        None | Some(serde_json::Value::Null) if kind == ExchangeKind::Fanout => String::new(),
        None | Some(serde_json::Value::Null) => {
            return Err(ApiError::BadRequest(format!(
                r#"missing field "routing_key": a {} exchange routes by it (e.g. "logs.error")"#,
                kind.as_str()
            )))
        }
        Some(serde_json::Value::String(key)) => key.clone(),
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                r#"field "routing_key" must be a string, not {}"#,
                json_type(other)
            )))
        }
    };
    validate_routing_key(&routing_key).map_err(ApiError::BadRequest)?;
    let text = match object.get("message") {
        None => return Err(ApiError::BadRequest(
            r#"missing field "message": send {"routing_key":"logs.error","message":"disk full"}"#
                .to_owned(),
        )),
        Some(value) => message_text(value)?,
    };
    Ok(PublishRequest {
        kind,
        routing_key,
        text,
    })
}

/// The persistent message carrying `envelope` to `exchange` with `routing_key` (the queue's name
/// through the default exchange `""`).
fn outgoing(envelope: &Envelope, exchange: &str, routing_key: &str) -> OutgoingMessage {
    OutgoingMessage {
        exchange: exchange.to_owned(),
        routing_key: routing_key.to_owned(),
        body: envelope.to_json(),
        message_id: envelope.id.clone(),
        timestamp: unix_seconds_now(),
        persistent: true,
        content_type: "application/json",
    }
}

/// The HTTP answer to a publish the broker did not confirm.
fn publish_failure(app: &App, error: PublishError) -> ApiError {
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
                    app.config.queue.name
                ));
            }
            ApiError::BrokerUnavailable(format!("{error}; retry in a moment"))
        }
    }
}

/// A validated `/send-burst` request.
#[derive(Debug, PartialEq, Eq)]
struct Burst {
    count: u64,
    text: String,
}

/// The text of burst messages when the request names none.
const DEFAULT_BURST_TEXT: &str = "Task";

/// `{"count": 1..=max, "message": optional non-empty string}`.
fn parse_burst(body: &[u8], max: u64) -> Result<Burst, ApiError> {
    let object = parse_object(body, r#"{"count":30,"message":"Task..."}"#)?;
    let count_error = || {
        ApiError::BadRequest(format!(
            r#"field "count" must be a whole number from 1 to {max} (--max-burst); nothing was published"#
        ))
    };
    let count = match object.get("count") {
        None => {
            return Err(ApiError::BadRequest(format!(
                r#"missing field "count": send {{"count":30,"message":"Task..."}} (1 to {max})"#
            )))
        }
        Some(value) => value.as_u64().ok_or_else(count_error)?,
    };
    if !(1..=max).contains(&count) {
        return Err(count_error());
    }
    let text = match object.get("message") {
        None | Some(serde_json::Value::Null) => DEFAULT_BURST_TEXT.to_owned(),
        Some(value) => message_text(value)?,
    };
    Ok(Burst { count, text })
}

/// The largest total size of a request's headers the handlers accept (hyper's own parser limit
/// is far higher).
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Reads the whole JSON body, refusing more than `limit` bytes (declared or actual) with a 413,
/// a body not declared as JSON with a 415, and oversized headers with a 431.
async fn read_body(request: Request<Incoming>, limit: usize) -> Result<Bytes, ApiError> {
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return Err(ApiError::HeadersTooLarge {
            size: header_bytes,
            limit: MAX_HEADER_BYTES,
        });
    }
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    if !content_type.as_deref().is_some_and(is_json_media_type) {
        return Err(ApiError::UnsupportedMediaType(content_type.map_or_else(
            || "no Content-Type".to_owned(),
            |t| format!("{t:?}"),
        )));
    }
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

/// `application/json`, or any `application/…+json`, with or without parameters.
fn is_json_media_type(value: &str) -> bool {
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Extracts the non-empty string `message` from a JSON object.
fn parse_message(body: &[u8]) -> Result<String, ApiError> {
    let object = parse_object(body, r#"{"message":"hello"}"#)?;
    match object.get("message") {
        None => Err(ApiError::BadRequest(
            r#"missing field "message": send {"message":"hello"}"#.to_owned(),
        )),
        Some(value) => message_text(value),
    }
}

/// The body as a JSON object; `example` shows the expected shape in the error.
fn parse_object(
    body: &[u8],
    example: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("malformed JSON body: {e}")))?;
    match value {
        serde_json::Value::Object(object) => Ok(object),
        _ => Err(ApiError::BadRequest(format!(
            "the body must be a JSON object like {example}"
        ))),
    }
}

/// A `message` field's value: a non-empty string.
fn message_text(value: &serde_json::Value) -> Result<String, ApiError> {
    match value {
        serde_json::Value::String(text) if text.trim().is_empty() => Err(ApiError::BadRequest(
            r#"field "message" must not be empty"#.to_owned(),
        )),
        serde_json::Value::String(text) => Ok(text.clone()),
        other => Err(ApiError::BadRequest(format!(
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

    #[test]
    fn publish_requests_name_a_known_exchange_and_a_valid_key() {
        assert_eq!(
            parse_publish(br#"{"routing_key":"logs.error","message":"disk full"}"#).unwrap(),
            PublishRequest {
                kind: ExchangeKind::Topic,
                routing_key: "logs.error".to_owned(),
                text: "disk full".to_owned(),
            }
        );
        let fanout = parse_publish(br#"{"message":"hi","exchange":"fanout"}"#).unwrap();
        assert_eq!(
            (fanout.kind, fanout.routing_key.as_str()),
            (ExchangeKind::Fanout, "")
        );
        let long_key = format!(r#"{{"routing_key":"{}","message":"x"}}"#, "k".repeat(256));
        for bad in [
            &br#"{"message":"no key"}"#[..],
            br#"{"routing_key":"a","message":"x","exchange":"headers"}"#,
            br#"{"routing_key":"a","message":"x","exchange":5}"#,
            br#"{"routing_key":7,"message":"x"}"#,
            br#"{"routing_key":"a"}"#,
            br#"{"routing_key":"a","message":""}"#,
            long_key.as_bytes(),
            b"\xff\xfe",
        ] {
            assert!(
                matches!(parse_publish(bad), Err(ApiError::BadRequest(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            /// Whatever bytes arrive, parsing answers Ok or a 400, never panics.
            #[test]
            fn parsers_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
                for result in [
                    parse_message(&body).map(drop),
                    parse_burst(&body, 100).map(drop),
                    parse_publish(&body).map(drop),
                ] {
                    prop_assert!(matches!(result, Ok(()) | Err(ApiError::BadRequest(_))));
                }
            }

            /// A publish request is accepted exactly when every field is valid.
            #[test]
            fn publish_accepts_exactly_the_valid_requests(
                key in "[a-z.*#]{0,300}",
                text in ".{0,20}",
                exchange in prop_oneof![
                    Just("topic"), Just("direct"), Just("fanout"), Just("headers"), Just("")
                ],
            ) {
                let body = json!({"routing_key": key, "message": text, "exchange": exchange});
                let valid = key.len() <= 255
                    && !text.trim().is_empty()
                    && ExchangeKind::parse(exchange).is_some();
                let result = parse_publish(body.to_string().as_bytes());
                prop_assert_eq!(result.is_ok(), valid, "{} → {:?}", body, result);
            }

            /// A burst count is accepted exactly when it is a whole number in 1..=max.
            #[test]
            fn burst_counts_are_checked(count in any::<i64>(), fraction in any::<bool>()) {
                let body = if fraction {
                    format!(r#"{{"count":{count}.5}}"#)
                } else {
                    format!(r#"{{"count":{count}}}"#)
                };
                let valid = !fraction && (1..=1000).contains(&count);
                prop_assert_eq!(parse_burst(body.as_bytes(), 1000).is_ok(), valid);
            }
        }
    }

    #[test]
    fn only_json_bodies_are_read() {
        for ok in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/merge-patch+json",
        ] {
            assert!(is_json_media_type(ok), "{ok}");
        }
        for bad in [
            "",
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/jsonx",
        ] {
            assert!(!is_json_media_type(bad), "{bad}");
        }
    }

    #[test]
    fn burst_count_must_be_a_whole_number_in_range() {
        assert_eq!(
            parse_burst(br#"{"count":3}"#, 10).unwrap(),
            Burst {
                count: 3,
                text: DEFAULT_BURST_TEXT.to_owned()
            }
        );
        assert_eq!(
            parse_burst(br#"{"count":10,"message":"Task..."}"#, 10)
                .unwrap()
                .text,
            "Task..."
        );
        for bad in [
            &br#"{"count":0}"#[..],
            br#"{"count":-1}"#,
            br#"{"count":11}"#,
            br#"{"count":1.5}"#,
            br#"{"count":"5"}"#,
            br#"{"message":"x"}"#,
            br#"{"count":5,"message":""}"#,
            br#"{"count":5,"message":7}"#,
            br#"[5]"#,
            b"{",
        ] {
            assert!(
                matches!(parse_burst(bad, 10), Err(ApiError::BadRequest(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
