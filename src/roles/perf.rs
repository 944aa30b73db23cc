//! `playground perf`: a load tool in the spirit of RabbitMQ's PerfTest, built on the same
//! connection manager and publisher as the roles, so "how fast is the broker" and "how much of it
//! do our services keep" are measured with one ruler. `--http` drives `produce-server` instead.
//!
//! Every producer and consumer has its own connection (as PerfTest does). Each message carries the
//! time it was sent in its first 8 bytes; consumers turn that into an end-to-end latency.

mod http_load;
mod stats;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::amqp::{
    consume_across_sessions, next_live_session, AmqpOptions, ChannelSetup, ConfirmedPublisher,
    ConnectionManager, ConsumerEvent, ConsumerTag, Delivery, Destination, InstanceName,
    OutgoingMessage, QueueName, QueueSpec, QueueType, Topology,
};
use crate::identity;
use crate::metrics::Metrics;
pub use http_load::send_message_uri;
use stats::{Counters, Latency, Stats};

/// Settings of `perf`, built from its flags.
#[derive(Debug, Clone)]
pub struct PerfConfig {
    pub producers: usize,
    pub consumers: usize,
    /// Messages per second per producer; 0 = as fast as possible.
    pub rate: f64,
    /// Unconfirmed publishes in flight per producer; 0 = no publisher confirms.
    pub confirm: u16,
    /// Message body size in bytes (at least 8: the send time).
    pub size: usize,
    pub prefetch: u16,
    /// A named queue; `None` = a fresh queue deleted at the end.
    pub queue: Option<QueueName>,
    pub queue_type: QueueType,
    pub persistent: bool,
    /// Stop after this long…
    pub time: Option<Duration>,
    /// …or after each producer sent this many.
    pub count: Option<u64>,
    /// Simulated processing time per message in consumers.
    pub work: Duration,
    /// Print the summary as JSON.
    pub json: bool,
    /// Drive `produce-server`'s `POST /send-message` at this URL instead of publishing over AMQP.
    pub http: Option<hyper::Uri>,
    /// Concurrent keep-alive HTTP connections in `--http` mode.
    pub concurrency: usize,
}

/// Runs the load until `--time`, `--count` or `shutdown`, printing a line per second and a
/// summary.
pub async fn run(
    config: PerfConfig,
    amqp: AmqpOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let stats = Arc::new(Stats::new()?);
    if let Some(uri) = config.http.clone() {
        return http_load::run(&config, uri, stats, shutdown).await;
    }
    let queue = match config.queue.clone() {
        Some(queue) => queue,
        None => QueueName::parse(format!("perf-{}", uuid::Uuid::new_v4().simple()))?,
    };
    let topology = Topology {
        queues: vec![queue_spec(&config, &queue)],
        ..Topology::default()
    };
    // perf measures the broker, not the console: no snapshots, no side channels.
    let amqp = AmqpOptions {
        snapshots: None,
        ..amqp
    };
    let metrics = Arc::new(Metrics::new("perf"));
    let app_id = InstanceName::parse("playground-perf")?;

    // Producers stop first; consumers keep taking what was published, then stop.
    let stop = CancellationToken::new();
    let stop_consumers = CancellationToken::new();
    let mut managers = Vec::new();
    let mut tasks = JoinSet::new();
    for i in 0..config.consumers {
        let manager = Arc::new(ConnectionManager::start(
            amqp.for_role(
                identity::connection_name(&format!("perf consumer {i}")),
                topology.clone(),
                ChannelSetup {
                    prefetch: Some(config.prefetch),
                    ..ChannelSetup::default()
                },
            ),
            metrics.clone(),
        ));
        managers.push(manager.clone());
        let (stats, stop, queue, work) = (
            stats.clone(),
            stop_consumers.clone(),
            queue.clone(),
            config.work,
        );
        tasks.spawn(async move {
            let tag = ConsumerTag::for_instance(&format!("perf-consumer-{i}"), std::process::id());
            let _ = consume_across_sessions(
                &manager,
                &tag,
                &stop,
                |_| Some(queue.clone()),
                |_: ConsumerEvent<'_>| {},
                |delivery| receive(&stats, work, delivery),
            )
            .await;
        });
    }
    let mut producer_managers = Vec::new();
    for i in 0..config.producers {
        producer_managers.push(Arc::new(ConnectionManager::start(
            amqp.for_role(
                identity::connection_name(&format!("perf producer {i}")),
                topology.clone(),
                ChannelSetup {
                    confirms: config.confirm > 0,
                    ..ChannelSetup::default()
                },
            ),
            metrics.clone(),
        )));
    }
    // Everyone connected (and the queue declared) before the clock starts.
    for manager in managers.iter().chain(&producer_managers) {
        let mut sessions = manager.sessions();
        tokio::select! {
            session = tokio::time::timeout(Duration::from_secs(30), next_live_session(&mut sessions)) => {
                session.ok().flatten().with_context(|| format!(
                    "could not reach RabbitMQ at {}: {}",
                    amqp.settings,
                    manager.state().borrow().last_error().unwrap_or("no answer")
                ))?;
            }
            refusal = manager.failed() => return Err(refusal.into()),
        }
    }
    eprintln!(
        "perf: {} producer(s), {} consumer(s), queue {queue}, {} B messages, confirm {}, \
         prefetch {}, rate {}",
        config.producers,
        config.consumers,
        config.size,
        config.confirm,
        config.prefetch,
        if config.rate > 0.0 {
            format!("{}/s per producer", config.rate)
        } else {
            "unlimited".to_owned()
        }
    );

    let started = Instant::now();
    let mut producers = JoinSet::new();
    for manager in &producer_managers {
        let publisher = ConfirmedPublisher::new(manager, Duration::from_secs(10), app_id.clone());
        producers.spawn(produce(
            config.clone(),
            queue.clone(),
            publisher,
            stats.clone(),
            stop.clone(),
        ));
    }
    managers.extend(producer_managers);
    let reporter = tokio::spawn(report_every_second(
        stats.clone(),
        stop_consumers.clone(),
        started,
        false,
    ));

    // Run until the time is up, every producer is done (or, consumers only, `--count` arrived),
    // or Ctrl-C.
    let finished = async {
        if config.producers == 0 {
            let Some(count) = config.count else {
                return std::future::pending().await;
            };
            while stats.counters().received < count {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        } else if config.count.is_some() {
            while producers.join_next().await.is_some() {}
        } else {
            std::future::pending::<()>().await;
        }
    };
    run_until(config.time, finished, &shutdown).await;
    let publishing_stopped = started.elapsed();
    stop.cancel();
    while producers.join_next().await.is_some() {}
    // Let consumers take what was published (bounded: stop once they make no progress).
    if config.consumers > 0 {
        let target = {
            let c = stats.counters();
            if config.confirm > 0 {
                c.confirmed
            } else {
                c.sent
            }
        };
        let mut last = (stats.counters().received, Instant::now());
        while stats.counters().received < target && !shutdown.is_cancelled() {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let received = stats.counters().received;
            if received != last.0 {
                last = (received, Instant::now());
            } else if last.1.elapsed() > Duration::from_secs(3) {
                break;
            }
        }
    }
    let elapsed = started.elapsed();
    stop_consumers.cancel();
    let _ = reporter.await;
    while tasks.join_next().await.is_some() {}
    if config.queue.is_none() {
        if let Some(session) = managers.first().and_then(|m| m.current()) {
            let _ = session.delete_queue(&queue).await;
        }
    }
    for manager in &managers {
        manager.close().await;
    }
    print_summary(
        &config,
        &stats,
        stats.counters(),
        publishing_stopped,
        elapsed,
    );
    Ok(())
}

/// Waits for whichever comes first: `time` elapsed (if given), `finished`, or `shutdown`.
async fn run_until(
    time: Option<Duration>,
    finished: impl std::future::Future<Output = ()>,
    shutdown: &CancellationToken,
) {
    let deadline = async {
        match time {
            Some(time) => tokio::time::sleep(time).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = deadline => {}
        _ = finished => {}
        _ = shutdown.cancelled() => {}
    }
}

/// The queue to declare: a fresh classic one disappears with its last consumer (and is deleted
/// at the end anyway); a quorum queue must be durable.
fn queue_spec(config: &PerfConfig, queue: &QueueName) -> QueueSpec {
    let mut spec = QueueSpec::durable(queue.clone());
    if config.queue.is_none() && config.queue_type == QueueType::Classic {
        spec.durable = false;
        spec.auto_delete = true;
    }
    if config.queue_type == QueueType::Quorum {
        if let Ok(key) = amqprs::ShortStr::try_from("x-queue-type") {
            spec.arguments
                .insert(key, amqprs::FieldValue::from("quorum"));
        }
    }
    spec
}

/// Nanoseconds since the epoch, embedded in every message.
fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// One producer: publishes until `stop` or `--count`, paced by `--rate`, with up to `--confirm`
/// publishes awaiting their confirm.
async fn produce(
    config: PerfConfig,
    queue: QueueName,
    publisher: ConfirmedPublisher,
    stats: Arc<Stats>,
    stop: CancellationToken,
) {
    let window = Arc::new(Semaphore::new(usize::from(config.confirm.max(1))));
    let started = tokio::time::Instant::now();
    let mut sent = 0u64;
    let mut confirms = JoinSet::new();
    while !stop.is_cancelled() && config.count.is_none_or(|count| sent < count) {
        if config.rate > 0.0 {
            let offset =
                Duration::try_from_secs_f64(sent as f64 / config.rate).unwrap_or(Duration::MAX);
            let due = started.checked_add(offset).unwrap_or(started);
            tokio::select! {
                _ = tokio::time::sleep_until(due) => {}
                _ = stop.cancelled() => break,
            }
        }
        let mut body = vec![0u8; config.size.max(8)];
        body[..8].copy_from_slice(&now_nanos().to_le_bytes());
        let message = OutgoingMessage {
            destination: Destination::Queue(queue.clone()),
            body,
            message_id: String::new(),
            timestamp: 0,
            persistent: config.persistent,
            content_type: "application/octet-stream",
        };
        if config.confirm == 0 {
            match publisher.publish_unconfirmed(message).await {
                Ok(()) => {
                    stats.sent.fetch_add(1, Ordering::Relaxed);
                    sent += 1;
                }
                Err(_) => {
                    stats.failed.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            continue;
        }
        let permit = tokio::select! {
            permit = window.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = stop.cancelled() => break,
        };
        match publisher.send(message).await {
            Ok(pending) => {
                stats.sent.fetch_add(1, Ordering::Relaxed);
                sent += 1;
                let stats = stats.clone();
                confirms.spawn(async move {
                    let counter = match pending.confirmed().await {
                        Ok(()) => &stats.confirmed,
                        Err(_) => &stats.failed,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    drop(permit);
                });
            }
            Err(_) => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        // Reap finished confirm tasks so the set stays small.
        while confirms.try_join_next().is_some() {}
    }
    while confirms.join_next().await.is_some() {}
}

/// One delivery: latency from the embedded send time, optional work, ack.
async fn receive(stats: &Stats, work: Duration, delivery: Delivery) {
    let body = delivery.body();
    if let Some(sent) = body.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
        let sent = u64::from_le_bytes(sent);
        stats.record(Duration::from_nanos(now_nanos().saturating_sub(sent)));
    }
    if !work.is_zero() {
        tokio::time::sleep(work).await;
    }
    if delivery.ack().await.is_ok() {
        stats.received.fetch_add(1, Ordering::Relaxed);
    }
}

/// A line per second: rates since the previous line and the interval's latencies.
async fn report_every_second(
    stats: Arc<Stats>,
    stop: CancellationToken,
    started: Instant,
    http: bool,
) {
    let mut ticker = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(1),
        Duration::from_secs(1),
    );
    let mut before = Counters::default();
    let mut at = Instant::now();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.cancelled() => return,
        }
        let now = stats.counters();
        let seconds = at.elapsed().as_secs_f64();
        let rate = |a: u64, b: u64| ((a - b) as f64 / seconds).round() as u64;
        if http {
            println!(
                "time {:.1} s, {} req/s, {} ok/s, {} failed/s, latency min/p50/p95/p99/max {}",
                started.elapsed().as_secs_f64(),
                rate(now.sent, before.sent),
                rate(now.confirmed, before.confirmed),
                rate(now.failed, before.failed),
                stats.take_interval().line()
            );
        } else {
            println!(
                "time {:.1} s, sent {} msg/s, confirmed {} msg/s, received {} msg/s, latency \
                 min/p50/p95/p99/max {}",
                started.elapsed().as_secs_f64(),
                rate(now.sent, before.sent),
                rate(now.confirmed, before.confirmed),
                rate(now.received, before.received),
                stats.take_interval().line()
            );
        }
        before = now;
        at = Instant::now();
    }
}

fn print_summary(
    config: &PerfConfig,
    stats: &Stats,
    totals: Counters,
    publishing: Duration,
    elapsed: Duration,
) {
    let per_second =
        |n: u64, over: Duration| (n as f64 / over.as_secs_f64().max(0.001)).round() as u64;
    let latency: Latency = stats.total_latency();
    let summary = json!({
        "mode": if config.http.is_some() { "http" } else { "amqp" },
        "producers": config.producers,
        "consumers": config.consumers,
        "confirm": config.confirm,
        "concurrency": config.concurrency,
        "size": config.size,
        "prefetch": config.prefetch,
        "elapsed_s": (elapsed.as_secs_f64() * 100.0).round() / 100.0,
        "sent": totals.sent,
        "confirmed": totals.confirmed,
        "received": totals.received,
        "failed": totals.failed,
        "sent_per_s": per_second(totals.sent, publishing),
        "confirmed_per_s": per_second(totals.confirmed, publishing),
        "received_per_s": per_second(totals.received, elapsed),
        "latency": latency,
    });
    if config.json {
        println!("{summary}");
    } else if config.http.is_some() {
        println!(
            "summary: {:.1} s, {} requests ({} req/s), {} ok, {} failed, latency \
             min/p50/p95/p99/max {}",
            elapsed.as_secs_f64(),
            totals.sent,
            summary["sent_per_s"],
            totals.confirmed,
            totals.failed,
            latency.line()
        );
    } else {
        println!(
            "summary: {:.1} s, sent {} ({} msg/s), confirmed {} ({} msg/s), received {} ({} \
             msg/s), failed {}, latency min/p50/p95/p99/max {}",
            elapsed.as_secs_f64(),
            totals.sent,
            summary["sent_per_s"],
            totals.confirmed,
            summary["confirmed_per_s"],
            totals.received,
            summary["received_per_s"],
            totals.failed,
            latency.line()
        );
    }
}
