//! `playground topic-sub`: the messages whose routing key matches one of `--pattern` — the Node
//! system's planned error-handler-service (`*.error`) and audit-service (`#`). With
//! `--exchange-type direct` it is the tutorial's direct-routing receiver, where patterns are exact
//! keys.

use tokio_util::sync::CancellationToken;

use super::subscription::{self, Subscription};
use crate::amqp::routing::validate_binding_pattern;
use crate::amqp::{AmqpOptions, ExchangeKind};

/// Settings of `topic-sub`, built from its flags.
#[derive(Debug, Clone)]
pub struct TopicSubConfig {
    pub exchange: String,
    /// `Topic` or `Direct`.
    pub kind: ExchangeKind,
    /// Validated binding keys, at least one.
    pub patterns: Vec<String>,
    /// Durable queue shared by the replicas; `None`: a private server-named queue per replica.
    pub queue: Option<String>,
    pub name: String,
    pub prefetch: u16,
    pub health_listen: Option<std::net::SocketAddr>,
    pub pretty_bodies: bool,
}

impl TopicSubConfig {
    /// Checks every pattern before anything is declared: a bad one is a usage error (exit 2),
    /// not a binding that silently matches nothing.
    pub fn validate(&self) -> Result<(), String> {
        if self.patterns.is_empty() {
            return Err("give at least one --pattern (e.g. --pattern \"*.error\")".to_owned());
        }
        for pattern in &self.patterns {
            validate_binding_pattern(self.kind, pattern)?;
        }
        Ok(())
    }
}

/// Subscribes until `shutdown`.
pub async fn run(
    config: TopicSubConfig,
    amqp: AmqpOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let subscription = Subscription {
        role: "topic-sub",
        name: config.name,
        exchange: config.exchange,
        kind: config.kind,
        patterns: config.patterns,
        queue: config.queue,
        prefetch: config.prefetch,
        health_listen: config.health_listen,
        pretty_bodies: config.pretty_bodies,
    };
    subscription::run(subscription, amqp, shutdown).await
}
