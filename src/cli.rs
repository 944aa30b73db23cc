//! The command line: every option is a flag with an environment variable (flag wins over env,
//! env over default), so the same image is configured by `args:` or by `env:` in Kubernetes.
//! The `///` comments below are the `--help` text.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::amqp::{AmqpOptions, AmqpSettings};
use crate::roles::consume::ConsumeConfig;
use crate::roles::produce_server::ProduceServerConfig;
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
    /// HTTP service: POST /send-message publishes a confirmed message to the queue
    /// (replaces the Node hello-world service).
    ProduceServer(ProduceServerArgs),
    /// Worker: logs and acks every message of the queue (replaces the Node message-consumer).
    Consume(ConsumeArgs),
}

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

    /// Durable queue the messages go to.
    #[arg(long, env = "QUEUE_NAME", default_value = "hello-world-queue", value_parser = parse_queue_name)]
    pub queue: String,

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
}

/// `consume` options.
#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// Queue to consume (declared durable if missing).
    #[arg(long, env = "QUEUE_NAME", default_value = "hello-world-queue", value_parser = parse_queue_name)]
    pub queue: String,

    /// Unacked messages the broker may push at once (1 = fair dispatch; 0 = unlimited).
    #[arg(long, env = "PREFETCH", default_value_t = 1)]
    pub prefetch: u16,

    #[command(flatten)]
    pub health: HealthArgs,
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
    pub log_format: LogFormat,
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
        };
        let role = match self.command {
            Command::ProduceServer(args) => Role::ProduceServer(ProduceServerConfig {
                listen: SocketAddr::new(args.bind, args.port),
                queue: args.queue,
                service_name: args.service_name,
                max_body: args.max_body,
                publish_timeout: args.publish_timeout,
            }),
            Command::Consume(args) => Role::Consume(ConsumeConfig {
                queue: args.queue,
                prefetch: args.prefetch,
                health_listen: args.health.listen(),
                pretty_bodies: log_format == LogFormat::Pretty,
            }),
        };
        Ok(Config {
            log_format,
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
    fn bad_queue_names_are_usage_errors() {
        let long = "q".repeat(256);
        for bad in ["", "amq.x", long.as_str()] {
            assert!(Cli::try_parse_from(["playground", "consume", "--queue", bad]).is_err());
        }
    }
}
