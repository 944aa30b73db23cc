//! `playground stream-sub`: reads a RabbitMQ stream, an append-only log that keeps what was
//! published to it (for `--max-age`, up to `--max-length-bytes`), so a reader that starts late
//! can replay what happened before it started (`--offset first`, a number, a time, `10m` ago) and
//! every reader gets everything. With `--bind-exchange` the stream is bound to one of the lab's
//! exchanges: the audit-service keeps every event ever published to the topic exchange.
//!
//! Streams differ from queues where it hurts:
//! - reading removes nothing, so the reader keeps its own position ([`position`]): after a
//!   reconnect it resumes right after the last offset it handled (`x-stream-offset` = last + 1),
//!   neither from the start again nor with a gap; a restart begins where `--offset` says;
//! - a consumer needs a prefetch and manual acks; the acks only give the broker credit to send
//!   more (every message is acked);
//! - `basic.reject`/`nack` make the broker close the connection, so nothing here rejects: on
//!   shutdown the consumer is cancelled and the connection closed, messages in hand or not.

pub mod position;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::amqp::stream::{consume_arguments, stream_queue};
use crate::amqp::{
    consume_across_sessions_with, AmqpOptions, BindingSpec, BoundQueue, ConnectionManager,
    ConsumerEvent, ConsumerTag, Delivery, ExchangeKind, ExchangeName, ExchangeSpec, InstanceName,
    QueueName, RoutingKey, Session, StreamOffset, StreamRetention, Topology,
};
use crate::http::Listen;
use crate::message::EnvelopeView;
use crate::metrics::{Metrics, StreamGauges, STREAM_ROLE};
use crate::roles::body::{render_body, BodyStyle};
use crate::roles::consuming::{ConsumingRole, Plan};
use crate::roles::snapshot::{Handled, HandledLog, Identity, Outcome, Trace};
use position::{Arrival, Position};

/// How often the stream's length is asked for, to compute the lag (RabbitMQ 3.10 refreshes it
/// about every 5 s; asking more often only sees the same number).
const LAG_INTERVAL: Duration = Duration::from_secs(2);

/// An exchange the stream is bound to, so it keeps what is published there.
#[derive(Debug, Clone)]
pub struct StreamBinding {
    /// Declared durable if missing, with `kind`.
    pub exchange: ExchangeName,
    /// How `patterns` are read.
    pub kind: ExchangeKind,
    /// Binding keys, checked for `kind`; one empty key for fanout.
    pub patterns: Vec<RoutingKey>,
}

/// Settings of `stream-sub`, built from its flags.
#[derive(Debug, Clone)]
pub struct StreamSubConfig {
    /// The service name in every log line; the host name by default.
    pub name: InstanceName,
    /// The stream, declared on every connect.
    pub stream: QueueName,
    /// Where a fresh process starts reading.
    pub offset: StreamOffset,
    /// What the stream keeps (declaration arguments: every reader must give the same).
    pub retention: StreamRetention,
    /// An exchange to bind the stream to; `None` reads only what is published to it directly.
    pub binding: Option<StreamBinding>,
    /// Unacked messages the broker may push at once; at least 1 (streams require one).
    pub prefetch: u16,
    /// Where `/health`, `/ready` and `/metrics` are served; `None` disables them.
    pub health_listen: Option<Listen>,
    /// How bodies appear in the log lines.
    pub body_style: BodyStyle,
}

impl StreamSubConfig {
    /// The stream, its exchange and bindings, declared on every connect.
    fn topology(&self) -> Topology {
        let (exchanges, bindings) = match &self.binding {
            None => (Vec::new(), Vec::new()),
            Some(binding) => (
                vec![ExchangeSpec::durable(
                    binding.exchange.clone(),
                    binding.kind,
                )],
                binding
                    .patterns
                    .iter()
                    .map(|pattern| BindingSpec {
                        queue: BoundQueue::Named(self.stream.clone()),
                        exchange: binding.exchange.clone(),
                        routing_key: pattern.clone(),
                        arguments: amqprs::FieldTable::new(),
                    })
                    .collect(),
            ),
        };
        Topology {
            exchanges,
            queues: vec![stream_queue(self.stream.clone(), &self.retention)],
            bindings,
            queue_mismatch_hint: Some(format!(
                "{:?} must be a stream (x-queue-type: stream) with the same --max-age and \
                 --max-length-bytes as when it was created; a classic or quorum queue of that \
                 name cannot be read as a stream: pick another --stream / STREAM",
                self.stream.as_str()
            )),
            exchange_mismatch_hint: self.binding.as_ref().map(|binding| {
                format!(
                    "An exchange keeps its type for good; this role declares {:?} as {}: use \
                     --bind-exchange-type to match it",
                    binding.exchange.as_str(),
                    binding.kind.as_str()
                )
            }),
        }
    }

    /// What the console shows of it.
    fn identity(&self) -> Identity {
        Identity {
            role: STREAM_ROLE.to_owned(),
            instance: self.name.to_string(),
            queue: Some(self.stream.to_string()),
            prefetch: Some(self.prefetch),
            exchange: self.binding.as_ref().map(|b| b.exchange.to_string()),
            patterns: self
                .binding
                .iter()
                .filter(|b| b.kind != ExchangeKind::Fanout)
                .flat_map(|b| b.patterns.iter().map(RoutingKey::to_string))
                .collect(),
            ..Identity::default()
        }
    }
}

/// Reads the stream until `shutdown`. Fails only when the broker refused the stream, exchange or
/// a binding for good (or the health port cannot be used).
pub async fn run(
    config: StreamSubConfig,
    amqp: AmqpOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // "10m ago" means ten minutes before this process started, on every reconnect.
    let start = config.offset.resolve(SystemTime::now());
    let plan = Plan {
        role: STREAM_ROLE,
        name: config.name.clone(),
        topology: config.topology(),
        prefetch: config.prefetch,
        health_listen: config.health_listen,
        identity: config.identity(),
    };
    let role = ConsumingRole::start(plan, &amqp).await?;
    info!(
        reader = %config.name,
        stream = %config.stream,
        offset = %config.offset.describe(),
        max_age = config.retention.max_age.as_ref().map_or("(none)", |a| a.as_str()),
        max_length_bytes = config.retention.max_length_bytes.unwrap_or(0),
        exchange = config.binding.as_ref().map_or("(none)", |b| b.exchange.as_str()),
        prefetch = config.prefetch,
        urls = %amqp.endpoints,
        "stream reader starting"
    );
    let position = Arc::new(Position::new(start));
    let gauges = role.metrics.stream.clone().unwrap_or_default();
    {
        let (manager, stream) = (role.manager.clone(), config.stream.clone());
        let (position, gauges) = (position.clone(), gauges.clone());
        role.spawn(move |stop| watch_lag(manager, stream, position, gauges, stop));
    }
    let consumer_tag = ConsumerTag::for_instance(config.name.as_str(), std::process::id());
    let handler = Handler {
        config: &config,
        metrics: &role.metrics,
        handled: &role.handled,
        position: &position,
        gauges: &gauges,
    };
    let health = &role.health;
    let result = consume_across_sessions_with(
        &role.manager,
        &consumer_tag,
        &shutdown,
        |_| Some(config.stream.clone()),
        |_| Some(consume_arguments(position.start(start))),
        |event| match event {
            ConsumerEvent::Consuming { session, queue } => {
                health.set_role_ready(true);
                log_reading(&config, &position, start, session, queue, &gauges);
            }
            ConsumerEvent::Paused => health.set_role_ready(false),
        },
        |delivery| handler.handle(delivery),
    )
    .await;
    role.finish().await;
    result?;
    info!(
        reader = %config.name,
        last_offset = position.last().unwrap_or(-1),
        "stream reader stopped"
    );
    Ok(())
}

/// Says where this session's consumer started, and notes the stream's length.
fn log_reading(
    config: &StreamSubConfig,
    position: &Position,
    start: StreamOffset,
    session: &Session,
    stream: &QueueName,
    gauges: &StreamGauges,
) {
    let messages = session
        .declared()
        .queues
        .last()
        .map_or(0, |queue| queue.messages);
    position.set_end(u64::from(messages));
    let lag = position.lag();
    gauges.lag.set(i64::try_from(lag).unwrap_or(i64::MAX));
    let generation = session.generation();
    let (from, detail) = match position.last() {
        Some(last) => (
            StreamOffset::Offset(last + 1).describe(),
            "resumed right after the last offset handled: nothing replayed, nothing skipped",
        ),
        None => (start.describe(), "reading from the start offset"),
    };
    info!(
        reader = %config.name,
        %stream,
        from = %from,
        messages_in_stream = messages,
        lag,
        generation,
        detail,
        "reading stream"
    );
}

/// Asks the broker for the stream's length every [`LAG_INTERVAL`] and updates the lag gauge.
async fn watch_lag(
    manager: Arc<ConnectionManager>,
    stream: QueueName,
    position: Arc<Position>,
    gauges: StreamGauges,
    stop: CancellationToken,
) {
    let mut ticker = tokio::time::interval(LAG_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.cancelled() => return,
        }
        let Some(session) = manager.current() else {
            continue;
        };
        match session.message_count(&stream).await {
            Ok(messages) => {
                position.set_end(u64::from(messages));
                gauges
                    .lag
                    .set(i64::try_from(position.lag()).unwrap_or(i64::MAX));
            }
            Err(error) => debug!(%error, "stream length not read"),
        }
    }
}

/// What each delivery is handled with.
struct Handler<'a> {
    config: &'a StreamSubConfig,
    metrics: &'a Metrics,
    handled: &'a HandledLog,
    position: &'a Position,
    gauges: &'a StreamGauges,
}

impl Handler<'_> {
    /// Logs a new message with its offset, then acks it (streams need the ack only as credit).
    async fn handle(&self, delivery: Delivery) {
        let Some(offset) = delivery.stream_offset() else {
            warn!("a delivery without x-stream-offset: is this queue a stream?");
            let _ = delivery.ack().await;
            return;
        };
        match self.position.arrive(offset) {
            Arrival::Seen => {
                debug!(offset, "already handled; acked, not logged again");
                let _ = delivery.ack().await;
                return;
            }
            Arrival::New { skipped } if skipped > 0 => warn!(
                offset,
                skipped,
                "offsets skipped: the retention removed them, or they never held a message"
            ),
            Arrival::New { .. } => {}
        }
        let started = std::time::Instant::now();
        self.metrics.delivered.inc();
        self.gauges.offset.set(offset);
        self.gauges
            .lag
            .set(i64::try_from(self.position.lag()).unwrap_or(i64::MAX));
        let message_id = delivery.message_id().to_owned();
        let routing_key = delivery.routing_key().to_owned();
        let content = delivery.body();
        let envelope = EnvelopeView::parse(content);
        info!(
            reader = %self.config.name,
            stream = %self.config.stream,
            stream_offset = offset,
            exchange = %delivery.exchange(),
            routing_key = %routing_key,
            message_id = %message_id,
            bytes = content.len(),
            body = %render_body(content, envelope.is_some(), self.config.body_style),
            "received message"
        );
        let produced_at = envelope.as_ref().and_then(EnvelopeView::produced_at);
        let trace = Trace::of(&delivery, envelope.as_ref());
        // A failed ack loses nothing: the next session starts after this offset anyway.
        if let Err(error) = delivery.ack().await {
            debug!(%error, offset, "not acked");
        } else {
            self.metrics.acked.inc();
        }
        self.handled.record(Handled {
            message_id,
            seq: None,
            burst: None,
            routing_key: Some(routing_key),
            redelivered: false,
            outcome: Outcome::Acked,
            attempt: None,
            trace,
        });
        self.metrics
            .processing_time
            .observe(started.elapsed().as_secs_f64());
        if let Some(age) = produced_at.and_then(|at| SystemTime::now().duration_since(at).ok()) {
            self.metrics.end_to_end_latency.observe(age.as_secs_f64());
        }
    }
}
