//! `playground consume`: a worker on the work queue, acking each message only after it was
//! handled. Replaces the Node `message-consumer`, and carries the work-queue lessons: simulated
//! work (`--work`, `--work-per-dot`), failures (`--fail-rate`, `--requeue`, dead letters) and a
//! crash mid-task (`--crash-after`). Survives broker restarts and cut connections by starting over
//! on every session the connection manager hands it.
//!
//! - [`handler`]: what happens to one message; [`incoming`]: reading it once;
//! - [`behaviour`]: the simulated work, failures and crash; [`tally`]: counts and summaries.

mod behaviour;
mod handler;
mod incoming;
mod tally;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::info;

pub use behaviour::{WorkerBehaviour, CRASH_EXIT_CODE};
use handler::Worker;
use tally::{log_summaries, log_summary, Counts, Tally};

use crate::amqp::{
    consume_across_sessions, AmqpOptions, ChannelSetup, ConnectionManager, ConsumerEvent,
    ConsumerTag, InstanceName, SnapshotSettings, Topology, WorkQueue,
};
use crate::http::{server, spawn_probe_server, Health, Listen, Readiness};
use crate::identity;
use crate::metrics::Metrics;
use crate::roles::body::BodyStyle;
use crate::roles::snapshot::{self, HandledLog, Identity};

/// Settings of `consume`, built from its flags.
#[derive(Debug, Clone)]
pub struct ConsumeConfig {
    /// The queue and its shape (declared exactly as the producers declare it).
    pub queue: WorkQueue,
    /// Unacked messages the broker may push to this consumer; 1 gives fair dispatch.
    pub prefetch: u16,
    /// The worker's name in logs (the host name, i.e. the pod name, unless set).
    pub name: InstanceName,
    /// Where `/health` and `/ready` are served; `None` disables them.
    pub health_listen: Option<Listen>,
    /// How bodies appear in the log lines.
    pub body_style: BodyStyle,
    /// Simulated work, failures and crash.
    pub behaviour: WorkerBehaviour,
    /// How often to log the summary line; `None` never.
    pub summary_every: Option<Duration>,
    /// On shutdown, how much longer the message in hand may be worked on before it is handed back.
    pub shutdown_grace: Duration,
}

/// Consumes until `shutdown`: then cancels the consumer, settles the message in hand, stops its
/// background tasks, closes the connection and returns. Fails only when the broker refused the
/// queue for good.
pub async fn run(
    config: ConsumeConfig,
    amqp: AmqpOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // Bound first: a port that cannot be used must stop the role before it declares anything.
    let probe_listener = match config.health_listen {
        Some(listen) => Some(server::bind(listen).await?),
        None => None,
    };
    let metrics = Arc::new(Metrics::new("consume"));
    let manager = Arc::new(ConnectionManager::start(
        amqp.for_role(
            identity::connection_name("consume"),
            topology(&config, amqp.snapshots.as_ref()),
            ChannelSetup {
                prefetch: Some(config.prefetch),
                ..ChannelSetup::default()
            },
        ),
        metrics.clone(),
    ));
    let health = Health::new(
        "consume",
        config.name.as_str(),
        manager.state(),
        Readiness::WhenTheRoleSaysSo,
    );
    let background = CancellationToken::new();
    let tasks = TaskTracker::new();
    if let Some(listener) = probe_listener {
        let (health, metrics) = (health.clone(), metrics.clone());
        spawn_probe_server(listener, health, metrics, background.clone(), &tasks);
    }
    let handled = Arc::new(HandledLog::default());
    if let Some(settings) = amqp.snapshots.clone() {
        let identity = Identity {
            role: "consume".to_owned(),
            instance: config.name.to_string(),
            queue: Some(config.queue.name.to_string()),
            prefetch: Some(config.prefetch),
            ..Identity::default()
        };
        let source = snapshot::Source {
            manager: manager.clone(),
            handled: handled.clone(),
        };
        snapshot::spawn(settings, identity, source, background.clone(), &tasks);
    }
    let tally = Arc::new(Tally::default());
    if let Some(every) = config.summary_every {
        tasks.spawn(log_summaries(
            tally.clone(),
            every,
            config.name.to_string(),
            config.queue.name.to_string(),
            background.clone(),
        ));
    }
    log_start(&config, &amqp);

    let started = Instant::now();
    let consumer_tag = ConsumerTag::for_instance(config.name.as_str(), std::process::id());
    let worker = Worker {
        tally: tally.clone(),
        metrics,
        handled,
        shutdown: shutdown.clone(),
        style: config.body_style,
        config,
    };
    let queue = worker.config.queue.name.clone();
    let result = consume_across_sessions(
        &manager,
        &consumer_tag,
        &shutdown,
        |_| Some(queue.clone()),
        |event| match event {
            ConsumerEvent::Consuming { session, queue } => {
                health.set_role_ready(true);
                info!(%queue, prefetch = worker.config.prefetch, consumer = %worker.config.name, generation = session.generation(), "consuming");
            }
            ConsumerEvent::Paused => health.set_role_ready(false),
        },
        |delivery| worker.handle(delivery),
    )
    .await;
    health.set_role_ready(false);
    background.cancel();
    tasks.close();
    tasks.wait().await;
    manager.close().await;
    result?;
    let (name, queue) = (
        worker.config.name.as_str(),
        worker.config.queue.name.as_str(),
    );
    log_summary(
        name,
        queue,
        tally.counts(),
        Counts::default(),
        started.elapsed(),
    );
    info!("consumer stopped");
    Ok(())
}

/// The work queue's topology, plus the console's telemetry exchange when snapshots are on.
fn topology(config: &ConsumeConfig, snapshots: Option<&SnapshotSettings>) -> Topology {
    let mut topology = config.queue.topology();
    topology
        .exchanges
        .extend(snapshots.map(snapshot::exchange_spec));
    topology
}

fn log_start(config: &ConsumeConfig, amqp: &AmqpOptions) {
    let behaviour = &config.behaviour;
    info!(
        queue = %config.queue.name,
        queue_shape = %config.queue.describe(),
        prefetch = config.prefetch,
        consumer = %config.name,
        work_ms = behaviour.work.as_millis() as u64,
        work_per_dot_ms = behaviour.work_per_dot.as_millis() as u64,
        fail_rate = behaviour.fail_rate,
        requeue = behaviour.requeue,
        crash_after = behaviour.crash_after,
        url = %amqp.settings,
        "consumer starting"
    );
}
