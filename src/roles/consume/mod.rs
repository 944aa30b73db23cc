//! `playground consume`: a worker on the work queue, acking each message only after it was
//! handled. Replaces the Node `message-consumer`, and carries the work-queue lessons: simulated
//! work (`--work`, `--work-per-dot`), failures (`--fail-rate`, `--requeue`, dead letters) and a
//! crash mid-task (`--crash-after`). Survives broker restarts and cut connections by starting over
//! on every session the connection manager hands it.
//!
//! - [`handler`]: what happens to one message; [`incoming`]: reading it once;
//! - [`behaviour`]: the simulated work, failures and crash; [`tally`]: counts and summaries;
//! - `retrying`: a failure's way up the retry ladder (`--retry-delays`).

mod behaviour;
mod handler;
mod incoming;
mod retrying;
mod tally;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tracing::info;

pub use behaviour::{WorkerBehaviour, CRASH_EXIT_CODE};
use handler::Worker;
use tally::{log_summaries, log_summary, Counts, Tally};

use crate::amqp::{
    consume_across_sessions, AmqpOptions, ChannelSetup, ConfirmedPublisher, ConsumerEvent,
    ConsumerTag, InstanceName, WorkQueue,
};
use crate::http::Listen;
use crate::roles::body::BodyStyle;
use crate::roles::consuming::{ConsumingRole, Plan};
use crate::roles::snapshot::Identity;

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

/// How long a retry's copy may wait for the broker's confirm before the original goes back to
/// the work queue instead.
const RETRY_PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);

/// Consumes until `shutdown`: then cancels the consumer, settles the message in hand, stops its
/// background tasks, closes the connection and returns. Fails only when the broker refused the
/// queue for good (or the health port cannot be used).
pub async fn run(
    config: ConsumeConfig,
    amqp: AmqpOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let plan = Plan {
        role: "consume",
        name: config.name.clone(),
        topology: config.queue.topology(),
        prefetch: config.prefetch,
        health_listen: config.health_listen,
        identity: Identity {
            role: "consume".to_owned(),
            instance: config.name.to_string(),
            queue: Some(config.queue.name.to_string()),
            prefetch: Some(config.prefetch),
            ..Identity::default()
        },
    };
    // A retry publishes a copy before acking: the channel must confirm it.
    let channel = ChannelSetup {
        confirms: config.queue.retry.is_some(),
        ..ChannelSetup::default()
    };
    let role = ConsumingRole::start_with_channel(plan, &amqp, channel).await?;
    let publisher = config.queue.retry.is_some().then(|| {
        ConfirmedPublisher::new(&role.manager, RETRY_PUBLISH_TIMEOUT, config.name.clone())
    });
    let tally = Arc::new(Tally::default());
    if let Some(every) = config.summary_every {
        let (tally, name) = (tally.clone(), config.name.to_string());
        let queue = config.queue.name.to_string();
        role.spawn(move |stop| log_summaries(tally, every, name, queue, stop));
    }
    log_start(&config, &amqp);

    let started = Instant::now();
    let consumer_tag = ConsumerTag::for_instance(config.name.as_str(), std::process::id());
    let worker = Worker {
        tally: tally.clone(),
        metrics: role.metrics.clone(),
        handled: role.handled.clone(),
        shutdown: shutdown.clone(),
        style: config.body_style,
        publisher,
        config,
    };
    let (queue, health) = (worker.config.queue.name.clone(), &role.health);
    let result = consume_across_sessions(
        &role.manager,
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
    role.finish().await;
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
        urls = %amqp.endpoints,
        "consumer starting"
    );
}
