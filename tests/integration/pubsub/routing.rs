//! Who gets which message: fanout, topic and direct exchanges, and `/publish`.

use std::collections::BTreeSet;
use std::time::Duration;

use amqprs::channel::QueueBindArguments;
use serde_json::json;

use super::{send_to, wait_received};
use crate::helpers::*;

#[tokio::test]
async fn fanout_copies_every_message_to_every_queue_and_replicas_of_a_named_queue_compete() {
    let exchanges = TestExchanges::new("fanout");
    let (shared, _shared_cleanup) = test_queue("fanout-logger");
    let (replicated, _replicated_cleanup) = test_queue("fanout-replicas");
    let url = amqp_url();
    let exchange = ["--exchange", exchanges.fanout.as_str()];
    let private_a = Subscriber::start("fanout-sub", &url, "private-a", &exchange).await;
    let private_b = Subscriber::start("fanout-sub", &url, "private-b", &exchange).await;
    let mut named_args = exchange.to_vec();
    named_args.extend(["--queue", shared.as_str()]);
    let named = Subscriber::start("fanout-sub", &url, "logger-service", &named_args).await;
    let mut replica_args = exchange.to_vec();
    replica_args.extend(["--queue", replicated.as_str(), "--prefetch", "1"]);
    let replica_1 = Subscriber::start("fanout-sub", &url, "replica-1", &replica_args).await;
    let replica_2 = Subscriber::start("fanout-sub", &url, "replica-2", &replica_args).await;

    send_to(&exchanges, "fanout", "ignored", 10, "event").await;

    for subscriber in [&private_a, &private_b, &named] {
        wait_received(subscriber, 10).await;
        let texts: BTreeSet<String> = subscriber.received().into_iter().map(|(_, t)| t).collect();
        assert_eq!(texts.len(), 10, "every message once: {texts:?}");
    }
    eventually(
        Duration::from_secs(15),
        "the replicas to share 10",
        || async { (replica_1.received().len() + replica_2.received().len() >= 10).then_some(()) },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (one, two) = (replica_1.received(), replica_2.received());
    assert!(
        !one.is_empty() && !two.is_empty(),
        "both replicas work: {one:?} {two:?}"
    );
    let together: BTreeSet<String> = one.iter().chain(&two).map(|(_, t)| t.clone()).collect();
    assert_eq!(one.len() + two.len(), 10, "each message exactly once");
    assert_eq!(together.len(), 10);
    // The log line says who got it and why.
    let line = named
        .process
        .wait_log("received message", |_| true, Duration::from_secs(1))
        .await;
    assert_eq!(line["subscriber"], "logger-service");
    assert_eq!(line["exchange"], exchanges.fanout.as_str());
    assert!(line["patterns"].as_str().unwrap().contains("fanout"));
}

#[tokio::test]
async fn topic_routing_follows_amqp_semantics() {
    let exchanges = TestExchanges::new("topic");
    let (queue, _cleanup) = test_queue("topic-producer");
    let url = amqp_url();
    // pattern → the keys it must receive, as AMQP topic matching defines it.
    let table: [(&str, &[&str]); 6] = [
        ("*.error", &["app.error", "logs.error"]),
        ("logs.*", &["logs.error", "logs.info"]),
        (
            "#",
            &[
                "app.db.error",
                "app.error",
                "error",
                "logs",
                "logs.error",
                "logs.info",
            ],
        ),
        ("app.#", &["app.db.error", "app.error"]),
        ("logs.error", &["logs.error"]),
        (
            "#.error",
            &["app.db.error", "app.error", "error", "logs.error"],
        ),
    ];
    let mut subscribers = Vec::new();
    for (pattern, _) in &table {
        let args = ["--exchange", exchanges.topic.as_str(), "--pattern", pattern];
        subscribers.push(Subscriber::start("topic-sub", &url, pattern, &args).await);
    }
    let server = ProduceServer::start(&url, &queue, &exchanges.flags()).await;
    server.wait_ready(200, Duration::from_secs(10)).await;
    let client = reqwest::Client::new();
    for key in [
        "logs.error",
        "logs.info",
        "app.error",
        "app.db.error",
        "error",
        "logs",
    ] {
        let (status, body) = post_json(
            &client,
            &server.url("/publish"),
            &json!({"routing_key": key, "message": format!("about {key}")}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["routed"], true, "'#' matches every key: {body}");
        assert_eq!(body["exchange"], exchanges.topic.as_str());
        assert_eq!(body["data"]["routing_key"], key);
    }
    for ((_, expected), subscriber) in table.iter().zip(&subscribers) {
        wait_received(subscriber, expected.len()).await;
    }
    // Anything extra would have arrived by now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for ((pattern, expected), subscriber) in table.iter().zip(&subscribers) {
        assert_eq!(subscriber.keys(), *expected, "pattern {pattern}");
    }
}

#[tokio::test]
async fn direct_routing_matches_exact_keys() {
    let exchanges = TestExchanges::new("direct");
    let (queue, _cleanup) = test_queue("direct-producer");
    let url = amqp_url();
    let direct = [
        "--exchange-type",
        "direct",
        "--exchange",
        exchanges.direct.as_str(),
    ];
    let mut errors_args = direct.to_vec();
    errors_args.extend(["--pattern", "error", "--pattern", "warning"]);
    let errors = Subscriber::start("topic-sub", &url, "errors", &errors_args).await;
    let mut info_args = direct.to_vec();
    info_args.extend(["--pattern", "info"]);
    let info = Subscriber::start("topic-sub", &url, "info", &info_args).await;

    let server = ProduceServer::start(&url, &queue, &exchanges.flags()).await;
    server.wait_ready(200, Duration::from_secs(10)).await;
    let client = reqwest::Client::new();
    for (key, routed) in [
        ("error", true),
        ("info", true),
        ("warning", true),
        ("debug", false),
        ("app.error", false),
    ] {
        let (status, body) = post_json(
            &client,
            &server.url("/publish"),
            &json!({"exchange": "direct", "routing_key": key, "message": key}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["routed"], routed, "{key}: {body}");
        assert_eq!(body["exchange_type"], "direct");
    }
    wait_received(&errors, 2).await;
    wait_received(&info, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(errors.keys(), ["error", "warning"]);
    assert_eq!(info.keys(), ["info"]);
}

#[tokio::test]
async fn publish_says_when_nobody_listens_and_rejects_bad_bodies() {
    let exchanges = TestExchanges::new("publish");
    let (queue, _cleanup) = test_queue("publish-producer");
    let url = amqp_url();
    let server = ProduceServer::start(&url, &queue, &exchanges.flags()).await;
    server.wait_ready(200, Duration::from_secs(10)).await;
    let client = reqwest::Client::new();
    let publish = server.url("/publish");

    let (status, body) = post_json(
        &client,
        &publish,
        &json!({"routing_key": "logs.debug", "message": "anyone?"}),
    )
    .await;
    assert_eq!(status, 200, "accepted even though nobody listens: {body}");
    assert_eq!(body["routed"], false);
    assert_eq!(body["success"], true);
    assert!(body["message"].as_str().unwrap().contains("nobody"));

    // From here on a catch-all queue counts what really gets published.
    let (catch_all, _catch_all_cleanup) = test_queue("publish-catch-all");
    let broker = Broker::connect().await;
    broker.depth(&catch_all).await;
    broker
        .channel()
        .queue_bind(QueueBindArguments::new(&catch_all, &exchanges.topic, "#"))
        .await
        .unwrap();
    let long_key = "k".repeat(256);
    for bad in [
        json!({"message": "no key"}),
        json!({"routing_key": "logs.error"}),
        json!({"routing_key": "logs.error", "message": ""}),
        json!({"routing_key": "logs.error", "message": "x", "exchange": "match"}),
        json!({"exchange": "headers", "message": "x", "headers": {"level": 5}}),
        json!({"exchange": "headers", "message": "x", "headers": {"x-match": "any"}}),
        json!({"routing_key": "logs.error", "message": "x", "exchange": 3}),
        json!({"routing_key": 5, "message": "x"}),
        json!({"routing_key": long_key, "message": "x"}),
        json!("logs.error"),
    ] {
        let (status, body) = post_json(&client, &publish, &bad).await;
        assert_eq!(status, 400, "{bad} → {body}");
        assert_eq!(body["error"], "Bad Request");
    }
    let (status, _) = post_raw(
        &client,
        &publish,
        b"{\"routing_key\":\"a\",\"message\":\"\xff\"}".to_vec(),
        "application/json",
    )
    .await;
    assert_eq!(status, 400, "not UTF-8");
    assert_eq!(broker.depth(&catch_all).await, 0, "nothing published");

    let (status, body) = post_json(
        &client,
        &publish,
        &json!({"routing_key": "logs.error", "message": "disk full"}),
    )
    .await;
    assert_eq!((status, body["routed"].clone()), (200, json!(true)));
    assert_eq!(broker.depth(&catch_all).await, 1);
}
