//! `playground produce-server`: the HTTP front door that turns `POST /send-message` into a
//! confirmed, persistent message on the work queue, and `POST /send-burst` into many. Replaces the
//! Node `hello-world` service and keeps its endpoints and JSON shapes; also serves the live lab
//! console (`GET /` for browsers, `GET /events`).
//!
//! - [`routes`]: the endpoints; [`requests`]: their bodies, parsed and validated; [`rpc`]: the
//!   `/rpc` call through RabbitMQ;
//! - [`console`]: the console's aggregated view and the consumer that feeds it.

mod console;
mod requests;
mod routes;
mod rpc;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::amqp::{
    AmqpOptions, BindingSpec, BoundQueue, ChannelSetup, ConfirmedPublisher, ConnectionManager,
    InstanceName, LabExchanges, QueueName, QueueSpec, RoutingKey, RpcClient, SnapshotSettings,
    Topology, UnroutedTap, WorkQueue,
};
use crate::http::{self, observe, server, Health, Listen, Readiness};
use crate::identity;
use crate::management_api::{ManagementApi, ManagementUrls};
use crate::metrics::Metrics;
use crate::roles::snapshot::{self, HandledLog, Identity};
use console::Console;
use routes::App;

/// Settings of `produce-server`, built from its flags.
#[derive(Debug, Clone)]
pub struct ProduceServerConfig {
    /// Where to listen (`--bind`, `--port`); port 0 picks a free one (tests).
    pub listen: Listen,
    /// The durable queue messages go to (through the default exchange), and its shape.
    pub queue: WorkQueue,
    /// Stamped into every envelope and response as `service`, and as the messages' `app_id`.
    pub service_name: InstanceName,
    /// Largest request body accepted; larger is a 413.
    pub max_body: usize,
    /// How long a request waits for the broker's confirm before answering 504.
    pub publish_timeout: Duration,
    /// Largest `count` of a `/send-burst`.
    pub max_burst: u64,
    /// The topic, direct, fanout and headers exchanges of `/publish` (and their alternate).
    pub exchanges: LabExchanges,
    /// Where `/rpc` sends requests (not declared here: the rpc-servers own it, and without one
    /// a request is unroutable, which is how a call learns nobody listens).
    pub rpc_queue: QueueName,
    /// Where to ask which node leads each queue (`--management-url`), for the console; `None`
    /// leaves the diagram without leaders.
    pub management: Option<ManagementUrls>,
}

/// How many snapshots the console's consumer may have unacked: enough to keep up with a lab's
/// worth of roles, few enough that a flood cannot pile up in the process.
const CONSOLE_PREFETCH: u16 = 64;

/// Runs until `shutdown`, then drains in-flight requests (their confirms included), stops the
/// console's tasks and closes the broker connection. Fails if the listen address cannot be bound
/// or the broker refuses the topology for good.
pub async fn run(
    config: ProduceServerConfig,
    amqp: AmqpOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::new("produce-server"));
    let listener = server::bind(config.listen).await?;
    let local = listener.local_addr()?;
    let tap = config.exchanges.alternate.as_ref().map(UnroutedTap::new);
    let manager = Arc::new(ConnectionManager::start(
        amqp.for_role(
            identity::connection_name("produce-server"),
            topology(&config, tap.as_ref(), amqp.snapshots.as_ref()),
            ChannelSetup {
                confirms: true,
                prefetch: amqp.snapshots.as_ref().map(|_| CONSOLE_PREFETCH),
                side_channel: false,
                direct_reply: true,
                queue_probe: amqp.snapshots.is_some(),
            },
        ),
        metrics.clone(),
    ));
    let console = amqp
        .snapshots
        .as_ref()
        .map(|settings| Console::new(settings.interval));
    let health = Health::new(
        "produce-server",
        config.service_name.as_str(),
        manager.state(),
        Readiness::WithTheConnection,
    )
    .watching_publishes(manager.stall().clone());
    let app = Arc::new(App {
        console: console.clone(),
        publisher: Arc::new(ConfirmedPublisher::new(
            &manager,
            config.publish_timeout,
            config.service_name.clone(),
        )),
        rpc: Arc::new(RpcClient::new(&manager, config.service_name.clone())),
        manager: manager.clone(),
        config,
        tap,
    });
    info!(
        addr = %local,
        port = local.port(),
        queue = %app.config.queue.name,
        queue_shape = %app.config.queue.describe(),
        service = %app.config.service_name,
        urls = %amqp.endpoints,
        management = %app.config.management.as_ref().map_or("off".to_owned(), ToString::to_string),
        "produce-server listening"
    );
    if app.config.management.is_some() && console.is_none() {
        warn!("--management-url is not used with --telemetry off: the console it feeds is off");
    }

    // Stop serving when asked to, or when the broker refused our topology for good.
    let stop = shutdown.child_token();
    let tasks = TaskTracker::new();
    let failure = tasks.spawn({
        let (manager, stop, health) = (manager.clone(), stop.clone(), health.clone());
        async move {
            let failure = tokio::select! {
                refusal = manager.failed() => Some(refusal),
                _ = stop.cancelled() => None,
            };
            health.set_role_ready(false);
            stop.cancel();
            failure
        }
    });
    tasks.spawn(app.rpc.route_replies(stop.clone()));
    if let (Some(console), Some(settings)) = (&console, amqp.snapshots.clone()) {
        let management = app
            .config
            .management
            .clone()
            .map(|urls| ManagementApi::new(urls, amqp.endpoints.first()));
        console::spawn_tasks(console, &manager, management, &stop, &tasks);
        let identity = Identity {
            role: "produce-server".to_owned(),
            instance: app.config.service_name.to_string(),
            queue: Some(app.config.queue.name.to_string()),
            ..Identity::default()
        };
        let source = snapshot::Source {
            manager: manager.clone(),
            handled: Arc::new(HandledLog::default()),
        };
        snapshot::spawn(settings, identity, source, stop.clone(), &tasks);
    }
    let router = observe::observed(
        routes::routes(app.clone()).merge(http::health::routes(health, metrics.clone())),
        metrics,
    );
    // In-flight requests end by themselves within the publish timeout; a little more is slack.
    let grace = app.config.publish_timeout + Duration::from_secs(2);
    server::serve(listener, router, stop.clone(), grace).await;
    stop.cancel();
    tasks.close();
    tasks.wait().await;
    manager.close().await;
    match failure.await {
        Ok(Some(refusal)) => Err(refusal.into()),
        _ => {
            info!("produce-server stopped");
            Ok(())
        }
    }
}

/// The work queue (with its dead letters), the four exchanges (with their alternate exchange,
/// its queue and this process's tap on it), and for the console the telemetry exchange with a
/// private queue bound to it (declared last: the binding names the queue just declared,
/// whatever the broker named it).
fn topology(
    config: &ProduceServerConfig,
    tap: Option<&UnroutedTap>,
    snapshots: Option<&SnapshotSettings>,
) -> Topology {
    let mut topology = config.queue.topology();
    if let Some(alternate) = &config.exchanges.alternate {
        alternate.add_to(&mut topology);
    }
    if let Some(tap) = tap {
        tap.add_to(&mut topology);
    }
    topology.exchanges.extend(config.exchanges.specs());
    topology.exchange_mismatch_hint = Some(config.exchanges.mismatch_hint());
    if let Some(settings) = snapshots {
        topology.exchanges.push(snapshot::exchange_spec(settings));
        topology.queues.push(QueueSpec::server_named());
        topology.bindings.push(BindingSpec {
            queue: BoundQueue::LastDeclared,
            exchange: settings.exchange.clone(),
            routing_key: RoutingKey::empty(),
            arguments: amqprs::FieldTable::new(),
        });
    }
    topology
}
