//! How the end of a connection reaches the connection manager.
//!
//! A connection can end in several ways that amqprs reports through different doors: a
//! server-sent `connection.close` fires `ConnectionCallback::close` (and
//! `listen_network_io_failure()` then resolves `false`), a TCP reset or EOF fires no callback but
//! resolves `listen_network_io_failure()` with `true` at once, a silent peer is only noticed after
//! about two missed heartbeats, and a channel closed by the server (a 404 or 406, say) fires
//! `ChannelCallback::close`. All of them land here, in one `end` call that records the first
//! reason and cancels one token that the manager and the roles wait on.

use std::sync::{Arc, Mutex};

use amqprs::callbacks::{ChannelCallback, ConnectionCallback};
use amqprs::channel::Channel;
use amqprs::connection::Connection;
use amqprs::{Ack, BasicProperties, Cancel, Close, CloseChannel, Nack, Return};
use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::confirms::{Confirm, ConfirmTracker};
use super::stall::PublishStall;

/// A close the broker sent, with AMQP's reply code (e.g. 406 PRECONDITION_FAILED) and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerClose {
    /// `true` when the whole connection was closed, `false` for one channel.
    pub connection: bool,
    /// AMQP reply code, e.g. 320 (forced close), 404 (not found), 406 (settings mismatch).
    pub code: u16,
    /// The broker's reply text, which names what it objected to.
    pub text: String,
}

impl std::fmt::Display for BrokerClose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.connection {
            "connection"
        } else {
            "channel"
        };
        write!(f, "broker closed the {what}: {} {}", self.code, self.text)
    }
}

/// The shared "this connection is over" signal of one session.
#[derive(Debug, Default)]
pub struct SessionSignals {
    lost: CancellationToken,
    reason: Mutex<Option<String>>,
    broker_close: Mutex<Option<BrokerClose>>,
}

impl SessionSignals {
    /// Records why the connection ended (the first reason wins) and wakes every waiter.
    pub fn end(&self, reason: impl Into<String>) {
        {
            let mut slot = self.reason.lock().unwrap_or_else(|p| p.into_inner());
            if slot.is_none() {
                *slot = Some(reason.into());
            }
        }
        self.lost.cancel();
    }

    /// Resolves once the connection is over; cancel-safe.
    pub async fn ended(&self) {
        self.lost.cancelled().await;
    }

    /// Whether the connection is already over.
    pub fn is_ended(&self) -> bool {
        self.lost.is_cancelled()
    }

    /// Why the connection ended, if it did.
    pub fn reason(&self) -> Option<String> {
        self.reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The broker's own words when it closed the connection or the channel: the only place the
    /// reply code of a refused declaration can be read, since amqprs' call just fails.
    pub fn broker_close(&self) -> Option<BrokerClose> {
        self.broker_close
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(super) fn record_close(&self, close: BrokerClose) {
        let reason = close.to_string();
        *self.broker_close.lock().unwrap_or_else(|p| p.into_inner()) = Some(close);
        self.end(reason);
    }
}

/// Connection-level callback: a server-sent close ends the session.
pub struct ConnectionEvents(pub Arc<SessionSignals>);

#[async_trait]
impl ConnectionCallback for ConnectionEvents {
    async fn close(
        &mut self,
        _connection: &Connection,
        close: Close,
    ) -> Result<(), amqprs::error::Error> {
        self.0.record_close(BrokerClose {
            connection: true,
            code: close.reply_code(),
            text: close.reply_text().clone(),
        });
        Ok(())
    }

    async fn blocked(&mut self, _connection: &Connection, reason: String) {
        tracing::warn!(%reason, "broker blocked publishing (resource alarm)");
    }

    async fn unblocked(&mut self, _connection: &Connection) {
        tracing::info!("broker unblocked publishing");
    }

    async fn secret_updated(&mut self, _connection: &Connection) {}
}

/// Channel-level callback: forwards confirms to the tracker and turns a server-side channel close
/// or consumer cancel into the end of the session (the manager then reconnects and re-declares).
/// It runs inline in amqprs' dispatcher, so it only records and forwards, never waits.
pub struct ChannelEvents {
    /// The session's end signal: a server-side channel close or consumer cancel ends it.
    pub signals: Arc<SessionSignals>,
    /// The channel's confirm book-keeping; `None` for a channel without confirm mode.
    pub confirms: Option<Arc<ConfirmTracker>>,
    /// Told of every ack or nack, so `/ready` knows the broker is confirming.
    pub stall: Arc<PublishStall>,
}

#[async_trait]
impl ChannelCallback for ChannelEvents {
    async fn close(
        &mut self,
        _channel: &Channel,
        close: CloseChannel,
    ) -> Result<(), amqprs::error::Error> {
        self.signals.record_close(BrokerClose {
            connection: false,
            code: close.reply_code(),
            text: close.reply_text().clone(),
        });
        Ok(())
    }

    async fn cancel(
        &mut self,
        _channel: &Channel,
        cancel: Cancel,
    ) -> Result<(), amqprs::error::Error> {
        self.signals.end(format!(
            "broker cancelled consumer {} (was its queue deleted?)",
            cancel.consumer_tag()
        ));
        Ok(())
    }

    async fn flow(
        &mut self,
        _channel: &Channel,
        active: bool,
    ) -> Result<bool, amqprs::error::Error> {
        Ok(active)
    }

    async fn publish_ack(&mut self, _channel: &Channel, ack: Ack) {
        self.stall.broker_confirmed();
        if let Some(confirms) = &self.confirms {
            confirms.resolve(ack.delivery_tag(), ack.mutiple(), Confirm::Ack);
        }
    }

    async fn publish_nack(&mut self, _channel: &Channel, nack: Nack) {
        self.stall.broker_confirmed();
        if let Some(confirms) = &self.confirms {
            confirms.resolve(nack.delivery_tag(), nack.multiple(), Confirm::Nack);
        }
    }

    async fn publish_return(
        &mut self,
        _channel: &Channel,
        ret: Return,
        basic_properties: BasicProperties,
        _content: Vec<u8>,
    ) {
        let message_id = basic_properties.message_id().cloned().unwrap_or_default();
        // Normal for pub/sub (nobody subscribes to that key); the publisher reports it.
        tracing::info!(
            reply_code = ret.reply_code(),
            reply_text = %ret.reply_text(),
            exchange = %ret.exchange(),
            routing_key = %ret.routing_key(),
            %message_id,
            "broker returned an unroutable message"
        );
        if let Some(confirms) = &self.confirms {
            confirms.mark_returned(&message_id);
        }
    }
}
