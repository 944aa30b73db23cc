//! `send`'s options.

use std::time::Duration;

use clap::{Args, ValueEnum};

use super::queue::{ExchangeArgs, QueueArgs};
use super::values;
use anyhow::Context;

use crate::amqp::{ExchangeKind, Headers, InstanceName, RoutingKey};
use crate::roles::send::{SendConfig, SendTarget};

/// `send` options.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The work queue's name and shape (published to without --exchange).
    #[command(flatten)]
    pub queue: QueueArgs,

    /// Publish to this exchange (its name from --topic-exchange etc.) instead of the queue.
    #[arg(
        long,
        value_enum,
        value_name = "TYPE",
        requires_if("topic", "routing_key"),
        requires_if("direct", "routing_key")
    )]
    pub exchange: Option<ExchangeKindArg>,

    /// Routing key for --exchange (e.g. logs.error); ignored by fanout and headers.
    #[arg(long, value_name = "KEY", requires = "exchange")]
    pub routing_key: Option<RoutingKey>,

    /// A message header KEY=VALUE for --exchange (what a headers exchange routes on; string
    /// values, keys not starting with "x-"); repeat for more.
    #[arg(long = "header", value_name = "KEY=VALUE", requires = "exchange")]
    pub headers: Vec<String>,

    /// The four exchanges' names, for --exchange.
    #[command(flatten)]
    pub exchanges: ExchangeArgs,

    /// How many messages to send; each is numbered ("Task 7 of 30") and carries `seq`.
    #[arg(long, short = 'n', default_value = "1", value_name = "N",
          value_parser = values::at_least_one)]
    pub count: u64,

    /// Print one summary line instead of a line per message.
    #[arg(long, short = 'q')]
    pub quiet: bool,

    /// Service name stamped into every message (also as its AMQP app_id).
    #[arg(
        long,
        env = "SERVICE_NAME",
        default_value = "playground-send",
        value_name = "NAME"
    )]
    pub service_name: InstanceName,

    /// How long each message waits for the broker's confirm.
    #[arg(long, env = "PUBLISH_TIMEOUT", default_value = "5s",
          value_parser = values::positive_duration, value_name = "DURATION")]
    pub publish_timeout: Duration,

    /// How long to wait for the broker before giving up.
    #[arg(long, default_value = "30s", value_parser = values::duration, value_name = "DURATION")]
    pub connect_wait: Duration,

    /// The message text (words are joined with spaces); dots make `consume --work-per-dot` work
    /// longer.
    #[arg(default_value = "Hello World!", value_name = "MESSAGE")]
    pub message: Vec<String>,
}

/// `send --exchange` values: which of the three exchanges to publish to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExchangeKindArg {
    /// The topic exchange (routing by pattern).
    Topic,
    /// The direct exchange (routing by exact key).
    Direct,
    /// The fanout exchange (a copy to every bound queue; the key is ignored).
    Fanout,
    /// The headers exchange (routing by --header; the key is ignored).
    Headers,
}

impl ExchangeKindArg {
    fn kind(self) -> ExchangeKind {
        match self {
            ExchangeKindArg::Topic => ExchangeKind::Topic,
            ExchangeKindArg::Direct => ExchangeKind::Direct,
            ExchangeKindArg::Fanout => ExchangeKind::Fanout,
            ExchangeKindArg::Headers => ExchangeKind::Headers,
        }
    }
}

impl SendArgs {
    /// The role's settings.
    pub fn into_config(self) -> anyhow::Result<SendConfig> {
        let target = match self.exchange {
            None => SendTarget::Queue(self.queue.into_work_queue()?),
            Some(kind) => SendTarget::Exchange {
                exchanges: self.exchanges.into_exchanges()?,
                kind: kind.kind(),
                routing_key: self.routing_key.unwrap_or_else(RoutingKey::empty),
                headers: self
                    .headers
                    .iter()
                    .map(|pair| Headers::parse_pair(pair))
                    .collect::<Result<Vec<_>, String>>()
                    .and_then(Headers::from_pairs)
                    .map_err(anyhow::Error::msg)
                    .context("--header")?,
            },
        };
        Ok(SendConfig {
            target,
            count: self.count,
            quiet: self.quiet,
            service_name: self.service_name,
            publish_timeout: self.publish_timeout,
            connect_wait: self.connect_wait,
            text: self.message.join(" "),
        })
    }
}
