//! Bursts over HTTP (`/send-burst`) and AMQP (`playground send`), and a queue of another shape.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::*;

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
async fn send_says_the_broker_refused_a_wrong_password_and_does_not_wait_for_it() {
    let url = format!(
        "amqp://{}:wrong-{}@{}:{}/%2f",
        unique("user"),
        std::process::id(),
        broker_host(),
        broker_port()
    );
    let started = std::time::Instant::now();
    let (code, output) = run_to_end(
        &["send", "--queue", "never-created", "--amqp-url", &url, "x"],
        Duration::from_secs(25),
    )
    .await;
    assert_eq!(code, 1, "{output}");
    let exit = output
        .lines()
        .find(|l| l.contains("\"exiting\""))
        .unwrap_or_else(|| panic!("no exit line: {output}"));
    assert!(exit.contains("refused the connection"), "{exit}");
    assert!(!exit.contains("could not reach"), "{exit}");
    assert!(!output.contains("wrong-"), "password leaked: {output}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "it waited out --connect-wait (30s): {:?}",
        started.elapsed()
    );
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
            "--headers-exchange",
            &exchanges.headers,
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
