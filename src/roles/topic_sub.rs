//! `playground topic-sub`: the messages whose routing key matches one of `--pattern` — the Node
//! system's planned error-handler-service (`*.error`) and audit-service (`#`). With
//! `--exchange-type direct` it is the tutorial's direct-routing receiver, where patterns are exact
//! keys.

use tokio_util::sync::CancellationToken;

use super::subscription::{self, Subscriber};
use crate::amqp::{AmqpOptions, ExchangeKind, ExchangeName, RoutingKey};

/// Settings of `topic-sub`, built from its flags.
#[derive(Debug, Clone)]
pub struct TopicSubConfig {
    /// The topic or direct exchange to bind to (declared durable if missing).
    pub exchange: ExchangeName,
    /// `Topic` or `Direct`.
    pub kind: ExchangeKind,
    /// Binding keys, checked for `kind` at start-up; at least one.
    pub patterns: Vec<RoutingKey>,
    /// Queue, name, prefetch and health settings, shared with `fanout-sub`.
    pub subscriber: Subscriber,
}

/// Subscribes until `shutdown`.
pub async fn run(
    config: TopicSubConfig,
    amqp: AmqpOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let subscription =
        config
            .subscriber
            .subscribe("topic-sub", config.exchange, config.kind, config.patterns);
    subscription::run(subscription, amqp, shutdown).await
}
