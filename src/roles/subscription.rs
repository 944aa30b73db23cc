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

use std::time::SystemTime;

use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use amqprs::FieldTable;

use crate::amqp::{
    consume_across_sessions, AlternateExchange, AmqpOptions, BindingSpec, BoundQueue,
    ConsumerEvent, ConsumerTag, Delivery, ExchangeKind, ExchangeName, ExchangeSpec, HeaderMatch,
    Headers, InstanceName, QueueName, QueueSpec, QueueType, RoutingKey, Session, Topology,
};
use crate::http::Listen;
use crate::message::EnvelopeView;
use crate::metrics::Metrics;
use crate::roles::body::{render_body, BodyStyle};
use crate::roles::consuming::{ConsumingRole, Plan};
use crate::roles::snapshot::{Handled, HandledLog, Identity, Outcome, Trace};

/// The settings every subscriber shares (`--queue`, `--name`, `--prefetch`, health, log style).
#[derive(Debug, Clone)]
pub struct Subscriber {
    /// The service name in every log line (`logger-service`); the host name by default.
    pub name: InstanceName,
    /// A durable queue shared by the service's replicas; `None` for a server-named one.
    pub queue: Option<QueueName>,
    /// The named queue's type: quorum on a cluster, so it outlives the loss of a node.
    pub queue_type: QueueType,
    /// Unacked messages the broker may push at once (`--prefetch`).
    pub prefetch: u16,
    /// Where `/health`, `/ready` and `/metrics` are served; `None` disables them.
    pub health_listen: Option<Listen>,
    /// How bodies appear in the log lines (indented, or on one line with JSON logs).
    pub body_style: BodyStyle,
}

impl Subscriber {
    /// The subscription of `role` to `exchange` with `patterns`.
    pub fn subscribe(
        self,
        role: &'static str,
        exchange: ExchangeName,
        kind: ExchangeKind,
        patterns: Vec<RoutingKey>,
    ) -> Subscription {
        Subscription {
            role,
            name: self.name,
            exchange,
            kind,
            patterns,
            header_match: None,
            alternate: None,
            queue: self.queue,
            queue_type: self.queue_type,
            prefetch: self.prefetch,
            health_listen: self.health_listen,
            body_style: self.body_style,
        }
    }
}

/// One subscription: what to bind, where, and how to report it.
#[derive(Debug, Clone)]
pub struct Subscription {
    /// `fanout-sub` or `topic-sub`, for logs, health and the connection name.
    pub role: &'static str,
    /// The service name in every log line (`logger-service`); the host name by default.
    pub name: InstanceName,
    /// Declared durable on every connect, then bound once per pattern.
    pub exchange: ExchangeName,
    /// The exchange's type, which decides how `patterns` are read.
    pub kind: ExchangeKind,
    /// Binding keys (validated); a fanout or headers subscription has one empty key.
    pub patterns: Vec<RoutingKey>,
    /// A headers subscription's `x-match` and headers, bound as the binding's arguments.
    pub header_match: Option<HeaderMatch>,
    /// The exchange's alternate exchange: declared with it, since every declarer must agree.
    pub alternate: Option<AlternateExchange>,
    /// A durable queue shared by the service's replicas; `None` for a server-named one.
    pub queue: Option<QueueName>,
    /// The named queue's type (`--queue-type`).
    pub queue_type: QueueType,
    /// Unacked messages the broker may push at once (`--prefetch`).
    pub prefetch: u16,
    /// Where `/health`, `/ready` and `/metrics` are served; `None` disables them.
    pub health_listen: Option<Listen>,
    /// How bodies appear in the log lines (indented, or on one line with JSON logs).
    pub body_style: BodyStyle,
}

/// What each delivery is handled with.
struct Handler<'a> {
    subscription: &'a Subscription,
    patterns: &'a str,
    metrics: &'a Metrics,
    handled: &'a HandledLog,
}

impl Subscription {
    /// The exchange, the queue and one binding per pattern, declared on every connect.
    fn topology(&self) -> Topology {
        let queue = match &self.queue {
            Some(name) => QueueSpec {
                arguments: self.queue_type.arguments(),
                ..QueueSpec::durable(name.clone())
            },
            None => QueueSpec::server_named(),
        };
        let bindings = self
            .patterns
            .iter()
            .map(|pattern| BindingSpec {
                queue: match &self.queue {
                    Some(name) => BoundQueue::Named(name.clone()),
                    // The queue just declared, whatever the broker named it.
                    None => BoundQueue::LastDeclared,
                },
                exchange: self.exchange.clone(),
                routing_key: pattern.clone(),
                arguments: self
                    .header_match
                    .as_ref()
                    .map_or_else(FieldTable::new, HeaderMatch::binding_arguments),
            })
            .collect();
        let mut topology = Topology {
            exchanges: vec![ExchangeSpec::durable(self.exchange.clone(), self.kind)
                .with_alternate(self.alternate.as_ref())],
            queues: vec![queue],
            bindings,
            queue_mismatch_hint: self.queue.as_ref().map(|name| {
                format!(
                    "{:?} must be a durable {} queue for this subscriber (--queue-type / \
                     SUBSCRIBER_QUEUE_TYPE)",
                    name.as_str(),
                    self.queue_type.as_str()
                )
            }),
            exchange_mismatch_hint: Some(format!(
                "An exchange keeps its type and arguments for good; this role declares {:?} as \
                 {} {}: subscribe to an exchange of that type (--exchange{}) with the same \
                 --alternate-exchange / ALTERNATE_EXCHANGE as every other declarer",
                self.exchange.as_str(),
                self.kind.as_str(),
                AlternateExchange::describe(self.alternate.as_ref()),
                match self.kind {
                    ExchangeKind::Fanout => "",
                    _ => ", --exchange-type",
                }
            )),
        };
        if let Some(alternate) = &self.alternate {
            alternate.add_to(&mut topology);
        }
        topology
    }

    /// The patterns as one log field.
    fn pattern_list(&self) -> String {
        match (self.kind, &self.header_match) {
            (ExchangeKind::Fanout, _) => "(fanout: every message)".to_owned(),
            (_, Some(header_match)) => format!("(headers: {header_match})"),
            _ => self
                .patterns
                .iter()
                .map(RoutingKey::as_str)
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// Subscribes until `shutdown`. Fails only when the broker refused the exchange, queue or a
/// binding for good (or the health port cannot be used).
pub async fn run(
    subscription: Subscription,
    amqp: AmqpOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let plan = Plan {
        role: subscription.role,
        name: subscription.name.clone(),
        topology: subscription.topology(),
        prefetch: subscription.prefetch,
        health_listen: subscription.health_listen,
        identity: identity_of(&subscription),
    };
    let role = ConsumingRole::start(plan, &amqp).await?;
    let patterns = subscription.pattern_list();
    info!(
        subscriber = %subscription.name,
        exchange = %subscription.exchange,
        exchange_type = subscription.kind.as_str(),
        patterns = %patterns,
        queue = subscription.queue.as_ref().map_or("(server-named, exclusive)", QueueName::as_str),
        prefetch = subscription.prefetch,
        urls = %amqp.endpoints,
        "subscriber starting"
    );
    let consumer_tag = ConsumerTag::for_instance(subscription.name.as_str(), std::process::id());
    let handler = Handler {
        subscription: &subscription,
        patterns: &patterns,
        metrics: &role.metrics,
        handled: &role.handled,
    };
    let health = &role.health;
    let result = consume_across_sessions(
        &role.manager,
        &consumer_tag,
        &shutdown,
        |session| session.declared().last_queue_name().cloned(),
        |event| match event {
            ConsumerEvent::Consuming { session, queue } => {
                health.set_role_ready(true);
                log_subscribed(&subscription, &patterns, session, queue);
            }
            ConsumerEvent::Paused => health.set_role_ready(false),
        },
        |delivery| handler.handle(delivery),
    )
    .await;
    role.finish().await;
    result?;
    info!(subscriber = %subscription.name, "subscriber stopped");
    Ok(())
}

/// What the console shows of a subscriber.
fn identity_of(subscription: &Subscription) -> Identity {
    Identity {
        role: subscription.role.to_owned(),
        instance: subscription.name.to_string(),
        queue: subscription.queue.as_ref().map(QueueName::to_string),
        prefetch: Some(subscription.prefetch),
        exchange: Some(subscription.exchange.to_string()),
        header_match: subscription.header_match.as_ref().map(ToString::to_string),
        patterns: match subscription.kind {
            ExchangeKind::Fanout | ExchangeKind::Headers => Vec::new(),
            _ => subscription
                .patterns
                .iter()
                .map(RoutingKey::to_string)
                .collect(),
        },
    }
}

/// Says which of the two reconnect stories happened.
fn log_subscribed(
    subscription: &Subscription,
    patterns: &str,
    session: &Session,
    queue: &QueueName,
) {
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
        %queue,
        queue_kind,
        waiting,
        generation,
        detail = story,
        "subscribed"
    );
}

impl Handler<'_> {
    /// Logs one message with who got it and why, then acks it.
    async fn handle(&self, delivery: Delivery) {
        let started = std::time::Instant::now();
        let metrics = self.metrics;
        metrics.delivered.inc();
        let redelivered = delivery.redelivered();
        if redelivered {
            metrics.redelivered.inc();
        }
        let message_id = delivery.message_id().to_owned();
        let routing_key = delivery.routing_key().to_owned();
        let headers = Headers::of_message(delivery.headers());
        let content = delivery.body();
        let envelope = EnvelopeView::parse(content);
        info!(
            subscriber = %self.subscription.name,
            exchange = %delivery.exchange(),
            routing_key = %routing_key,
            headers = %headers,
            patterns = %self.patterns,
            redelivered,
            message_id = %message_id,
            bytes = content.len(),
            body = %render_body(content, envelope.is_some(), self.subscription.body_style),
            "received message"
        );
        let produced_at = envelope.as_ref().and_then(EnvelopeView::produced_at);
        let trace = Trace::of(&delivery, envelope.as_ref());
        if let Err(error) = delivery.ack().await {
            warn!(%error, message_id = %message_id, "not acked");
            return;
        }
        metrics.acked.inc();
        self.handled.record(Handled {
            message_id: message_id.clone(),
            seq: None,
            burst: None,
            // A headers exchange ignores the key: the console's matrix shows the headers instead.
            routing_key: Some(match self.subscription.kind {
                ExchangeKind::Headers => headers.to_string(),
                _ => routing_key,
            }),
            redelivered,
            outcome: Outcome::Acked,
            attempt: None,
            trace,
        });
        metrics
            .processing_time
            .observe(started.elapsed().as_secs_f64());
        if let Some(age) = produced_at.and_then(|at| SystemTime::now().duration_since(at).ok()) {
            metrics.end_to_end_latency.observe(age.as_secs_f64());
        }
        debug!(message_id = %message_id, "acked");
    }
}
