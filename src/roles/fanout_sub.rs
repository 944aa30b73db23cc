//! `playground fanout-sub`: every message published to a fanout exchange, whatever its key —
//! the Node system's planned logger-service (`--queue logger-service --name logger-service`).

use tokio_util::sync::CancellationToken;

use super::subscription::{self, Subscriber, Subscription};
use crate::amqp::{AlternateExchange, AmqpOptions, ExchangeKind, ExchangeName, RoutingKey};

/// Settings of `fanout-sub`, built from its flags.
#[derive(Debug, Clone)]
pub struct FanoutSubConfig {
    /// The fanout exchange to bind to (declared durable if missing).
    pub exchange: ExchangeName,
    /// The exchange's alternate exchange (`--alternate-exchange`), as every declarer says.
    pub alternate: Option<AlternateExchange>,
    /// Queue, name, prefetch and health settings, shared with `topic-sub`.
    pub subscriber: Subscriber,
}

/// Subscribes until `shutdown`.
pub async fn run(
    config: FanoutSubConfig,
    amqp: AmqpOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let subscription = Subscription {
        alternate: config.alternate,
        ..config.subscriber.subscribe(
            "fanout-sub",
            config.exchange,
            ExchangeKind::Fanout,
            // A fanout exchange ignores the key; one binding is enough.
            vec![RoutingKey::empty()],
        )
    };
    subscription::run(subscription, amqp, shutdown).await
}
