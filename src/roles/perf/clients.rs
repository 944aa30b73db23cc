//! One `perf` producer and one consumer: the messages carry their send time in their first 8
//! bytes, which the consumer turns into an end-to-end latency.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::stats::Stats;
use super::PerfConfig;
use crate::amqp::{
    ConfirmedPublisher, Delivery, Destination, MessageExtras, OutgoingMessage, QueueName,
    QueueSpec, QueueType,
};

/// The queue to declare: a fresh classic one disappears with its last consumer (and is deleted
/// at the end anyway); a quorum queue must be durable.
pub(super) fn queue_spec(config: &PerfConfig, queue: &QueueName) -> QueueSpec {
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
pub(super) async fn produce(
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
            extras: MessageExtras::default(),
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
pub(super) async fn receive(stats: &Stats, work: Duration, delivery: Delivery) {
    let body = delivery.body();
    if let Some(sent) = body.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
        let sent = u64::from_le_bytes(sent);
        stats.record(Duration::from_nanos(now_nanos().saturating_sub(sent)));
    }
    if !work.is_zero() {
        tokio::time::sleep(work).await;
    }
    if delivery.ack().await.is_ok() {
        stats.received_one();
    }
}
