//! Consuming across reconnects, once for every role that consumes.
//!
//! A consumer lives on one channel; when the connection goes, so does the consumer, and any
//! message in hand can no longer be acked (the broker redelivers it). So a consuming role starts
//! over on every session the manager hands out: `basic.consume` on the (re)declared queue, take
//! deliveries one at a time, and on shutdown cancel the consumer before the connection closes so
//! the messages prefetched but not handled go straight back to the queue.

use std::future::Future;
use std::time::Duration;

use amqprs::FieldTable;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::delivery::Delivery;
use super::manager::ConnectionManager;
use super::names::{ConsumerTag, QueueName};
use super::session::Session;
use super::state::Refusal;
use super::waiting::next_live_session;

/// What a consuming role hears about, to report readiness and log.
#[derive(Debug)]
pub enum ConsumerEvent<'a> {
    /// The consumer is registered on `queue` in `session`.
    Consuming {
        /// The session consuming, e.g. for its generation (1 at first, more after reconnects).
        session: &'a Session,
        /// The queue consumed: for a server-named queue, the broker's name in this session.
        queue: &'a QueueName,
    },
    /// Not consuming: the session ended, or shutdown began.
    Paused,
}

/// How long `basic.consume` may go unanswered before the wait is logged. In a cluster whose
/// queue leader sat on a frozen node, RabbitMQ 3.10 was measured to take about a minute.
const CONSUME_PATIENCE: Duration = Duration::from_secs(10);

/// Consumes until `shutdown` (then `Ok`) or until the broker refused the topology for good.
/// `queue_of` names the queue in a session (a server-named queue is new in every session);
/// `handle` gets each delivery and must ack or reject it (the [`Delivery`] knows its session).
/// (A plain closure returning a future, not an async closure, so a consumer can run in a spawned
/// task: async closures borrowing their arguments are not `Send` for every lifetime yet.)
pub async fn consume_across_sessions<F, Fut>(
    manager: &ConnectionManager,
    consumer_tag: &ConsumerTag,
    shutdown: &CancellationToken,
    queue_of: impl FnMut(&Session) -> Option<QueueName>,
    on_event: impl FnMut(ConsumerEvent<'_>),
    handle: F,
) -> Result<(), Refusal>
where
    F: FnMut(Delivery) -> Fut,
    Fut: Future<Output = ()>,
{
    consume_across_sessions_with(
        manager,
        consumer_tag,
        shutdown,
        queue_of,
        |_| None,
        on_event,
        handle,
    )
    .await
}

/// [`consume_across_sessions`] with `basic.consume` arguments chosen anew for every session:
/// a stream reader resumes after the last offset it handled, so its `x-stream-offset` changes
/// with each reconnect. `arguments_of` returning `None` consumes without arguments.
pub async fn consume_across_sessions_with<F, Fut>(
    manager: &ConnectionManager,
    consumer_tag: &ConsumerTag,
    shutdown: &CancellationToken,
    mut queue_of: impl FnMut(&Session) -> Option<QueueName>,
    mut arguments_of: impl FnMut(&Session) -> Option<FieldTable>,
    mut on_event: impl FnMut(ConsumerEvent<'_>),
    mut handle: F,
) -> Result<(), Refusal>
where
    F: FnMut(Delivery) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut sessions = manager.sessions();
    loop {
        let session = tokio::select! {
            session = next_live_session(&mut sessions) => session,
            _ = shutdown.cancelled() => return Ok(()),
            refusal = manager.failed() => return Err(refusal),
        };
        let Some(session) = session else {
            // The manager ended: it gave up, or was closed.
            return manager.failure().map_or(Ok(()), Err);
        };
        let Some(queue) = queue_of(&session) else {
            warn!("no queue was declared to consume from; waiting for a new connection");
            let _ = tokio::time::timeout(Duration::from_secs(5), session.ended()).await;
            continue;
        };
        let arguments = arguments_of(&session);
        let finished = consume_session(
            &session,
            &queue,
            arguments,
            consumer_tag,
            shutdown,
            &mut on_event,
            &mut handle,
        )
        .await;
        on_event(ConsumerEvent::Paused);
        if finished {
            return Ok(());
        }
        // Wait for the manager to notice, so the next session is a new one (bounded, in case
        // consuming failed on a channel that is still open: then retry on it).
        let _ = tokio::time::timeout(Duration::from_secs(5), session.ended()).await;
    }
}

/// Consumes on one session; `true` if it ended because of shutdown, `false` if the session did.
async fn consume_session<F, Fut>(
    session: &Session,
    queue: &QueueName,
    arguments: Option<FieldTable>,
    consumer_tag: &ConsumerTag,
    shutdown: &CancellationToken,
    on_event: &mut impl FnMut(ConsumerEvent<'_>),
    handle: &mut F,
) -> bool
where
    F: FnMut(Delivery) -> Fut,
    Fut: Future<Output = ()>,
{
    let consume = async {
        match arguments {
            Some(arguments) => {
                session
                    .consume_with_arguments(queue, consumer_tag, arguments)
                    .await
            }
            None => session.consume(queue, consumer_tag).await,
        }
    };
    tokio::pin!(consume);
    let patience = tokio::time::sleep(CONSUME_PATIENCE);
    tokio::pin!(patience);
    let mut warned = false;
    let answered = loop {
        tokio::select! {
            answered = &mut consume => break answered,
            _ = shutdown.cancelled() => return true,
            _ = session.ended() => return false,
            _ = &mut patience, if !warned => {
                warned = true;
                // Say why nothing happens: the wait can be long and silent otherwise.
                warn!(
                    %queue,
                    waited_s = CONSUME_PATIENCE.as_secs(),
                    "RabbitMQ has not answered basic.consume yet (a quorum queue without a \
                     leader, or a cluster member that is frozen, holds it up); still waiting"
                );
            }
        }
    };
    let mut deliveries = match answered {
        Ok(deliveries) => deliveries,
        Err(error) => {
            warn!(%error, %queue, "could not start consuming; waiting for a new connection");
            return false;
        }
    };
    on_event(ConsumerEvent::Consuming { session, queue });
    loop {
        tokio::select! {
            // Shutdown first: once asked to stop, take no new message.
            biased;
            _ = shutdown.cancelled() => {
                on_event(ConsumerEvent::Paused);
                if !session.is_ended() {
                    // Deliveries already pushed to us but not handled are requeued by the broker
                    // when the channel closes; they are not acked, so nothing is lost.
                    let cancel = session.cancel(consumer_tag);
                    match tokio::time::timeout(Duration::from_secs(5), cancel).await {
                        Ok(Ok(())) => {}
                        // The connection went in the meantime: nothing left to cancel.
                        Ok(Err(error)) if session.is_ended() => {
                            debug!(%error, "consumer gone with its connection");
                        }
                        Ok(Err(error)) => warn!(%error, "could not cancel the consumer"),
                        Err(_) => warn!("consumer cancel not answered within 5s"),
                    }
                }
                return true;
            }
            _ = session.ended() => return false,
            message = deliveries.recv() => {
                let Some(message) = message else {
                    return false;
                };
                match Delivery::new(session, message) {
                    Some(delivery) => handle(delivery).await,
                    None => warn!("incomplete delivery from amqprs; ignored"),
                }
            }
        }
    }
}
