//! `consume`: any body is handled and acked; health and readiness; clean SIGTERM.

use std::time::Duration;

use crate::helpers::*;

#[tokio::test]
async fn odd_bodies_are_logged_safely_and_acked() {
    let (queue, _cleanup) = test_queue("odd");
    let broker = Broker::connect().await;
    broker.depth(&queue).await; // declare it, durable like the roles do
    broker
        .publish_raw(&queue, b"plain text, not JSON".to_vec(), "text")
        .await;
    broker
        .publish_raw(&queue, vec![0xff, 0xfe, 0x00, 0x80], "binary")
        .await;
    broker.publish_raw(&queue, Vec::new(), "empty").await;
    broker
        .publish_raw(&queue, br#"{"nested":{"ok":true}}"#.to_vec(), "json")
        .await;

    let consumer = Consumer::start(&amqp_url(), &queue, &[]).await;
    for id in ["text", "binary", "empty", "json"] {
        consumer
            .process
            .wait_log("acked", |v| v["message_id"] == id, Duration::from_secs(10))
            .await;
    }
    let text = consumer
        .process
        .wait_log(
            "received message",
            |v| v["message_id"] == "text",
            Duration::from_secs(1),
        )
        .await;
    assert_eq!(text["body"], "plain text, not JSON");
    let binary = consumer
        .process
        .wait_log(
            "received message",
            |v| v["message_id"] == "binary",
            Duration::from_secs(1),
        )
        .await;
    assert!(
        binary["body"].as_str().unwrap().contains("not UTF-8"),
        "{binary}"
    );
    eventually(Duration::from_secs(5), "the queue to be empty", || async {
        (broker.depth(&queue).await == 0).then_some(())
    })
    .await;
    let (status, _) = get(&format!("{}/ready", consumer.health)).await;
    assert_eq!(status, 200, "still consuming after odd bodies");
}

#[tokio::test]
async fn consumer_health_follows_the_connection_and_recovers_by_itself() {
    let (queue, _cleanup) = test_queue("chealth");
    let proxy = Proxy::start().await;
    let consumer = Consumer::start(&proxy.url(), &queue, &[]).await;
    let ready = format!("{}/ready", consumer.health);
    let health = format!("{}/health", consumer.health);
    wait_status(&ready, 200, Duration::from_secs(5)).await;
    let (status, body) = get(&health).await;
    assert_eq!(
        (status, body["rabbitmq"].as_str()),
        (200, Some("connected"))
    );

    proxy.cut();
    wait_status(&ready, 503, Duration::from_secs(5)).await;
    let (status, body) = get(&health).await;
    assert_eq!(status, 200, "liveness stays 200 while the broker is away");
    assert_eq!(body["rabbitmq"], "disconnected");

    proxy.restore();
    wait_status(&ready, 200, Duration::from_secs(10)).await;
    // And it really consumes again.
    let broker = Broker::connect().await;
    broker
        .publish_raw(&queue, b"after the cut".to_vec(), "after")
        .await;
    consumer
        .process
        .wait_log(
            "acked",
            |v| v["message_id"] == "after",
            Duration::from_secs(10),
        )
        .await;
}

#[tokio::test]
async fn sigterm_cancels_acks_and_exits_zero_leaving_the_rest_queued() {
    let (queue, _cleanup) = test_queue("cterm");
    let broker = Broker::connect().await;
    broker.depth(&queue).await;
    let mut consumer = Consumer::start(&amqp_url(), &queue, &["--prefetch", "5"]).await;
    for i in 0..20 {
        broker
            .publish_raw(&queue, format!("m{i}").into_bytes(), &format!("m{i}"))
            .await;
    }
    consumer
        .process
        .wait_log("acked", |_| true, Duration::from_secs(10))
        .await;
    consumer.process.sigterm();
    assert_eq!(consumer.process.wait_exit(Duration::from_secs(10)).await, 0);
    assert!(consumer.process.output().contains("consumer stopped"));

    // Every message is either acked by the consumer or still in the queue: none lost, none both.
    let acked = consumer.acked_ids();
    let left: Vec<String> = broker
        .drain(&queue)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    for i in 0..20 {
        let id = format!("m{i}");
        let in_acked = acked.contains(&id);
        let in_queue = left.contains(&id);
        assert!(
            in_acked != in_queue,
            "{id}: acked={in_acked} queued={in_queue}"
        );
    }
}

#[tokio::test]
async fn a_deleted_queue_is_declared_again_and_consuming_resumes() {
    let (queue, _cleanup) = test_queue("redeclare");
    let consumer = Consumer::start(&amqp_url(), &queue, &[]).await;
    let broker = Broker::connect().await;
    broker.delete(&queue).await;
    // The broker cancels the consumer; the manager reconnects and declares the queue again.
    consumer
        .process
        .wait_log(
            "consuming",
            |v| v["generation"] == 2,
            Duration::from_secs(10),
        )
        .await;
    broker
        .publish_raw(&queue, b"into the new queue".to_vec(), "renewed")
        .await;
    consumer
        .process
        .wait_log(
            "acked",
            |v| v["message_id"] == "renewed",
            Duration::from_secs(10),
        )
        .await;
}
