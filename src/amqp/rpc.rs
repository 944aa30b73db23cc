//! Request/reply over RabbitMQ (the tutorial's RPC), the caller's side: publish a request with
//! `reply_to = amq.rabbitmq.reply-to` and a correlation id, and wait for the reply that carries
//! the same id.
//!
//! Direct reply-to means no reply queue to declare, name or leak: the broker routes a reply
//! straight to the channel that published the request, which must already consume the
//! pseudo-queue (the manager sets that up on every connect, see `ChannelSetup::direct_reply`).
//! So every call of a process shares one reply consumer, and one map of pending correlation ids
//! says which waiting call a reply belongs to. The map is bounded (a flood of calls gets a clear
//! refusal, not unbounded memory), and each call removes its own entry whatever way it ends
//! (reply, timeout, connection loss, or the caller giving up), so a reply that comes late finds
//! nobody, is counted and dropped — never handed to another call.
//!
//! Requests are published `mandatory`: with no rpc-server consuming the queue (the server
//! declares it auto-delete, so it goes with the last server) the broker returns the request and
//! the call fails at once instead of waiting out its timeout. They carry the call's timeout as
//! their `expiration`, so a request nobody waits for any more is not worked on.

use std::sync::Arc;
use std::time::Duration;

use amqprs::channel::ConsumerMessage;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::manager::ConnectionManager;
use super::names::{InstanceName, QueueName};
use super::outgoing::{Destination, MessageExtras, OutgoingMessage};
use super::pending_calls::{Arrived, PendingCalls};
use super::publisher::{ConfirmedPublisher, PublishError};
use super::session::Session;
use super::waiting::next_live_session;
use crate::metrics::Metrics;

/// RabbitMQ's direct reply-to pseudo-queue.
pub const DIRECT_REPLY_TO: &str = "amq.rabbitmq.reply-to";

/// The tag of the reply consumer on a role's channel.
pub(super) const DIRECT_REPLY_CONSUMER: &str = "playground-direct-replies";

/// The most calls one process may have waiting for replies; more are refused at once.
pub const MAX_PENDING_CALLS: usize = 10_000;

/// A request to send.
#[derive(Debug, Clone)]
pub struct RpcRequest {
    /// The queue the rpc-servers consume.
    pub queue: QueueName,
    /// The request as published (the lab's JSON envelope).
    pub body: Vec<u8>,
    /// The envelope's id, as AMQP `message_id`: follows the request through the servers' logs.
    pub message_id: String,
    /// How long the caller waits for the reply, from the publish on.
    pub timeout: Duration,
}

/// The reply to one call.
#[derive(Debug, Clone)]
pub struct RpcReply {
    /// The reply as the server published it.
    pub body: Vec<u8>,
    /// The server's `app_id`: which rpc-server answered.
    pub server: Option<String>,
    /// The id that matched the reply to this call.
    pub correlation_id: String,
    /// From handing the request over to the reply's arrival.
    pub round_trip: Duration,
}

/// Why a call got no reply. Each maps to a distinct HTTP status and metrics outcome.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No connection: nothing was sent.
    #[error("RabbitMQ not connected; the request was not sent")]
    NotConnected,
    /// No queue took the request: no rpc-server is consuming it.
    #[error(
        "no rpc-server is listening on queue {queue:?}: the request was unroutable and not queued"
    )]
    NoServer {
        /// The queue the request was addressed to.
        queue: String,
    },
    /// The broker refused the request (nack).
    #[error("the broker rejected the request (nack)")]
    Nacked,
    /// The connection ended while the call waited: the request may or may not have been handled.
    #[error("the RabbitMQ connection was lost while the call was waiting for its reply")]
    ConnectionLost,
    /// No reply within the call's timeout; a reply that comes later is dropped.
    #[error("no reply within {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    /// Too many calls are waiting already.
    #[error("{0} calls are already waiting for replies; retry later")]
    TooManyPending(usize),
}

/// Every way a call ends, as metrics label it: `replied`, `timeout`, then the failures (the
/// names [`CallError::outcome`] gives), so a reader of the metrics can add them up.
pub const CALL_OUTCOMES: [&str; 7] = [
    "replied",
    "timeout",
    "not_connected",
    "no_server",
    "nacked",
    "connection_lost",
    "too_many_pending",
];

impl CallError {
    /// The metrics label of this outcome.
    pub fn outcome(&self) -> &'static str {
        match self {
            CallError::NotConnected => "not_connected",
            CallError::NoServer { .. } => "no_server",
            CallError::Nacked => "nacked",
            CallError::ConnectionLost => "connection_lost",
            CallError::Timeout(_) => "timeout",
            CallError::TooManyPending(_) => "too_many_pending",
        }
    }
}

/// The caller's side of request/reply, shared by every call of a process.
pub struct RpcClient {
    publisher: ConfirmedPublisher,
    sessions: watch::Receiver<Option<Session>>,
    pending: Arc<PendingCalls>,
    limit: usize,
    metrics: Arc<Metrics>,
}

impl RpcClient {
    /// A client on `manager`, whose channel must be in confirm mode with the direct reply
    /// consumer (`ChannelSetup { confirms: true, direct_reply: true, .. }`). Requests carry
    /// `app_id`. Replies only reach calls while [`route_replies`](Self::route_replies) runs.
    pub fn new(manager: &ConnectionManager, app_id: InstanceName) -> Self {
        // The publisher's own timeout only bounds handing the frame over; each call's timeout
        // bounds the rest.
        let hand_over_timeout = Duration::from_secs(30);
        Self {
            publisher: ConfirmedPublisher::new(manager, hand_over_timeout, app_id),
            sessions: manager.sessions(),
            pending: Arc::new(PendingCalls::default()),
            limit: MAX_PENDING_CALLS,
            metrics: manager.metrics().clone(),
        }
    }

    /// How many calls wait for their reply now.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Routes the replies of every session to their calls, until `stop` or the manager's end.
    /// Run it once per client, in a task of its own.
    pub fn route_replies(&self, stop: CancellationToken) -> impl std::future::Future<Output = ()> {
        let (mut sessions, pending) = (self.sessions.clone(), self.pending.clone());
        let metrics = self.metrics.clone();
        async move {
            loop {
                let session = tokio::select! {
                    session = next_live_session(&mut sessions) => session,
                    _ = stop.cancelled() => return,
                };
                let Some(session) = session else { return };
                let Some(mut replies) = session.take_replies() else {
                    // Taken by another router already, or no reply consumer on this channel.
                    tokio::select! {
                        _ = session.ended() => continue,
                        _ = stop.cancelled() => return,
                    }
                };
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = session.ended() => break,
                        reply = replies.recv() => match reply {
                            Some(reply) => route(reply, &pending, &metrics),
                            None => break,
                        },
                    }
                }
            }
        }
    }

    /// Publishes `request` and waits for its reply, at most `request.timeout`. Every call
    /// pending on a connection that is lost fails at once with `ConnectionLost`.
    pub async fn call(&self, request: RpcRequest) -> Result<RpcReply, CallError> {
        let started = Instant::now();
        let result = self.call_inner(request, started).await;
        let (outcome, round_trip) = match &result {
            Ok(reply) => ("replied", Some(reply.round_trip)),
            Err(error) => (error.outcome(), None),
        };
        self.metrics
            .rpc
            .record_call(outcome, round_trip, self.pending.len());
        result
    }

    async fn call_inner(
        &self,
        request: RpcRequest,
        started: Instant,
    ) -> Result<RpcReply, CallError> {
        let deadline = started + request.timeout;
        let session = self
            .sessions
            .borrow()
            .clone()
            .filter(|s| !s.is_ended())
            .ok_or(CallError::NotConnected)?;
        let correlation_id = uuid::Uuid::new_v4().to_string();
        let (_entry, reply) = self
            .pending
            .register(&correlation_id, self.limit)
            .ok_or(CallError::TooManyPending(self.limit))?;
        let waiting = i64::try_from(self.pending.len()).unwrap_or(i64::MAX);
        self.metrics.rpc.pending.set(waiting);
        let expiration = request.timeout.as_millis().max(1).to_string();
        let message = OutgoingMessage {
            destination: Destination::Queue(request.queue.clone()),
            body: request.body,
            message_id: request.message_id,
            timestamp: crate::message::unix_seconds_now(),
            // A request outlives its caller by at most its timeout: nothing to keep on disk.
            persistent: false,
            content_type: "application/json",
            extras: MessageExtras {
                reply_to: Some(DIRECT_REPLY_TO.to_owned()),
                correlation_id: Some(correlation_id.clone()),
                expiration: Some(expiration),
                headers: None,
                direct_reply: false,
            },
        };
        let timed_out = || CallError::Timeout(request.timeout);
        let pending = tokio::select! {
            sent = self.publisher.send_on(&session, message) => sent.map_err(|e| call_error(e, &request.queue))?,
            _ = tokio::time::sleep_until(deadline) => return Err(timed_out()),
        };
        tokio::select! {
            confirmed = pending.confirmed() => confirmed.map_err(|e| call_error(e, &request.queue))?,
            _ = tokio::time::sleep_until(deadline) => return Err(timed_out()),
        }
        tokio::select! {
            arrived = reply => match arrived {
                Ok(arrived) => Ok(RpcReply {
                    body: arrived.body,
                    server: arrived.server,
                    correlation_id,
                    round_trip: arrived.at.saturating_duration_since(started),
                }),
                // The entry was dropped without an answer: only the end of the session does that.
                Err(_) => Err(CallError::ConnectionLost),
            },
            _ = session.ended() => Err(CallError::ConnectionLost),
            _ = tokio::time::sleep_until(deadline) => Err(timed_out()),
        }
    }
}

/// Hands one reply to its call, or counts it as late.
fn route(reply: ConsumerMessage, pending: &PendingCalls, metrics: &Metrics) {
    let properties = reply.basic_properties.unwrap_or_default();
    let correlation_id = properties.correlation_id().cloned().unwrap_or_default();
    let arrived = Arrived {
        body: reply.content.unwrap_or_default(),
        server: properties.app_id().cloned(),
        at: Instant::now(),
    };
    if !pending.resolve(&correlation_id, arrived) {
        metrics.rpc.late_replies.inc();
        debug!(%correlation_id, "a reply came for a call that ended already (timed out or gave up); dropped");
    }
}

fn call_error(error: PublishError, queue: &QueueName) -> CallError {
    match error {
        PublishError::NotConnected => CallError::NotConnected,
        PublishError::ConnectionLost => CallError::ConnectionLost,
        PublishError::Timeout(timeout) => CallError::Timeout(timeout),
        PublishError::Nacked => CallError::Nacked,
        PublishError::Unroutable { .. } => CallError::NoServer {
            queue: queue.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrived(body: &str) -> Arrived {
        Arrived {
            body: body.as_bytes().to_vec(),
            server: None,
            at: Instant::now(),
        }
    }

    #[tokio::test]
    async fn a_reply_reaches_only_its_own_call_and_a_late_one_nobody() {
        let pending = Arc::new(PendingCalls::default());
        let (first, first_reply) = pending.register("a", 10).unwrap();
        let (_second, mut second_reply) = pending.register("b", 10).unwrap();
        assert!(pending.resolve("a", arrived("for a")));
        assert_eq!(first_reply.await.unwrap().body, b"for a");
        assert!(second_reply.try_recv().is_err());
        drop(first);
        // "a" ended: another reply with its id is late, and must not reach "b".
        assert!(!pending.resolve("a", arrived("late")));
        assert!(second_reply.try_recv().is_err());
        assert_eq!(pending.len(), 1);
    }

    #[test]
    fn every_outcome_is_listed_once() {
        let errors = [
            CallError::NotConnected,
            CallError::NoServer { queue: "q".into() },
            CallError::Nacked,
            CallError::ConnectionLost,
            CallError::Timeout(Duration::from_secs(1)),
            CallError::TooManyPending(1),
        ];
        for error in &errors {
            assert!(CALL_OUTCOMES.contains(&error.outcome()), "{error:?}");
        }
        assert_eq!(CALL_OUTCOMES.len(), errors.len() + 1);
        assert_eq!(&CALL_OUTCOMES[..2], ["replied", "timeout"]);
    }

    #[test]
    fn the_map_is_bounded_and_every_ended_call_leaves_it() {
        let pending = Arc::new(PendingCalls::default());
        let entries: Vec<_> = (0..3)
            .map(|i| pending.register(&i.to_string(), 3).unwrap())
            .collect();
        assert!(pending.register("3", 3).is_none());
        drop(entries);
        assert_eq!(pending.len(), 0);
        assert!(pending.register("3", 3).is_some());
    }
}
