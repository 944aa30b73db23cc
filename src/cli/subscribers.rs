//! `fanout-sub`'s and `topic-sub`'s options.

use anyhow::Context;
use clap::{Args, ValueEnum};

use super::consume::instance_name;
use super::listen::HealthArgs;
use super::queue::{AlternateArgs, QueueTypeArg};
use crate::amqp::routing::binding_pattern;
use crate::amqp::{
    ExchangeKind, ExchangeName, HeaderMatch, Headers, InstanceName, MatchMode, QueueName,
    QueueType, RoutingKey,
};
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

    /// The exchange's alternate exchange, as every other declarer of it says.
    #[command(flatten)]
    pub alternate: AlternateArgs,

    /// The options every subscriber shares.
    #[command(flatten)]
    pub subscriber: SubscriberArgs,
}

impl FanoutSubArgs {
    /// The role's settings.
    pub fn into_config(self, style: BodyStyle) -> anyhow::Result<FanoutSubConfig> {
        Ok(FanoutSubConfig {
            exchange: self.exchange,
            alternate: self.alternate.into_alternate()?,
            subscriber: self.subscriber.into_subscriber(style)?,
        })
    }
}

/// `topic-sub` options.
#[derive(Debug, Args)]
pub struct TopicSubArgs {
    /// Binding pattern; repeat for more, or comma-separate in PATTERNS. Topic: dot-separated
    /// words, '*' = exactly one word, '#' = zero or more ("*.error", "logs.#"). Direct: exact keys.
    /// Required, except with --exchange-type headers (which takes --header instead).
    #[arg(
        long = "pattern",
        env = "PATTERNS",
        value_delimiter = ',',
        value_name = "PATTERN"
    )]
    pub patterns: Vec<String>,

    /// Exchange to subscribe to [default: logs-topic, logs-direct or logs-headers, by
    /// --exchange-type].
    #[arg(long, env = "EXCHANGE", value_name = "NAME")]
    pub exchange: Option<ExchangeName>,

    /// Type of the exchange: topic (patterns), direct (exact keys) or headers (--header).
    #[arg(long, env = "EXCHANGE_TYPE", value_enum, default_value_t = SubscribeKindArg::Topic)]
    pub exchange_type: SubscribeKindArg,

    /// Headers exchange only: a header the message must carry, KEY=VALUE (string values; keys
    /// not starting with "x-"; each at most 255 bytes); repeat for more, or comma-separate in
    /// HEADERS.
    #[arg(
        long = "header",
        env = "HEADERS",
        value_delimiter = ',',
        value_name = "KEY=VALUE"
    )]
    pub headers: Vec<String>,

    /// Headers exchange only: all (every --header must match) or any (one is enough)
    /// [default: all].
    #[arg(long = "match", env = "HEADERS_MATCH", value_enum, value_name = "MODE")]
    pub match_mode: Option<MatchArg>,

    /// The exchange's alternate exchange, as every other declarer of it says.
    #[command(flatten)]
    pub alternate: AlternateArgs,

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
    /// Headers exchange: --header KEY=VALUE with --match all|any, no patterns.
    Headers,
}

/// `topic-sub --match` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MatchArg {
    /// Every --header must be on the message.
    All,
    /// At least one --header must be on the message.
    Any,
}

impl TopicSubArgs {
    /// The role's settings; every pattern is checked for the exchange type before anything is
    /// declared: a bad one is a usage error, not a binding that silently matches nothing.
    pub fn into_config(self, style: BodyStyle) -> anyhow::Result<TopicSubConfig> {
        let (kind, default_exchange) = match self.exchange_type {
            SubscribeKindArg::Topic => (ExchangeKind::Topic, "logs-topic"),
            SubscribeKindArg::Direct => (ExchangeKind::Direct, "logs-direct"),
            SubscribeKindArg::Headers => (ExchangeKind::Headers, "logs-headers"),
        };
        let exchange = match self.exchange {
            Some(exchange) => exchange,
            None => ExchangeName::parse(default_exchange)?,
        };
        let alternate = self.alternate.into_alternate()?;
        let subscriber = self.subscriber.into_subscriber(style)?;
        if kind == ExchangeKind::Headers {
            let header_match = header_match(self.patterns, self.headers, self.match_mode)?;
            return Ok(TopicSubConfig {
                exchange,
                kind,
                patterns: vec![RoutingKey::empty()],
                header_match: Some(header_match),
                alternate,
                subscriber,
            });
        }
        if !self.headers.is_empty() || self.match_mode.is_some() {
            anyhow::bail!(
                "--header / HEADERS and --match / HEADERS_MATCH need --exchange-type headers \
                 (a {} exchange routes by the routing key, not by headers)",
                kind.as_str()
            );
        }
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
            header_match: None,
            alternate,
            subscriber,
        })
    }
}

/// A headers subscription's binding: at least one `KEY=VALUE`, no patterns (a headers exchange
/// ignores the routing key, so a pattern would silently do nothing).
fn header_match(
    patterns: Vec<String>,
    headers: Vec<String>,
    mode: Option<MatchArg>,
) -> anyhow::Result<HeaderMatch> {
    if !patterns.is_empty() {
        anyhow::bail!(
            "--pattern / PATTERNS: a headers exchange ignores routing keys; bind with --header \
             KEY=VALUE (and --match all|any) instead"
        );
    }
    if headers.is_empty() {
        anyhow::bail!(
            "--header / HEADERS: --exchange-type headers needs at least one (e.g. --header \
             level=error)"
        );
    }
    let pairs = headers
        .iter()
        .map(|pair| Headers::parse_pair(pair))
        .collect::<Result<Vec<_>, String>>()
        .and_then(Headers::from_pairs)
        .map_err(anyhow::Error::msg)
        .context("--header / HEADERS")?;
    Ok(HeaderMatch {
        mode: match mode {
            Some(MatchArg::Any) => MatchMode::Any,
            Some(MatchArg::All) | None => MatchMode::All,
        },
        headers: pairs,
    })
}
