//! `fanout-sub`'s and `topic-sub`'s options.

use anyhow::Context;
use clap::{Args, ValueEnum};

use super::consume::instance_name;
use super::listen::HealthArgs;
use super::queue::QueueTypeArg;
use crate::amqp::routing::binding_pattern;
use crate::amqp::{ExchangeKind, ExchangeName, InstanceName, QueueName, QueueType, RoutingKey};
use crate::roles::body::BodyStyle;
use crate::roles::fanout_sub::FanoutSubConfig;
use crate::roles::subscription::Subscriber;
use crate::roles::topic_sub::TopicSubConfig;

/// Options every subscriber shares.
#[derive(Debug, Args)]
pub struct SubscriberArgs {
    /// Durable queue shared by this service's replicas (they compete for its messages, and
    /// messages wait in it while they are away). Without it, each process gets its own
    /// server-named, exclusive, auto-delete queue: every replica sees every message. (Its own
    /// env var, so a QUEUE_NAME meant for the work queue never binds that queue to an exchange.)
    #[arg(long, env = "SUBSCRIBER_QUEUE", value_name = "NAME")]
    pub queue: Option<QueueName>,

    /// Type of the --queue: quorum on a cluster, so it survives the loss of a node (a classic
    /// queue lives on one node). A server-named queue is always classic.
    #[arg(long, env = "SUBSCRIBER_QUEUE_TYPE", value_enum, default_value_t = QueueTypeArg::Classic)]
    pub queue_type: QueueTypeArg,

    /// Service name in every log line (e.g. logger-service) [default: the host name].
    #[arg(long, env = "SERVICE_NAME", value_name = "NAME")]
    pub name: Option<InstanceName>,

    /// Unacked messages the broker may push at once.
    #[arg(long, env = "PREFETCH", default_value_t = 10)]
    pub prefetch: u16,

    /// The health endpoints' port and address.
    #[command(flatten)]
    pub health: HealthArgs,
}

impl SubscriberArgs {
    fn into_subscriber(self, style: BodyStyle) -> anyhow::Result<Subscriber> {
        let queue_type = self.queue_type.queue_type();
        if self.queue.is_none() && queue_type != QueueType::Classic {
            anyhow::bail!(
                "--queue-type / SUBSCRIBER_QUEUE_TYPE: {} needs --queue / SUBSCRIBER_QUEUE (a \
                 server-named queue is exclusive to one connection, and only a classic queue \
                 can be)",
                queue_type.as_str()
            );
        }
        Ok(Subscriber {
            name: instance_name(self.name).context("--name / SERVICE_NAME")?,
            queue: self.queue,
            queue_type,
            prefetch: self.prefetch,
            health_listen: self.health.listen(),
            body_style: style,
        })
    }
}

/// `fanout-sub` options.
#[derive(Debug, Args)]
pub struct FanoutSubArgs {
    /// Fanout exchange to subscribe to (declared durable if missing).
    #[arg(
        long,
        env = "EXCHANGE",
        default_value = "logs-fanout",
        value_name = "NAME"
    )]
    pub exchange: ExchangeName,

    /// The options every subscriber shares.
    #[command(flatten)]
    pub subscriber: SubscriberArgs,
}

impl FanoutSubArgs {
    /// The role's settings.
    pub fn into_config(self, style: BodyStyle) -> anyhow::Result<FanoutSubConfig> {
        Ok(FanoutSubConfig {
            exchange: self.exchange,
            subscriber: self.subscriber.into_subscriber(style)?,
        })
    }
}

/// `topic-sub` options.
#[derive(Debug, Args)]
pub struct TopicSubArgs {
    /// Binding pattern; repeat for more, or comma-separate in PATTERNS. Topic: dot-separated
    /// words, '*' = exactly one word, '#' = zero or more ("*.error", "logs.#"). Direct: exact keys.
    #[arg(
        long = "pattern",
        env = "PATTERNS",
        value_delimiter = ',',
        required = true,
        value_name = "PATTERN"
    )]
    pub patterns: Vec<String>,

    /// Exchange to subscribe to [default: logs-topic, or logs-direct with --exchange-type direct].
    #[arg(long, env = "EXCHANGE", value_name = "NAME")]
    pub exchange: Option<ExchangeName>,

    /// Type of the exchange: topic (patterns) or direct (exact keys).
    #[arg(long, env = "EXCHANGE_TYPE", value_enum, default_value_t = SubscribeKindArg::Topic)]
    pub exchange_type: SubscribeKindArg,

    /// The options every subscriber shares.
    #[command(flatten)]
    pub subscriber: SubscriberArgs,
}

/// `topic-sub --exchange-type` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SubscribeKindArg {
    /// Topic exchange: patterns with '*' (one word) and '#' (zero or more words).
    Topic,
    /// Direct exchange: exact routing keys.
    Direct,
}

impl TopicSubArgs {
    /// The role's settings; every pattern is checked for the exchange type before anything is
    /// declared: a bad one is a usage error, not a binding that silently matches nothing.
    pub fn into_config(self, style: BodyStyle) -> anyhow::Result<TopicSubConfig> {
        let (kind, default_exchange) = match self.exchange_type {
            SubscribeKindArg::Topic => (ExchangeKind::Topic, "logs-topic"),
            SubscribeKindArg::Direct => (ExchangeKind::Direct, "logs-direct"),
        };
        let exchange = match self.exchange {
            Some(exchange) => exchange,
            None => ExchangeName::parse(default_exchange)?,
        };
        if self.patterns.is_empty() {
            anyhow::bail!("--pattern / PATTERNS: give at least one (e.g. --pattern \"*.error\")");
        }
        let patterns = self
            .patterns
            .iter()
            .map(|pattern| binding_pattern(kind, pattern))
            .collect::<Result<Vec<RoutingKey>, String>>()
            .map_err(anyhow::Error::msg)
            .context("--pattern / PATTERNS")?;
        Ok(TopicSubConfig {
            exchange,
            kind,
            patterns,
            subscriber: self.subscriber.into_subscriber(style)?,
        })
    }
}
