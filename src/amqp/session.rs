//! One live connection as a role sees it: its channel (set up, topology declared), the channel's
//! publish gate, an optional side channel for fire-and-forget publishes, and the signal that says
//! it is over.

use std::sync::Arc;

use amqprs::channel::{
    BasicCancelArguments, BasicConsumeArguments, BasicGetArguments, Channel, ConsumerMessage,
    QueueDeclareArguments, QueueDeleteArguments,
};
use amqprs::FieldTable;
use tokio::sync::mpsc::UnboundedReceiver;

use super::confirms::ConfirmTracker;
use super::names::{ConsumerTag, QueueName};
use super::publish_gate::PublishGate;
use super::queue_probe::{QueueCounts, QueueProbe};
use super::signals::SessionSignals;
use super::topology::DeclaredTopology;

/// One live connection's channels, as handed to roles. Cheap to clone. When it ends, the manager
/// publishes the next one; a role must not use a session after [`Session::ended`] resolved (an ack
/// or publish on a closed channel makes the broker close the whole next connection).
#[derive(Clone)]
pub struct Session {
    generation: u64,
    /// The role's channel. Not handed out: publishes go through `gate`, acks through
    /// [`Delivery`](super::delivery::Delivery), so no code path can skip either.
    channel: Channel,
    gate: Arc<PublishGate>,
    /// A second channel, never in confirm mode, for publishes nobody waits for (the console's
    /// snapshots): they can neither delay nor take the confirm numbers of the role's own.
    side: Option<Arc<PublishGate>>,
    /// The side channel itself, to close it on shutdown.
    side_channel: Option<Channel>,
    signals: Arc<SessionSignals>,
    declared: Arc<DeclaredTopology>,
    /// The direct reply-to consumer's deliveries, until the RPC client takes them (once).
    replies: Arc<std::sync::Mutex<Option<UnboundedReceiver<ConsumerMessage>>>>,
    /// Passive declares on a channel of their own, when the role asked for them (the console).
    probe: Option<Arc<QueueProbe>>,
}

/// The parts a session is made of, as the connection set-up produced them.
pub(super) struct SessionParts {
    pub generation: u64,
    pub channel: Channel,
    pub confirms: Option<Arc<ConfirmTracker>>,
    pub side: Option<Channel>,
    pub signals: Arc<SessionSignals>,
    pub declared: DeclaredTopology,
    pub replies: Option<UnboundedReceiver<ConsumerMessage>>,
    pub probe: Option<QueueProbe>,
}

impl Session {
    pub(super) fn new(parts: SessionParts) -> Self {
        Self {
            generation: parts.generation,
            gate: Arc::new(PublishGate::new(parts.channel.clone(), parts.confirms)),
            channel: parts.channel,
            side: parts
                .side
                .clone()
                .map(|side| Arc::new(PublishGate::new(side, None))),
            side_channel: parts.side,
            signals: parts.signals,
            declared: Arc::new(parts.declared),
            replies: Arc::new(std::sync::Mutex::new(parts.replies)),
            probe: parts.probe.map(Arc::new),
        }
    }

    /// Counts connections since start; tells a role that its session was replaced.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// What the topology declaration answered (queue names and depths).
    pub fn declared(&self) -> &DeclaredTopology {
        &self.declared
    }

    /// Resolves when this session is over (connection or channel closed, socket failed).
    pub async fn ended(&self) {
        self.signals.ended().await;
    }

    /// Whether this session is over.
    pub fn is_ended(&self) -> bool {
        self.signals.is_ended()
    }

    /// Ends this session on purpose: the manager reconnects and declares the topology again
    /// (e.g. a role found its queue deleted under it).
    pub fn end(&self, reason: impl Into<String>) {
        self.signals.end(reason);
    }

    /// Deletes a queue this role created for itself (perf's scratch queue).
    pub async fn delete_queue(&self, queue: &QueueName) -> Result<(), amqprs::error::Error> {
        self.channel
            .queue_delete(QueueDeleteArguments::new(queue.as_str()))
            .await
            .map(drop)
    }

    /// Takes every message off `queue` (no ack: they are gone) and returns their `message_id`s:
    /// how a publisher reads its private tap on the alternate exchange. Synchronous requests on
    /// the channel; callers take turns (a `basic.get` answer has one slot per channel).
    pub async fn take_message_ids(
        &self,
        queue: &QueueName,
    ) -> Result<Vec<String>, amqprs::error::Error> {
        let mut ids = Vec::new();
        let get = || BasicGetArguments::new(queue.as_str()).no_ack(true).finish();
        while let Some((_, properties, _)) = self.channel.basic_get(get()).await? {
            ids.push(properties.message_id().cloned().unwrap_or_default());
        }
        Ok(ids)
    }

    /// Whether `queue` exists (a passive declare). A missing queue makes the broker close the
    /// channel (404), so a `false` ends this session's usefulness: end it to declare afresh.
    pub async fn queue_exists(&self, queue: &QueueName) -> bool {
        let args = QueueDeclareArguments::new(queue.as_str())
            .passive(true)
            .finish();
        self.channel.queue_declare(args).await.is_ok()
    }

    /// Asks the broker how deep queues are, on a channel of its own; `None` unless the role set
    /// [`ChannelSetup::queue_probe`](super::ChannelSetup::queue_probe).
    pub fn queue_probe(&self) -> Option<&QueueProbe> {
        self.probe.as_deref()
    }

    /// The counts of a queue this connection owns (an exclusive one, which nobody else may look
    /// at), asked on the side channel. `None` without a side channel or an answer; a queue that
    /// is gone closes the side channel and with it the session, which declares it again.
    pub async fn own_queue_counts(&self, queue: &QueueName) -> Option<QueueCounts> {
        let args = QueueDeclareArguments::new(queue.as_str())
            .passive(true)
            .finish();
        let (_, messages, consumers) = self
            .side_channel
            .as_ref()?
            .queue_declare(args)
            .await
            .ok()??;
        Some(QueueCounts {
            messages,
            consumers,
        })
    }

    /// The gate every publish on the role's channel goes through.
    pub(super) fn gate(&self) -> &PublishGate {
        &self.gate
    }

    /// The side channel's gate, when the role asked for one.
    pub(super) fn side_gate(&self) -> Option<&PublishGate> {
        self.side.as_deref()
    }

    pub(super) fn signals(&self) -> &Arc<SessionSignals> {
        &self.signals
    }

    /// Registers a manual-ack consumer on `queue`.
    pub(super) async fn consume(
        &self,
        queue: &QueueName,
        tag: &ConsumerTag,
    ) -> Result<UnboundedReceiver<ConsumerMessage>, amqprs::error::Error> {
        let args = BasicConsumeArguments::new(queue.as_str(), tag.as_str())
            .manual_ack(true)
            .finish();
        Ok(self.channel.basic_consume_rx(args).await?.1)
    }

    /// The direct replies of this session, for the one task that routes them to their callers;
    /// `None` if the channel has no reply consumer or they were taken already.
    pub(super) fn take_replies(&self) -> Option<UnboundedReceiver<ConsumerMessage>> {
        self.replies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// Registers a manual-ack consumer on `queue` with `basic.consume` arguments (a stream
    /// reader's `x-stream-offset`).
    pub(super) async fn consume_with_arguments(
        &self,
        queue: &QueueName,
        tag: &ConsumerTag,
        arguments: FieldTable,
    ) -> Result<UnboundedReceiver<ConsumerMessage>, amqprs::error::Error> {
        let args = BasicConsumeArguments::new(queue.as_str(), tag.as_str())
            .manual_ack(true)
            .arguments(arguments)
            .finish();
        Ok(self.channel.basic_consume_rx(args).await?.1)
    }

    /// The broker's message count of an existing queue (a passive `queue.declare`, which does
    /// not care about the queue's arguments). For a stream it is the number of messages it holds
    /// (reading removes none), refreshed by RabbitMQ 3.10 only every few seconds. A queue that is
    /// gone closes the channel (404), and with it this session: the manager declares it again.
    pub async fn message_count(&self, queue: &QueueName) -> Result<u32, amqprs::error::Error> {
        let args = QueueDeclareArguments::new(queue.as_str())
            .passive(true)
            .finish();
        Ok(self
            .channel
            .queue_declare(args)
            .await?
            .map_or(0, |(_, messages, _)| messages))
    }

    /// Cancels a consumer: the broker stops pushing, and requeues what it pushed but we did not
    /// ack when the channel closes.
    pub(super) async fn cancel(&self, tag: &ConsumerTag) -> Result<(), amqprs::error::Error> {
        self.channel
            .basic_cancel(BasicCancelArguments::new(tag.as_str()))
            .await
            .map(drop)
    }

    /// The role's channel, for acks and rejects ([`Delivery`](super::delivery::Delivery)) and for
    /// closing it on shutdown.
    pub(super) fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Both channels, for closing them on shutdown.
    pub(super) fn into_channels(self) -> (Channel, Option<Channel>) {
        (self.channel, self.side_channel)
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("generation", &self.generation)
            .field("ended", &self.is_ended())
            .finish()
    }
}
