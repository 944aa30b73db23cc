//! The work queue's name and shape, the four pub/sub exchanges and their alternate exchange:
//! options shared by every role that declares them, so they are declared identically everywhere
//! (RabbitMQ refuses a second declaration with other arguments).

use anyhow::Context;
use clap::builder::BoolishValueParser;
use clap::{Args, ValueEnum};

use super::values;
use crate::amqp::{
    AlternateExchange, DeadLetter, ExchangeName, LabExchanges, QueueName, QueueType, RetryDelays,
    RetryLadder, WorkQueue,
};

/// Deliveries a quorum queue allows a message before giving up on it.
pub const DEFAULT_DELIVERY_LIMIT: u32 = 5;

/// The work queue's name and shape. Every role that touches the queue must declare it with the
/// same shape, or RabbitMQ refuses the second declaration: set these once per deployment (env).
#[derive(Debug, Args)]
pub struct QueueArgs {
    /// Durable work queue (declared if missing).
    #[arg(
        long,
        env = "QUEUE_NAME",
        default_value = "hello-world-queue",
        value_name = "NAME"
    )]
    pub queue: QueueName,

    /// Queue type: classic (what the Node services declared) or quorum (replicated, counts
    /// deliveries; RabbitMQ's recommendation for work queues).
    #[arg(long, env = "QUEUE_TYPE", value_enum, default_value_t = QueueTypeArg::Classic)]
    pub queue_type: QueueTypeArg,

    /// Give the queue a dead-letter exchange (<queue>.dlx) and queue, so rejected messages are
    /// kept somewhere visible instead of dropped.
    #[arg(long, env = "DEAD_LETTER", value_parser = BoolishValueParser::new())]
    pub dead_letter: bool,

    /// Name of the dead-letter queue [default: <queue>.dead-letter]; implies --dead-letter.
    #[arg(long, env = "DEAD_LETTER_QUEUE", value_name = "NAME")]
    pub dead_letter_queue: Option<QueueName>,

    /// Quorum queues only: deliveries after which a message is dead-lettered (or dropped without
    /// --dead-letter) [default: 5].
    #[arg(long, env = "DELIVERY_LIMIT", value_name = "N", value_parser = values::at_least_one_u32)]
    pub delivery_limit: Option<u32>,

    /// Retry a failed message after these delays (e.g. 1s,10s,1m: at most 10), each in its own
    /// delay queue <queue>.retry.<delay>, then park it in the dead-letter queue (needs
    /// --dead-letter). Part of the queue's shape: give every role of the queue the same list.
    #[arg(long, env = "RETRY_DELAYS", value_name = "DELAYS", value_parser = values::retry_delays)]
    pub retry_delays: Option<RetryDelays>,
}

/// `--queue-type` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QueueTypeArg {
    /// Plain durable classic queue.
    Classic,
    /// Quorum queue (replicated, with a delivery limit).
    Quorum,
}

impl QueueTypeArg {
    /// The queue type it names.
    pub fn queue_type(self) -> QueueType {
        match self {
            QueueTypeArg::Classic => QueueType::Classic,
            QueueTypeArg::Quorum => QueueType::Quorum,
        }
    }
}

impl QueueArgs {
    /// The work queue, its dead-letter names derived and checked.
    pub fn into_work_queue(self) -> anyhow::Result<WorkQueue> {
        let queue_type = self.queue_type.queue_type();
        let delivery_limit = match queue_type {
            QueueType::Quorum => Some(self.delivery_limit.unwrap_or(DEFAULT_DELIVERY_LIMIT)),
            QueueType::Classic => self.delivery_limit,
        };
        let dead_letter = match (self.dead_letter, self.dead_letter_queue) {
            (false, None) => None,
            (_, queue) => Some(
                DeadLetter::for_queue(&self.queue, queue)
                    .map_err(anyhow::Error::msg)
                    .context("--dead-letter-queue / DEAD_LETTER_QUEUE")?,
            ),
        };
        let retry = match &self.retry_delays {
            Some(delays) => Some(
                RetryLadder::for_queue(&self.queue, delays)
                    .map_err(anyhow::Error::msg)
                    .context("--retry-delays / RETRY_DELAYS")?,
            ),
            None => None,
        };
        let work_queue = WorkQueue {
            name: self.queue,
            queue_type,
            dead_letter,
            delivery_limit,
            retry,
        };
        work_queue.validate().map_err(anyhow::Error::msg)?;
        Ok(work_queue)
    }
}

/// The four exchanges of the pub/sub lessons, declared durable by the roles that publish.
#[derive(Debug, Args)]
pub struct ExchangeArgs {
    /// Topic exchange ("exchange":"topic" in POST /publish, --exchange topic in send).
    #[arg(
        long,
        env = "TOPIC_EXCHANGE",
        default_value = "logs-topic",
        value_name = "NAME"
    )]
    pub topic_exchange: ExchangeName,

    /// Direct exchange.
    #[arg(
        long,
        env = "DIRECT_EXCHANGE",
        default_value = "logs-direct",
        value_name = "NAME"
    )]
    pub direct_exchange: ExchangeName,

    /// Fanout exchange.
    #[arg(
        long,
        env = "FANOUT_EXCHANGE",
        default_value = "logs-fanout",
        value_name = "NAME"
    )]
    pub fanout_exchange: ExchangeName,

    /// Headers exchange ("exchange":"headers" in POST /publish, --exchange headers in send).
    #[arg(
        long,
        env = "HEADERS_EXCHANGE",
        default_value = "logs-headers",
        value_name = "NAME"
    )]
    pub headers_exchange: ExchangeName,

    /// Where the exchanges send what no binding matches.
    #[command(flatten)]
    pub alternate: AlternateArgs,
}

impl ExchangeArgs {
    /// The four names, which must differ (one name cannot be two types of exchange), and the
    /// alternate exchange, which must be none of them.
    pub fn into_exchanges(self) -> anyhow::Result<LabExchanges> {
        let names = [
            &self.topic_exchange,
            &self.direct_exchange,
            &self.fanout_exchange,
            &self.headers_exchange,
        ];
        let distinct: std::collections::BTreeSet<_> = names.iter().collect();
        if distinct.len() < names.len() {
            anyhow::bail!(
                "--topic-exchange, --direct-exchange, --fanout-exchange and --headers-exchange \
                 must be four different names (an exchange has one type): got {:?}",
                names.map(ExchangeName::as_str)
            );
        }
        let alternate = self.alternate.into_alternate()?;
        if let Some(alternate) = &alternate {
            if names.contains(&&alternate.exchange) {
                anyhow::bail!(
                    "--alternate-exchange / ALTERNATE_EXCHANGE: {:?} is one of the lab's own \
                     exchanges; name a separate (fanout) exchange",
                    alternate.exchange.as_str()
                );
            }
        }
        Ok(LabExchanges {
            topic: self.topic_exchange,
            direct: self.direct_exchange,
            fanout: self.fanout_exchange,
            headers: self.headers_exchange,
            alternate,
        })
    }
}

/// The alternate exchange: every role that declares the lab's exchanges must give the same one,
/// or RabbitMQ refuses the second declaration (406 inequivalent arg 'alternate-exchange').
#[derive(Debug, Args)]
pub struct AlternateArgs {
    /// Give the exchanges an alternate exchange (declared fanout, durable, with a durable queue
    /// bound to it): messages no binding matches land in that queue instead of vanishing. Every
    /// role declaring an exchange must agree (set it once per deployment, env).
    #[arg(long, env = "ALTERNATE_EXCHANGE", value_name = "NAME")]
    pub alternate_exchange: Option<ExchangeName>,

    /// The queue bound to the alternate exchange [default: <alternate-exchange>.unrouted].
    #[arg(long, env = "UNROUTED_QUEUE", value_name = "NAME")]
    pub unrouted_queue: Option<QueueName>,
}

impl AlternateArgs {
    /// `None` without --alternate-exchange (then --unrouted-queue is a mistake).
    pub fn into_alternate(self) -> anyhow::Result<Option<AlternateExchange>> {
        match (self.alternate_exchange, self.unrouted_queue) {
            (None, None) => Ok(None),
            (None, Some(_)) => anyhow::bail!(
                "--unrouted-queue / UNROUTED_QUEUE needs --alternate-exchange / \
                 ALTERNATE_EXCHANGE (the queue is bound to it)"
            ),
            (Some(exchange), queue) => AlternateExchange::new(exchange, queue)
                .map(Some)
                .map_err(anyhow::Error::msg)
                .context("--alternate-exchange / ALTERNATE_EXCHANGE"),
        }
    }
}
