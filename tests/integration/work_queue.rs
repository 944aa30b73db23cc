//! Work queues: bursts (`/send-burst`, `playground send`), fair dispatch, simulated work, crash
//! and redelivery, shutdown mid-task, failures, dead letters and quorum delivery limits.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::*;

/// `playground send --count N` to `queue` (plus `extra` queue options); asserts it succeeded.
async fn send(queue: &str, count: u64, text: &str, extra: &[&str]) {
    let count = count.to_string();
    let url = amqp_url();
    let mut args = vec![
        "send",
        "--queue",
        queue,
        "--count",
        &count,
        "--quiet",
        "--amqp-url",
        &url,
    ];
    args.extend_from_slice(extra);
    args.push(text);
    let (code, output) = run_to_end(&args, Duration::from_secs(30)).await;
    assert_eq!(code, 0, "send failed:\n{output}");
}

/// Waits until the consumers acked `total` messages between them; returns the acks per consumer.
async fn wait_acked(consumers: &[&Consumer], total: usize, timeout: Duration) -> Vec<Vec<String>> {
    eventually(timeout, &format!("{total} acks"), || async {
        let acked: Vec<Vec<String>> = consumers.iter().map(|c| c.acked_ids()).collect();
        (acked.iter().map(Vec::len).sum::<usize>() >= total).then_some(acked)
    })
    .await
}

/// Every id exactly once across all the consumers' acks.
fn assert_acked_exactly_once(acked: &[Vec<String>], expected: usize) {
    let all: Vec<&String> = acked.iter().flatten().collect();
    let distinct: BTreeSet<&String> = all.iter().copied().collect();
    assert_eq!(all.len(), expected, "acks: {acked:?}");
    assert_eq!(
        distinct.len(),
        expected,
        "a message was acked twice: {acked:?}"
    );
}

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

/// Sends 3 slow tasks, SIGTERMs the worker mid-task; returns (acked ids, ids left in the queue,
/// all ids sent) once it exited cleanly.
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

#[tokio::test]
async fn send_burst_validates_count_and_publishes_exactly_that_many() {
    let (queue, _cleanup) = test_queue("burst");
    let url = amqp_url();
    let server = ProduceServer::start(&url, &queue, &["--max-burst", "1000"]).await;
    server.wait_ready(200, Duration::from_secs(10)).await;
    let client = reqwest::Client::new();
    let burst_url = server.url("/send-burst");
    for bad in [
        json!({"count": 0}),
        json!({"count": -1}),
        json!({"count": 1001}),
        json!({"count": "10"}),
        json!({"count": 2.5}),
        json!({"message": "no count"}),
        json!({"count": 5, "message": ""}),
        json!({"count": 5, "message": 5}),
        json!([10]),
    ] {
        let (status, body) = post_json(&client, &burst_url, &bad).await;
        assert_eq!(status, 400, "{bad} → {body}");
        assert_eq!(body["error"], "Bad Request");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let (status, body) = post_raw(
        &client,
        &burst_url,
        b"{\"count\":".to_vec(),
        "application/json",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let broker = Broker::connect().await;
    assert_eq!(
        broker.depth(&queue).await,
        0,
        "nothing published by a bad burst"
    );

    let (status, body) = post_json(
        &client,
        &burst_url,
        &json!({"count": 1000, "message": "Task..."}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["sent"], 1000);
    assert_eq!(body["queue"], queue.as_str());
    assert!(body["elapsed_ms"].as_f64().is_some());
    assert_eq!(broker.depth(&queue).await, 1000);

    let messages = broker.drain(&queue).await;
    assert_eq!(messages.len(), 1000);
    let mut seqs = Vec::new();
    for (id, body) in &messages {
        let envelope: Value = serde_json::from_slice(body).unwrap();
        let seq = envelope["seq"].as_u64().unwrap();
        assert_eq!(envelope["message"], format!("Task... {seq} of 1000"));
        assert_eq!(envelope["id"], id.as_str());
        seqs.push(seq);
    }
    // Every task once, and queued in order: workers take them 1, 2, 3…
    assert_eq!(seqs, (1..=1000).collect::<Vec<u64>>());

    // The metrics saw the same: 1000 published and confirmed, ten refused bursts.
    let metrics_url = server.url("/metrics");
    assert_eq!(
        metric(&metrics_url, "playground_messages_confirmed_total").await,
        1000.0
    );
    assert_eq!(
        metric(&metrics_url, "playground_messages_published_total").await,
        1000.0
    );
    assert_eq!(
        metric(
            &metrics_url,
            r#"playground_http_requests_total{route="/send-burst",method="POST",status="400"}"#
        )
        .await,
        10.0
    );
}

#[tokio::test]
async fn a_burst_cut_off_by_a_lost_connection_reports_what_was_confirmed() {
    let (queue, _cleanup) = test_queue("burst-cut");
    let proxy = Proxy::start().await;
    let server = ProduceServer::start(&proxy.url(), &queue, &[]).await;
    server.wait_ready(200, Duration::from_secs(10)).await;
    let client = reqwest::Client::new();
    let request = {
        let (client, url) = (client.clone(), server.url("/send-burst"));
        tokio::spawn(async move { post_json(&client, &url, &json!({"count": 100000})).await })
    };
    let broker = Broker::connect().await;
    eventually(
        Duration::from_secs(20),
        "the burst to be under way",
        || async { (broker.depth(&queue).await > 500).then_some(()) },
    )
    .await;
    proxy.cut();
    let (status, body) = request.await.unwrap();
    proxy.restore();
    assert!(
        status == 503 || status == 504,
        "a cut-off burst is a 503/504: {status} {body}"
    );
    assert_eq!(body["success"], false);
    assert_eq!(body["requested"], 100000);
    let sent = body["sent"].as_u64().unwrap();
    assert!(sent > 0 && sent < 100000, "{body}");
    assert!(body["message"].as_str().unwrap().contains("were confirmed"));
    // Every message reported as confirmed is in the queue (some unconfirmed ones may be too).
    let depth = u64::from(broker.depth(&queue).await);
    assert!(depth >= sent, "confirmed {sent} but only {depth} queued");
}

#[tokio::test]
async fn send_prints_a_line_per_confirmed_message_in_order() {
    let (queue, _cleanup) = test_queue("send");
    let url = amqp_url();
    let (code, output) = run_to_end(
        &[
            "send",
            "--queue",
            &queue,
            "--count",
            "5",
            "--amqp-url",
            &url,
            "Task.",
        ],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(code, 0, "{output}");
    let sent: Vec<&str> = output
        .lines()
        .filter(|l| l.starts_with(" [x] sent"))
        .collect();
    assert_eq!(sent.len(), 5, "{output}");
    for (i, line) in sent.iter().enumerate() {
        let n = i + 1;
        assert!(
            line.contains(&format!("sent {n}/5 \"Task. {n} of 5\"")),
            "{line}"
        );
    }
    assert!(output.contains("5 of 5 messages confirmed"), "{output}");
    let messages = Broker::connect().await.drain(&queue).await;
    let seqs: HashMap<u64, String> = messages
        .iter()
        .map(|(_, body)| {
            let envelope: Value = serde_json::from_slice(body).unwrap();
            (
                envelope["seq"].as_u64().unwrap(),
                envelope["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(seqs.len(), 5);
    assert_eq!(seqs[&3], "Task. 3 of 5");
}

#[tokio::test]
async fn send_fails_when_the_broker_cannot_be_reached() {
    let proxy = Proxy::start().await;
    proxy.cut();
    let url = proxy.url();
    let (code, output) = run_to_end(
        &[
            "send",
            "--queue",
            "never-created",
            "--connect-wait",
            "1s",
            "--amqp-url",
            &url,
            "x",
        ],
        Duration::from_secs(15),
    )
    .await;
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("could not reach RabbitMQ"), "{output}");
    assert!(!output.contains("guest:guest"), "password leaked: {output}");
}

#[tokio::test]
async fn every_role_refuses_a_queue_of_another_shape_with_one_clear_line() {
    let (queue, _cleanup) = test_queue("shape");
    // The queue exists as the Node services declare it: plain durable classic.
    Broker::connect().await.depth(&queue).await;
    let url = amqp_url();
    let exchanges = TestExchanges::new("shape");
    let quorum = ["--queue-type", "quorum"];
    let runs: [Vec<&str>; 3] = [
        vec!["send", "--queue", &queue, "--amqp-url", &url, "x"],
        vec![
            "consume",
            "--queue",
            &queue,
            "--amqp-url",
            &url,
            "--health-port",
            "0",
        ],
        vec![
            "produce-server",
            "--queue",
            &queue,
            "--amqp-url",
            &url,
            "--port",
            "0",
            "--topic-exchange",
            &exchanges.topic,
            "--direct-exchange",
            &exchanges.direct,
            "--fanout-exchange",
            &exchanges.fanout,
        ],
    ];
    for mut args in runs {
        args.extend_from_slice(&quorum);
        let (code, output) = run_to_end(&args, Duration::from_secs(15)).await;
        assert_eq!(
            code, 2,
            "a settings mismatch is a configuration error: {args:?}: {output}"
        );
        let line = output
            .lines()
            .find(|l| l.contains("\"exiting\""))
            .unwrap_or_else(|| panic!("no exit line: {output}"));
        for needed in [
            queue.as_str(),
            "x-queue-type",
            "rabbitmqctl delete_queue",
            "--queue-type",
        ] {
            assert!(line.contains(needed), "{needed:?} missing from: {line}");
        }
        let attempts = output.matches("\"connected to RabbitMQ\"").count()
            + output.matches("could not connect").count();
        assert!(attempts <= 1, "it must not loop: {output}");
    }
}
