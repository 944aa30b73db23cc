//! `produce-server`'s HTTP API: the Node service's `POST /send-message` and its siblings
//! `POST /send-burst` and `POST /publish`, the greeting at `GET /`, and the console's page and
//! stream. Each answer comes after the broker's confirm, or is an error that says what to do.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, FromRef, State};
use axum::http::header::ACCEPT;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;
use tracing::{info, warn};

use super::console::{self, Console};
use super::requests::{PublishBody, SendBurstBody, SendMessageBody};
use super::ProduceServerConfig;
use crate::amqp::{
    publish_burst, ConfirmedPublisher, ConnectionManager, Destination, ExchangeKind, MessageExtras,
    OutgoingMessage, PublishError, RpcClient, Taken, UnroutedTap, BURST_WINDOW,
};
use crate::http::{json_response, ApiError, BodyLimit, JsonBody};
use crate::message::{rfc3339_now, unix_seconds_now, Envelope};
use crate::metrics::UnroutedLabels;
use crate::telemetry::elapsed_ms;

/// Everything a request handler needs; one per process, shared by all connections.
pub struct App {
    pub config: ProduceServerConfig,
    pub publisher: Arc<ConfirmedPublisher>,
    pub manager: Arc<ConnectionManager>,
    /// Calls to rpc-servers (`/rpc`), sharing the channel's direct reply consumer.
    pub rpc: Arc<RpcClient>,
    /// The lab console; `None` with `--telemetry off`.
    pub console: Option<Arc<Console>>,
    /// Tells `/publish` which confirmed messages the alternate exchange took; `None` without
    /// `--alternate-exchange`.
    pub tap: Option<UnroutedTap>,
}

impl FromRef<Arc<App>> for BodyLimit {
    fn from_ref(app: &Arc<App>) -> Self {
        BodyLimit(app.config.max_body)
    }
}

/// The API's routes (the health routes are merged in by the caller).
pub fn routes(app: Arc<App>) -> Router {
    let max_body = app.config.max_body;
    Router::new()
        .route("/", get(root))
        .route("/events", get(events))
        .route("/send-message", post(send_message))
        .route("/send-burst", post(send_burst))
        .route("/publish", post(publish))
        .route("/rpc", post(super::rpc::rpc))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(app)
}

/// `GET /`: the console page for a browser, the Node service's greeting for everyone else.
async fn root(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let accept = headers.get(ACCEPT).and_then(|v| v.to_str().ok());
    if app.console.is_some() && console::wants_html(accept) {
        return Console::page();
    }
    json_response(
        StatusCode::OK,
        &json!({
            "message": "Hello World!",
            "service": app.config.service_name.as_str(),
            "timestamp": rfc3339_now(),
        }),
    )
}

/// `GET /events`: the console's Server-Sent Events.
async fn events(State(app): State<Arc<App>>) -> Response {
    match &app.console {
        Some(console) => console.events().into_response(),
        None => ApiError::NotFound {
            method: "GET".to_owned(),
            path: "/events (the console is off: --telemetry off)".to_owned(),
        }
        .into_response(),
    }
}

/// `POST /send-message {"message": "…"}` → publish the envelope, answer after the confirm.
async fn send_message(
    State(app): State<Arc<App>>,
    JsonBody(body): JsonBody<SendMessageBody>,
) -> Result<Response, ApiError> {
    let text = body.validate()?;
    let envelope = Envelope::new(text, app.config.service_name.as_str());
    let queue = &app.config.queue.name;
    app.publisher
        .publish(outgoing(&envelope, Destination::Queue(queue.clone())))
        .await
        .map_err(|error| {
            warn!(message_id = %envelope.id, %error, "message not confirmed");
            publish_failure(&app, error)
        })?;
    info!(message_id = %envelope.id, %queue, "message confirmed");
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "success": true,
            "message": "Message sent to queue",
            "data": envelope,
            "queue": queue.as_str(),
        }),
    ))
}

/// `POST /send-burst {"count": N, "message": "Task..."}` → N numbered, confirmed messages; the
/// answer comes after the last confirm, or at the first failure with the count confirmed so far.
async fn send_burst(
    State(app): State<Arc<App>>,
    JsonBody(body): JsonBody<SendBurstBody>,
) -> Result<Response, ApiError> {
    let burst = body.validate(app.config.max_burst)?;
    let started = Instant::now();
    let queue = &app.config.queue.name;
    let service = app.config.service_name.as_str();
    let burst_id = uuid::Uuid::new_v4().to_string();
    let report = publish_burst(
        app.publisher.clone(),
        burst.count,
        BURST_WINDOW,
        false,
        |seq| {
            let envelope = Envelope {
                burst: Some(burst_id.clone()),
                ..Envelope::numbered(&burst.text, seq, burst.count, service)
            };
            outgoing(&envelope, Destination::Queue(queue.clone()))
        },
        |_| {},
    )
    .await;
    let elapsed_ms = elapsed_ms(started);
    let Some((seq, error)) = report.failure else {
        info!(count = burst.count, %queue, elapsed_ms, "burst confirmed");
        let noun = if burst.count == 1 {
            "message"
        } else {
            "messages"
        };
        return Ok(json_response(
            StatusCode::OK,
            &json!({
                "success": true,
                "message": format!("{} {noun} sent to queue", burst.count),
                "sent": report.confirmed,
                "queue": queue.as_str(),
                "burst": burst_id,
                "elapsed_ms": elapsed_ms,
            }),
        ));
    };
    warn!(count = burst.count, confirmed = report.confirmed, failed_seq = seq, %error, "burst stopped");
    let summary = format!(
        "burst stopped at message {seq} of {}: {error}; {} were confirmed",
        burst.count, report.confirmed
    );
    Ok(publish_failure(&app, error).into_response_with(
        summary,
        json!({
            "success": false,
            "sent": report.confirmed,
            "requested": burst.count,
            "failed_seq": seq,
            "queue": queue.as_str(),
            "elapsed_ms": elapsed_ms,
        }),
    ))
}

/// `POST /publish {"routing_key":"logs.error","message":"disk full","exchange":"topic"}` →
/// publish to one of the four exchanges; 200 once confirmed, with `routed` saying whether any
/// binding matched (an unroutable message was still accepted: that is the lesson), and with an
/// alternate exchange, where the unroutable one went.
async fn publish(
    State(app): State<Arc<App>>,
    JsonBody(body): JsonBody<PublishBody>,
) -> Result<Response, ApiError> {
    let request = body.validate()?;
    let exchange = app.config.exchanges.name_of(request.kind);
    let envelope = Envelope {
        routing_key: Some(request.routing_key.as_str().to_owned()),
        ..Envelope::new(request.text, app.config.service_name.as_str())
    };
    let destination = Destination::Exchange(exchange.clone(), request.routing_key.clone());
    let mut message = outgoing(&envelope, destination);
    if !request.headers.is_empty() {
        message.extras.headers = Some(request.headers.to_field_table());
    }
    // Taken before publishing: if it is still live after the confirm, the message went out on it.
    let session = app.manager.current();
    let fate = match app.publisher.publish(message).await {
        Ok(()) => match (&app.tap, session) {
            (None, _) => Fate::Routed,
            (Some(tap), Some(session)) => match tap.took(&session, &envelope.id).await {
                Some(Taken::Kept) => Fate::Alternate,
                Some(Taken::No) => Fate::Routed,
                Some(Taken::QueueGone) => Fate::Dropped,
                None => Fate::Unknown,
            },
            (Some(_), None) => Fate::Unknown,
        },
        Err(PublishError::Unroutable { .. }) => Fate::Dropped,
        Err(error) => {
            warn!(message_id = %envelope.id, %error, "message not confirmed");
            return Err(publish_failure(&app, error));
        }
    };
    let routing_key = request.routing_key.as_str();
    let matched_on = if request.kind == ExchangeKind::Headers {
        format!("headers {}", request.headers)
    } else {
        format!("routing key {routing_key:?}")
    };
    let alternate = app.config.exchanges.alternate.as_ref();
    let unrouted_to = match fate {
        Fate::Alternate => Some("alternate_exchange"),
        Fate::Dropped => Some("nowhere"),
        Fate::Routed | Fate::Unknown => None,
    };
    if let Some(to) = unrouted_to {
        app.manager
            .metrics()
            .unrouted
            .get_or_create(&UnroutedLabels { to: to.to_owned() })
            .inc();
    }
    let routed = match fate {
        Fate::Routed => Some(true),
        Fate::Alternate | Fate::Dropped => Some(false),
        Fate::Unknown => None,
    };
    info!(message_id = %envelope.id, %exchange, routing_key, headers = %request.headers, routed, unrouted_to, "message published");
    let text = match (fate, alternate) {
        (Fate::Routed, _) => format!("Message published to exchange {exchange}"),
        (Fate::Alternate, Some(alternate)) => format!(
            "Message published to exchange {exchange}, but no binding matched {matched_on}: \
             the alternate exchange {} took it into queue {}",
            alternate.exchange, alternate.queue
        ),
        (Fate::Dropped, _) | (Fate::Alternate, None) => format!(
            "Message published to exchange {exchange}, but no queue is bound for {matched_on}: \
             nobody received it"
        ),
        (Fate::Unknown, _) => format!(
            "Message published to exchange {exchange} and confirmed; whether a binding matched \
             is unknown (the connection ended before the alternate exchange could be checked)"
        ),
    };
    let mut answer = json!({
        "success": true,
        "routed": routed,
        "message": text,
        "exchange": exchange.as_str(),
        "exchange_type": request.kind.as_str(),
        "routing_key": routing_key,
        "data": envelope,
    });
    if !request.headers.is_empty() {
        answer["headers"] = json!(request
            .headers
            .iter()
            .collect::<std::collections::BTreeMap<_, _>>());
    }
    if let (Fate::Alternate, Some(alternate)) = (fate, alternate) {
        answer["alternate_exchange"] = json!(alternate.exchange.as_str());
        answer["unrouted_queue"] = json!(alternate.queue.as_str());
    }
    Ok(json_response(StatusCode::OK, &answer))
}

/// Where a confirmed `/publish` message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// A binding of the exchange matched.
    Routed,
    /// No binding matched; the alternate exchange took it into its queue.
    Alternate,
    /// No binding matched and nothing kept it (returned by the broker, or the alternate
    /// exchange's queue was gone).
    Dropped,
    /// Confirmed, but the alternate exchange could not be checked (the connection ended).
    Unknown,
}

/// The persistent message carrying `envelope` to `destination`.
fn outgoing(envelope: &Envelope, destination: Destination) -> OutgoingMessage {
    OutgoingMessage {
        destination,
        body: envelope.to_json(),
        message_id: envelope.id.clone(),
        timestamp: unix_seconds_now(),
        persistent: true,
        content_type: "application/json",
        extras: MessageExtras::default(),
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
