//! How a burst is shared between workers (prefetch, fair dispatch), and what a crash does.

use std::time::Duration;

use serde_json::json;

use super::{assert_acked_exactly_once, send, wait_acked};
use crate::helpers::*;

#[tokio::test]
async fn prefetch_1_sends_most_work_to_the_fast_worker() {
    let (queue, _cleanup) = test_queue("fair");
    let url = amqp_url();
    let fast = Consumer::start(&url, &queue, &["--work", "10ms", "--name", "fast"]).await;
    let slow = Consumer::start(&url, &queue, &["--work", "300ms", "--name", "slow"]).await;
    let server = ProduceServer::start(&url, &queue, &[]).await;
    server.wait_ready(200, Duration::from_secs(10)).await;
    let client = reqwest::Client::new();
    let (status, body) = post_json(
        &client,
        &server.url("/send-burst"),
        &json!({"count": 40, "message": "Task"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sent"], 40);

    let acked = wait_acked(&[&fast, &slow], 40, Duration::from_secs(30)).await;
    assert_acked_exactly_once(&acked, 40);
    let (by_fast, by_slow) = (acked[0].len(), acked[1].len());
    assert!(
        by_fast >= 30,
        "fair dispatch should give the fast worker most of the burst: fast {by_fast}, slow {by_slow}"
    );
    // Every per-message line names the worker, the message and the time spent.
    let line = slow
        .process
        .wait_log("acked", |_| true, Duration::from_secs(1))
        .await;
    assert_eq!(line["consumer"], "slow");
    assert!(line["seq"].as_u64().is_some_and(|s| (1..=40).contains(&s)));
    assert!(line["elapsed_ms"].as_f64().unwrap() >= 300.0, "{line}");
    assert_eq!(line["redelivered"], false);
}

#[tokio::test]
async fn equal_workers_share_a_burst_and_report_it_in_summaries() {
    let (queue, _cleanup) = test_queue("equal");
    let url = amqp_url();
    let extra = ["--work", "25ms", "--summary-every", "1s"];
    let a = Consumer::start(&url, &queue, &extra).await;
    let b = Consumer::start(&url, &queue, &extra).await;
    send(&queue, 40, "Task", &[]).await;

    let acked = wait_acked(&[&a, &b], 40, Duration::from_secs(30)).await;
    assert_acked_exactly_once(&acked, 40);
    for (worker, ids) in acked.iter().enumerate() {
        assert!(
            (12..=28).contains(&ids.len()),
            "worker {worker} handled {} of 40; expected a fair share",
            ids.len()
        );
    }
    // Within about a second each worker's summary line shows its own count.
    for (worker, ids) in [&a, &b].iter().zip(&acked) {
        let handled = ids.len() as u64;
        let summary = worker
            .process
            .wait_log(
                "summary",
                |v| v["acked"].as_u64() == Some(handled),
                Duration::from_secs(5),
            )
            .await;
        assert_eq!(summary["received"].as_u64(), Some(handled), "{summary}");
        assert_eq!(summary["rejected"], 0);
        assert_eq!(summary["queue"], queue.as_str());
        let metrics_url = format!("{}/metrics", worker.health);
        assert_eq!(
            metric(&metrics_url, "playground_messages_acked_total").await,
            handled as f64
        );
        assert_eq!(
            metric(
                &metrics_url,
                "playground_message_end_to_end_latency_seconds_count"
            )
            .await,
            handled as f64
        );
    }
}

#[tokio::test]
async fn a_crashed_workers_message_is_redelivered_and_every_message_acked_once() {
    let (queue, _cleanup) = test_queue("crash");
    let url = amqp_url();
    // Started first, so round-robin dispatch hands it one of the first messages.
    let mut crashing = Consumer::start(&url, &queue, &["--crash-after", "1"]).await;
    let healthy = Consumer::start(&url, &queue, &["--work", "20ms"]).await;
    send(&queue, 10, "Task", &[]).await;

    assert_eq!(
        crashing.process.wait_exit(Duration::from_secs(10)).await,
        3,
        "--crash-after exits with code 3"
    );
    let lost = crashing.received_ids();
    assert_eq!(
        lost.len(),
        1,
        "the crashing worker took exactly one message"
    );
    assert!(crashing.acked_ids().is_empty(), "and did not ack it");

    let acked = wait_acked(&[&healthy], 10, Duration::from_secs(20)).await;
    assert_acked_exactly_once(&acked, 10);
    let redelivered = healthy
        .process
        .wait_log(
            "received message",
            |v| v["message_id"] == lost[0].as_str(),
            Duration::from_secs(1),
        )
        .await;
    assert_eq!(redelivered["redelivered"], true, "{redelivered}");
    assert_eq!(Broker::connect().await.depth(&queue).await, 0);
}
