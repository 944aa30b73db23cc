//! `playground fanout-sub`: every message published to a fanout exchange, whatever its key —
//! the Node system's planned logger-service (`--queue logger-service --name logger-service`).

use tokio_util::sync::CancellationToken;

use super::subscription::{self, Subscription};
use crate::amqp::{AmqpOptions, ExchangeKind};

/// Settings of `fanout-sub`, built from its flags.
#[derive(Debug, Clone)]
pub struct FanoutSubConfig {
    pub exchange: String,
    /// Durable queue shared by the replicas; `None`: a private server-named queue per replica.
    pub queue: Option<String>,
    pub name: String,
    pub prefetch: u16,
    pub health_listen: Option<std::net::SocketAddr>,
    pub pretty_bodies: bool,
}

/// Subscribes until `shutdown`.
pub async fn run(
    config: FanoutSubConfig,
    amqp: AmqpOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let subscription = Subscription {
        role: "fanout-sub",
        name: config.name,
        exchange: config.exchange,
        kind: ExchangeKind::Fanout,
        // A fanout exchange ignores the key; one binding is enough.
        patterns: vec![String::new()],
        queue: config.queue,
        prefetch: config.prefetch,
        health_listen: config.health_listen,
        pretty_bodies: config.pretty_bodies,
    };
    subscription::run(subscription, amqp, shutdown).await
}
