//! `playground consume`: a worker on the queue, acking each message only after it was handled.
//! Replaces the Node `message-consumer`; survives broker restarts and cut connections by starting
//! over on every session the connection manager hands it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use amqprs::channel::ConsumerMessage;
use amqprs::channel::{BasicAckArguments, BasicCancelArguments, BasicConsumeArguments};
use hyper::Method;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::amqp::{AmqpOptions, ChannelSetup, ConnectionManager, QueueSpec, Session, Topology};
use crate::http::{server, ApiError, Health, HttpResponse};
use crate::identity;
use crate::message::rfc3339_now;

/// Settings of `consume`, built from its flags.
#[derive(Debug, Clone)]
pub struct ConsumeConfig {
    pub queue: String,
    /// Unacked messages the broker may push to this consumer; 1 gives fair dispatch.
    pub prefetch: u16,
    /// Where `/health` and `/ready` are served; `None` disables them.
    pub health_listen: Option<SocketAddr>,
    /// Pretty-print JSON bodies over several lines (for people), or keep them on one line (for
    /// JSON log pipelines).
    pub pretty_bodies: bool,
}

/// How one session's consuming ended.
enum SessionEnd {
    /// Shutdown was requested: the consumer was cancelled, the message in hand acked.
    Shutdown,
    /// The connection or channel ended; wait for the next session.
    Lost,
}

/// Consumes until `shutdown`: then cancels the consumer, finishes and acks the message in hand,
/// closes the connection and returns. Fails only when the broker refused the queue for good.
pub async fn run(
    config: ConsumeConfig,
    amqp: AmqpOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let host = identity::host_name();
    let manager = Arc::new(ConnectionManager::start(amqp.for_role(
        identity::connection_name("consume"),
        Topology {
            queues: vec![QueueSpec::durable(&config.queue)],
            ..Topology::default()
        },
        ChannelSetup {
            confirms: false,
            prefetch: Some(config.prefetch),
        },
    )));
    let health = Health::new("consume", host.clone(), manager.state(), false);
    let health_stop = CancellationToken::new();
    let health_server = match config.health_listen {
        Some(addr) => Some(spawn_health_server(addr, health.clone(), health_stop.clone()).await?),
        None => None,
    };
    info!(queue = %config.queue, prefetch = config.prefetch, consumer = %host, url = %amqp.settings, "consumer starting");

    let consumer_tag = format!("{host}.{}", std::process::id());
    let mut sessions = manager.sessions();
    let result = loop {
        let session = tokio::select! {
            session = next_session(&mut sessions) => session,
            _ = shutdown.cancelled() => break Ok(()),
            error = manager.failed() => break Err(anyhow::anyhow!(error)),
        };
        let Some(session) = session else {
            // The manager ended: it gave up, or was closed.
            break manager
                .failure()
                .map_or(Ok(()), |error| Err(anyhow::anyhow!(error)));
        };
        match consume_session(&config, &session, &consumer_tag, &host, &health, &shutdown).await {
            SessionEnd::Shutdown => break Ok(()),
            SessionEnd::Lost => {
                health.set_role_ready(false);
                // Wait for the manager to notice, so the next session is a new one (bounded, in
                // case consuming failed on a channel that is still open: then retry on it).
                let _ =
                    tokio::time::timeout(std::time::Duration::from_secs(5), session.ended()).await;
            }
        }
    };
    health.set_role_ready(false);
    manager.close().await;
    health_stop.cancel();
    if let Some(server) = health_server {
        let _ = server.await;
    }
    if result.is_ok() {
        info!("consumer stopped");
    }
    result
}

/// Waits for a live session; `None` if the manager is gone.
async fn next_session(sessions: &mut watch::Receiver<Option<Session>>) -> Option<Session> {
    loop {
        if let Some(session) = sessions.borrow_and_update().clone() {
            if !session.is_ended() {
                return Some(session);
            }
        }
        sessions.changed().await.ok()?;
    }
}

async fn consume_session(
    config: &ConsumeConfig,
    session: &Session,
    consumer_tag: &str,
    host: &str,
    health: &Health,
    shutdown: &CancellationToken,
) -> SessionEnd {
    let channel = session.channel();
    let args = BasicConsumeArguments::new(&config.queue, consumer_tag)
        .manual_ack(true)
        .finish();
    let mut deliveries = match channel.basic_consume_rx(args).await {
        Ok((_, deliveries)) => deliveries,
        Err(error) => {
            warn!(%error, queue = %config.queue, "could not start consuming; waiting for a new connection");
            return SessionEnd::Lost;
        }
    };
    health.set_role_ready(true);
    info!(queue = %config.queue, prefetch = config.prefetch, consumer = %host, generation = session.generation(), "consuming");
    loop {
        tokio::select! {
            // Shutdown first: once asked to stop, take no new message.
            biased;
            _ = shutdown.cancelled() => {
                health.set_role_ready(false);
                if !session.is_ended() {
                    // Deliveries already pushed to us but not handled are requeued by the broker
                    // when the channel closes; they are not acked, so nothing is lost.
                    let cancel = channel.basic_cancel(BasicCancelArguments::new(consumer_tag));
                    match tokio::time::timeout(std::time::Duration::from_secs(5), cancel).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(error)) => warn!(%error, "could not cancel the consumer"),
                        Err(_) => warn!("consumer cancel not answered within 5s"),
                    }
                }
                return SessionEnd::Shutdown;
            }
            _ = session.ended() => return SessionEnd::Lost,
            delivery = deliveries.recv() => {
                let Some(delivery) = delivery else {
                    return SessionEnd::Lost;
                };
                handle_delivery(config, session, host, delivery).await;
            }
        }
    }
}

/// Logs one message and acks it. Any body is fine: JSON is pretty-printed, text logged as is,
/// binary logged lossily with its size — never a crash, never an unacked poison message.
async fn handle_delivery(
    config: &ConsumeConfig,
    session: &Session,
    host: &str,
    delivery: ConsumerMessage,
) {
    let started = Instant::now();
    let received_at = rfc3339_now();
    let (Some(deliver), Some(content)) = (delivery.deliver, delivery.content) else {
        warn!("incomplete delivery from amqprs; ignored");
        return;
    };
    let properties = delivery.basic_properties;
    let message_id = properties
        .as_ref()
        .and_then(|p| p.message_id().cloned())
        .unwrap_or_default();
    let body = render_body(&content, config.pretty_bodies);
    info!(
        consumer = %host,
        queue = %config.queue,
        delivery_tag = deliver.delivery_tag(),
        redelivered = deliver.redelivered(),
        message_id = %message_id,
        received_at = %received_at,
        bytes = content.len(),
        body = %body,
        "received message"
    );
    // An ack on a channel the broker already closed would make it close the whole connection
    // (504 CHANNEL_ERROR); the message will be redelivered anyway, so skip it.
    if session.is_ended() {
        warn!(message_id = %message_id, "connection lost before the ack; the broker will redeliver");
        return;
    }
    match session
        .channel()
        .basic_ack(BasicAckArguments::new(deliver.delivery_tag(), false))
        .await
    {
        Ok(()) => info!(
            consumer = %host,
            message_id = %message_id,
            delivery_tag = deliver.delivery_tag(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "acked"
        ),
        Err(error) => {
            warn!(%error, message_id = %message_id, "ack failed; the broker will redeliver")
        }
    }
}

/// The longest body shown in a log line; the rest is summarised by its size.
const MAX_LOGGED_BODY: usize = 16 * 1024;

/// A body as it is safe and useful to log.
fn render_body(content: &[u8], pretty: bool) -> String {
    let shown = &content[..content.len().min(MAX_LOGGED_BODY)];
    let mut text = match std::str::from_utf8(content) {
        Ok(text) => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(json) if content.len() <= MAX_LOGGED_BODY => {
                let rendered = if pretty {
                    serde_json::to_string_pretty(&json)
                } else {
                    serde_json::to_string(&json)
                };
                rendered.unwrap_or_else(|_| text.to_owned())
            }
            _ => String::from_utf8_lossy(shown).into_owned(),
        },
        Err(_) => format!(
            "<{} bytes, not UTF-8> {}",
            content.len(),
            String::from_utf8_lossy(shown)
        ),
    };
    if content.len() > MAX_LOGGED_BODY {
        text.push_str(&format!("… ({} bytes in all)", content.len()));
    }
    text
}

/// `/health` and `/ready` on their own port, for roles without an HTTP server of their own.
async fn spawn_health_server(
    addr: SocketAddr,
    health: Health,
    stop: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = server::bind(addr).await?;
    let local = listener.local_addr()?;
    info!(addr = %local, port = local.port(), "health endpoints listening");
    Ok(tokio::spawn(server::serve(
        listener,
        move |request| {
            let health = health.clone();
            async move { health_routes(&health, request.method(), request.uri().path()) }
        },
        stop,
        std::time::Duration::from_secs(1),
    )))
}

fn health_routes(health: &Health, method: &Method, path: &str) -> HttpResponse {
    match (method, path) {
        (&Method::GET | &Method::HEAD, "/health") => health.health(),
        (&Method::GET | &Method::HEAD, "/ready") => health.ready(),
        (_, "/health" | "/ready") => ApiError::MethodNotAllowed {
            method: method.to_string(),
            path: path.to_owned(),
            allow: "GET, HEAD",
        }
        .into_response(),
        _ => ApiError::NotFound {
            method: method.to_string(),
            path: path.to_owned(),
        }
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::StatusCode;

    #[test]
    fn bodies_render_safely() {
        assert_eq!(render_body(br#"{"a":1}"#, false), r#"{"a":1}"#);
        assert_eq!(render_body(br#"{"a":1}"#, true), "{\n  \"a\": 1\n}");
        assert_eq!(render_body(b"plain text", true), "plain text");
        assert!(render_body(&[0xff, 0xfe, b'x'], true).starts_with("<3 bytes, not UTF-8>"));
        let big = vec![b'a'; MAX_LOGGED_BODY + 10];
        assert!(render_body(&big, true).ends_with(&format!("({} bytes in all)", big.len())));
    }

    #[test]
    fn unknown_routes_are_json_404s() {
        let (_tx, rx) = watch::channel(crate::amqp::ConnectionState::Connected);
        let health = Health::new("consume", "h", rx, true);
        assert_eq!(
            health_routes(&health, &Method::GET, "/nope").status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            health_routes(&health, &Method::POST, "/ready").status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            health_routes(&health, &Method::GET, "/ready").status(),
            StatusCode::OK
        );
    }
}
