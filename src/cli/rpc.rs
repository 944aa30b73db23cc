//! The request/reply roles' options: `rpc-server` (answers) and `call` (asks).

use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::consume::instance_name;
use super::listen::HealthArgs;
use super::values;
use crate::amqp::{InstanceName, QueueName};
use crate::roles::body::BodyStyle;
use crate::roles::call::CallConfig;
use crate::roles::consume::WorkerBehaviour;
use crate::roles::rpc_server::RpcServerConfig;

/// The longest a call may wait for its reply.
const MAX_CALL_TIMEOUT: Duration = Duration::from_secs(300);

/// `rpc-server` options.
#[derive(Debug, Args)]
pub struct RpcServerArgs {
    /// The queue requests arrive on (the callers' --rpc-queue); declared durable and
    /// auto-delete, so it goes with the last server and calls to nobody fail at once.
    #[arg(
        long,
        env = "RPC_QUEUE",
        default_value = "rpc-queue",
        value_name = "NAME"
    )]
    pub queue: QueueName,

    /// Requests the broker may push before this server acked the earlier ones (1 = fair
    /// dispatch between servers).
    #[arg(long, env = "PREFETCH", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub prefetch: u16,

    /// Server name in logs and replies [default: the host name, i.e. the pod name].
    #[arg(long, env = "SERVER_NAME", value_name = "NAME")]
    pub name: Option<InstanceName>,

    /// Simulated processing time per request (e.g. 250ms, 2s).
    #[arg(long, env = "WORK", default_value = "0s", value_parser = values::duration,
          value_name = "DURATION")]
    pub work: Duration,

    /// Extra processing time per '.' in the request text.
    #[arg(long, env = "WORK_PER_DOT", default_value = "0s", value_parser = values::duration,
          value_name = "DURATION")]
    pub work_per_dot: Duration,

    /// Share of requests (0.0 to 1.0) that fail: answered with an error reply, not silence.
    #[arg(long, env = "FAIL_RATE", default_value_t = 0.0, value_parser = values::share,
          value_name = "RATE")]
    pub fail_rate: f64,

    /// Crash (exit at once, code 3, no reply, no ack) on receiving the Nth request, so the broker
    /// hands it to another server.
    #[arg(long, env = "CRASH_AFTER", value_name = "N", value_parser = values::at_least_one)]
    pub crash_after: Option<u64>,

    /// How long a reply may wait for the broker's confirm before the request is handed back.
    #[arg(long, env = "PUBLISH_TIMEOUT", default_value = "5s",
          value_parser = values::positive_duration, value_name = "DURATION")]
    pub publish_timeout: Duration,

    /// The health endpoints' port and address.
    #[command(flatten)]
    pub health: HealthArgs,
}

impl RpcServerArgs {
    /// The role's settings; bodies are logged in `style`.
    pub fn into_config(self, style: BodyStyle) -> anyhow::Result<RpcServerConfig> {
        Ok(RpcServerConfig {
            queue: self.queue,
            prefetch: self.prefetch,
            name: instance_name(self.name).context("--name / SERVER_NAME")?,
            health_listen: self.health.listen(),
            body_style: style,
            behaviour: WorkerBehaviour {
                work: self.work,
                work_per_dot: self.work_per_dot,
                crash_after: self.crash_after,
                fail_rate: self.fail_rate,
                requeue: false,
            },
            publish_timeout: self.publish_timeout,
        })
    }
}

/// `call` options.
#[derive(Debug, Args)]
pub struct CallArgs {
    /// The queue the rpc-servers consume.
    #[arg(
        long,
        env = "RPC_QUEUE",
        default_value = "rpc-queue",
        value_name = "NAME"
    )]
    pub rpc_queue: QueueName,

    /// How many calls to make; each request is numbered ("ping 7 of 30").
    #[arg(long, short = 'n', default_value = "1", value_name = "N",
          value_parser = values::at_least_one)]
    pub count: u64,

    /// Calls in flight at once (1 to 10000).
    #[arg(long, short = 'c', default_value_t = 1, value_name = "C",
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub concurrency: u64,

    /// How long each call waits for its reply (at most 5m).
    #[arg(long, env = "RPC_TIMEOUT", default_value = "5s", value_parser = call_timeout,
          value_name = "DURATION")]
    pub timeout: Duration,

    /// Print only the summary line, not one line per reply.
    #[arg(long, short = 'q')]
    pub quiet: bool,

    /// The caller's name, as the requests' AMQP app_id.
    #[arg(
        long,
        env = "SERVICE_NAME",
        default_value = "playground-call",
        value_name = "NAME"
    )]
    pub service_name: InstanceName,

    /// How long to wait for the broker before giving up.
    #[arg(long, default_value = "30s", value_parser = values::duration, value_name = "DURATION")]
    pub connect_wait: Duration,

    /// The request text (words are joined with spaces).
    #[arg(default_value = "ping", value_name = "MESSAGE")]
    pub message: Vec<String>,
}

impl CallArgs {
    /// The role's settings.
    pub fn into_config(self) -> CallConfig {
        CallConfig {
            text: self.message.join(" "),
            count: self.count,
            concurrency: self.concurrency,
            queue: self.rpc_queue,
            timeout: self.timeout,
            connect_wait: self.connect_wait,
            name: self.service_name,
            quiet: self.quiet,
        }
    }
}

/// A call's timeout: more than zero, at most [`MAX_CALL_TIMEOUT`].
fn call_timeout(value: &str) -> Result<Duration, String> {
    let timeout = values::positive_duration(value)?;
    if timeout > MAX_CALL_TIMEOUT {
        return Err(format!(
            "at most {}",
            humantime::format_duration(MAX_CALL_TIMEOUT)
        ));
    }
    Ok(timeout)
}
