//! Publishing that only reports success once the broker confirmed the message.
//!
//! Many callers (concurrent HTTP requests) share one confirm-mode channel: each reserves the next
//! delivery tag and enqueues its frame under a short lock, then waits for its own confirm without
//! the lock, so requests are never serialised behind each other's round trips (RabbitMQ's
//! "streaming confirms"). Every wait is bounded: by the publish timeout, and by the end of the
//! session, which resolves outstanding confirms as lost.

use std::sync::Arc;
use std::time::Duration;

use amqprs::channel::BasicPublishArguments;
use amqprs::BasicProperties;
use tokio::sync::{oneshot, watch, Mutex};
use tokio::time::Instant;

use super::confirms::{Confirm, ConfirmTracker};
use super::manager::Session;
use super::stall;
use crate::metrics::{metrics, FailureLabels};

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
        exchange: String,
        routing_key: String,
    },
}

/// One message to publish; properties that every message of this lab carries.
#[derive(Debug, Clone)]
pub struct OutgoingMessage {
    pub exchange: String,
    pub routing_key: String,
    pub body: Vec<u8>,
    pub message_id: String,
    /// Unix seconds, AMQP's `timestamp` property.
    pub timestamp: u64,
    /// Written to disk by durable queues (the lab's messages); `perf` can measure without.
    pub persistent: bool,
    /// `application/json` for the lab's envelopes.
    pub content_type: &'static str,
}

/// Confirmed publishing over the manager's current session.
pub struct ConfirmedPublisher {
    sessions: watch::Receiver<Option<Session>>,
    /// Makes "take the next tag" and "enqueue the frame" one step, so tags match the broker's count.
    enqueue: Mutex<()>,
    timeout: Duration,
    app_id: String,
}

/// A reserved tag whose frame is not enqueued yet. If the publish is abandoned before the frame
/// went out (the request was cancelled, the deadline passed), dropping this gives the tag back;
/// otherwise the broker's numbering and ours would drift apart and acks would confirm the wrong
/// messages.
struct Reservation<'a> {
    confirms: &'a ConfirmTracker,
    tag: u64,
    enqueued: bool,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.enqueued {
            self.confirms.unreserve(self.tag);
        }
    }
}

impl ConfirmedPublisher {
    /// A publisher following `sessions`, whose channel must be in confirm mode.
    pub fn new(
        sessions: watch::Receiver<Option<Session>>,
        timeout: Duration,
        app_id: impl Into<String>,
    ) -> Self {
        Self {
            sessions,
            enqueue: Mutex::new(()),
            timeout,
            app_id: app_id.into(),
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

    fn properties(&self, message: &OutgoingMessage) -> BasicProperties {
        BasicProperties::default()
            .with_content_type(message.content_type)
            .with_persistence(message.persistent)
            .with_message_id(&message.message_id)
            .with_timestamp(message.timestamp)
            .with_app_id(&self.app_id)
            .finish()
    }

    /// Hands one frame to the broker connection, within the publish timeout. On a confirm-mode
    /// channel the next delivery tag is reserved in the same step (under the enqueue lock), so
    /// the broker's numbering and ours stay in step whatever kind of publish it is; the returned
    /// receiver then gets the confirm. Without confirm mode there is nothing to wait for.
    async fn hand_over(
        &self,
        message: OutgoingMessage,
        mandatory: bool,
        needs_confirm: bool,
        deadline: Instant,
    ) -> Result<Option<Handed>, PublishError> {
        let session = self.live_session()?;
        if needs_confirm && session.confirms().is_none() {
            // A channel without confirm mode cannot tell us the message was stored.
            return Err(PublishError::NotConnected);
        }
        let properties = self.properties(&message);
        let args = BasicPublishArguments::new(&message.exchange, &message.routing_key)
            .mandatory(mandatory)
            .finish();
        let confirms = session.confirms().cloned();
        // Declared first so it is released last, after the reservation's drop.
        let _enqueue = match confirms {
            Some(_) => Some(
                tokio::time::timeout_at(deadline, self.enqueue.lock())
                    .await
                    .map_err(|_| PublishError::Timeout(self.timeout))?,
            ),
            None => None,
        };
        let reserved = confirms
            .as_ref()
            .map(|confirms| {
                confirms
                    .reserve(&message.message_id)
                    .ok_or(PublishError::NotConnected)
            })
            .transpose()?;
        let mut reservation =
            confirms
                .as_deref()
                .zip(reserved.as_ref())
                .map(|(confirms, (tag, _))| Reservation {
                    confirms,
                    tag: *tag,
                    enqueued: false,
                });
        tokio::select! {
            sent = session.channel().basic_publish(properties, message.body, args) => {
                // An error means amqprs' writer is gone: the frame never left.
                sent.map_err(|_| PublishError::NotConnected)?;
                if let Some(reservation) = reservation.as_mut() {
                    reservation.enqueued = true;
                }
            }
            _ = session.ended() => return Err(PublishError::NotConnected),
            _ = tokio::time::sleep_until(deadline) => {
                return Err(PublishError::Timeout(self.timeout))
            }
        }
        drop(reservation);
        Ok(confirms
            .zip(reserved)
            .map(|(confirms, (tag, confirm))| Handed {
                confirms,
                tag,
                confirm,
            }))
    }

    /// Publishes without waiting for a confirm: the frame is handed over and that is all. Only
    /// `perf` uses it, to measure the broker's unconfirmed ceiling; it is not a way to send the
    /// lab's messages, which are only "sent" once confirmed.
    pub async fn publish_unconfirmed(&self, message: OutgoingMessage) -> Result<(), PublishError> {
        self.hand_over(message, false, false, Instant::now() + self.timeout)
            .await?;
        metrics().published.inc();
        Ok(())
    }

    /// Publishes a transient, non-mandatory message and waits for nothing: for the lab console's
    /// snapshots, which must never hold up or fail a role's real work. Not counted in the
    /// metrics.
    pub async fn publish_fire_and_forget(
        &self,
        message: OutgoingMessage,
    ) -> Result<(), PublishError> {
        self.hand_over(message, false, false, Instant::now() + self.timeout)
            .await
            .map(drop)
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
            metrics()
                .publish_failures
                .get_or_create(&failure_label(error))
                .inc();
        }
        sent
    }

    async fn enqueue(&self, message: OutgoingMessage) -> Result<PendingConfirm, PublishError> {
        let deadline = Instant::now() + self.timeout;
        let (exchange, routing_key) = (message.exchange.clone(), message.routing_key.clone());
        // `mandatory`: an unroutable message comes back instead of vanishing behind an ack.
        let handed = self
            .hand_over(message, true, true, deadline)
            .await?
            .ok_or(PublishError::NotConnected)?;
        metrics().published.inc();
        Ok(PendingConfirm {
            sent_at: Instant::now(),
            confirms: handed.confirms,
            tag: handed.tag,
            confirm: handed.confirm,
            deadline,
            timeout: self.timeout,
            exchange,
            routing_key,
        })
    }
}

/// A frame handed over on a confirm-mode channel: its tag, and where its confirm will arrive.
struct Handed {
    confirms: Arc<ConfirmTracker>,
    tag: u64,
    confirm: oneshot::Receiver<Confirm>,
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
}

impl PendingConfirm {
    /// Waits for the broker's answer, until the publish timeout that started at `send`.
    pub async fn confirmed(self) -> Result<(), PublishError> {
        let sent_at = self.sent_at;
        let result = self.wait().await;
        let metrics = metrics();
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
                .confirm_latency
                .observe(sent_at.elapsed().as_secs_f64());
        }
        result
    }

    async fn wait(self) -> Result<(), PublishError> {
        tokio::select! {
            outcome = self.confirm => match outcome {
                Ok(Confirm::Ack) => Ok(()),
                Ok(Confirm::Nack) => Err(PublishError::Nacked),
                Ok(Confirm::Returned) => Err(PublishError::Unroutable {
                    exchange: self.exchange,
                    routing_key: self.routing_key,
                }),
                Ok(Confirm::Lost) | Err(_) => Err(PublishError::ConnectionLost),
            },
            _ = tokio::time::sleep_until(self.deadline) => {
                self.confirms.abandon(self.tag);
                stall::confirm_timed_out();
                Err(PublishError::Timeout(self.timeout))
            }
        }
    }
}
