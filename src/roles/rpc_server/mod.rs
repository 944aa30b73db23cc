//! `playground rpc-server`: the server side of the RabbitMQ tutorial's RPC. Consumes requests
//! from a queue, works on each (the lab's work: an echo, with the same simulated work, failures
//! and crash as `consume`), publishes the reply to the request's `reply_to` with its
//! `correlation_id`, and acks the request only once the broker took the reply. Several servers
//! share the queue like workers share a work queue (prefetch, fair dispatch); a server that dies
//! mid-request leaves it unacked, and the broker hands it to another.
//!
//! The queue is declared durable and auto-delete: it goes away with the last server, so a
//! caller's request to a queue nobody serves is unroutable and fails at once (503) instead of
//! waiting, unheard, for its timeout.
//!
//! - [`handler`]: one request, from delivery to reply and ack.

mod handler;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tracing::info;

use handler::Server;

use crate::amqp::{
    consume_across_sessions, AmqpOptions, ChannelSetup, ConfirmedPublisher, ConsumerEvent,
    ConsumerTag, InstanceName, QueueName, QueueSpec, Topology,
};
use crate::http::Listen;
use crate::roles::body::BodyStyle;
use crate::roles::consume::WorkerBehaviour;
use crate::roles::consuming::{ConsumingRole, Plan};
use crate::roles::snapshot::Identity;

/// Settings of `rpc-server`, built from its flags.
#[derive(Debug, Clone)]
pub struct RpcServerConfig {
    /// The queue requests arrive on (`--queue`, the callers' `--rpc-queue`).
    pub queue: QueueName,
    /// Requests the broker may push before this server acked the previous ones (1: fair).
    pub prefetch: u16,
    /// The server's name in logs and in every reply (its AMQP `app_id`).
    pub name: InstanceName,
    /// Where `/health`, `/ready` and `/metrics` are served; `None` disables them.
    pub health_listen: Option<Listen>,
    /// How request bodies appear in the log lines.
    pub body_style: BodyStyle,
    /// Simulated work, failures (error replies) and crash; `requeue` is not used.
    pub behaviour: WorkerBehaviour,
    /// How long a reply may wait for the broker's confirm before the request is handed back.
    pub publish_timeout: std::time::Duration,
}

impl RpcServerConfig {
    /// The request queue: durable, auto-delete (see the module's note).
    pub fn topology(&self) -> Topology {
        let mut queue = QueueSpec::durable(self.queue.clone());
        queue.auto_delete = true;
        Topology {
            queues: vec![queue],
            queue_mismatch_hint: Some(format!(
                "rpc-server declares {:?} as a durable, auto-delete classic queue with no \
                 arguments; delete the existing one or choose another --queue",
                self.queue.as_str()
            )),
            ..Topology::default()
        }
    }
}

/// Serves requests until `shutdown`: then cancels the consumer (requests not started go back to
/// the queue), finishes the one in hand, closes. Fails only when the broker refused the queue
/// for good (or the health port cannot be used).
pub async fn run(
    config: RpcServerConfig,
    amqp: AmqpOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let plan = Plan {
        role: "rpc-server",
        name: config.name.clone(),
        topology: config.topology(),
        prefetch: config.prefetch,
        health_listen: config.health_listen,
        identity: Identity {
            role: "rpc-server".to_owned(),
            instance: config.name.to_string(),
            queue: Some(config.queue.to_string()),
            prefetch: Some(config.prefetch),
            ..Identity::default()
        },
    };
    // Confirm mode: a request is acked only once the broker took its reply.
    let channel = ChannelSetup {
        confirms: true,
        ..ChannelSetup::default()
    };
    let role = ConsumingRole::start_with_channel(plan, &amqp, channel).await?;
    info!(
        queue = %config.queue,
        prefetch = config.prefetch,
        server = %config.name,
        work_ms = config.behaviour.work.as_millis() as u64,
        fail_rate = config.behaviour.fail_rate,
        crash_after = config.behaviour.crash_after,
        urls = %amqp.endpoints,
        "rpc-server starting"
    );
    let consumer_tag = ConsumerTag::for_instance(config.name.as_str(), std::process::id());
    let server = Server {
        publisher: ConfirmedPublisher::new(
            &role.manager,
            config.publish_timeout,
            config.name.clone(),
        ),
        metrics: role.metrics.clone(),
        handled: role.handled.clone(),
        counts: Arc::default(),
        config,
    };
    let (queue, health) = (server.config.queue.clone(), &role.health);
    let result = consume_across_sessions(
        &role.manager,
        &consumer_tag,
        &shutdown,
        |_| Some(queue.clone()),
        |event| match event {
            ConsumerEvent::Consuming { session, queue } => {
                health.set_role_ready(true);
                info!(%queue, prefetch = server.config.prefetch, server = %server.config.name, generation = session.generation(), "serving requests");
            }
            ConsumerEvent::Paused => health.set_role_ready(false),
        },
        |delivery| server.handle(delivery),
    )
    .await;
    role.finish().await;
    result?;
    let counts = server.counts.snapshot();
    info!(
        server = %server.config.name,
        received = counts.received,
        replied = counts.replied,
        error_replies = counts.error_replies,
        "rpc-server stopped"
    );
    Ok(())
}
