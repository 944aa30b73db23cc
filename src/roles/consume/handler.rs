//! What a worker does with one message: log it, work on it (simulated), then ack or reject it,
//! and report the outcome to its tally, metrics and the console. Any body is fine: JSON is
//! logged as JSON, text as is, binary lossily with its size — never a crash (unless asked for),
//! never an unacked poison message.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::behaviour::CRASH_EXIT_CODE;
use super::incoming::Incoming;
use super::tally::Tally;
use super::ConsumeConfig;
use crate::amqp::{ConfirmedPublisher, Delivery, Session};
use crate::message::rfc3339_now;
use crate::metrics::{Metrics, RejectLabels};
use crate::roles::body::BodyStyle;
use crate::roles::snapshot::{Handled, HandledLog, Outcome};
use crate::telemetry::elapsed_ms;

/// Everything the delivery loop shares across sessions.
pub struct Worker {
    pub config: ConsumeConfig,
    pub tally: Arc<Tally>,
    pub metrics: Arc<Metrics>,
    pub handled: Arc<HandledLog>,
    pub shutdown: CancellationToken,
    pub style: BodyStyle,
    /// Publishes a failed message's copy into its delay queue; `Some` with `--retry-delays`
    /// (the role's channel is then in confirm mode).
    pub publisher: Option<ConfirmedPublisher>,
}

/// How the simulated work ended.
enum WorkOutcome {
    Done,
    /// Shutdown came and the rest of the work would outlast the grace period.
    Interrupted,
    /// The connection went away: the broker requeues the message by itself.
    SessionLost,
}

impl Worker {
    /// Logs one message, works on it, then acks or rejects it.
    pub async fn handle(&self, delivery: Delivery) {
        let config = &self.config;
        let started = Instant::now();
        let ladder = config.queue.retry.as_ref();
        let mut message = Incoming::read(&delivery, &config.behaviour, ladder, self.style);
        let received = self.tally.received(message.redelivered);
        self.metrics.delivered.inc();
        if message.redelivered {
            self.metrics.redelivered.inc();
        }
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
            work_ms = message.work.as_millis() as u64,
            attempt = message.attempt,
            attempts = ladder.map(|l| l.attempts()),
            x_death = (!message.deaths.is_empty()).then(|| message.deaths.story()),
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

        // With a retry ladder a body that is not a JSON object is a poison message: the worker
        // cannot read it, so it climbs the ladder to the dead-letter queue like any failure.
        // Without one any body is logged and acked, as the Node consumer did.
        message.failure = if config.behaviour.fails() {
            Some("simulated (--fail-rate)")
        } else if ladder.is_some() && !message.is_envelope {
            Some("the body is not a JSON object: the worker cannot read it")
        } else {
            None
        };
        let outcome = self.simulate_work(message.work, delivery.session()).await;
        match outcome {
            WorkOutcome::SessionLost => {
                warn!(consumer = %config.name, message_id = %message.message_id, seq = message.seq, "connection lost before the ack; the broker will redeliver");
            }
            WorkOutcome::Interrupted => match delivery.reject(true).await {
                Ok(()) => {
                    info!(consumer = %config.name, message_id = %message.message_id, seq = message.seq, elapsed_ms = elapsed_ms(started), "shutting down mid-task: handed the message back to the queue");
                }
                Err(error) => {
                    warn!(%error, message_id = %message.message_id, "could not hand the message back")
                }
            },
            WorkOutcome::Done if message.failure.is_some() => match ladder {
                Some(ladder) => self.retry(delivery, &message, started, ladder).await,
                None => self.fail(delivery, &message, started).await,
            },
            WorkOutcome::Done => match delivery.ack().await {
                Ok(()) => {
                    self.tally.acked();
                    self.metrics.acked.inc();
                    self.record(&message, Outcome::Acked, started);
                    info!(
                        consumer = %config.name,
                        message_id = %message.message_id,
                        seq = message.seq,
                        redelivered = message.redelivered,
                        delivery_tag = message.delivery_tag,
                        attempt = message.attempt,
                        elapsed_ms = elapsed_ms(started),
                        "acked"
                    );
                }
                Err(error) => warn!(%error, message_id = %message.message_id, "not acked"),
            },
        }
    }

    /// A simulated failure: reject, back to the queue or on to the dead letters (or nowhere).
    pub(super) async fn fail(&self, delivery: Delivery, message: &Incoming, started: Instant) {
        let config = &self.config;
        let requeue = config.behaviour.requeue;
        let (outcome, destination) = match (&config.queue.dead_letter, requeue) {
            (_, true) => (Outcome::Requeued, "requeued".to_owned()),
            (Some(dead_letter), false) => (
                Outcome::DeadLettered,
                match message.attempt {
                    Some(n) => format!("dead-lettered to {} after {n} attempts", dead_letter.queue),
                    None => format!("dead-lettered to {}", dead_letter.queue),
                },
            ),
            (None, false) => (
                Outcome::Dropped,
                "dropped (no dead-letter queue; use --dead-letter to keep it)".to_owned(),
            ),
        };
        if let Err(error) = delivery.reject(requeue).await {
            warn!(%error, message_id = %message.message_id, "not rejected");
            return;
        }
        self.tally.rejected();
        self.record(message, outcome, started);
        self.metrics
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
            attempt = message.attempt,
            attempts = config.queue.retry.as_ref().map(|l| l.attempts()),
            reason = message.failure,
            x_death = (!message.deaths.is_empty()).then(|| message.deaths.story()),
            elapsed_ms = elapsed_ms(started),
            "processing failed (simulated): rejected"
        );
    }

    /// Tells the console what became of a message; observes how long handling took and how old
    /// the message is now that it is handled.
    pub(super) fn record(&self, message: &Incoming, outcome: Outcome, started: Instant) {
        self.handled.record(Handled {
            message_id: message.message_id.clone(),
            seq: message.seq,
            burst: message.burst.clone(),
            routing_key: None,
            redelivered: message.redelivered,
            outcome,
            attempt: message.attempt,
            trace: message.trace.clone(),
        });
        self.metrics
            .processing_time
            .observe(started.elapsed().as_secs_f64());
        if let Some(age) = message
            .produced_at
            .and_then(|at| SystemTime::now().duration_since(at).ok())
        {
            self.metrics.end_to_end_latency.observe(age.as_secs_f64());
        }
    }

    /// Sleeps for `work` without blocking anything else (heartbeats, health probes). On shutdown
    /// the work may go on for the grace period; past that it is interrupted.
    async fn simulate_work(&self, work: Duration, session: &Session) -> WorkOutcome {
        if work.is_zero() {
            return WorkOutcome::Done;
        }
        let done = tokio::time::Instant::now() + work;
        tokio::select! {
            _ = tokio::time::sleep_until(done) => return WorkOutcome::Done,
            _ = session.ended() => return WorkOutcome::SessionLost,
            _ = self.shutdown.cancelled() => {}
        }
        let cutoff = tokio::time::Instant::now() + self.config.shutdown_grace;
        let (until, outcome) = if done <= cutoff {
            (done, WorkOutcome::Done)
        } else {
            (cutoff, WorkOutcome::Interrupted)
        };
        tokio::select! {
            _ = tokio::time::sleep_until(until) => outcome,
            _ = session.ended() => WorkOutcome::SessionLost,
        }
    }
}
