//! `produce-server`'s options.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::listen::server_listen;
use super::queue::{ExchangeArgs, QueueArgs};
use super::values;
use crate::amqp::{InstanceName, QueueName};
use crate::management_api::ManagementUrls;
use crate::roles::produce_server::ProduceServerConfig;

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

    /// The work queue's name and shape, declared as the consumers declare it.
    #[command(flatten)]
    pub queue: QueueArgs,

    /// Service name stamped into every message (also as its AMQP app_id) and response.
    #[arg(
        long,
        env = "SERVICE_NAME",
        default_value = "hello-world",
        value_name = "NAME"
    )]
    pub service_name: InstanceName,

    /// Largest accepted request body in bytes (1 to 67108864); larger bodies get 413.
    #[arg(long, env = "MAX_BODY", default_value = "65536", value_name = "BYTES",
          value_parser = values::body_limit)]
    pub max_body: usize,

    /// How long a request waits for the broker's confirm before answering 504.
    #[arg(long, env = "PUBLISH_TIMEOUT", default_value = "5s",
          value_parser = values::positive_duration, value_name = "DURATION")]
    pub publish_timeout: Duration,

    /// The three exchanges POST /publish can publish to.
    #[command(flatten)]
    pub exchanges: ExchangeArgs,

    /// The queue POST /rpc sends requests to: the one `playground rpc-server` consumes.
    #[arg(
        long,
        env = "RPC_QUEUE",
        default_value = "rpc-queue",
        value_name = "NAME"
    )]
    pub rpc_queue: QueueName,

    /// Largest `count` POST /send-burst accepts.
    #[arg(long, env = "MAX_BURST", default_value = "100000", value_name = "N",
          value_parser = values::at_least_one)]
    pub max_burst: u64,

    /// The management API of the broker, or of each cluster node (comma-separated, tried in
    /// order), e.g. http://rabbitmq:15672: the console then shows which node leads each queue,
    /// which AMQP cannot tell. It logs in with the AMQP user unless the URL names its own.
    // Parsed in `into_config`, not by clap: clap would echo a rejected value, password and all.
    #[arg(long, env = "MANAGEMENT_URL", value_name = "URLS")]
    pub management_url: Option<String>,
}

impl ProduceServerArgs {
    /// The role's settings.
    pub fn into_config(self) -> anyhow::Result<ProduceServerConfig> {
        let management = self
            .management_url
            .as_deref()
            .map(ManagementUrls::parse)
            .transpose()
            .map_err(anyhow::Error::msg)
            .context("--management-url / MANAGEMENT_URL")?;
        Ok(ProduceServerConfig {
            listen: server_listen(self.bind, self.port),
            queue: self.queue.into_work_queue()?,
            service_name: self.service_name,
            max_body: self.max_body,
            publish_timeout: self.publish_timeout,
            max_burst: self.max_burst,
            exchanges: self.exchanges.into_exchanges()?,
            rpc_queue: self.rpc_queue,
            management,
        })
    }
}
