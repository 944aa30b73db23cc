//! `consume`'s options.

use std::time::Duration;

use anyhow::Context;
use clap::builder::BoolishValueParser;
use clap::Args;

use super::listen::HealthArgs;
use super::queue::QueueArgs;
use super::values;
use crate::amqp::InstanceName;
use crate::roles::body::BodyStyle;
use crate::roles::consume::{ConsumeConfig, WorkerBehaviour};

/// `consume` options.
#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// The work queue's name and shape, declared as the producers declare it.
    #[command(flatten)]
    pub queue: QueueArgs,

    /// Unacked messages the broker may push at once (1 = fair dispatch; 0 = unlimited).
    #[arg(long, env = "PREFETCH", default_value_t = 1)]
    pub prefetch: u16,

    /// Worker name in logs and summaries [default: the host name, i.e. the pod name].
    #[arg(long, env = "CONSUMER_NAME", value_name = "NAME")]
    pub name: Option<InstanceName>,

    /// Simulated processing time per message (e.g. 250ms, 2s).
    #[arg(long, env = "WORK", default_value = "0s", value_parser = values::duration,
          value_name = "DURATION")]
    pub work: Duration,

    /// Extra processing time per '.' in the message text (the tutorial's "Task..." = 3 dots).
    #[arg(long, env = "WORK_PER_DOT", default_value = "0s", value_parser = values::duration,
          value_name = "DURATION")]
    pub work_per_dot: Duration,

    /// Crash (exit at once, code 3, no ack, no cleanup) on receiving the Nth message, so the
    /// broker redelivers it to another worker.
    #[arg(long, env = "CRASH_AFTER", value_name = "N", value_parser = values::at_least_one)]
    pub crash_after: Option<u64>,

    /// Share of messages (0.0 to 1.0) whose processing fails; they are rejected (or retried
    /// after a delay, with --retry-delays).
    #[arg(long, env = "FAIL_RATE", default_value_t = 0.0, value_parser = values::share,
          value_name = "RATE")]
    pub fail_rate: f64,

    /// Put failed messages back on the queue (redelivered) instead of dead-lettering or dropping
    /// them.
    #[arg(long, env = "REQUEUE", value_parser = BoolishValueParser::new())]
    pub requeue: bool,

    /// How often to log a summary line with counts and rate (0s: never).
    #[arg(long, env = "SUMMARY_EVERY", default_value = "10s", value_parser = values::duration,
          value_name = "DURATION")]
    pub summary_every: Duration,

    /// On SIGTERM, how long the message in hand may still be worked on; after that it is handed
    /// back to the queue.
    #[arg(long, env = "SHUTDOWN_GRACE", default_value = "10s", value_parser = values::duration,
          value_name = "DURATION")]
    pub shutdown_grace: Duration,

    /// The health endpoints' port and address.
    #[command(flatten)]
    pub health: HealthArgs,
}

impl ConsumeArgs {
    /// The role's settings; bodies are logged in `style`.
    pub fn into_config(self, style: BodyStyle) -> anyhow::Result<ConsumeConfig> {
        if self.requeue && self.queue.retry_delays.is_some() {
            anyhow::bail!(
                "--requeue and --retry-delays (env REQUEUE, RETRY_DELAYS) are two answers to a \
                 failure: requeue at once, or retry after a delay; choose one"
            );
        }
        Ok(ConsumeConfig {
            health_listen: self.health.listen(),
            queue: self.queue.into_work_queue()?,
            prefetch: self.prefetch,
            name: instance_name(self.name).context("--name / CONSUMER_NAME")?,
            body_style: style,
            behaviour: WorkerBehaviour {
                work: self.work,
                work_per_dot: self.work_per_dot,
                crash_after: self.crash_after,
                fail_rate: self.fail_rate,
                requeue: self.requeue,
            },
            summary_every: (!self.summary_every.is_zero()).then_some(self.summary_every),
            shutdown_grace: self.shutdown_grace,
        })
    }
}

/// The given name, or the host name (the pod name in Kubernetes).
pub fn instance_name(given: Option<InstanceName>) -> anyhow::Result<InstanceName> {
    match given {
        Some(name) => Ok(name),
        None => InstanceName::parse(crate::identity::host_name())
            .map_err(|e| anyhow::anyhow!("the host name {e}; set a name")),
    }
}
