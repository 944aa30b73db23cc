//! A frozen node (SIGSTOP, the way a stuck VM looks): its sockets stay open and silent, so only
//! missed heartbeats tell. The roles on it must notice within the heartbeat bound and leave it; a
//! publish in flight ends as 503/504, never as a 200 without a confirm; after the thaw the node
//! is a running member again, the roles are ready again without a restart, nothing confirmed is
//! lost.
//!
//! Measured on RabbitMQ 3.10: while a member is frozen (and not yet declared down, which takes
//! the net tick time, 60 s), every declaration in the cluster waits for it, because the metadata
//! store (Mnesia) takes its locks on every member. A role that reconnects re-declares its queue
//! and exchanges, so it is ready again only once the node thaws (or is declared down); the test
//! prints how long that took rather than pretending otherwise.

use std::time::{Duration, Instant};

use crate::helpers::*;
use crate::load::{lost_and_duplicated, post_messages, secs, Gate, ReadyWatch};
use crate::local_cluster::{LocalCluster, NODES};
use crate::node_loss::blocking;

/// A short heartbeat keeps the scenario short; the bound scales with it.
const HEARTBEAT: Duration = Duration::from_secs(3);
/// Shorter than RabbitMQ's net tick time (60 s): longer freezes can leave a partial partition
/// that needs `stop_app`/`start_app` (the docs say so); this scenario is about the clients.
const FROZEN_FOR: Duration = Duration::from_secs(20);

pub async fn run(cluster: &'static LocalCluster) {
    let queue = unique("cluster-frozen");
    let urls = cluster.urls();
    let heartbeat = format!("{}s", HEARTBEAT.as_secs());
    let producer = ProduceServer::start(
        &urls,
        &queue,
        &["--queue-type", "quorum", "--heartbeat", &heartbeat],
    )
    .await;
    producer.wait_ready(200, Duration::from_secs(30)).await;
    let worker = Consumer::start(
        &urls,
        &queue,
        &[
            "--queue-type",
            "quorum",
            "--heartbeat",
            &heartbeat,
            "--prefetch",
            "20",
        ],
    )
    .await;
    let worker_ready = format!("{}/ready", worker.health);
    wait_status(&worker_ready, 200, Duration::from_secs(30)).await;
    let node_of = |url: String| async move {
        let (_, body) = get(&url).await;
        body["node"].as_str().map(|n| cluster.node_of(n))
    };
    let frozen = node_of(producer.url("/health"))
        .await
        .expect("producer's node");
    let worker_was_on = node_of(format!("{}/health", worker.health)).await;
    let watches = [
        ("produce-server", ReadyWatch::start(producer.url("/ready"))),
        ("worker", ReadyWatch::start(worker_ready.clone())),
    ];

    let gate = Gate::new(u64::MAX / 2, u64::MAX / 2);
    let load = post_messages(
        &producer.base,
        4,
        gate.clone(),
        Duration::from_secs(30),
        Duration::from_millis(20),
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let frozen_at = Instant::now();
    blocking(move || cluster.freeze(frozen)).await;

    // Every role that was on the frozen node notices within the heartbeat bound: amqprs gives up
    // on a silent peer after about two heartbeats; allow three, plus scheduling slack.
    let bound = HEARTBEAT * 3 + Duration::from_secs(2);
    let mut notices = Vec::new();
    let on_frozen = [
        ("produce-server", &producer.process, true),
        ("worker", &worker.process, worker_was_on == Some(frozen)),
    ];
    for (name, process, was_on_it) in on_frozen {
        if was_on_it {
            process
                .wait_log(
                    "lost the RabbitMQ connection; reconnecting",
                    |_| true,
                    bound,
                )
                .await;
            notices.push(format!(
                "{name} noticed within {}",
                secs(frozen_at.elapsed())
            ));
        }
    }

    let rest = FROZEN_FOR.saturating_sub(frozen_at.elapsed());
    tokio::time::sleep(rest).await;
    blocking(move || cluster.thaw(frozen)).await;
    let thawed_at = Instant::now();
    let rejoined = eventually(
        Duration::from_secs(60),
        "the thawed node to be a running member again",
        || async move {
            let members = blocking(move || cluster.running_members()).await;
            (members == NODES).then(|| thawed_at.elapsed())
        },
    )
    .await;
    let back = eventually(
        Duration::from_secs(60),
        "produce-server ready again after the thaw",
        || {
            let ready = producer.url("/ready");
            async move {
                let (status, _) = get(&ready).await;
                (status == 200).then(|| thawed_at.elapsed())
            }
        },
    )
    .await;
    // Its basic.consume can wait for the quorum queue's new leader for about a minute.
    let worker_back = eventually(
        Duration::from_secs(120),
        "the worker consuming again after the thaw",
        || {
            let ready = worker_ready.clone();
            async move { (get(&ready).await.0 == 200).then(|| thawed_at.elapsed()) }
        },
    )
    .await;
    let (_, health) = get(&producer.url("/health")).await;
    let producer_node = health["node"].as_str().unwrap_or("?").to_owned();
    tokio::time::sleep(Duration::from_secs(2)).await;
    gate.stop();
    let outcomes = load.await.expect("load");
    outcomes.assert_failures_only(&[503, 504]);

    let consumed = eventually(
        Duration::from_secs(60),
        "the worker to consume every confirmed message",
        || {
            let acked = worker.acked_ids();
            let (lost, _) = lost_and_duplicated(&outcomes.confirmed, &acked);
            async move { lost.is_empty().then_some(acked) }
        },
    )
    .await;
    let (lost, duplicated) = lost_and_duplicated(&outcomes.confirmed, &consumed);
    let unavailable = ReadyWatch::finish_all(watches);
    println!(
        "cluster frozen node: froze node {frozen} for {}; {}; worker was on node {}; node \
         rejoined {} after the thaw; produce-server ready again {} after the thaw (on \
         {producer_node}), the worker {}; requests {} ({}), lost {}, duplicated {duplicated}; longest not \
         ready: {}",
        secs(FROZEN_FOR),
        notices.join(", "),
        worker_was_on.map_or("?".to_owned(), |n| n.to_string()),
        secs(rejoined),
        secs(back),
        secs(worker_back),
        outcomes.sent(),
        outcomes.statuses_line(),
        lost.len(),
        unavailable,
    );
    assert!(lost.is_empty(), "lost confirmed messages: {lost:?}");
    assert!(!outcomes.confirmed.is_empty());
    drop(worker);
    drop(producer);
    let _ = cluster.drain_ids(1, &queue).await;
}
