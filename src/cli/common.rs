//! The options every role shares: where the broker is and how to log in, reconnects, heartbeats,
//! the console's snapshots, logging, and `--check-config`.

use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};

use super::values::{self, TelemetryInterval};
use crate::amqp::{AmqpOptions, Endpoints, ExchangeName, SnapshotSettings, UserName};
use crate::telemetry::LogFormat;

/// The default broker: a local RabbitMQ with the guest user on the default vhost.
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// How long one connection attempt (and, separately, its set-up) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Options every role shares.
#[derive(Debug, Args)]
#[command(next_help_heading = "Broker connection and logging (every role)")]
pub struct CommonArgs {
    /// Broker URL: amqp://USER:PASS@HOST:PORT/VHOST or amqps://… (vhost "/" is written %2f).
    /// Credentials are percent-decoded. For a cluster, every node's URL, comma-separated: the
    /// role starts at a random one and moves to the next when its node goes away.
    #[arg(long, env = "RABBITMQ_URL", default_value = DEFAULT_AMQP_URL, hide_env_values = true,
          value_name = "URL", global = true)]
    pub amqp_url: String,

    /// User name; replaces the URL's (e.g. straight from a Kubernetes Secret).
    #[arg(long, env = "RABBITMQ_USER", value_name = "USER", global = true)]
    pub amqp_user: Option<UserName>,

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
    #[arg(long, env = "RECONNECT_MIN", default_value = "200ms", value_parser = values::duration,
          value_name = "DURATION", global = true)]
    pub reconnect_min: Duration,

    /// Longest wait between reconnect attempts.
    #[arg(long, env = "RECONNECT_MAX", default_value = "10s", value_parser = values::duration,
          value_name = "DURATION", global = true)]
    pub reconnect_max: Duration,

    /// How often to publish a snapshot for the lab console (100ms to 24h), or "off".
    #[arg(long, env = "TELEMETRY", default_value = "1s", value_parser = values::telemetry,
          value_name = "DURATION|off", global = true)]
    pub telemetry: TelemetryInterval,

    /// Fanout exchange the snapshots go to (non-durable; produce-server's console reads it).
    #[arg(
        long,
        env = "TELEMETRY_EXCHANGE",
        default_value = "playground.telemetry",
        value_name = "NAME",
        global = true
    )]
    pub telemetry_exchange: ExchangeName,

    /// Validate the arguments and environment, print the resolved settings as JSON (password
    /// hidden) and exit without connecting: 0 if valid, 2 if not. For CI checks of manifests.
    #[arg(long, global = true)]
    pub check_config: bool,

    /// AMQP heartbeat (2s to 65535s): a silent broker is given up after about twice this.
    #[arg(long, env = "AMQP_HEARTBEAT", default_value = "10s", value_parser = values::heartbeat,
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

impl CommonArgs {
    /// The log format chosen.
    pub fn log_format(&self) -> LogFormat {
        match self.log_format {
            LogFormatArg::Pretty => LogFormat::Pretty,
            LogFormatArg::Json => LogFormat::Json,
        }
    }

    /// The broker options: the URL checked (an error names `--amqp-url / RABBITMQ_URL`), the
    /// user and password applied, the reconnect bounds ordered.
    pub fn into_amqp_options(self) -> anyhow::Result<AmqpOptions> {
        let mut endpoints = Endpoints::parse(
            &self.amqp_url,
            self.amqp_user.as_ref().map(UserName::as_str),
            self.amqp_password.as_deref(),
        )
        .context("--amqp-url / RABBITMQ_URL")?;
        endpoints.set_heartbeat_secs(u16::try_from(self.heartbeat.as_secs()).unwrap_or(u16::MAX));
        Ok(AmqpOptions {
            endpoints,
            reconnect_min: self.reconnect_min,
            reconnect_max: self.reconnect_max.max(self.reconnect_min),
            connect_timeout: CONNECT_TIMEOUT,
            snapshots: self.telemetry.0.map(|interval| SnapshotSettings {
                interval,
                exchange: self.telemetry_exchange,
            }),
        })
    }
}
