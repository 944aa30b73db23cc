//! The console's diagram says which node leads each queue, which AMQP cannot tell: produce-server
//! asks the management API of the three nodes (`--management-url`, tried in order). With a worker
//! on a quorum work queue, the queue's `leader` in `/events` must be the node the cluster names;
//! after that node is stopped, the diagram must show the new leader the cluster names, although
//! the first URL may be the stopped node's.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::*;
use crate::load::secs;
use crate::local_cluster::LocalCluster;
use crate::node_loss::blocking;

/// The queue's `leader` in a view of `/events`, if the diagram shows one.
fn leader_of(view: &Value, queue: &str) -> Option<String> {
    view["topology"]["queues"]
        .as_array()?
        .iter()
        .find(|q| q["name"] == queue)?["leader"]
        .as_str()
        .map(str::to_owned)
}

pub async fn run(cluster: &'static LocalCluster) {
    let queue = unique("cluster-leaders");
    let urls = cluster.urls();
    let management = cluster.management_urls();
    let producer = ProduceServer::start(
        &urls,
        &queue,
        &["--queue-type", "quorum", "--management-url", &management],
    )
    .await;
    producer.wait_ready(200, Duration::from_secs(30)).await;
    let worker = Consumer::start(&urls, &queue, &["--queue-type", "quorum"]).await;
    let events = producer.url("/events");

    let first = {
        let queue = queue.clone();
        blocking(move || cluster.leader(&queue)).await
    };
    let expected = cluster.node_name(first);
    let view = watch_events(&events, Duration::from_secs(30), |view| {
        leader_of(view, &queue).as_deref() == Some(expected.as_str())
    })
    .await;
    let queue_entry = view["topology"]["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == queue.as_str())
        .cloned()
        .unwrap();
    let members: Vec<&str> = queue_entry["members"]
        .as_array()
        .expect("a quorum queue lists its members")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(members.len(), 3, "three replicas: {members:?}");

    let stopped_at = Instant::now();
    blocking(move || cluster.stop(first)).await;
    let shown = watch_events(&events, Duration::from_secs(60), |view| {
        leader_of(view, &queue).is_some_and(|leader| leader != expected)
    })
    .await;
    let took = stopped_at.elapsed();
    let shown = leader_of(&shown, &queue).unwrap();
    let now_leads = {
        let queue = queue.clone();
        blocking(move || cluster.leader(&queue)).await
    };
    println!(
        "cluster queue leaders: the diagram showed {expected} (members {}); node {first} stopped; \
         it showed {shown} {} later; the cluster says node {now_leads} leads",
        members.join(", "),
        secs(took),
    );
    assert_eq!(shown, cluster.node_name(now_leads));
    drop(worker);
    drop(producer);
    let _ = cluster.drain_ids(now_leads, &queue).await;
}
