//! `playground consume`: a worker on the work queue, acking each message only after it was
//! handled. Replaces the Node `message-consumer`, and carries the work-queue lessons: simulated
//! work (`--work`, `--work-per-dot`), failures (`--fail-rate`, `--requeue`, dead letters) and a
//! crash mid-task (`--crash-after`). Survives broker restarts and cut connections by starting over
//! on every session the connection manager hands it.

mod behaviour;
mod tally;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use amqprs::channel::ConsumerMessage;
use amqprs::channel::{BasicAckArguments, BasicRejectArguments};
use amqprs::{FieldValue, ShortStr};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

pub use behaviour::{WorkerBehaviour, CRASH_EXIT_CODE};
use tally::{log_summaries, log_summary, Counts, Tally};

use crate::amqp::{
    consume_across_sessions, AmqpOptions, ChannelSetup, ConnectionManager, ConsumerEvent, Session,
    SnapshotSettings, Topology, WorkQueue,
};
use crate::http::{spawn_health_server, Health};
use crate::identity;
use crate::message::{produced_at, rfc3339_now};
use crate::metrics::{self, metrics, RejectLabels};
use crate::roles::render_parsed_body;
use crate::roles::snapshot::{self, Handled, Identity, Outcome};
use crate::telemetry::elapsed_ms;

/// Settings of `consume`, built from its flags.
#[derive(Debug, Clone)]
pub struct ConsumeConfig {
    /// The queue and its shape (declared exactly as the producers declare it).
    pub queue: WorkQueue,
    /// Unacked messages the broker may push to this consumer; 1 gives fair dispatch.
    pub prefetch: u16,
    /// The worker's name in logs (the host name, i.e. the pod name, unless set).
    pub name: String,
    /// Where `/health` and `/ready` are served; `None` disables them.
    pub health_listen: Option<SocketAddr>,
    /// Pretty-print JSON bodies over several lines (for people), or keep them on one line (for
    /// JSON log pipelines).
    pub pretty_bodies: bool,
    /// Simulated work, failures and crash.
    pub behaviour: WorkerBehaviour,
    /// How often to log the summary line; `None` never.
    pub summary_every: Option<Duration>,
    /// On shutdown, how much longer the message in hand may be worked on before it is handed back.
    pub shutdown_grace: Duration,
}

/// Everything the delivery loop shares across sessions.
struct Worker {
    config: ConsumeConfig,
    tally: Arc<Tally>,
    shutdown: CancellationToken,
}

/// Consumes until `shutdown`: then cancels the consumer, settles the message in hand, closes the
/// connection and returns. Fails only when the broker refused the queue for good.
pub async fn run(
    config: ConsumeConfig,
    amqp: AmqpOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    metrics::init("consume");
    let manager = Arc::new(ConnectionManager::start(amqp.for_role(
        identity::connection_name("consume"),
        topology(&config, amqp.snapshots.as_ref()),
        ChannelSetup {
            confirms: false,
            prefetch: Some(config.prefetch),
        },
    )));
    let health = Health::new("consume", config.name.clone(), manager.state(), false);
    let background_stop = CancellationToken::new();
    let health_server = match config.health_listen {
        Some(addr) => {
            Some(spawn_health_server(addr, health.clone(), background_stop.clone()).await?)
        }
        None => None,
    };
    if let Some(settings) = amqp.snapshots.clone() {
        snapshot::spawn(
            settings,
            Identity {
                role: "consume".to_owned(),
                instance: config.name.clone(),
                queue: Some(config.queue.name.clone()),
                prefetch: Some(config.prefetch),
                ..Identity::default()
            },
            manager.sessions(),
            manager.state(),
            background_stop.clone(),
        );
    }
    let tally = Arc::new(Tally::default());
    if let Some(every) = config.summary_every {
        tokio::spawn(log_summaries(
            tally.clone(),
            every,
            config.name.clone(),
            config.queue.name.clone(),
            background_stop.clone(),
        ));
    }
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

    let started = Instant::now();
    let worker = Worker {
        tally: tally.clone(),
        shutdown: shutdown.clone(),
        config,
    };
    let consumer_tag = format!("{}.{}", worker.config.name, std::process::id());
    let queue = worker.config.queue.name.clone();
    let result = consume_across_sessions(
        &manager,
        &consumer_tag,
        &shutdown,
        |_| queue.clone(),
        |event| match event {
            ConsumerEvent::Consuming { session, queue } => {
                health.set_role_ready(true);
                info!(queue, prefetch = worker.config.prefetch, consumer = %worker.config.name, generation = session.generation(), "consuming");
            }
            ConsumerEvent::Paused => health.set_role_ready(false),
        },
        |session, delivery| {
            let worker = &worker;
            async move { handle_delivery(worker, &session, delivery).await }
        },
    )
    .await;
    health.set_role_ready(false);
    manager.close().await;
    background_stop.cancel();
    if let Some(server) = health_server {
        let _ = server.await;
    }
    result?;
    log_summary(
        &worker.config.name,
        &worker.config.queue.name,
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

/// Tells the console what became of a message.
fn record(message: &Incoming, outcome: Outcome) {
    snapshot::record(Handled {
        message_id: message.message_id.clone(),
        seq: message.seq,
        burst: message.burst.clone(),
        routing_key: None,
        redelivered: message.redelivered,
        outcome,
    });
}

/// What a worker needs to know about a message, whatever its body.
struct Incoming {
    delivery_tag: u64,
    redelivered: bool,
    message_id: String,
    /// The envelope's `seq`, for burst messages.
    seq: Option<u64>,
    /// The envelope's `burst` id.
    burst: Option<String>,
    /// Quorum queues count failed deliveries in `x-delivery-count`: how close the message is to
    /// the delivery limit.
    delivery_count: Option<i64>,
    /// When the producer stamped it (envelope `timestamp`), for the end-to-end latency.
    produced_at: Option<SystemTime>,
    /// The envelope's `message`, or the whole body if it is not an envelope: its dots are work.
    text: String,
    body: String,
    bytes: usize,
}

impl Incoming {
    fn parse(delivery: ConsumerMessage, pretty: bool) -> Option<Self> {
        let (Some(deliver), Some(content)) = (delivery.deliver, delivery.content) else {
            return None;
        };
        let properties = delivery.basic_properties.as_ref();
        let message_id = properties
            .and_then(|p| p.message_id().cloned())
            .unwrap_or_default();
        let delivery_count = properties.and_then(|p| p.headers()).and_then(|headers| {
            let key = ShortStr::try_from("x-delivery-count").ok()?;
            match headers.get(&key)? {
                FieldValue::l(n) => Some(*n),
                FieldValue::I(n) => Some(i64::from(*n)),
                FieldValue::i(n) => Some(i64::from(*n)),
                _ => None,
            }
        });
        let envelope = serde_json::from_slice::<serde_json::Value>(&content).ok();
        let seq = envelope.as_ref().and_then(|v| v["seq"].as_u64());
        let burst = envelope
            .as_ref()
            .and_then(|v| v["burst"].as_str().map(str::to_owned));
        let produced_at = envelope.as_ref().and_then(produced_at);
        let text = envelope
            .as_ref()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&content).into_owned());
        Some(Self {
            delivery_tag: deliver.delivery_tag(),
            redelivered: deliver.redelivered(),
            message_id,
            seq,
            burst,
            delivery_count,
            produced_at,
            text,
            body: render_parsed_body(&content, envelope.as_ref(), pretty),
            bytes: content.len(),
        })
    }
}

/// How the simulated work ended.
enum WorkOutcome {
    Done,
    /// Shutdown came and the rest of the work would outlast the grace period.
    Interrupted,
    /// The connection went away: the broker requeues the message by itself.
    SessionLost,
}

/// Logs one message, works on it, then acks or rejects it. Any body is fine: JSON is
/// pretty-printed, text logged as is, binary logged lossily with its size — never a crash (unless
/// asked for), never an unacked poison message.
async fn handle_delivery(worker: &Worker, session: &Session, delivery: ConsumerMessage) {
    let config = &worker.config;
    let started = Instant::now();
    let Some(message) = Incoming::parse(delivery, config.pretty_bodies) else {
        warn!("incomplete delivery from amqprs; ignored");
        return;
    };
    let received = worker.tally.received(message.redelivered);
    let metrics = metrics();
    metrics.delivered.inc();
    if message.redelivered {
        metrics.redelivered.inc();
    }
    let work = config.behaviour.work_for(&message.text);
    info!(
        consumer = %config.name,
        queue = %config.queue.name,
        delivery_tag = message.delivery_tag,
        redelivered = message.redelivered,
        message_id = %message.message_id,
        seq = message.seq,
        delivery_count = message.delivery_count,
        received_at = %rfc3339_now(),
        bytes = message.bytes,
        work_ms = work.as_millis() as u64,
        body = %message.body,
        "received message"
    );
    if config.behaviour.crashes_on(received) {
        error!(
            consumer = %config.name,
            message_id = %message.message_id,
            seq = message.seq,
            received,
            exit_code = CRASH_EXIT_CODE,
            "crashing on purpose (--crash-after): exiting without ack; the broker will redeliver"
        );
        std::process::exit(CRASH_EXIT_CODE);
    }

    let outcome = simulate_work(work, &worker.shutdown, config.shutdown_grace, session).await;
    // An ack on a channel the broker already closed would make it close the whole connection
    // (504 CHANNEL_ERROR); the message will be redelivered anyway, so skip it.
    if matches!(outcome, WorkOutcome::SessionLost) || session.is_ended() {
        warn!(consumer = %config.name, message_id = %message.message_id, seq = message.seq, "connection lost before the ack; the broker will redeliver");
        return;
    }
    let elapsed_ms = elapsed_ms(started);
    let channel = session.channel();
    if matches!(outcome, WorkOutcome::Interrupted) {
        let back = channel
            .basic_reject(BasicRejectArguments::new(message.delivery_tag, true))
            .await;
        match back {
            Ok(()) => {
                info!(consumer = %config.name, message_id = %message.message_id, seq = message.seq, elapsed_ms, "shutting down mid-task: handed the message back to the queue")
            }
            Err(error) => {
                warn!(%error, message_id = %message.message_id, "could not hand the message back; the broker will redeliver it when the connection closes")
            }
        }
        return;
    }
    if config.behaviour.fails() {
        let requeue = config.behaviour.requeue;
        let destination = match (&config.queue.dead_letter, requeue) {
            (_, true) => "requeued".to_owned(),
            (Some(dead_letter), false) => format!("dead-lettered to {}", dead_letter.queue),
            (None, false) => {
                "dropped (no dead-letter queue; use --dead-letter to keep it)".to_owned()
            }
        };
        match channel
            .basic_reject(BasicRejectArguments::new(message.delivery_tag, requeue))
            .await
        {
            Ok(()) => {
                worker.tally.rejected();
                record(
                    &message,
                    match (requeue, config.queue.dead_letter.is_some()) {
                        (true, _) => Outcome::Requeued,
                        (false, true) => Outcome::DeadLettered,
                        (false, false) => Outcome::Dropped,
                    },
                );
                record_handled(&message, started);
                metrics
                    .rejected
                    .get_or_create(&RejectLabels {
                        requeue: requeue.to_string(),
                    })
                    .inc();
                warn!(
                    consumer = %config.name,
                    message_id = %message.message_id,
                    seq = message.seq,
                    redelivered = message.redelivered,
                    requeue,
                    destination = %destination,
                    elapsed_ms,
                    "processing failed (simulated): rejected"
                );
            }
            Err(error) => {
                warn!(%error, message_id = %message.message_id, "reject failed; the broker will redeliver")
            }
        }
        return;
    }
    match channel
        .basic_ack(BasicAckArguments::new(message.delivery_tag, false))
        .await
    {
        Ok(()) => {
            worker.tally.acked();
            record(&message, Outcome::Acked);
            record_handled(&message, started);
            metrics.acked.inc();
            info!(
                consumer = %config.name,
                message_id = %message.message_id,
                seq = message.seq,
                redelivered = message.redelivered,
                delivery_tag = message.delivery_tag,
                elapsed_ms,
                "acked"
            );
        }
        Err(error) => {
            warn!(%error, message_id = %message.message_id, "ack failed; the broker will redeliver")
        }
    }
}

/// Observes how long handling took, and how old the message is now that it is handled.
fn record_handled(message: &Incoming, started: Instant) {
    let metrics = metrics();
    metrics
        .processing_time
        .observe(started.elapsed().as_secs_f64());
    if let Some(age) = message
        .produced_at
        .and_then(|at| SystemTime::now().duration_since(at).ok())
    {
        metrics.end_to_end_latency.observe(age.as_secs_f64());
    }
}

/// Sleeps for `work` without blocking anything else (heartbeats, health probes). On shutdown the
/// work may go on for `grace` more; past that it is interrupted.
async fn simulate_work(
    work: Duration,
    shutdown: &CancellationToken,
    grace: Duration,
    session: &Session,
) -> WorkOutcome {
    if work.is_zero() {
        return WorkOutcome::Done;
    }
    let done = tokio::time::Instant::now() + work;
    tokio::select! {
        _ = tokio::time::sleep_until(done) => return WorkOutcome::Done,
        _ = session.ended() => return WorkOutcome::SessionLost,
        _ = shutdown.cancelled() => {}
    }
    let cutoff = tokio::time::Instant::now() + grace;
    if done <= cutoff {
        tokio::select! {
            _ = tokio::time::sleep_until(done) => WorkOutcome::Done,
            _ = session.ended() => WorkOutcome::SessionLost,
        }
    } else {
        tokio::select! {
            _ = tokio::time::sleep_until(cutoff) => WorkOutcome::Interrupted,
            _ = session.ended() => WorkOutcome::SessionLost,
        }
    }
}
