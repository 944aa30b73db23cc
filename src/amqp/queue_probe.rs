//! Asking the broker how deep a queue is, without the management plugin: a passive
//! `queue.declare` answers with the queue's ready messages and consumers.
//!
//! A passive declare of a queue that does not exist (404) or that is exclusive to another
//! connection (405) makes the broker close the channel it was sent on. So the probe has a
//! channel of its own, whose close ends nothing else, and opens a fresh one after each such
//! answer. Channels are opened by a task that holds the connection only while the session lives
//! (like the socket watcher), so a probe kept by a role never keeps a dead connection open.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use amqprs::callbacks::ChannelCallback;
use amqprs::channel::{Channel, QueueDeclareArguments};
use amqprs::connection::Connection;
use amqprs::{Ack, BasicProperties, Cancel, CloseChannel, Nack, Return};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::names::QueueName;
use super::signals::SessionSignals;

/// What the broker said about one queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueCounts {
    /// Messages ready for delivery (not those delivered and waiting for an ack).
    pub messages: u32,
    /// Consumers on it.
    pub consumers: u32,
}

/// Why a queue's counts are not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeFailure {
    /// The broker says there is no such queue (404): deleted, or never declared.
    #[error("no such queue")]
    NotFound,
    /// Exclusive to another connection (405): only its owner may look.
    #[error("exclusive to another connection")]
    Exclusive,
    /// No answer: the connection is going, or the broker refused for another reason.
    #[error("no answer")]
    NoAnswer,
}

/// A way to open one more channel on the session's connection, while the session lives.
type ChannelOpener = mpsc::Sender<oneshot::Sender<Option<Channel>>>;

/// The session's queue probe (see the module documentation).
pub struct QueueProbe {
    opener: ChannelOpener,
    channel: tokio::sync::Mutex<Option<Channel>>,
    /// The reply code of the last close of the probe's channel, to tell 404 from 405.
    last_close: Arc<Mutex<Option<u16>>>,
}

impl QueueProbe {
    /// A probe on `connection`, able to open channels until `signals` says the session ended.
    pub(super) fn start(connection: Connection, signals: Arc<SessionSignals>) -> Self {
        let (opener, mut requests) = mpsc::channel::<oneshot::Sender<Option<Channel>>>(1);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    request = requests.recv() => {
                        let Some(answer) = request else { return };
                        let channel = connection.open_channel(None).await.ok();
                        let _ = answer.send(channel);
                    }
                    _ = signals.ended() => return,
                }
            }
        });
        Self {
            opener,
            channel: tokio::sync::Mutex::new(None),
            last_close: Arc::new(Mutex::new(None)),
        }
    }

    /// The counts of `queue`, one passive declare on the probe's channel, answered within
    /// `within`. Callers take turns. A channel whose answer did not come in time is closed, so a
    /// late answer can never be read as the next queue's.
    pub async fn counts(
        &self,
        queue: &QueueName,
        within: Duration,
    ) -> Result<QueueCounts, ProbeFailure> {
        let mut slot = self.channel.lock().await;
        if slot.as_ref().is_none_or(|channel| !channel.is_open()) {
            *slot = Some(self.open().await.ok_or(ProbeFailure::NoAnswer)?);
        }
        let channel = slot.as_ref().ok_or(ProbeFailure::NoAnswer)?;
        let args = QueueDeclareArguments::new(queue.as_str())
            .passive(true)
            .finish();
        let Ok(answer) = tokio::time::timeout(within, channel.queue_declare(args)).await else {
            if let Some(channel) = slot.take() {
                tokio::spawn(async move { channel.close().await });
            }
            return Err(ProbeFailure::NoAnswer);
        };
        match answer {
            Ok(Some((_, messages, consumers))) => Ok(QueueCounts {
                messages,
                consumers,
            }),
            Ok(None) => Err(ProbeFailure::NoAnswer),
            Err(_) => {
                // The broker closed the channel; the next probe opens another one.
                *slot = None;
                let code = self
                    .last_close
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .take();
                Err(match code {
                    Some(404) => ProbeFailure::NotFound,
                    Some(405) => ProbeFailure::Exclusive,
                    _ => ProbeFailure::NoAnswer,
                })
            }
        }
    }

    /// A new channel whose close is only remembered, never the end of the session.
    async fn open(&self) -> Option<Channel> {
        let (answer, channel) = oneshot::channel();
        self.opener.send(answer).await.ok()?;
        let channel = channel.await.ok()??;
        let events = ProbeEvents {
            last_close: self.last_close.clone(),
        };
        channel.register_callback(events).await.ok()?;
        Some(channel)
    }
}

/// The probe channel's callback: a close is expected (a missing queue) and only noted.
struct ProbeEvents {
    last_close: Arc<Mutex<Option<u16>>>,
}

#[async_trait]
impl ChannelCallback for ProbeEvents {
    async fn close(
        &mut self,
        _channel: &Channel,
        close: CloseChannel,
    ) -> Result<(), amqprs::error::Error> {
        *self.last_close.lock().unwrap_or_else(|p| p.into_inner()) = Some(close.reply_code());
        Ok(())
    }

    async fn cancel(
        &mut self,
        _channel: &Channel,
        _cancel: Cancel,
    ) -> Result<(), amqprs::error::Error> {
        Ok(())
    }

    async fn flow(
        &mut self,
        _channel: &Channel,
        active: bool,
    ) -> Result<bool, amqprs::error::Error> {
        Ok(active)
    }

    async fn publish_ack(&mut self, _channel: &Channel, _ack: Ack) {}

    async fn publish_nack(&mut self, _channel: &Channel, _nack: Nack) {}

    async fn publish_return(
        &mut self,
        _channel: &Channel,
        _ret: Return,
        _basic_properties: BasicProperties,
        _content: Vec<u8>,
    ) {
    }
}
