//! The lab console: every role's snapshots are published, aggregated by produce-server and
//! streamed at `/events`, with the right counts after a burst across two consumers.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn snapshots_are_aggregated_and_streamed_after_a_burst() {
    let (queue, _cleanup) = test_queue("console");
    let telemetry = Telemetry::new("300ms");
    let exchanges = TestExchanges::new("console");
    let url = amqp_url();
    let snapshots = telemetry.flags();
    let mut fast_args = vec!["--name", "fast", "--work", "5ms"];
    fast_args.extend(snapshots);
    let mut slow_args = vec!["--name", "slow", "--work", "150ms"];
    slow_args.extend(snapshots);
    let _fast = Consumer::start(&url, &queue, &fast_args).await;
    let _slow = Consumer::start(&url, &queue, &slow_args).await;
    let mut sub_args = vec![
        "--exchange",
        exchanges.topic.as_str(),
        "--pattern",
        "*.error",
    ];
    sub_args.extend(snapshots);
    let _handler = Subscriber::start("topic-sub", &url, "error-handler", &sub_args).await;
    let mut server_args = exchanges.flags();
    server_args.extend(snapshots);
    let server = ProduceServer::start(&url, &queue, &server_args).await;
    server.wait_ready(200, Duration::from_secs(10)).await;
    let events = server.url("/events");

    // Every role shows up as an instance.
    watch_events(&events, Duration::from_secs(10), |view| {
        let names: Vec<&str> = view["instances"]
            .as_array()
            .map(|a| a.iter().filter_map(|i| i["instance"].as_str()).collect())
            .unwrap_or_default();
        ["fast", "slow", "error-handler"]
            .iter()
            .all(|n| names.contains(n))
    })
    .await;

    let client = reqwest::Client::new();
    let (status, burst) = post_json(
        &client,
        &server.url("/send-burst"),
        &json!({"count": 20, "message": "Task"}),
    )
    .await;
    assert_eq!(status, 200, "{burst}");
    let (status, _) = post_json(
        &client,
        &server.url("/publish"),
        &json!({"routing_key": "app.error", "message": "disk full"}),
    )
    .await;
    assert_eq!(status, 200);

    let view = watch_events(&events, Duration::from_secs(20), |view| {
        view["last_burst"]["count"] == 20
            && view["matrix"]["counts"]["app.error"]["error-handler"] == 1
    })
    .await;
    assert_eq!(view["last_burst"]["id"], burst["burst"]);
    let handled = &view["last_burst"]["handled"];
    let (fast, slow) = (
        handled["fast"].as_u64().unwrap_or(0),
        handled["slow"].as_u64().unwrap_or(0),
    );
    assert_eq!(fast + slow, 20, "{view}");
    assert!(fast > slow, "fair dispatch: fast {fast}, slow {slow}");
    let consumer = view["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["instance"] == "fast")
        .unwrap();
    assert_eq!(consumer["role"], "consume");
    assert_eq!(consumer["connection"], "connected");
    // The card says which broker node the instance sits on (a cluster's node, in a cluster).
    assert_eq!(
        consumer["node"],
        format!("{}:{}", broker_host(), broker_port()).as_str()
    );
    assert_eq!(consumer["counters"]["acked"], fast);

    // Browsers get the page, API clients the JSON they always got.
    let page = client
        .get(server.url("/"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let (status, json) = get(&server.url("/")).await;
    assert_eq!(
        (status, json["message"].clone()),
        (200, json!("Hello World!"))
    );
}

/// Publishes `keys` (each to the topic exchange with its own key) from 16 concurrent clients.
async fn publish_keys(server: &ProduceServer, keys: std::ops::Range<usize>) {
    let client = reqwest::Client::new();
    let url = server.url("/publish");
    let keys: Vec<usize> = keys.collect();
    let mut tasks = Vec::new();
    for chunk in keys.chunks(keys.len().div_ceil(16)) {
        let (client, url, chunk) = (client.clone(), url.clone(), chunk.to_vec());
        tasks.push(tokio::spawn(async move {
            for key in chunk {
                let body = json!({"routing_key": format!("flood.{key}"), "message": "x"});
                let (status, body) = post_json(&client, &url, &body).await;
                assert_eq!(status, 200, "{body}");
            }
        }));
    }
    for task in tasks {
        task.await.expect("publisher");
    }
}

#[tokio::test]
async fn ten_thousand_routing_keys_leave_the_view_and_the_memory_bounded() {
    let (queue, _cleanup) = test_queue("console-flood");
    let telemetry = Telemetry::new("100ms");
    let exchanges = TestExchanges::new("flood");
    let url = amqp_url();
    let snapshots = telemetry.flags();
    let mut sub_args = vec!["--exchange", exchanges.topic.as_str(), "--pattern", "#"];
    sub_args.extend(snapshots);
    let _audit = Subscriber::start("topic-sub", &url, "audit", &sub_args).await;
    let mut server_args = exchanges.flags();
    server_args.extend(snapshots);
    let server = ProduceServer::start(&url, &queue, &server_args).await;
    server.wait_ready(200, Duration::from_secs(10)).await;

    publish_keys(&server, 0..2_000).await;
    let events = server.url("/events");
    let warm = watch_events(&events, Duration::from_secs(10), |view| {
        view["matrix"]["dropped_routing_keys"].as_u64() > Some(0)
    })
    .await;
    let rss_warm = server.process.rss_kib();
    publish_keys(&server, 2_000..10_000).await;
    let dropped_warm = warm["matrix"]["dropped_routing_keys"].as_u64().unwrap_or(0);
    let view = watch_events(&events, Duration::from_secs(20), |view| {
        // A snapshot lists at most 200 handled messages (the rest are only counted), so on a
        // busy machine not every key reaches the console: wait for most of them, not all.
        view["matrix"]["dropped_routing_keys"].as_u64() > Some(dropped_warm + 3_000)
    })
    .await;
    let rss_end = server.process.rss_kib();

    let keys = view["matrix"]["routing_keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 50, "the 50 most recent keys are shown");
    let size = view.to_string().len();
    assert!(size < 32 * 1024, "the /events view is {size} bytes");
    if let (Some(warm), Some(end)) = (rss_warm, rss_end) {
        assert!(
            end < warm + 8 * 1024,
            "produce-server grew from {warm} KiB to {end} KiB over 8,000 more keys"
        );
        println!(
            "view {size} bytes, {} keys dropped; RSS {warm} KiB after 2,000 keys, {end} KiB \
             after 10,000",
            view["matrix"]["dropped_routing_keys"]
        );
    }
}
