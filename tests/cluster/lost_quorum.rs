//! Lost quorum: with two of three nodes down a quorum queue cannot commit, so no publish to it
//! may be answered 200; once both are back the same processes recover by themselves and the
//! queue holds every confirmed message.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::helpers::*;
use crate::load::{post_messages, secs, Gate, Outcomes};
use crate::local_cluster::{LocalCluster, NODES};

/// `count` requests from 4 clients; returns what they were answered.
async fn send(base: &str, count: u64) -> Outcomes {
    let gate = Gate::new(count, count);
    post_messages(base, 4, gate, Duration::from_secs(30), Duration::ZERO)
        .await
        .expect("load")
}

pub async fn run(cluster: &'static LocalCluster) {
    let queue = unique("cluster-quorum");
    let producer = ProduceServer::start(&cluster.urls(), &queue, &["--queue-type", "quorum"]).await;
    producer.wait_ready(200, Duration::from_secs(30)).await;
    let before = send(&producer.base, 50).await;
    assert_eq!(before.confirmed.len(), 50, "{}", before.statuses_line());

    // The producer stays on the survivor, so what it sees is the queue, not a failover.
    let (_, health) = get(&producer.url("/health")).await;
    let survivor = cluster.node_of(health["node"].as_str().expect("connected"));
    let stopped: Vec<u8> = NODES.into_iter().filter(|n| *n != survivor).collect();
    cluster.on_each(&stopped, LocalCluster::stop).await;
    let during = send(&producer.base, 12).await;
    let (ready_status, ready) = get(&producer.url("/ready")).await;
    println!(
        "cluster lost quorum: nodes {stopped:?} stopped; 12 publishes answered {}; slowest {}; \
         /ready {ready_status} {ready}",
        during.statuses_line(),
        secs(during.slowest),
    );
    assert!(
        during.confirmed.is_empty(),
        "a 200 without quorum: {}",
        during.statuses_line()
    );
    during.assert_failures_only(&[503, 504]);

    let restarted = Instant::now();
    cluster.on_each(&stopped, LocalCluster::start).await;
    // The same process, never restarted: it must find its way back by itself.
    let mut confirmed: Vec<String> = before.confirmed.clone();
    let mut attempts = Vec::new();
    let recovered = loop {
        let o = send(&producer.base, 1).await;
        attempts.push(o.statuses_line());
        if !o.confirmed.is_empty() {
            confirmed.extend(o.confirmed);
            break restarted.elapsed();
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(90),
            "no confirmed publish 90 s after the restart began: {attempts:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let after = send(&producer.base, 50).await;
    after.assert_failures_only(&[503, 504]);
    confirmed.extend(after.confirmed.iter().cloned());
    let queued: HashSet<String> = cluster
        .drain_ids(survivor, &queue)
        .await
        .into_iter()
        .collect();
    let missing: Vec<&String> = confirmed
        .iter()
        .filter(|id| !queued.contains(*id))
        .collect();
    println!(
        "cluster lost quorum: both nodes back, first 200 {} after the restart began (starts \
         included); afterwards {}; queue holds {} messages for {} confirmed, missing {}",
        secs(recovered),
        after.statuses_line(),
        queued.len(),
        confirmed.len(),
        missing.len()
    );
    assert!(
        missing.is_empty(),
        "confirmed but not in the queue: {missing:?}"
    );
    assert!(
        !after.confirmed.is_empty(),
        "recovered without a restart: {}",
        after.statuses_line()
    );
}
