//! One request: log it, work on it, publish the reply (or an error reply) to its `reply_to`,
//! and ack it only after the broker confirmed the reply. A request whose reply could not be
//! handed over is not acked: it goes back to the queue (and to another server).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tracing::{error, info, warn};

use super::RpcServerConfig;
use crate::amqp::{
    ConfirmedPublisher, Delivery, Destination, MessageExtras, OutgoingMessage, PublishError,
    QueueName,
};
use crate::message::{unix_seconds_now, EnvelopeView};
use crate::metrics::Metrics;
use crate::roles::body::render_body;
use crate::roles::consume::CRASH_EXIT_CODE;
use crate::roles::rpc_reply::ReplyBody;
use crate::roles::snapshot::{Handled, HandledLog, Outcome, Trace};
use crate::telemetry::elapsed_ms;

/// Requests since start, for the last log line and `--crash-after`.
#[derive(Debug, Default)]
pub struct Counts {
    received: AtomicU64,
    replied: AtomicU64,
    error_replies: AtomicU64,
}

/// A copy of [`Counts`] at one moment.
#[derive(Debug, Clone, Copy)]
pub struct CountsNow {
    pub received: u64,
    pub replied: u64,
    pub error_replies: u64,
}

impl Counts {
    /// The counts now.
    pub fn snapshot(&self) -> CountsNow {
        CountsNow {
            received: self.received.load(Ordering::Relaxed),
            replied: self.replied.load(Ordering::Relaxed),
            error_replies: self.error_replies.load(Ordering::Relaxed),
        }
    }
}

/// Everything the request loop shares across sessions.
pub struct Server {
    pub config: RpcServerConfig,
    pub publisher: ConfirmedPublisher,
    pub metrics: Arc<Metrics>,
    pub handled: Arc<HandledLog>,
    pub counts: Arc<Counts>,
}

impl Server {
    /// Handles one request, from delivery to ack.
    pub async fn handle(&self, delivery: Delivery) {
        let config = &self.config;
        let started = Instant::now();
        let received = self.counts.received.fetch_add(1, Ordering::Relaxed) + 1;
        self.metrics.delivered.inc();
        if delivery.redelivered() {
            self.metrics.redelivered.inc();
        }
        let envelope = EnvelopeView::parse(delivery.body());
        // For the console, read from the one parse of the body.
        let trace = Trace::of(&delivery, envelope.as_ref());
        let text = envelope
            .as_ref()
            .and_then(|e| e.message.as_deref())
            .map_or_else(
                || String::from_utf8_lossy(delivery.body()).into_owned(),
                str::to_owned,
            );
        // produce-server and `call` use the envelope's id as the message id.
        let request_id = delivery.message_id().to_owned();
        let correlation_id = delivery.correlation_id().unwrap_or_default().to_owned();
        let work = config.behaviour.work_for(text.as_bytes());
        info!(
            server = %config.name,
            queue = %config.queue,
            message_id = %delivery.message_id(),
            %correlation_id,
            redelivered = delivery.redelivered(),
            caller = delivery.app_id().unwrap_or(""),
            work_ms = work.as_millis() as u64,
            body = %render_body(delivery.body(), envelope.is_some(), config.body_style),
            "request received"
        );
        if config.behaviour.crashes_on(received) {
            error!(
                server = %config.name,
                message_id = %delivery.message_id(),
                received,
                exit_code = CRASH_EXIT_CODE,
                "crashing on purpose (--crash-after): exiting without reply or ack; the broker will redeliver the request"
            );
            std::process::exit(CRASH_EXIT_CODE);
        }
        let Some(reply_to) = delivery.reply_to().map(str::to_owned) else {
            warn!(message_id = %delivery.message_id(), "a request without reply_to: nobody to answer; acked and dropped");
            self.metrics.rpc.record_request("no_reply_to");
            self.settle(delivery, Outcome::Dropped, true, trace).await;
            return;
        };
        if !work.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(work) => {}
                _ = delivery.session().ended() => {
                    warn!(message_id = %delivery.message_id(), "connection lost mid-request; the broker will redeliver it");
                    return;
                }
            }
        }
        let failed = config.behaviour.fails();
        let reply = ReplyBody {
            ok: !failed,
            reply: (!failed).then(|| text.clone()),
            error: failed.then(|| "processing failed (simulated, --fail-rate)".to_owned()),
            server: config.name.to_string(),
            request_id,
            redelivered: delivery.redelivered(),
            handled_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        let message = OutgoingMessage {
            // A reply-to address is an AMQP short string: it fits a queue name.
            destination: Destination::Queue(QueueName::from_broker(reply_to)),
            body: reply.to_json(),
            message_id: uuid::Uuid::new_v4().to_string(),
            timestamp: unix_seconds_now(),
            persistent: false,
            content_type: "application/json",
            extras: MessageExtras {
                correlation_id: Some(correlation_id.clone()),
                direct_reply: true,
                ..MessageExtras::default()
            },
        };
        // Not `mandatory` (see `MessageExtras::direct_reply`): a reply to a caller that is gone
        // is confirmed and dropped by the broker, and the caller's side counts nothing.
        let sent = match self.publisher.send_on(delivery.session(), message).await {
            Ok(pending) => pending.confirmed().await,
            Err(error) => Err(error),
        };
        match sent {
            Ok(()) => {
                let outcome = if failed { "error_reply" } else { "replied" };
                let counter = if failed {
                    &self.counts.error_replies
                } else {
                    &self.counts.replied
                };
                counter.fetch_add(1, Ordering::Relaxed);
                self.metrics.rpc.record_request(outcome);
                info!(server = %config.name, message_id = %delivery.message_id(), %correlation_id, ok = !failed, elapsed_ms = elapsed_ms(started), "replied");
                self.settle(delivery, Outcome::Acked, true, trace).await;
            }
            Err(error @ (PublishError::NotConnected | PublishError::ConnectionLost)) => {
                self.metrics.rpc.record_request("reply_failed");
                warn!(%error, message_id = %delivery.message_id(), "reply not handed over; the broker will redeliver the request");
            }
            Err(error) => {
                self.metrics.rpc.record_request("reply_failed");
                warn!(%error, message_id = %delivery.message_id(), "reply not confirmed; handing the request back");
                self.settle(delivery, Outcome::Requeued, false, trace).await;
            }
        }
    }

    /// Acks (`ack`) or requeues the request and tells the console.
    async fn settle(&self, delivery: Delivery, outcome: Outcome, ack: bool, trace: Trace) {
        let message_id = delivery.message_id().to_owned();
        let redelivered = delivery.redelivered();
        let settled = match ack {
            true => delivery.ack().await,
            false => delivery.reject(true).await,
        };
        if let Err(error) = settled {
            warn!(%error, %message_id, "request not settled");
            return;
        }
        if ack {
            self.metrics.acked.inc();
        }
        self.handled.record(Handled {
            message_id,
            seq: None,
            burst: None,
            routing_key: None,
            redelivered,
            outcome,
            attempt: None,
            trace,
        });
    }
}
