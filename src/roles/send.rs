//! `playground send`: the RabbitMQ tutorial's `new_task` — publish a message (or a numbered burst)
//! to the work queue straight over AMQP and exit, with the same connection manager, queue
//! declaration and confirmed publisher as `produce-server`. Exit code 0 only if the broker
//! confirmed every message.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::amqp::{
    next_live_session, publish_burst, AmqpOptions, BurstItem, ChannelSetup, ConfirmedPublisher,
    ConnectionManager, ExchangeKind, LabExchanges, OutgoingMessage, PublishError, Topology,
    WorkQueue, BURST_WINDOW,
};
use crate::identity;
use crate::message::{numbered_text, unix_seconds_now, Envelope};

/// Where `send` publishes.
#[derive(Debug, Clone)]
pub enum SendTarget {
    /// The work queue, through the default exchange (declared with its shape).
    Queue(WorkQueue),
    /// One of the lab's exchanges, with a routing key; unroutable messages are reported, and are
    /// not a failure (nobody subscribing is something to learn, not an error).
    Exchange {
        exchanges: LabExchanges,
        kind: ExchangeKind,
        routing_key: String,
    },
}

impl SendTarget {
    fn topology(&self) -> Topology {
        match self {
            SendTarget::Queue(queue) => queue.topology(),
            SendTarget::Exchange { exchanges, .. } => Topology {
                exchanges: exchanges.specs(),
                exchange_mismatch_hint: Some(exchanges.mismatch_hint()),
                ..Topology::default()
            },
        }
    }

    /// `(exchange, routing key)` of every message.
    fn address(&self) -> (String, String) {
        match self {
            SendTarget::Queue(queue) => (String::new(), queue.name.clone()),
            SendTarget::Exchange {
                exchanges,
                kind,
                routing_key,
            } => (exchanges.name_of(*kind).to_owned(), routing_key.clone()),
        }
    }

    /// Where the messages go, for people.
    pub fn describe(&self) -> String {
        match self {
            SendTarget::Queue(queue) => format!("queue {}", queue.name),
            SendTarget::Exchange {
                exchanges,
                kind,
                routing_key,
            } => format!(
                "{} exchange {} with key {routing_key:?}",
                kind.as_str(),
                exchanges.name_of(*kind)
            ),
        }
    }
}

/// Settings of `send`, built from its flags.
#[derive(Debug, Clone)]
pub struct SendConfig {
    pub target: SendTarget,
    /// Messages to send, numbered 1..=count.
    pub count: u64,
    /// One summary line instead of a line per message.
    pub quiet: bool,
    pub service_name: String,
    /// Bound on each message's confirm.
    pub publish_timeout: Duration,
    /// How long to wait for the first connection before giving up.
    pub connect_wait: Duration,
    pub text: String,
}

/// Connects, publishes every message, prints what was confirmed, closes. Fails (exit 1) if the
/// broker cannot be reached within `connect_wait`, refuses the queue, or leaves any message
/// unconfirmed.
pub async fn run(
    config: SendConfig,
    amqp: AmqpOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    crate::metrics::init("send");
    let manager = Arc::new(ConnectionManager::start(amqp.for_role(
        identity::connection_name("send"),
        config.target.topology(),
        ChannelSetup {
            confirms: true,
            prefetch: None,
        },
    )));
    let result = send_all(&config, &manager, &amqp, &shutdown).await;
    manager.close().await;
    result
}

async fn send_all(
    config: &SendConfig,
    manager: &ConnectionManager,
    amqp: &AmqpOptions,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let mut sessions = manager.sessions();
    tokio::select! {
        connected = tokio::time::timeout(config.connect_wait, next_live_session(&mut sessions)) => {
            if connected.is_ok() {
                if let Some(error) = manager.failure() {
                    anyhow::bail!(error);
                }
            }
            connected.ok().flatten().with_context(|| format!(
                "could not reach RabbitMQ at {} within {}: {}",
                amqp.settings,
                humantime::format_duration(config.connect_wait),
                manager.state().borrow().last_error().unwrap_or("no answer"),
            ))?;
        }
        error = manager.failed() => anyhow::bail!(error),
        _ = shutdown.cancelled() => anyhow::bail!("interrupted before connecting; nothing was sent"),
    }
    let destination = config.target.describe();
    info!(to = %destination, count = config.count, "sending");

    let publisher = Arc::new(ConfirmedPublisher::new(
        manager.sessions(),
        config.publish_timeout,
        config.service_name.clone(),
    ));
    let (exchange, routing_key) = config.target.address();
    let to_exchange = !exchange.is_empty();
    let burst_id = uuid::Uuid::new_v4().to_string();
    let make = |seq| {
        let mut envelope =
            Envelope::numbered(&config.text, seq, config.count, &config.service_name);
        if config.count > 1 {
            envelope.burst = Some(burst_id.clone());
        }
        if to_exchange {
            envelope.routing_key = Some(routing_key.clone());
        }
        OutgoingMessage {
            exchange: exchange.clone(),
            routing_key: routing_key.clone(),
            body: envelope.to_json(),
            message_id: envelope.id.clone(),
            timestamp: unix_seconds_now(),
            persistent: true,
            content_type: "application/json",
        }
    };
    // Confirms arrive out of order (many in flight); lines are printed in `seq` order.
    let mut waiting: BTreeMap<u64, String> = BTreeMap::new();
    let mut next_line = 1u64;
    let print = |item: &BurstItem| {
        if config.quiet {
            return;
        }
        let text = numbered_text(&config.text, item.seq, config.count);
        let line = match &item.result {
            Ok(()) => format!(
                " [x] sent {}/{} {text:?} to {destination} (id {})",
                item.seq, config.count, item.message_id
            ),
            Err(PublishError::Unroutable { .. }) if to_exchange => format!(
                " [-] sent {}/{} {text:?} to {destination}, but no queue is bound for it: \
                 nobody received it (id {})",
                item.seq, config.count, item.message_id
            ),
            Err(error) => format!(
                " [!] NOT confirmed {}/{} {text:?} (id {}): {error}",
                item.seq, config.count, item.message_id
            ),
        };
        waiting.insert(item.seq, line);
        while let Some(line) = waiting.remove(&next_line) {
            println!("{line}");
            next_line += 1;
        }
    };
    let started = Instant::now();
    let report = tokio::select! {
        report = publish_burst(publisher, config.count, BURST_WINDOW, to_exchange, make, print) => report,
        _ = shutdown.cancelled() => anyhow::bail!("interrupted; some messages may not have been sent"),
    };
    let elapsed = started.elapsed();
    let rate = report.confirmed as f64 / elapsed.as_secs_f64().max(0.001);
    println!(
        "{} of {} {} confirmed by RabbitMQ on {destination} in {:.0} ms ({rate:.0} msg/s)",
        report.confirmed,
        config.count,
        if config.count == 1 {
            "message"
        } else {
            "messages"
        },
        elapsed.as_secs_f64() * 1000.0
    );
    if report.unroutable > 0 {
        println!(
            "{} of them reached no queue: nobody is bound to {destination}",
            report.unroutable
        );
    }
    match report.failure {
        None => Ok(()),
        Some((seq, error)) => anyhow::bail!(
            "{} of {} messages were not confirmed (first failure: message {seq}: {error})",
            config.count - report.confirmed,
            config.count
        ),
    }
}
