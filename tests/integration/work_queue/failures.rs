//! Work that fails: shutdown mid-task, rejected messages, dead letters, delivery limits.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use super::send;
use crate::helpers::*;

/// Sends 3 slow tasks, SIGTERMs the worker mid-task; returns (acked ids, ids left in the queue,
async fn sigterm_mid_task(queue: &str, extra: &[&str]) -> (Vec<String>, Vec<String>, usize) {
    let url = amqp_url();
    let mut worker = Consumer::start(&url, queue, extra).await;
    send(queue, 3, "Task", &[]).await;
    worker
        .process
        .wait_log("received message", |_| true, Duration::from_secs(10))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    worker.process.sigterm();
    assert_eq!(worker.process.wait_exit(Duration::from_secs(15)).await, 0);
    let broker = Broker::connect().await;
    let left: Vec<String> = broker
        .drain(queue)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    (worker.acked_ids(), left, 3)
}

#[tokio::test]
async fn sigterm_mid_task_finishes_the_task_within_the_grace_period() {
    let (queue, _cleanup) = test_queue("term-finish");
    let (acked, left, sent) = sigterm_mid_task(&queue, &["--work", "1s"]).await;
    assert_eq!(acked.len(), 1, "the task in hand was finished and acked");
    assert_eq!(left.len(), sent - 1, "the others stayed in the queue");
    assert!(!left.contains(&acked[0]));
}

#[tokio::test]
async fn sigterm_mid_task_hands_a_long_task_back_to_the_queue() {
    let (queue, _cleanup) = test_queue("term-back");
    let (acked, left, sent) =
        sigterm_mid_task(&queue, &["--work", "20s", "--shutdown-grace", "300ms"]).await;
    assert!(acked.is_empty(), "nothing finished: {acked:?}");
    assert_eq!(left.len(), sent, "the task in hand went back to the queue");
    let distinct: BTreeSet<_> = left.iter().collect();
    assert_eq!(distinct.len(), sent);
}

#[tokio::test]
async fn failed_messages_go_to_the_dead_letter_queue_without_requeue() {
    let (queue, _cleanup) = test_work_queue("dlq");
    let url = amqp_url();
    let shape = ["--dead-letter"];
    let worker = Consumer::start(
        &url,
        &queue,
        &[
            "--dead-letter",
            "--fail-rate",
            "1.0",
            "--summary-every",
            "0s",
        ],
    )
    .await;
    send(&queue, 5, "Task", &shape).await;

    let broker = Broker::connect().await;
    let dead_letter_queue = format!("{queue}.dead-letter");
    eventually(
        Duration::from_secs(15),
        "5 messages in the dead-letter queue",
        || async { (broker.count(&dead_letter_queue).await == 5).then_some(()) },
    )
    .await;
    assert_eq!(broker.count(&queue).await, 0);
    let rejected = worker
        .process
        .logs_matching(|v| v["message"] == "processing failed (simulated): rejected");
    assert_eq!(rejected.len(), 5);
    assert!(rejected.iter().all(|v| v["requeue"] == false
        && v["destination"]
            .as_str()
            .unwrap()
            .contains(&dead_letter_queue)));
    assert!(worker.acked_ids().is_empty());
}

#[tokio::test]
async fn a_quorum_queue_stops_a_crash_looping_message_at_the_delivery_limit() {
    let (queue, _cleanup) = test_work_queue("quorum");
    let url = amqp_url();
    let shape = [
        "--queue-type",
        "quorum",
        "--delivery-limit",
        "2",
        "--dead-letter",
    ];
    send(&queue, 1, "poison", &shape).await;

    let broker = Broker::connect().await;
    let dead_letter_queue = format!("{queue}.dead-letter");
    let mut workers = Vec::new();
    while broker.count(&dead_letter_queue).await == 0 {
        assert!(workers.len() <= 5, "the message was never dead-lettered");
        let mut args = vec!["--crash-after", "1"];
        args.extend_from_slice(&shape);
        let mut worker = Consumer::start(&url, &queue, &args).await;
        // Either it gets the message and crashes, or the message was dead-lettered meanwhile.
        // (No broker call is raced against anything here: amqprs panics when a pending call's
        // future is dropped.)
        for _ in 0..30 {
            if !worker.received_ids().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !worker.received_ids().is_empty() {
            let code = worker.process.wait_exit(Duration::from_secs(10)).await;
            assert_eq!(code, 3, "{}", worker.process.output());
        }
        workers.push(worker);
    }
    // The first delivery plus `limit` redeliveries crashed a worker; then the broker gave up.
    let deliveries: usize = workers.iter().map(|w| w.received_ids().len()).sum();
    assert_eq!(deliveries, 3, "delivery limit 2 allows 3 deliveries");
    let (properties, body) = broker
        .get_one(&dead_letter_queue)
        .await
        .expect("the poison message");
    let envelope: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(envelope["message"], "poison");
    assert!(properties.message_id().is_some());
}
