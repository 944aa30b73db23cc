//! `playground topic-sub`: the messages whose routing key matches one of `--pattern` — the Node
//! system's planned error-handler-service (`*.error`) and audit-service (`#`). With
//! `--exchange-type direct` it is the tutorial's direct-routing receiver, where patterns are exact
//! keys; with `--exchange-type headers`, a headers-exchange receiver that binds `--header`s
//! (`--match all|any`) instead of patterns.

use tokio_util::sync::CancellationToken;

use super::subscription::{self, Subscriber, Subscription};
use crate::amqp::{
    AlternateExchange, AmqpOptions, ExchangeKind, ExchangeName, HeaderMatch, RoutingKey,
};

/// Settings of `topic-sub`, built from its flags.
#[derive(Debug, Clone)]
pub struct TopicSubConfig {
    /// The topic or direct exchange to bind to (declared durable if missing).
    pub exchange: ExchangeName,
    /// `Topic`, `Direct` or `Headers`.
    pub kind: ExchangeKind,
    /// Binding keys, checked for `kind` at start-up; at least one (the empty key for headers).
    pub patterns: Vec<RoutingKey>,
    /// What a headers subscription binds with; `None` for topic and direct.
    pub header_match: Option<HeaderMatch>,
    /// The exchange's alternate exchange (`--alternate-exchange`), as every declarer says.
    pub alternate: Option<AlternateExchange>,
    /// Queue, name, prefetch and health settings, shared with `fanout-sub`.
    pub subscriber: Subscriber,
}

/// Subscribes until `shutdown`.
pub async fn run(
    config: TopicSubConfig,
    amqp: AmqpOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let subscription = Subscription {
        header_match: config.header_match,
        alternate: config.alternate,
        ..config
            .subscriber
            .subscribe("topic-sub", config.exchange, config.kind, config.patterns)
    };
    subscription::run(subscription, amqp, shutdown).await
}
