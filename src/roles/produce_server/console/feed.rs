//! What keeps the console's view alive: a consumer that folds every role's snapshots into it,
//! a ticker that keeps ages and staleness moving when none arrive, a probe that asks the broker
//! how deep the lab's queues are, with `--management-url` a task that asks which node leads
//! each, and the end of every `/events` stream on shutdown (so graceful shutdown does not wait on
//! browsers).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use super::Console;
use crate::amqp::{
    consume_across_sessions, ConnectionManager, ConsumerEvent, ConsumerTag, QueueName,
};

use crate::management_api::ManagementApi;
use crate::roles::snapshot::Snapshot;

/// How long one passive declare may take before the queue is shown as unknown.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the management API is asked where the queues live: leaders move rarely, and one
/// request answers for every queue.
const HOMES_EVERY: Duration = Duration::from_secs(2);

/// How long one node's management API may take to answer before the next is tried.
const HOMES_TIMEOUT: Duration = Duration::from_secs(3);

/// Starts the console's tasks on `tasks`; each ends when `stop` is cancelled.
pub fn spawn_tasks(
    console: &Arc<Console>,
    manager: &Arc<ConnectionManager>,
    management: Option<ManagementApi>,
    stop: &CancellationToken,
    tasks: &TaskTracker,
) {
    if let Some(api) = management {
        tasks.spawn(ask_queue_homes(api, console.clone(), stop.clone()));
    }
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

/// Every few seconds, asks the management API where every queue lives, for the diagram's
/// leaders. An API that cannot answer is said once (and once when it answers again), not every
/// time; meanwhile the leaders age out of the diagram instead of going stale in it.
async fn ask_queue_homes(api: ManagementApi, console: Arc<Console>, stop: CancellationToken) {
    let mut ticker = tokio::time::interval(HOMES_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.cancelled() => return,
        }
        let answer = tokio::select! {
            answer = api.queue_homes(HOMES_TIMEOUT) => answer,
            _ = stop.cancelled() => return,
        };
        match answer {
            Ok(homes) => {
                if failing {
                    info!("the management API answers again; the console shows queue leaders");
                }
                failing = false;
                console.record_homes(homes);
            }
            Err(error) if !failing => {
                failing = true;
                warn!(
                    error = %format!("{error:#}"),
                    "the management API does not answer; the console shows no queue leaders until it does"
                );
            }
            Err(error) => {
                debug!(error = %format!("{error:#}"), "the management API still does not answer")
            }
        }
    }
}
