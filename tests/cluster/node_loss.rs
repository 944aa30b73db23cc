//! Node loss under load: produce-server and two workers on a quorum work queue, 16 clients
//! POSTing; meanwhile the node produce-server is on is stopped cleanly, then the queue's leader
//! (asked from the cluster) is killed, then both start again. Every message answered 200 must be
//! consumed; duplicates, failovers and each role's longest unavailability are printed.
//! `CLUSTER_MESSAGES` (default 20,000) and `CLUSTER_ROUNDS` (default 1) scale it.

use std::time::Duration;

use crate::helpers::*;
use crate::load::{lost_and_duplicated, post_messages, secs, Gate, ReadyWatch};
use crate::local_cluster::LocalCluster;

/// produce-server's default `--publish-timeout`: no request may take (much) longer.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);
const CLIENTS: usize = 16;

fn from_env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

pub async fn run(cluster: &'static LocalCluster) {
    let total = from_env("CLUSTER_MESSAGES", 20_000);
    let rounds = from_env("CLUSTER_ROUNDS", 1).max(1);
    let queue = unique("cluster-loss");
    let urls = cluster.urls();
    let quorum = ["--queue-type", "quorum"];
    let producer = ProduceServer::start(&urls, &queue, &quorum).await;
    producer.wait_ready(200, Duration::from_secs(30)).await;
    let mut workers = Vec::new();
    for name in ["w1", "w2"] {
        let args = ["--queue-type", "quorum", "--prefetch", "20", "--name", name];
        workers.push(Consumer::start(&urls, &queue, &args).await);
    }
    let mut watches = vec![("produce-server", ReadyWatch::start(producer.url("/ready")))];
    for (name, worker) in ["w1", "w2"].iter().zip(&workers) {
        watches.push((name, ReadyWatch::start(format!("{}/ready", worker.health))));
    }

    // Each round: stop produce-server's node at 20 % of the round, kill the leader at 45 % and
    // start both again at once; clients keep sending throughout (during the outage, up to 10 %
    // of the round).
    let round_size = total / rounds;
    let gate = Gate::new(total, round_size / 5);
    let load = post_messages(
        &producer.base,
        CLIENTS,
        gate.clone(),
        PUBLISH_TIMEOUT * 3,
        Duration::ZERO,
    );
    let mut faults = Vec::new();
    for round in 0..rounds {
        let start = round * round_size;
        gate.reached(start + round_size / 5).await;
        gate.open(start + round_size * 9 / 20);
        let (_, health) = get(&producer.url("/health")).await;
        let stopped = cluster.node_of(health["node"].as_str().expect("connected to a node"));
        blocking(move || cluster.stop(stopped)).await;
        faults.push(format!(
            "round {}: stopped {stopped} (produce-server's)",
            round + 1
        ));

        gate.reached(start + round_size * 9 / 20).await;
        let next_round = if round + 1 == rounds {
            total
        } else {
            start + round_size + round_size / 5
        };
        // With two of three nodes down the queue has no quorum: RabbitMQ either holds publishes
        // (504 after the publish timeout) or nacks them at once (503), and which one it does
        // varies from run to run. Fast nacks would let the clients spend the rest of the round
        // inside the outage, however long the restart takes, and leave nothing to show the
        // recovery; so at most a tenth of the round is sent until both nodes are back.
        gate.open(start + round_size * 9 / 20 + round_size / 10);
        let leader_queue = queue.clone();
        let killed = blocking(move || cluster.leader(&leader_queue)).await;
        blocking(move || cluster.kill(killed)).await;
        faults.push(format!(
            "killed {killed} (the leader) at {} done",
            gate.done()
        ));
        // Both back together, while the clients carry on.
        let down: Vec<u8> = if stopped == killed {
            vec![stopped]
        } else {
            vec![stopped, killed]
        };
        cluster.on_each(&down, LocalCluster::start).await;
        faults.push(format!(
            "started {stopped} and {killed} at {} done",
            gate.done()
        ));
        gate.open(next_round);
    }
    let outcomes = load.await.expect("load");
    outcomes.assert_failures_only(&[503, 504]);

    let consumed = eventually(
        Duration::from_secs(120),
        "the workers to consume every confirmed message",
        || {
            let acked: Vec<String> = workers.iter().flat_map(Consumer::acked_ids).collect();
            let (lost, _) = lost_and_duplicated(&outcomes.confirmed, &acked);
            async move { lost.is_empty().then_some(acked) }
        },
    )
    .await;
    let (lost, duplicated) = lost_and_duplicated(&outcomes.confirmed, &consumed);
    let mut failovers = metric(&producer.url("/metrics"), "playground_failovers_total").await;
    for worker in &workers {
        failovers += metric(
            &format!("{}/metrics", worker.health),
            "playground_failovers_total",
        )
        .await;
    }
    let nacked = metric(
        &producer.url("/metrics"),
        "playground_messages_nacked_total",
    )
    .await;
    let unavailable = ReadyWatch::finish_all(watches);
    println!(
        "cluster summary: sent {}, confirmed {} ({}; nacks among the 503s: {nacked}), consumed {} (distinct {}), lost {}, \
         duplicated {duplicated}, failovers {failovers}, slowest request {}; longest not ready: \
         {}; faults: {}",
        outcomes.sent(),
        outcomes.confirmed.len(),
        outcomes.statuses_line(),
        consumed.len(),
        consumed
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len(),
        lost.len(),
        secs(outcomes.slowest),
        unavailable,
        faults.join("; "),
    );
    assert!(lost.is_empty(), "lost confirmed messages: {lost:?}");
    assert_eq!(outcomes.sent(), total);
    assert!(
        outcomes.slowest < PUBLISH_TIMEOUT + Duration::from_secs(2),
        "a request took {} (publish timeout {})",
        secs(outcomes.slowest),
        secs(PUBLISH_TIMEOUT)
    );
    assert!(failovers >= 1.0, "produce-server's node was stopped");
    assert!(
        outcomes.confirmed.len() as u64 >= total * 8 / 10,
        "most requests should succeed: {}",
        outcomes.statuses_line()
    );
    drop(workers);
    drop(producer);
    let _ = cluster.drain_ids(1, &queue).await;
}

/// Runs a blocking cluster step (a script call) off the runtime's threads.
pub async fn blocking<T: Send + 'static>(step: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(step)
        .await
        .expect("cluster step")
}
