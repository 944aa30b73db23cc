//! What keeps the console's view alive: a consumer that folds every role's snapshots into it,
//! a ticker that keeps ages and staleness moving when none arrive, a probe that asks the broker
//! how deep the lab's queues are, and the end of every
//! `/events` stream on shutdown (so graceful shutdown does not wait on browsers).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::debug;

use super::Console;
use crate::amqp::{
    consume_across_sessions, ConnectionManager, ConsumerEvent, ConsumerTag, QueueName,
};

/// How long one passive declare may take before the queue is shown as unknown.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
use crate::roles::snapshot::Snapshot;

/// Starts the console's four tasks on `tasks`; each ends when `stop` is cancelled.
pub fn spawn_tasks(
    console: &Arc<Console>,
    manager: &Arc<ConnectionManager>,
    stop: &CancellationToken,
    tasks: &TaskTracker,
) {
    tasks.spawn(read_snapshots(
        manager.clone(),
        console.clone(),
        stop.clone(),
    ));
    tasks.spawn(refresh_every(console.clone(), stop.clone()));
    tasks.spawn(probe_depths(manager.clone(), console.clone(), stop.clone()));
    let (console, stop) = (console.clone(), stop.clone());
    tasks.spawn(async move {
        stop.cancelled().await;
        console.close();
    });
}

/// Feeds every role's snapshots into the console, on whatever session is current, from the
/// private queue the topology binds to the telemetry exchange (declared last).
async fn read_snapshots(
    manager: Arc<ConnectionManager>,
    console: Arc<Console>,
    stop: CancellationToken,
) {
    let tag = ConsumerTag::for_instance("console", std::process::id());
    let _ = consume_across_sessions(
        &manager,
        &tag,
        &stop,
        |session| session.declared().last_queue_name().cloned(),
        |_: ConsumerEvent<'_>| {},
        |delivery| {
            let console = console.clone();
            async move {
                if let Ok(snapshot) = serde_json::from_slice::<Snapshot>(delivery.body()) {
                    console.ingest(snapshot);
                }
                if let Err(error) = delivery.ack().await {
                    debug!(%error, "snapshot not acked");
                }
            }
        },
    )
    .await;
}

/// Keeps ages and staleness moving even when no snapshot arrives.
async fn refresh_every(console: Arc<Console>, stop: CancellationToken) {
    let mut ticker = tokio::time::interval(console.interval.min(Duration::from_secs(1)));
    loop {
        tokio::select! {
            _ = ticker.tick() => console.publish(),
            _ = stop.cancelled() => return,
        }
    }
}

/// Once per interval, asks the broker (a passive declare each, on the session's probe channel)
/// for the depth and consumers of every shared queue the roles declared. Exclusive queues are
/// reported by their owners; a queue the broker does not know is shown as missing, never as 0.
async fn probe_depths(
    manager: Arc<ConnectionManager>,
    console: Arc<Console>,
    stop: CancellationToken,
) {
    let mut ticker = tokio::time::interval(console.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.cancelled() => return,
        }
        let Some(session) = manager.current() else {
            continue;
        };
        let Some(probe) = session.queue_probe() else {
            continue;
        };
        for queue in console.probe_targets() {
            let Ok(name) = QueueName::parse(queue.clone()) else {
                continue;
            };
            // A broker that stops answering must not stall the probe for good.
            let answer = tokio::select! {
                answer = probe.counts(&name, PROBE_TIMEOUT) => answer,
                _ = stop.cancelled() => return,
            };
            console.record_probe(queue, answer);
        }
    }
}
