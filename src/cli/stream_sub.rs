//! `stream-sub`'s options.

use anyhow::Context;
use clap::{Args, ValueEnum};

use super::consume::instance_name;
use super::listen::HealthArgs;
use crate::amqp::routing::binding_pattern;
use crate::amqp::stream::max_length_bytes;
use crate::amqp::{
    ExchangeKind, ExchangeName, InstanceName, MaxAge, QueueName, RoutingKey, StreamOffset,
    StreamRetention,
};
use crate::roles::body::BodyStyle;
use crate::roles::stream_sub::{StreamBinding, StreamSubConfig};

/// `stream-sub` options.
#[derive(Debug, Args)]
pub struct StreamSubArgs {
    /// The stream to read; declared (durable, x-queue-type: stream) if missing. A classic or
    /// quorum queue of that name is refused (exit 2).
    #[arg(long, env = "STREAM", value_name = "NAME")]
    pub stream: QueueName,

    /// Where a fresh process starts: first (everything kept), last (the last chunk), next (only
    /// new messages), an offset (1234), an RFC 3339 time (2024-05-01T12:00:00Z) or a duration
    /// ago (10m). After a reconnect it resumes after the last message it handled.
    #[arg(
        long,
        env = "STREAM_OFFSET",
        default_value = "next",
        value_name = "OFFSET"
    )]
    pub offset: StreamOffset,

    /// How long the stream keeps messages (x-max-age: a number and one of Y M D h m s, e.g. 7D).
    /// Part of the declaration: every reader of the stream must give the same.
    #[arg(long, env = "STREAM_MAX_AGE", value_name = "AGE")]
    pub max_age: Option<MaxAge>,

    /// The stream's size limit (x-max-length-bytes), e.g. 20GB; whole segments beyond it are
    /// removed. Part of the declaration, like --max-age.
    #[arg(long, env = "STREAM_MAX_LENGTH_BYTES", value_name = "BYTES",
          value_parser = max_length_bytes)]
    pub max_length_bytes: Option<i64>,

    /// Bind the stream to this exchange (declared durable if missing), so it keeps what is
    /// published there (e.g. the lab's topic exchange, logs-topic).
    #[arg(long, env = "STREAM_BIND_EXCHANGE", value_name = "NAME")]
    pub bind_exchange: Option<ExchangeName>,

    /// Type of --bind-exchange.
    #[arg(long, env = "STREAM_BIND_EXCHANGE_TYPE", value_enum, default_value_t = BindKindArg::Topic)]
    pub bind_exchange_type: BindKindArg,

    /// Binding pattern for --bind-exchange; repeat for more, or comma-separate in
    /// STREAM_PATTERNS [default for a topic exchange: "#", every key].
    #[arg(
        long = "pattern",
        env = "STREAM_PATTERNS",
        value_delimiter = ',',
        value_name = "PATTERN"
    )]
    pub patterns: Vec<String>,

    /// Service name in every log line (e.g. audit-service) [default: the host name].
    #[arg(long, env = "SERVICE_NAME", value_name = "NAME")]
    pub name: Option<InstanceName>,

    /// Unacked messages the broker may push at once; at least 1 (RabbitMQ delivers nothing from
    /// a stream without one).
    #[arg(long, env = "PREFETCH", default_value_t = 100, value_parser = stream_prefetch)]
    pub prefetch: u16,

    /// The health endpoints' port and address.
    #[command(flatten)]
    pub health: HealthArgs,
}

/// `stream-sub --bind-exchange-type` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BindKindArg {
    /// Topic exchange: patterns with '*' (one word) and '#' (zero or more words).
    Topic,
    /// Direct exchange: exact routing keys.
    Direct,
    /// Fanout exchange: every message (no pattern).
    Fanout,
}

/// A prefetch of 1 to 65535: a stream consumer without one is refused by the broker.
fn stream_prefetch(value: &str) -> Result<u16, String> {
    match value.parse::<u16>() {
        Ok(0) => Err(
            "a stream needs a prefetch of at least 1 (RabbitMQ refuses to deliver \
                       from a stream without one)"
                .to_owned(),
        ),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{value:?} is not a number from 1 to 65535")),
    }
}

impl StreamSubArgs {
    /// The role's settings; patterns are checked for the exchange type before anything is
    /// declared.
    pub fn into_config(self, style: BodyStyle) -> anyhow::Result<StreamSubConfig> {
        let binding = match self.bind_exchange {
            None if !self.patterns.is_empty() => anyhow::bail!(
                "--pattern / STREAM_PATTERNS needs --bind-exchange / STREAM_BIND_EXCHANGE (the \
                 exchange whose messages the stream keeps)"
            ),
            None => None,
            Some(exchange) => Some(binding(exchange, self.bind_exchange_type, self.patterns)?),
        };
        Ok(StreamSubConfig {
            name: instance_name(self.name).context("--name / SERVICE_NAME")?,
            stream: self.stream,
            offset: self.offset,
            retention: StreamRetention {
                max_age: self.max_age,
                max_length_bytes: self.max_length_bytes,
            },
            binding,
            prefetch: self.prefetch,
            health_listen: self.health.listen(),
            body_style: style,
        })
    }
}

/// The binding of the stream to `exchange`, its patterns checked for `kind`.
fn binding(
    exchange: ExchangeName,
    kind: BindKindArg,
    patterns: Vec<String>,
) -> anyhow::Result<StreamBinding> {
    let kind = match kind {
        BindKindArg::Topic => ExchangeKind::Topic,
        BindKindArg::Direct => ExchangeKind::Direct,
        BindKindArg::Fanout => ExchangeKind::Fanout,
    };
    let patterns = match (kind, patterns.is_empty()) {
        (ExchangeKind::Fanout, true) => vec![RoutingKey::empty()],
        (ExchangeKind::Fanout, false) => anyhow::bail!(
            "--pattern / STREAM_PATTERNS: a fanout exchange ignores keys; leave the patterns out"
        ),
        (ExchangeKind::Topic, true) => {
            vec![binding_pattern(kind, "#").map_err(anyhow::Error::msg)?]
        }
        (ExchangeKind::Direct, true) => anyhow::bail!(
            "--pattern / STREAM_PATTERNS: give at least one key for a direct exchange"
        ),
        // --bind-exchange-type offers no headers: a stream keeps everything of one exchange.
        (ExchangeKind::Headers, _) => {
            anyhow::bail!("--bind-exchange-type: a stream cannot bind to a headers exchange")
        }
        (_, false) => patterns
            .iter()
            .map(|pattern| binding_pattern(kind, pattern))
            .collect::<Result<Vec<RoutingKey>, String>>()
            .map_err(anyhow::Error::msg)
            .context("--pattern / STREAM_PATTERNS")?,
    };
    Ok(StreamBinding {
        exchange,
        kind,
        patterns,
    })
}
