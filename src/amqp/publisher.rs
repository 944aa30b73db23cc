//! Publishing that only reports success once the broker confirmed the message.
//!
//! Many callers (concurrent HTTP requests, a burst's window) share the session's confirm-mode
//! channel: each hands its frame to the channel's [`PublishGate`](super::publish_gate) and then
//! waits for its own confirm without holding anything, so requests are never serialised behind
//! each other's round trips (RabbitMQ's "streaming confirms"). Every wait is bounded: by the
//! publish timeout, and by the end of the session, which resolves outstanding confirms as lost.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use super::confirms::{Confirm, ConfirmTracker};
use super::delivery::MessageCopy;
use super::manager::ConnectionManager;
use super::names::InstanceName;
use super::outgoing::OutgoingMessage;
use super::publish_gate::{Frame, PublishGate};
use super::session::Session;
use super::stall::PublishStall;
use crate::metrics::{FailureLabels, Metrics};

/// Why a publish did not end in a broker ack. Each maps to a distinct HTTP status.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PublishError {
    /// No connection: nothing was sent.
    #[error("RabbitMQ not connected")]
    NotConnected,
    /// The connection ended after the message was sent and before the broker answered: it may or
    /// may not be queued.
    #[error("the RabbitMQ connection was lost before the broker confirmed the message")]
    ConnectionLost,
    /// No confirm within the publish timeout (a stalled or blocked broker).
    #[error("the broker did not confirm the message within {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    /// The broker refused the message.
    #[error("the broker rejected the message (nack)")]
    Nacked,
    /// Published with `mandatory` and no queue matched: the broker dropped it.
    #[error("no queue is bound for exchange {exchange:?} and routing key {routing_key:?}; the message was not queued")]
    Unroutable {
        /// The exchange it was published to (empty for the default exchange).
        exchange: String,
        /// The key no binding matched (the queue name, through the default exchange).
        routing_key: String,
    },
}

/// Confirmed publishing over the manager's current session.
pub struct ConfirmedPublisher {
    sessions: watch::Receiver<Option<Session>>,
    timeout: Duration,
    app_id: InstanceName,
    metrics: Arc<Metrics>,
    stall: Arc<PublishStall>,
}

impl ConfirmedPublisher {
    /// A publisher on `manager`'s sessions (whose channel should be in confirm mode for
    /// [`publish`](Self::publish)), stamping `app_id` on every message.
    pub fn new(manager: &ConnectionManager, timeout: Duration, app_id: InstanceName) -> Self {
        Self {
            sessions: manager.sessions(),
            timeout,
            app_id,
            metrics: manager.metrics().clone(),
            stall: manager.stall().clone(),
        }
    }

    /// The current session, unless the connection is down.
    fn live_session(&self) -> Result<Session, PublishError> {
        self.sessions
            .borrow()
            .clone()
            .filter(|s| !s.is_ended())
            .ok_or(PublishError::NotConnected)
    }

    /// Hands one frame to the session's gate, within `deadline` and while the session lives.
    async fn hand_over(
        &self,
        gate: &PublishGate,
        session: &Session,
        frame: Frame,
        deadline: Instant,
    ) -> Result<Option<super::publish_gate::Enqueued>, PublishError> {
        tokio::select! {
            enqueued = gate.enqueue(frame) => enqueued.map_err(|_| PublishError::NotConnected),
            _ = session.ended() => Err(PublishError::NotConnected),
            _ = tokio::time::sleep_until(deadline) => Err(PublishError::Timeout(self.timeout)),
        }
    }

    /// Publishes without waiting for a confirm: the frame is handed over and that is all. Only
    /// `perf` uses it, to measure the broker's unconfirmed ceiling; it is not a way to send the
    /// lab's messages, which are only "sent" once confirmed.
    pub async fn publish_unconfirmed(&self, message: OutgoingMessage) -> Result<(), PublishError> {
        let session = self.live_session()?;
        let frame = message.into_frame(&self.app_id, false);
        let deadline = Instant::now() + self.timeout;
        self.hand_over(session.gate(), &session, frame, deadline)
            .await?;
        self.metrics.published.inc();
        Ok(())
    }

    /// Publishes a persistent JSON message and waits for the broker's confirm.
    pub async fn publish(&self, message: OutgoingMessage) -> Result<(), PublishError> {
        self.send(message).await?.confirmed().await
    }

    /// Hands the message to the broker connection and returns without waiting for the confirm.
    /// Messages sent one after the other reach the queue in that order, which a burst relies on;
    /// their confirms can then be awaited concurrently. Bounded by the publish timeout.
    pub async fn send(&self, message: OutgoingMessage) -> Result<PendingConfirm, PublishError> {
        let sent = self.enqueue(message).await;
        if let Err(error) = &sent {
            self.metrics
                .publish_failures
                .get_or_create(&failure_label(error))
                .inc();
        }
        sent
    }

    /// Like [`send`](Self::send), on a given session rather than the current one: for a request
    /// whose reply will arrive on that session's channel (direct reply-to). `NotConnected` if
    /// that session is over.
    pub async fn send_on(
        &self,
        session: &Session,
        message: OutgoingMessage,
    ) -> Result<PendingConfirm, PublishError> {
        let sent = match session.is_ended() {
            true => Err(PublishError::NotConnected),
            false => self.enqueue_on(session, message).await,
        };
        if let Err(error) = &sent {
            self.metrics
                .publish_failures
                .get_or_create(&failure_label(error))
                .inc();
        }
        sent
    }

    /// Publishes a copy of a delivered message (a retry's step into its delay queue) and waits
    /// for the broker's confirm. Only on the session the original came on: if that one is gone,
    /// the original cannot be acked either and the broker redelivers it, so publishing the copy
    /// elsewhere would only make a duplicate.
    pub async fn publish_copy(&self, copy: MessageCopy) -> Result<(), PublishError> {
        let address = (String::new(), copy.queue.to_string());
        let sent = match self.live_session() {
            Ok(session) if session.generation() == copy.generation => {
                self.enqueue_frame(&session, copy.frame, address).await
            }
            Ok(_) | Err(_) => Err(PublishError::NotConnected),
        };
        if let Err(error) = &sent {
            self.metrics
                .publish_failures
                .get_or_create(&failure_label(error))
                .inc();
        }
        sent?.confirmed().await
    }

    async fn enqueue(&self, message: OutgoingMessage) -> Result<PendingConfirm, PublishError> {
        let session = self.live_session()?;
        self.enqueue_on(&session, message).await
    }

    async fn enqueue_on(
        &self,
        session: &Session,
        message: OutgoingMessage,
    ) -> Result<PendingConfirm, PublishError> {
        let (exchange, routing_key) = message.destination.address();
        let address = (exchange.to_owned(), routing_key.to_owned());
        // `mandatory`: an unroutable message comes back instead of vanishing behind an ack.
        let mandatory = !message.extras.direct_reply;
        let frame = message.into_frame(&self.app_id, mandatory);
        self.enqueue_frame(session, frame, address).await
    }

    /// Hands `frame` (published to `(exchange, routing_key)`) to `session`'s gate.
    async fn enqueue_frame(
        &self,
        session: &Session,
        frame: Frame,
        (exchange, routing_key): (String, String),
    ) -> Result<PendingConfirm, PublishError> {
        let deadline = Instant::now() + self.timeout;
        let gate = session.gate();
        // A channel without confirm mode cannot tell us the message was stored.
        let confirms = gate.confirms().cloned().ok_or(PublishError::NotConnected)?;
        let enqueued = self
            .hand_over(gate, session, frame, deadline)
            .await?
            .ok_or(PublishError::NotConnected)?;
        self.metrics.published.inc();
        Ok(PendingConfirm {
            sent_at: Instant::now(),
            confirms,
            tag: enqueued.tag,
            confirm: enqueued.confirm,
            deadline,
            timeout: self.timeout,
            exchange,
            routing_key,
            metrics: self.metrics.clone(),
            stall: self.stall.clone(),
        })
    }
}

/// Publishes a transient message on the session's side channel and waits for nothing: for the
/// lab console's snapshots, which must never hold up, fail or take the confirm numbers of a
/// role's real work. `NotConnected` when there is no session or it has no side channel.
pub async fn publish_fire_and_forget(
    session: &Session,
    message: OutgoingMessage,
    app_id: &InstanceName,
) -> Result<(), PublishError> {
    let gate = session.side_gate().ok_or(PublishError::NotConnected)?;
    tokio::select! {
        sent = gate.enqueue(message.into_frame(app_id, false)) => {
            sent.map(drop).map_err(|_| PublishError::NotConnected)
        }
        _ = session.ended() => Err(PublishError::NotConnected),
    }
}

fn failure_label(error: &PublishError) -> FailureLabels {
    let reason = match error {
        PublishError::NotConnected => "not_connected",
        PublishError::ConnectionLost => "connection_lost",
        PublishError::Timeout(_) => "timeout",
        PublishError::Nacked => "nacked",
        PublishError::Unroutable { .. } => "unroutable",
    };
    FailureLabels {
        reason: reason.to_owned(),
    }
}

/// A message the broker has been handed, whose confirm has not arrived yet.
pub struct PendingConfirm {
    sent_at: Instant,
    confirms: Arc<ConfirmTracker>,
    tag: u64,
    confirm: oneshot::Receiver<Confirm>,
    deadline: Instant,
    timeout: Duration,
    exchange: String,
    routing_key: String,
    metrics: Arc<Metrics>,
    stall: Arc<PublishStall>,
}

impl PendingConfirm {
    /// Waits for the broker's answer, until the publish timeout that started at `send`.
    pub async fn confirmed(mut self) -> Result<(), PublishError> {
        let result = self.wait().await;
        let metrics = &self.metrics;
        match &result {
            Ok(()) => metrics.confirmed.inc(),
            Err(PublishError::Nacked) => metrics.nacked.inc(),
            Err(PublishError::Unroutable { .. }) => {
                // Returned, then acked: the broker took it and found no queue for it.
                metrics.returned.inc();
                metrics.confirmed.inc()
            }
            Err(error) => metrics
                .publish_failures
                .get_or_create(&failure_label(error))
                .inc(),
        };
        if matches!(result, Ok(()) | Err(PublishError::Unroutable { .. })) {
            metrics
                .published_to
                .record(&self.exchange, &self.routing_key);
            metrics
                .confirm_latency
                .observe(self.sent_at.elapsed().as_secs_f64());
        }
        result
    }

    /// Borrows rather than consumes, so that the destination is still at hand for the tally
    /// afterwards without copying it for every publish (only the rare unroutable one is copied).
    async fn wait(&mut self) -> Result<(), PublishError> {
        tokio::select! {
            outcome = &mut self.confirm => match outcome {
                Ok(Confirm::Ack) => Ok(()),
                Ok(Confirm::Nack) => Err(PublishError::Nacked),
                Ok(Confirm::Returned) => Err(PublishError::Unroutable {
                    exchange: self.exchange.clone(),
                    routing_key: self.routing_key.clone(),
                }),
                Ok(Confirm::Lost) | Err(_) => Err(PublishError::ConnectionLost),
            },
            _ = tokio::time::sleep_until(self.deadline) => {
                self.confirms.abandon(self.tag);
                self.stall.confirm_timed_out();
                Err(PublishError::Timeout(self.timeout))
            }
        }
    }
}
