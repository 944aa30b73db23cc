//! The engine behind `fanout-sub` and `topic-sub`: one queue bound to one exchange with a set of
//! patterns, consumed with manual acks, logged so a user sees which message reached whom and why.
//!
//! Two kinds of queue, and the difference is the lesson:
//! - server-named (no `--queue`): exclusive and auto-deleted, one per process, so every replica
//!   gets its own copy of every message. It dies with the connection: after a reconnect the
//!   manager declares a new one and binds every pattern again (topology as data), and whatever was
//!   published in between is gone.
//! - named (`--queue`): durable and shared, so the replicas of one service compete for its
//!   messages, and messages published while they were away wait for them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use amqprs::channel::{BasicAckArguments, ConsumerMessage};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::amqp::{
    consume_across_sessions, AmqpOptions, BindingSpec, ChannelSetup, ConnectionManager,
    ConsumerEvent, ExchangeKind, ExchangeSpec, QueueSpec, Session, Topology,
};
use crate::http::{spawn_health_server, Health};
use crate::identity;
use crate::message::produced_at;
use crate::metrics::{self, metrics};
use crate::roles::render_body;
use crate::roles::snapshot::{self, Handled, Identity, Outcome};

/// One subscriber: what to bind, where, and how to report it.
#[derive(Debug, Clone)]
pub struct Subscription {
    /// `fanout-sub` or `topic-sub`, for logs, health and the connection name.
    pub role: &'static str,
    /// The service name in every log line (`logger-service`); the host name by default.
    pub name: String,
    pub exchange: String,
    pub kind: ExchangeKind,
    /// Binding keys (validated); a fanout subscription has one empty key.
    pub patterns: Vec<String>,
    /// A durable queue shared by the service's replicas; `None` for a server-named one.
    pub queue: Option<String>,
    pub prefetch: u16,
    pub health_listen: Option<SocketAddr>,
    pub pretty_bodies: bool,
}

impl Subscription {
    /// The exchange, the queue and one binding per pattern, declared on every connect.
    fn topology(&self) -> Topology {
        let queue = match &self.queue {
            Some(name) => QueueSpec::durable(name),
            None => QueueSpec::server_named(),
        };
        let bindings = self
            .patterns
            .iter()
            .map(|pattern| BindingSpec {
                // Empty: the queue just declared, whatever the broker named it.
                queue: self.queue.clone().unwrap_or_default(),
                exchange: self.exchange.clone(),
                routing_key: pattern.clone(),
            })
            .collect();
        Topology {
            exchanges: vec![ExchangeSpec {
                name: self.exchange.clone(),
                kind: self.kind.as_str().to_owned(),
                durable: true,
            }],
            queues: vec![queue],
            bindings,
            queue_mismatch_hint: self
                .queue
                .as_ref()
                .map(|name| format!("{name:?} must be a plain durable queue for a subscriber")),
            exchange_mismatch_hint: Some(format!(
                "An exchange keeps its type for good; this role declares {:?} as {}: subscribe \
                 to an exchange of that type (--exchange{})",
                self.exchange,
                self.kind.as_str(),
                match self.kind {
                    ExchangeKind::Fanout => "",
                    _ => ", --exchange-type",
                }
            )),
        }
    }

    /// The patterns as one log field.
    fn pattern_list(&self) -> String {
        match self.kind {
            ExchangeKind::Fanout => "(fanout: every message)".to_owned(),
            _ => self.patterns.join(", "),
        }
    }
}

/// Subscribes until `shutdown`. Fails only when the broker refused the exchange, queue or a
/// binding for good.
pub async fn run(
    subscription: Subscription,
    amqp: AmqpOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    metrics::init(subscription.role);
    let mut topology = subscription.topology();
    topology
        .exchanges
        .extend(amqp.snapshots.as_ref().map(snapshot::exchange_spec));
    let manager = Arc::new(ConnectionManager::start(amqp.for_role(
        identity::connection_name(subscription.role),
        topology,
        ChannelSetup {
            confirms: false,
            prefetch: Some(subscription.prefetch),
        },
    )));
    let health = Health::new(
        subscription.role,
        subscription.name.clone(),
        manager.state(),
        false,
    );
    let health_stop = CancellationToken::new();
    let health_server = match subscription.health_listen {
        Some(addr) => Some(spawn_health_server(addr, health.clone(), health_stop.clone()).await?),
        None => None,
    };
    if let Some(settings) = amqp.snapshots.clone() {
        snapshot::spawn(
            settings,
            Identity {
                role: subscription.role.to_owned(),
                instance: subscription.name.clone(),
                queue: subscription.queue.clone(),
                prefetch: Some(subscription.prefetch),
                exchange: Some(subscription.exchange.clone()),
                patterns: match subscription.kind {
                    ExchangeKind::Fanout => Vec::new(),
                    _ => subscription.patterns.clone(),
                },
            },
            manager.sessions(),
            manager.state(),
            health_stop.clone(),
        );
    }
    let patterns = subscription.pattern_list();
    info!(
        subscriber = %subscription.name,
        exchange = %subscription.exchange,
        exchange_type = subscription.kind.as_str(),
        patterns = %patterns,
        queue = subscription.queue.as_deref().unwrap_or("(server-named, exclusive)"),
        prefetch = subscription.prefetch,
        url = %amqp.settings,
        "subscriber starting"
    );
    let consumer_tag = format!("{}.{}", subscription.name, std::process::id());
    let result = consume_across_sessions(
        &manager,
        &consumer_tag,
        &shutdown,
        |session| session.declared().last_queue_name(),
        |event| match event {
            ConsumerEvent::Consuming { session, queue } => {
                health.set_role_ready(true);
                log_subscribed(&subscription, &patterns, session, queue);
            }
            ConsumerEvent::Paused => health.set_role_ready(false),
        },
        |session, delivery| {
            let (subscription, patterns) = (&subscription, &patterns);
            async move { handle_delivery(subscription, patterns, &session, delivery).await }
        },
    )
    .await;
    health.set_role_ready(false);
    manager.close().await;
    health_stop.cancel();
    if let Some(server) = health_server {
        let _ = server.await;
    }
    result?;
    info!(subscriber = %subscription.name, "subscriber stopped");
    Ok(())
}

/// Says which of the two reconnect stories happened.
fn log_subscribed(subscription: &Subscription, patterns: &str, session: &Session, queue: &str) {
    let generation = session.generation();
    let waiting = session
        .declared()
        .queues
        .last()
        .map_or(0, |queue| queue.messages);
    let (queue_kind, story) = match (&subscription.queue, generation) {
        (None, 1) => ("server-named", "subscribed on a new server-named queue"),
        (None, _) => (
            "server-named",
            "re-subscribed on a NEW server-named queue, every pattern bound again; the old queue \
             was deleted with the lost connection, so messages published while disconnected \
             reached no queue of this subscriber",
        ),
        (Some(_), 1) => ("named", "subscribed on the durable named queue"),
        (Some(_), _) => (
            "named",
            "resumed the durable named queue; messages published while disconnected waited in it",
        ),
    };
    info!(
        subscriber = %subscription.name,
        exchange = %subscription.exchange,
        patterns = %patterns,
        queue,
        queue_kind,
        waiting,
        generation,
        detail = story,
        "subscribed"
    );
}

/// Logs one message with who got it and why, then acks it.
async fn handle_delivery(
    subscription: &Subscription,
    patterns: &str,
    session: &Session,
    delivery: ConsumerMessage,
) {
    let (Some(deliver), Some(content)) = (delivery.deliver, delivery.content) else {
        warn!("incomplete delivery from amqprs; ignored");
        return;
    };
    let started = std::time::Instant::now();
    let metrics = metrics();
    metrics.delivered.inc();
    if deliver.redelivered() {
        metrics.redelivered.inc();
    }
    let message_id = delivery
        .basic_properties
        .as_ref()
        .and_then(|p| p.message_id().cloned())
        .unwrap_or_default();
    info!(
        subscriber = %subscription.name,
        exchange = %deliver.exchange(),
        routing_key = %deliver.routing_key(),
        patterns = %patterns,
        redelivered = deliver.redelivered(),
        message_id = %message_id,
        bytes = content.len(),
        body = %render_body(&content, subscription.pretty_bodies),
        "received message"
    );
    // An ack on a closed channel would close the next connection too (504 CHANNEL_ERROR).
    if session.is_ended() {
        warn!(message_id = %message_id, "connection lost before the ack; the broker will redeliver");
        return;
    }
    match session
        .channel()
        .basic_ack(BasicAckArguments::new(deliver.delivery_tag(), false))
        .await
    {
        Ok(()) => {
            metrics.acked.inc();
            snapshot::record(Handled {
                message_id: message_id.clone(),
                seq: None,
                burst: None,
                routing_key: Some(deliver.routing_key().clone()),
                redelivered: deliver.redelivered(),
                outcome: Outcome::Acked,
            });
            metrics
                .processing_time
                .observe(started.elapsed().as_secs_f64());
            let age = serde_json::from_slice(&content)
                .ok()
                .as_ref()
                .and_then(produced_at)
                .and_then(|at| SystemTime::now().duration_since(at).ok());
            if let Some(age) = age {
                metrics.end_to_end_latency.observe(age.as_secs_f64());
            }
            debug!(message_id = %message_id, "acked");
        }
        Err(error) => {
            warn!(%error, message_id = %message_id, "ack failed; the broker will redeliver")
        }
    }
}
