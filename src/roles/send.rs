//! `playground send`: the RabbitMQ tutorial's `new_task` — publish a message (or a numbered burst)
//! to the work queue straight over AMQP and exit, with the same connection manager, queue
//! declaration and confirmed publisher as `produce-server`. Exit code 0 only if the broker
//! confirmed every message.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::amqp::{
    publish_burst, AmqpOptions, BurstItem, ChannelSetup, ConfirmedPublisher, ConnectionManager,
    Destination, ExchangeKind, Headers, InstanceName, LabExchanges, MessageExtras, OutgoingMessage,
    PublishError, RoutingKey, Topology, WorkQueue, BURST_WINDOW,
};
use crate::identity;
use crate::message::{numbered_text, unix_seconds_now, Envelope};
use crate::metrics::Metrics;

/// Where `send` publishes.
#[derive(Debug, Clone)]
pub enum SendTarget {
    /// The work queue, through the default exchange (declared with its shape).
    Queue(WorkQueue),
    /// One of the lab's exchanges, with a routing key; unroutable messages are reported, and are
    /// not a failure (nobody subscribing is something to learn, not an error).
    Exchange {
        /// All four, declared at start; `kind` picks the one published to.
        exchanges: LabExchanges,
        /// Which of the four exchanges the messages go to.
        kind: ExchangeKind,
        /// The key every message carries; empty for fanout and headers, which ignore it.
        routing_key: RoutingKey,
        /// Headers every message carries (`--header`); a headers exchange routes on them.
        headers: Headers,
    },
}

impl SendTarget {
    fn topology(&self) -> Topology {
        match self {
            SendTarget::Queue(queue) => queue.topology(),
            SendTarget::Exchange { exchanges, .. } => {
                let mut topology = Topology {
                    exchanges: exchanges.specs(),
                    exchange_mismatch_hint: Some(exchanges.mismatch_hint()),
                    ..Topology::default()
                };
                if let Some(alternate) = &exchanges.alternate {
                    alternate.add_to(&mut topology);
                }
                topology
            }
        }
    }

    /// Where every message goes.
    fn destination(&self) -> Destination {
        match self {
            SendTarget::Queue(queue) => Destination::Queue(queue.name.clone()),
            SendTarget::Exchange {
                exchanges,
                kind,
                routing_key,
                ..
            } => Destination::Exchange(exchanges.name_of(*kind).clone(), routing_key.clone()),
        }
    }

    /// Where the messages go, for people.
    pub fn describe(&self) -> String {
        match self {
            SendTarget::Queue(queue) => format!("queue {}", queue.name),
            SendTarget::Exchange {
                exchanges,
                kind: ExchangeKind::Headers,
                headers,
                ..
            } => format!(
                "headers exchange {} with headers {headers}",
                exchanges.name_of(ExchangeKind::Headers)
            ),
            SendTarget::Exchange {
                exchanges,
                kind,
                routing_key,
                ..
            } => format!(
                "{} exchange {} with key {:?}",
                kind.as_str(),
                exchanges.name_of(*kind),
                routing_key.as_str()
            ),
        }
    }
}

/// Settings of `send`, built from its flags.
#[derive(Debug, Clone)]
pub struct SendConfig {
    /// The work queue, or one of the lab's exchanges.
    pub target: SendTarget,
    /// Messages to send, numbered 1..=count.
    pub count: u64,
    /// One summary line instead of a line per message.
    pub quiet: bool,
    /// Stamped into every envelope's `service` and as the AMQP `app_id`.
    pub service_name: InstanceName,
    /// Bound on each message's confirm.
    pub publish_timeout: Duration,
    /// How long to wait for the first connection before giving up.
    pub connect_wait: Duration,
    /// The message words joined with spaces; numbered per message when `count` is over 1.
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
    let manager = Arc::new(ConnectionManager::start(
        amqp.for_role(
            identity::connection_name("send"),
            config.target.topology(),
            ChannelSetup {
                confirms: true,
                ..ChannelSetup::default()
            },
        ),
        Arc::new(Metrics::new("send")),
    ));
    let result = send_all(&config, &manager, &shutdown).await;
    manager.close().await;
    result
}

async fn send_all(
    config: &SendConfig,
    manager: &ConnectionManager,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    tokio::select! {
        session = manager.first_session(config.connect_wait) => {
            session?;
        }
        _ = shutdown.cancelled() => anyhow::bail!("interrupted before connecting; nothing was sent"),
    }
    let destination = config.target.describe();
    info!(to = %destination, count = config.count, "sending");

    let publisher = Arc::new(ConfirmedPublisher::new(
        manager,
        config.publish_timeout,
        config.service_name.clone(),
    ));
    let address = config.target.destination();
    let routing_key = match &address {
        Destination::Exchange(_, key) => Some(key.as_str().to_owned()),
        Destination::Queue(_) => None,
    };
    let to_exchange = routing_key.is_some();
    let headers = match &config.target {
        SendTarget::Exchange { headers, .. } if !headers.is_empty() => {
            Some(headers.to_field_table())
        }
        _ => None,
    };
    let burst_id = uuid::Uuid::new_v4().to_string();
    let service = config.service_name.as_str();
    let make = |seq| {
        let mut envelope = Envelope::numbered(&config.text, seq, config.count, service);
        if config.count > 1 {
            envelope.burst = Some(burst_id.clone());
        }
        envelope.routing_key.clone_from(&routing_key);
        OutgoingMessage {
            destination: address.clone(),
            body: envelope.to_json(),
            message_id: envelope.id.clone(),
            timestamp: unix_seconds_now(),
            persistent: true,
            content_type: "application/json",
            extras: MessageExtras {
                headers: headers.clone(),
                ..MessageExtras::default()
            },
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
