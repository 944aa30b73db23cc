//! The command line: every option is a flag with an environment variable (flag wins over env,
//! env over default), so the same image is configured by `args:` or by `env:` in Kubernetes.
//! The `///` comments below are the `--help` text.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::Context;
use clap::builder::BoolishValueParser;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::amqp::routing::{validate_exchange_name, validate_routing_key};
use crate::amqp::{
    AmqpOptions, AmqpSettings, DeadLetter, ExchangeKind, LabExchanges, QueueType, SnapshotSettings,
    WorkQueue,
};
use crate::roles::consume::{ConsumeConfig, WorkerBehaviour};
use crate::roles::fanout_sub::FanoutSubConfig;
use crate::roles::perf::PerfConfig;
use crate::roles::produce_server::ProduceServerConfig;
use crate::roles::send::{SendConfig, SendTarget};
use crate::roles::topic_sub::TopicSubConfig;
use crate::roles::Role;
use crate::telemetry::LogFormat;

/// The default broker: a local RabbitMQ with the guest user on the default vhost.
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// A hands-on RabbitMQ lab: one binary, every messaging role.
#[derive(Debug, Parser)]
#[command(name = "playground", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every role shares.
#[derive(Debug, Args)]
#[command(next_help_heading = "Broker connection and logging (every role)")]
pub struct CommonArgs {
    /// Broker URL: amqp://USER:PASS@HOST:PORT/VHOST or amqps://… (vhost "/" is written %2f).
    /// Credentials are percent-decoded.
    #[arg(long, env = "RABBITMQ_URL", default_value = DEFAULT_AMQP_URL, hide_env_values = true,
          value_name = "URL", global = true)]
    pub amqp_url: String,

    /// User name; replaces the URL's (e.g. straight from a Kubernetes Secret).
    #[arg(long, env = "RABBITMQ_USER", value_name = "USER", global = true)]
    pub amqp_user: Option<String>,

    /// Password; replaces the URL's, no URL-encoding needed. Prefer the env var: flags show in `ps`.
    #[arg(
        long,
        env = "RABBITMQ_PASS",
        hide_env_values = true,
        value_name = "PASSWORD",
        global = true
    )]
    pub amqp_password: Option<String>,

    /// Log line format; RUST_LOG filters (e.g. RUST_LOG=debug).
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormatArg::Pretty, global = true)]
    pub log_format: LogFormatArg,

    /// Shortest wait before reconnecting to the broker (exponential backoff with jitter from here).
    #[arg(long, env = "RECONNECT_MIN", default_value = "200ms", value_parser = parse_duration,
          value_name = "DURATION", global = true)]
    pub reconnect_min: Duration,

    /// Longest wait between reconnect attempts.
    #[arg(long, env = "RECONNECT_MAX", default_value = "10s", value_parser = parse_duration,
          value_name = "DURATION", global = true)]
    pub reconnect_max: Duration,

    /// How often to publish a snapshot for the lab console (e.g. 1s), or "off".
    #[arg(long, env = "TELEMETRY", default_value = "1s", value_parser = parse_telemetry,
          value_name = "DURATION|off", global = true)]
    pub telemetry: TelemetryInterval,

    /// Fanout exchange the snapshots go to (non-durable; produce-server's console reads it).
    #[arg(long, env = "TELEMETRY_EXCHANGE", default_value = "playground.telemetry",
          value_parser = parse_exchange_name, value_name = "NAME", global = true)]
    pub telemetry_exchange: String,

    /// Validate the arguments and environment, print the resolved settings as JSON (password
    /// hidden) and exit without connecting: 0 if valid, 2 if not. For CI checks of manifests.
    #[arg(long, global = true)]
    pub check_config: bool,

    /// AMQP heartbeat: a silent broker is given up after about twice this.
    #[arg(long, env = "AMQP_HEARTBEAT", default_value = "10s", value_parser = parse_heartbeat,
          value_name = "DURATION", global = true)]
    pub heartbeat: Duration,
}

/// `--log-format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormatArg {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// The roles.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// HTTP service: POST /send-message and /send-burst publish confirmed messages to the queue,
    /// POST /publish to an exchange (replaces the Node hello-world service).
    ProduceServer(ProduceServerArgs),
    /// Worker: logs and acks every message of the queue (replaces the Node message-consumer);
    /// can simulate work, failures and crashes.
    Consume(ConsumeArgs),
    /// Publishes MESSAGE to the queue over AMQP, COUNT times, each confirmed (the tutorial's
    /// new_task): `playground send --count 30 "Task..."`.
    Send(SendArgs),
    /// Subscriber: every message of a fanout exchange (the logger-service).
    FanoutSub(FanoutSubArgs),
    /// Subscriber: messages whose routing key matches --pattern on a topic (or direct) exchange
    /// (the error-handler and audit services).
    TopicSub(TopicSubArgs),
    /// Load tool in the spirit of RabbitMQ's PerfTest: producers and consumers over AMQP (or
    /// --http against produce-server), a line per second and a summary.
    Perf(PerfArgs),
}

/// `perf` options.
#[derive(Debug, Args)]
pub struct PerfArgs {
    /// Producers, each on its own connection.
    #[arg(long, default_value_t = 1)]
    pub producers: usize,

    /// Consumers, each on its own connection.
    #[arg(long, default_value_t = 1)]
    pub consumers: usize,

    /// Messages per second per producer (0: as fast as possible).
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,

    /// Publisher confirms: at most this many unconfirmed messages in flight per producer (0: no
    /// confirms).
    #[arg(long, default_value_t = 0, value_name = "W")]
    pub confirm: usize,

    /// Message size in bytes (at least 8: the send time is embedded for the latency).
    #[arg(long, default_value_t = 100, value_name = "BYTES",
          value_parser = clap::value_parser!(u64).range(8..=16 * 1024 * 1024))]
    pub size: u64,

    /// Consumer prefetch (unacked messages the broker may push).
    #[arg(long, default_value_t = 100)]
    pub prefetch: u16,

    /// Queue to use [default: a fresh queue, deleted at the end].
    #[arg(long, value_parser = parse_queue_name, value_name = "NAME")]
    pub queue: Option<String>,

    /// Queue type.
    #[arg(long, value_enum, default_value_t = QueueTypeArg::Classic)]
    pub queue_type: QueueTypeArg,

    /// Persistent messages (written to disk by a durable queue).
    #[arg(long)]
    pub persistent: bool,

    /// Stop after this long (e.g. 30s).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub time: Option<Duration>,

    /// Stop after each producer sent N messages (with --producers 0: after consumers got N).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,

    /// Consumer processing time per message.
    #[arg(long, default_value = "0s", value_parser = parse_duration, value_name = "DURATION")]
    pub work: Duration,

    /// Print the summary as one JSON object (for scripts).
    #[arg(long)]
    pub json: bool,

    /// Drive produce-server's POST /send-message at this URL (e.g. http://127.0.0.1:3000)
    /// instead of publishing over AMQP.
    #[arg(long, value_name = "URL")]
    pub http: Option<String>,

    /// Concurrent keep-alive HTTP connections for --http.
    #[arg(long, default_value_t = 1, value_name = "C")]
    pub concurrency: usize,
}

/// The three exchanges of the pub/sub lessons, declared durable by the roles that publish.
#[derive(Debug, Args)]
pub struct ExchangeArgs {
    /// Topic exchange ("exchange":"topic" in POST /publish, --exchange topic in send).
    #[arg(long, env = "TOPIC_EXCHANGE", default_value = "logs-topic", value_parser = parse_exchange_name)]
    pub topic_exchange: String,

    /// Direct exchange.
    #[arg(long, env = "DIRECT_EXCHANGE", default_value = "logs-direct", value_parser = parse_exchange_name)]
    pub direct_exchange: String,

    /// Fanout exchange.
    #[arg(long, env = "FANOUT_EXCHANGE", default_value = "logs-fanout", value_parser = parse_exchange_name)]
    pub fanout_exchange: String,
}

impl ExchangeArgs {
    /// The three names, which must differ: one name cannot be three types of exchange.
    fn into_exchanges(self) -> anyhow::Result<LabExchanges> {
        let names = [
            &self.topic_exchange,
            &self.direct_exchange,
            &self.fanout_exchange,
        ];
        if names[0] == names[1] || names[0] == names[2] || names[1] == names[2] {
            anyhow::bail!(
                "--topic-exchange, --direct-exchange and --fanout-exchange must be three \
                 different names (an exchange has one type): got {:?}, {:?}, {:?}",
                names[0],
                names[1],
                names[2]
            );
        }
        Ok(LabExchanges {
            topic: self.topic_exchange,
            direct: self.direct_exchange,
            fanout: self.fanout_exchange,
        })
    }
}

/// Options every subscriber shares.
#[derive(Debug, Args)]
pub struct SubscriberArgs {
    /// Durable queue shared by this service's replicas (they compete for its messages, and
    /// messages wait in it while they are away). Without it, each process gets its own
    /// server-named, exclusive, auto-delete queue: every replica sees every message. (Its own
    /// env var, so a QUEUE_NAME meant for the work queue never binds that queue to an exchange.)
    #[arg(long, env = "SUBSCRIBER_QUEUE", value_parser = parse_queue_name, value_name = "NAME")]
    pub queue: Option<String>,

    /// Service name in every log line (e.g. logger-service) [default: the host name].
    #[arg(long, env = "SERVICE_NAME", value_name = "NAME")]
    pub name: Option<String>,

    /// Unacked messages the broker may push at once.
    #[arg(long, env = "PREFETCH", default_value_t = 10)]
    pub prefetch: u16,

    #[command(flatten)]
    pub health: HealthArgs,
}

/// `fanout-sub` options.
#[derive(Debug, Args)]
pub struct FanoutSubArgs {
    /// Fanout exchange to subscribe to (declared durable if missing).
    #[arg(long, env = "EXCHANGE", default_value = "logs-fanout", value_parser = parse_exchange_name)]
    pub exchange: String,

    #[command(flatten)]
    pub subscriber: SubscriberArgs,
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
    #[arg(long, env = "EXCHANGE", value_parser = parse_exchange_name)]
    pub exchange: Option<String>,

    /// Type of the exchange: topic (patterns) or direct (exact keys).
    #[arg(long, env = "EXCHANGE_TYPE", value_enum, default_value_t = SubscribeKindArg::Topic)]
    pub exchange_type: SubscribeKindArg,

    #[command(flatten)]
    pub subscriber: SubscriberArgs,
}

/// `topic-sub --exchange-type` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SubscribeKindArg {
    Topic,
    Direct,
}

/// `send --exchange` values: which of the three exchanges to publish to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExchangeKindArg {
    Topic,
    Direct,
    Fanout,
}

/// The work queue's name and shape. Every role that touches the queue must declare it with the
/// same shape, or RabbitMQ refuses the second declaration: set these once per deployment (env).
#[derive(Debug, Args)]
pub struct QueueArgs {
    /// Durable work queue (declared if missing).
    #[arg(long, env = "QUEUE_NAME", default_value = "hello-world-queue", value_parser = parse_queue_name)]
    pub queue: String,

    /// Queue type: classic (what the Node services declared) or quorum (replicated, counts
    /// deliveries; RabbitMQ's recommendation for work queues).
    #[arg(long, env = "QUEUE_TYPE", value_enum, default_value_t = QueueTypeArg::Classic)]
    pub queue_type: QueueTypeArg,

    /// Give the queue a dead-letter exchange (<queue>.dlx) and queue, so rejected messages are
    /// kept somewhere visible instead of dropped.
    #[arg(long, env = "DEAD_LETTER", value_parser = BoolishValueParser::new())]
    pub dead_letter: bool,

    /// Name of the dead-letter queue [default: <queue>.dead-letter]; implies --dead-letter.
    #[arg(long, env = "DEAD_LETTER_QUEUE", value_parser = parse_queue_name, value_name = "NAME")]
    pub dead_letter_queue: Option<String>,

    /// Quorum queues only: deliveries after which a message is dead-lettered (or dropped without
    /// --dead-letter) [default: 5].
    #[arg(long, env = "DELIVERY_LIMIT", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub delivery_limit: Option<u32>,
}

/// `--queue-type` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QueueTypeArg {
    /// Plain durable classic queue.
    Classic,
    /// Quorum queue (replicated, with a delivery limit).
    Quorum,
}

impl QueueArgs {
    fn into_work_queue(self) -> anyhow::Result<WorkQueue> {
        let queue_type = match self.queue_type {
            QueueTypeArg::Classic => QueueType::Classic,
            QueueTypeArg::Quorum => QueueType::Quorum,
        };
        let delivery_limit = match queue_type {
            QueueType::Quorum => Some(self.delivery_limit.unwrap_or(DEFAULT_DELIVERY_LIMIT)),
            QueueType::Classic => self.delivery_limit,
        };
        let dead_letter =
            (self.dead_letter || self.dead_letter_queue.is_some()).then(|| DeadLetter {
                exchange: WorkQueue::dead_letter_exchange_for(&self.queue),
                queue: self
                    .dead_letter_queue
                    .clone()
                    .unwrap_or_else(|| WorkQueue::default_dead_letter_queue(&self.queue)),
            });
        let work_queue = WorkQueue {
            name: self.queue,
            queue_type,
            dead_letter,
            delivery_limit,
        };
        work_queue.validate().map_err(anyhow::Error::msg)?;
        Ok(work_queue)
    }
}

/// Deliveries a quorum queue allows a message before giving up on it.
pub const DEFAULT_DELIVERY_LIMIT: u32 = 5;

/// `produce-server` options.
#[derive(Debug, Args)]
pub struct ProduceServerArgs {
    /// HTTP port (0 picks a free one and logs it).
    #[arg(long, env = "PORT", default_value_t = 3000)]
    pub port: u16,

    /// Address to listen on.
    #[arg(
        long,
        env = "BIND_ADDRESS",
        default_value = "0.0.0.0",
        value_name = "IP"
    )]
    pub bind: IpAddr,

    #[command(flatten)]
    pub queue: QueueArgs,

    /// Service name stamped into every message and response.
    #[arg(long, env = "SERVICE_NAME", default_value = "hello-world")]
    pub service_name: String,

    /// Largest accepted request body in bytes; larger bodies get 413.
    #[arg(long, env = "MAX_BODY", default_value_t = 64 * 1024, value_name = "BYTES")]
    pub max_body: usize,

    /// How long a request waits for the broker's confirm before answering 504.
    #[arg(long, env = "PUBLISH_TIMEOUT", default_value = "5s", value_parser = parse_duration,
          value_name = "DURATION")]
    pub publish_timeout: Duration,

    #[command(flatten)]
    pub exchanges: ExchangeArgs,

    /// Largest `count` POST /send-burst accepts.
    #[arg(long, env = "MAX_BURST", default_value_t = 100_000, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_burst: u64,
}

/// `consume` options.
#[derive(Debug, Args)]
pub struct ConsumeArgs {
    #[command(flatten)]
    pub queue: QueueArgs,

    /// Unacked messages the broker may push at once (1 = fair dispatch; 0 = unlimited).
    #[arg(long, env = "PREFETCH", default_value_t = 1)]
    pub prefetch: u16,

    /// Worker name in logs and summaries [default: the host name, i.e. the pod name].
    #[arg(long, env = "CONSUMER_NAME", value_name = "NAME")]
    pub name: Option<String>,

    /// Simulated processing time per message (e.g. 250ms, 2s).
    #[arg(long, env = "WORK", default_value = "0s", value_parser = parse_duration,
          value_name = "DURATION")]
    pub work: Duration,

    /// Extra processing time per '.' in the message text (the tutorial's "Task..." = 3 dots).
    #[arg(long, env = "WORK_PER_DOT", default_value = "0s", value_parser = parse_duration,
          value_name = "DURATION")]
    pub work_per_dot: Duration,

    /// Crash (exit at once, code 3, no ack, no cleanup) on receiving the Nth message, so the
    /// broker redelivers it to another worker.
    #[arg(long, env = "CRASH_AFTER", value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub crash_after: Option<u64>,

    /// Share of messages (0.0 to 1.0) whose processing fails; they are rejected.
    #[arg(long, env = "FAIL_RATE", default_value_t = 0.0, value_parser = parse_rate,
          value_name = "RATE")]
    pub fail_rate: f64,

    /// Put failed messages back on the queue (redelivered) instead of dead-lettering or dropping
    /// them.
    #[arg(long, env = "REQUEUE", value_parser = BoolishValueParser::new())]
    pub requeue: bool,

    /// How often to log a summary line with counts and rate (0s: never).
    #[arg(long, env = "SUMMARY_EVERY", default_value = "10s", value_parser = parse_duration,
          value_name = "DURATION")]
    pub summary_every: Duration,

    /// On SIGTERM, how long the message in hand may still be worked on; after that it is handed
    /// back to the queue.
    #[arg(long, env = "SHUTDOWN_GRACE", default_value = "10s", value_parser = parse_duration,
          value_name = "DURATION")]
    pub shutdown_grace: Duration,

    #[command(flatten)]
    pub health: HealthArgs,
}

/// `send` options.
#[derive(Debug, Args)]
pub struct SendArgs {
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

    /// Routing key for --exchange (e.g. logs.error); ignored by fanout.
    #[arg(long, value_name = "KEY", requires = "exchange")]
    pub routing_key: Option<String>,

    #[command(flatten)]
    pub exchanges: ExchangeArgs,

    /// How many messages to send; each is numbered ("Task 7 of 30") and carries `seq`.
    #[arg(long, short = 'n', default_value_t = 1, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub count: u64,

    /// Print one summary line instead of a line per message.
    #[arg(long, short = 'q')]
    pub quiet: bool,

    /// Service name stamped into every message.
    #[arg(long, env = "SERVICE_NAME", default_value = "playground-send")]
    pub service_name: String,

    /// How long each message waits for the broker's confirm.
    #[arg(long, env = "PUBLISH_TIMEOUT", default_value = "5s", value_parser = parse_duration,
          value_name = "DURATION")]
    pub publish_timeout: Duration,

    /// How long to wait for the broker before giving up.
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub connect_wait: Duration,

    /// The message text (words are joined with spaces); dots make `consume --work-per-dot` work
    /// longer.
    #[arg(default_value = "Hello World!", value_name = "MESSAGE")]
    pub message: Vec<String>,
}

/// Health endpoints for roles without an HTTP port of their own.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Port for GET /health and GET /ready (0 disables them).
    #[arg(long, env = "HEALTH_PORT", default_value_t = 8080)]
    pub health_port: u16,

    /// Address the health endpoints listen on.
    #[arg(
        long = "health-bind",
        env = "HEALTH_BIND_ADDRESS",
        default_value = "0.0.0.0",
        value_name = "IP"
    )]
    pub health_bind: IpAddr,
}

impl HealthArgs {
    fn listen(&self) -> Option<SocketAddr> {
        (self.health_port != 0).then(|| SocketAddr::new(self.health_bind, self.health_port))
    }
}

/// Everything a run needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// `--check-config`: validate and describe, do not run.
    pub check_only: bool,
    pub log_format: LogFormat,
    /// Log to stderr instead of stdout (for `send`, whose stdout is its output).
    pub logs_to_stderr: bool,
    pub amqp: AmqpOptions,
    pub role: Role,
}

impl Cli {
    /// Validates what clap cannot (the broker URL) and builds the run's configuration. An error here
    /// is a usage error: exit code 2, one line, no password in it.
    pub fn into_config(self) -> anyhow::Result<Config> {
        let common = self.common;
        let mut settings = AmqpSettings::parse(
            &common.amqp_url,
            common.amqp_user.as_deref(),
            common.amqp_password.as_deref(),
        )
        .context("--amqp-url / RABBITMQ_URL")?;
        settings.heartbeat_secs = u16::try_from(common.heartbeat.as_secs()).unwrap_or(u16::MAX);
        let log_format = match common.log_format {
            LogFormatArg::Pretty => LogFormat::Pretty,
            LogFormatArg::Json => LogFormat::Json,
        };
        let amqp = AmqpOptions {
            settings,
            reconnect_min: common.reconnect_min,
            reconnect_max: common.reconnect_max.max(common.reconnect_min),
            connect_timeout: Duration::from_secs(15),
            snapshots: common.telemetry.0.map(|interval| SnapshotSettings {
                interval,
                exchange: common.telemetry_exchange.clone(),
            }),
        };
        let role = match self.command {
            Command::ProduceServer(args) => Role::ProduceServer(ProduceServerConfig {
                listen: SocketAddr::new(args.bind, args.port),
                queue: args.queue.into_work_queue()?,
                service_name: args.service_name,
                max_body: args.max_body,
                publish_timeout: args.publish_timeout,
                max_burst: args.max_burst,
                exchanges: args.exchanges.into_exchanges()?,
            }),
            Command::Consume(args) => Role::Consume(ConsumeConfig {
                health_listen: args.health.listen(),
                queue: args.queue.into_work_queue()?,
                prefetch: args.prefetch,
                name: args.name.unwrap_or_else(crate::identity::host_name),
                pretty_bodies: log_format == LogFormat::Pretty,
                behaviour: WorkerBehaviour {
                    work: args.work,
                    work_per_dot: args.work_per_dot,
                    crash_after: args.crash_after,
                    fail_rate: args.fail_rate,
                    requeue: args.requeue,
                },
                summary_every: (!args.summary_every.is_zero()).then_some(args.summary_every),
                shutdown_grace: args.shutdown_grace,
            }),
            Command::Send(args) => Role::Send(SendConfig {
                target: match args.exchange {
                    None => SendTarget::Queue(args.queue.into_work_queue()?),
                    Some(kind) => {
                        let kind = match kind {
                            ExchangeKindArg::Topic => ExchangeKind::Topic,
                            ExchangeKindArg::Direct => ExchangeKind::Direct,
                            ExchangeKindArg::Fanout => ExchangeKind::Fanout,
                        };
                        let routing_key = args.routing_key.unwrap_or_default();
                        validate_routing_key(&routing_key)
                            .map_err(anyhow::Error::msg)
                            .context("--routing-key")?;
                        SendTarget::Exchange {
                            exchanges: args.exchanges.into_exchanges()?,
                            kind,
                            routing_key,
                        }
                    }
                },
                count: args.count,
                quiet: args.quiet,
                service_name: args.service_name,
                publish_timeout: args.publish_timeout,
                connect_wait: args.connect_wait,
                text: args.message.join(" "),
            }),
            Command::FanoutSub(args) => {
                let sub = args.subscriber;
                Role::FanoutSub(FanoutSubConfig {
                    exchange: args.exchange,
                    queue: sub.queue,
                    name: sub.name.unwrap_or_else(crate::identity::host_name),
                    prefetch: sub.prefetch,
                    health_listen: sub.health.listen(),
                    pretty_bodies: log_format == LogFormat::Pretty,
                })
            }
            Command::Perf(args) => Role::Perf(PerfConfig {
                producers: args.producers,
                consumers: args.consumers,
                rate: args.rate.max(0.0),
                confirm: args.confirm,
                size: usize::try_from(args.size).unwrap_or(100),
                prefetch: args.prefetch,
                queue: args.queue,
                queue_type: match args.queue_type {
                    QueueTypeArg::Classic => QueueType::Classic,
                    QueueTypeArg::Quorum => QueueType::Quorum,
                },
                persistent: args.persistent,
                time: args.time,
                count: args.count,
                work: args.work,
                json: args.json,
                http: args.http,
                concurrency: args.concurrency,
            }),
            Command::TopicSub(args) => {
                let sub = args.subscriber;
                let (kind, default_exchange) = match args.exchange_type {
                    SubscribeKindArg::Topic => (ExchangeKind::Topic, "logs-topic"),
                    SubscribeKindArg::Direct => (ExchangeKind::Direct, "logs-direct"),
                };
                let config = TopicSubConfig {
                    exchange: args.exchange.unwrap_or_else(|| default_exchange.to_owned()),
                    kind,
                    patterns: args.patterns,
                    queue: sub.queue,
                    name: sub.name.unwrap_or_else(crate::identity::host_name),
                    prefetch: sub.prefetch,
                    health_listen: sub.health.listen(),
                    pretty_bodies: log_format == LogFormat::Pretty,
                };
                config
                    .validate()
                    .map_err(anyhow::Error::msg)
                    .context("--pattern")?;
                Role::TopicSub(config)
            }
        };
        // `send` and `perf` print their results on stdout; their logs must not mix with them.
        let logs_to_stderr = matches!(role, Role::Send(_) | Role::Perf(_));
        Ok(Config {
            check_only: common.check_config,
            log_format,
            logs_to_stderr,
            amqp,
            role,
        })
    }
}

fn parse_duration(value: &str) -> Result<Duration, String> {
    humantime::parse_duration(value).map_err(|e| format!("{e} (examples: 250ms, 5s, 1m)"))
}

/// Heartbeats under 2 s make amqprs' writer spin (shared/NOTES.md); 0 does not disable them.
fn parse_heartbeat(value: &str) -> Result<Duration, String> {
    let duration = parse_duration(value)?;
    if duration < Duration::from_secs(2) || duration > Duration::from_secs(u64::from(u16::MAX)) {
        return Err("must be between 2s and 65535s".to_owned());
    }
    Ok(duration)
}

/// `--telemetry`: an interval, or `None` for off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelemetryInterval(pub Option<Duration>);

/// A snapshot interval of at least 100 ms, or `off`/`0`.
fn parse_telemetry(value: &str) -> Result<TelemetryInterval, String> {
    if matches!(value, "off" | "0" | "false") {
        return Ok(TelemetryInterval(None));
    }
    let interval = parse_duration(value)?;
    if interval < Duration::from_millis(100) {
        return Err("must be at least 100ms, or off".to_owned());
    }
    Ok(TelemetryInterval(Some(interval)))
}

fn parse_exchange_name(value: &str) -> Result<String, String> {
    validate_exchange_name(value)?;
    Ok(value.to_owned())
}

/// A share between 0 and 1.
fn parse_rate(value: &str) -> Result<f64, String> {
    let rate: f64 = value
        .parse()
        .map_err(|_| format!("{value:?} is not a number (examples: 0, 0.1, 1.0)"))?;
    if !(0.0..=1.0).contains(&rate) {
        return Err("must be between 0.0 and 1.0".to_owned());
    }
    Ok(rate)
}

/// AMQP queue names are at most 255 bytes; `amq.` names are reserved by the broker.
fn parse_queue_name(value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if value.len() > 255 {
        return Err(format!("is {} bytes; AMQP allows at most 255", value.len()));
    }
    if value.starts_with("amq.") {
        return Err("names starting with \"amq.\" are reserved by RabbitMQ".to_owned());
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    #[test]
    fn common_flags_work_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "playground",
            "consume",
            "--prefetch",
            "5",
            "--amqp-url",
            "amqp://u:p@h:1234/v",
            "--amqp-password",
            "s3cr@t",
        ])
        .unwrap();
        let config = cli.into_config().unwrap();
        assert_eq!(config.amqp.settings.port, 1234);
        assert_eq!(config.amqp.settings.password.expose(), "s3cr@t");
        match config.role {
            Role::Consume(c) => assert_eq!(c.prefetch, 5),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn queue_shape_is_shared_and_validated() {
        let config = Cli::try_parse_from([
            "playground",
            "send",
            "--queue",
            "jobs",
            "--queue-type",
            "quorum",
            "--dead-letter",
        ])
        .unwrap()
        .into_config()
        .unwrap();
        match config.role {
            Role::Send(SendConfig {
                target: SendTarget::Queue(queue),
                text,
                ..
            }) => {
                assert_eq!(queue.delivery_limit, Some(DEFAULT_DELIVERY_LIMIT));
                assert_eq!(queue.dead_letter.unwrap().queue, "jobs.dead-letter");
                assert_eq!(text, "Hello World!");
            }
            other => panic!("{other:?}"),
        }
        let classic_with_limit =
            Cli::try_parse_from(["playground", "consume", "--delivery-limit", "3"])
                .unwrap()
                .into_config();
        assert!(classic_with_limit.is_err());
        for rate in ["-0.1", "1.5", "x"] {
            assert!(Cli::try_parse_from(["playground", "consume", "--fail-rate", rate]).is_err());
        }
    }

    #[test]
    fn subscriber_patterns_are_checked_at_start_up() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(args)
                .map_err(|e| e.to_string())
                .and_then(|cli| cli.into_config().map_err(|e| format!("{e:#}")))
        };
        let ok = parse(&[
            "playground",
            "topic-sub",
            "--pattern",
            "*.error",
            "--pattern",
            "logs.#",
        ]);
        match ok.unwrap().role {
            Role::TopicSub(config) => {
                assert_eq!(config.patterns, ["*.error", "logs.#"]);
                assert_eq!(config.exchange, "logs-topic");
            }
            other => panic!("{other:?}"),
        }
        let direct = parse(&[
            "playground",
            "topic-sub",
            "--exchange-type",
            "direct",
            "--pattern",
            "error",
        ]);
        match direct.unwrap().role {
            Role::TopicSub(config) => assert_eq!(config.exchange, "logs-direct"),
            other => panic!("{other:?}"),
        }
        let bad = parse(&["playground", "topic-sub", "--pattern", "log*"]).unwrap_err();
        assert!(bad.contains("whole words"), "{bad}");
        assert!(
            parse(&["playground", "topic-sub"]).is_err(),
            "a pattern is required"
        );
        assert!(parse(&["playground", "send", "--exchange", "topic", "x"]).is_err());
        assert!(parse(&["playground", "send", "--exchange", "fanout", "x"]).is_ok());
    }

    #[test]
    fn bad_queue_names_are_usage_errors() {
        let long = "q".repeat(256);
        for bad in ["", "amq.x", long.as_str()] {
            assert!(Cli::try_parse_from(["playground", "consume", "--queue", bad]).is_err());
        }
    }
}
