//! A failure with `--retry-delays`: the message climbs the retry ladder instead of coming straight
//! back. The step is publish-then-ack: a copy (same body, properties and `x-death` history) goes
//! to the delay queue of this attempt, and only once the broker confirmed it is the original
//! acked. A connection lost in between leaves both (the broker redelivers the original): a
//! duplicate, never a loss. Past the last delay the message is rejected into the dead-letter
//! queue, where its `x-death` header tells the whole story.

use std::time::Instant;

use tracing::warn;

use super::handler::Worker;
use super::incoming::Incoming;
use crate::amqp::retry::delay_label;
use crate::amqp::{AfterFailure, Delivery, PublishError, RetryLadder, RetryStep};
use crate::metrics::AttemptLabels;
use crate::roles::snapshot::Outcome;
use crate::telemetry::elapsed_ms;

impl Worker {
    /// Sends a failed message to the delay queue of its attempt, or, after the last one, to the
    /// dead letters.
    pub(super) async fn retry(
        &self,
        delivery: Delivery,
        message: &Incoming,
        started: Instant,
        ladder: &RetryLadder,
    ) {
        let attempt = message.attempt.unwrap_or(1);
        match ladder.after_failure(attempt) {
            AfterFailure::GiveUp => self.fail(delivery, message, started).await,
            AfterFailure::Retry(step) => {
                self.park(delivery, message, started, ladder, attempt, step)
                    .await
            }
        }
    }

    /// Publishes the copy into `step`'s delay queue, then acks the original.
    async fn park(
        &self,
        delivery: Delivery,
        message: &Incoming,
        started: Instant,
        ladder: &RetryLadder,
        attempt: u32,
        step: &RetryStep,
    ) {
        let config = &self.config;
        let Some(publisher) = &self.publisher else {
            // Built with the ladder; without it the failure is settled the plain way.
            return self.fail(delivery, message, started).await;
        };
        let copy = delivery.copy_to(&step.queue);
        if let Err(error) = publisher.publish_copy(copy).await {
            return self.not_parked(delivery, message, step, error).await;
        }
        if let Err(error) = delivery.ack().await {
            warn!(
                %error,
                message_id = %message.message_id,
                delay_queue = %step.queue,
                "the copy is in the delay queue but the original was not acked: the broker \
                 redelivers it, so this message will be handled twice (a duplicate, not a loss)"
            );
            return;
        }
        self.tally.retried();
        self.metrics
            .retries
            .get_or_create(&AttemptLabels {
                attempt: attempt.to_string(),
            })
            .inc();
        self.record(message, Outcome::Retried, started);
        warn!(
            consumer = %config.name,
            message_id = %message.message_id,
            seq = message.seq,
            attempt,
            attempts = ladder.attempts(),
            next_delay = %delay_label(step.delay),
            delay_queue = %step.queue,
            reason = message.failure,
            x_death = %message.deaths.story(),
            elapsed_ms = elapsed_ms(started),
            "processing failed (simulated): retrying after a delay"
        );
    }

    /// The copy was not confirmed: the original goes back to the work queue as it is (its
    /// attempt unchanged), or, if the connection is gone, the broker puts it back by itself.
    async fn not_parked(
        &self,
        delivery: Delivery,
        message: &Incoming,
        step: &RetryStep,
        error: PublishError,
    ) {
        let session = delivery.session().clone();
        let requeued = delivery.reject(true).await;
        warn!(
            %error,
            message_id = %message.message_id,
            delay_queue = %step.queue,
            requeued = requeued.is_ok(),
            "could not park the message in its delay queue; it goes back to the work queue"
        );
        if matches!(error, PublishError::Unroutable { .. }) {
            // The delay queue was deleted under us: reconnecting declares it again.
            session.end(format!("delay queue {} is missing", step.queue));
        }
    }
}
