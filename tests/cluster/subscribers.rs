//! Two fanout subscribers on different nodes, each on a server-named exclusive queue (which lives
//! and dies with its node). Killing one's node must not disturb the other: it receives every
//! confirmed message without a gap. The killed one's replacement queue is declared on a
//! surviving node, and its log says that what was published in between was not kept. A third
//! subscriber on a named quorum queue (what the Kubernetes cluster overlay runs) keeps every
//! confirmed message whichever node dies. The publisher is pinned to the surviving subscriber's
//! node, so the messages confirmed during the gap are known.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::*;
use crate::local_cluster::LocalCluster;
use crate::node_loss::blocking;

pub async fn run(cluster: &'static LocalCluster) {
    let urls = cluster.urls();
    let exchanges = TestExchanges::new("cluster-fanout");
    let queue = unique("cluster-unused");
    let subscribe = ["--exchange", exchanges.fanout.as_str()];
    let node_of = |health: String| async move {
        let (_, body) = get(&format!("{health}/health")).await;
        cluster.node_of(body["node"].as_str().expect("connected"))
    };

    let left = Subscriber::start("fanout-sub", &urls, "left", &subscribe).await;
    let left_node = node_of(left.health.clone()).await;
    // Replicas start at a random node; start the other until it sits elsewhere.
    let mut tries = 0;
    let (right, right_node) = loop {
        let right = Subscriber::start("fanout-sub", &urls, "right", &subscribe).await;
        let node = node_of(right.health.clone()).await;
        tries += 1;
        if node != left_node {
            break (right, node);
        }
        assert!(
            tries < 20,
            "20 subscribers in a row landed on node {left_node}"
        );
    };

    // The publisher sits on the right subscriber's node, which stays up: what it confirms while
    // the left one is away shows what a server-named queue does not keep.
    let mut producer_args = vec!["--queue-type", "quorum"];
    producer_args.extend(exchanges.flags());
    let producer = ProduceServer::start(&cluster.url(right_node), &queue, &producer_args).await;
    producer.wait_ready(200, Duration::from_secs(30)).await;

    let named_queue = unique("cluster-logger");
    let mut named_args = subscribe.to_vec();
    named_args.extend(["--queue", named_queue.as_str(), "--queue-type", "quorum"]);
    let named = Subscriber::start("fanout-sub", &urls, "logger", &named_args).await;

    // One publisher, sequential, every 10 ms, while the left subscriber's node is killed.
    let confirmed: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
    let refused = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let publishing = {
        let (url, confirmed, refused) =
            (producer.url("/publish"), confirmed.clone(), refused.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("client");
            for n in 0.. {
                let text = format!("event {n}");
                let body = json!({"exchange": "fanout", "routing_key": "", "message": text});
                let response = client.post(&url).json(&body).send().await;
                if response.is_ok_and(|r| r.status().as_u16() == 200) {
                    confirmed.lock().unwrap().push((Instant::now(), text));
                } else {
                    refused.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;

    blocking(move || cluster.kill(left_node)).await;
    let resubscribed = left
        .process
        .wait_log(
            "subscribed",
            |v| v["generation"].as_u64() > Some(1),
            Duration::from_secs(30),
        )
        .await;
    // The gap as the subscriber saw it, from its own log: connection lost → subscribed again.
    let lost = left
        .process
        .wait_log(
            "lost the RabbitMQ connection; reconnecting",
            |_| true,
            Duration::from_secs(5),
        )
        .await;
    let gap = seconds_of_day(&resubscribed) - seconds_of_day(&lost);
    tokio::time::sleep(Duration::from_secs(3)).await;
    publishing.abort();
    let confirmed = confirmed.lock().unwrap().clone();

    // The right subscriber: every confirmed message, none missing.
    let texts = |s: &Subscriber| -> HashSet<String> {
        s.received().into_iter().map(|(_, text)| text).collect()
    };
    let missing = eventually(
        Duration::from_secs(20),
        "the right subscriber to receive every confirmed message",
        || {
            let got = texts(&right);
            let missing: Vec<String> = confirmed
                .iter()
                .filter(|(_, t)| !got.contains(t))
                .map(|(_, t)| t.clone())
                .collect();
            async move { missing.is_empty().then_some(missing) }
        },
    )
    .await;

    let named_missing = eventually(
        Duration::from_secs(30),
        "the named quorum-queue subscriber to receive every confirmed message",
        || {
            let got = texts(&named);
            let missing = confirmed.iter().filter(|(_, t)| !got.contains(t)).count();
            async move { (missing == 0).then_some(missing) }
        },
    )
    .await;

    // The left one: on a surviving node, a new queue there, and receiving again.
    let left_now = node_of(left.health.clone()).await;
    let new_queue = resubscribed["queue"].as_str().expect("queue").to_owned();
    let home = blocking({
        let new_queue = new_queue.clone();
        move || cluster.home_of(right_node, &new_queue)
    })
    .await;
    let last = confirmed.last().expect("something was confirmed").1.clone();
    eventually(
        Duration::from_secs(20),
        "the left subscriber to receive the last message",
        || {
            let got = texts(&left).contains(&last);
            async move { got.then_some(()) }
        },
    )
    .await;
    let left_got = texts(&left);
    let left_missed = confirmed
        .iter()
        .filter(|(_, t)| !left_got.contains(t))
        .count();
    println!(
        "cluster subscribers: left on node {left_node} (killed), right on node {right_node}; \
         {} confirmed; right missed {}; left re-subscribed on node {left_now} {:.3} s after \
         its connection dropped, with queue {new_queue} on node {home:?}, missed \
         {left_missed} confirmed in between ({} publishes not confirmed: the one in flight to \
         its dying queue is nacked); the named quorum queue's subscriber missed {named_missing}",
        confirmed.len(),
        missing.len(),
        gap,
        refused.load(std::sync::atomic::Ordering::SeqCst),
    );
    assert_ne!(left_now, left_node, "left moved to a surviving node");
    assert!(
        home.is_some_and(|h| h != left_node),
        "the replacement queue {new_queue} is on a surviving node, not {home:?}"
    );
    assert_eq!(resubscribed["queue_kind"], "server-named");
    assert!(
        resubscribed["detail"]
            .as_str()
            .is_some_and(|d| d.contains("reached no queue")),
        "the log says what was not kept: {resubscribed}"
    );
}

/// Seconds since midnight (UTC) of a log line's `timestamp`: enough to subtract two lines of
/// one run.
fn seconds_of_day(line: &serde_json::Value) -> f64 {
    let stamp = line["timestamp"].as_str().expect("timestamp");
    let time = stamp
        .split('T')
        .nth(1)
        .expect("RFC 3339")
        .trim_end_matches('Z');
    time.split(':')
        .map(|part| part.parse::<f64>().expect("a number"))
        .fold(0.0, |total, part| total * 60.0 + part)
}
