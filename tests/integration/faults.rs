//! Cutting the broker connection and stopping the service mid-stream: nothing that got a 200 is
//! ever lost.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::helpers::*;

#[tokio::test]
async fn a_cut_connection_gives_503s_then_both_roles_recover_and_nothing_confirmed_is_lost() {
    let (queue, _cleanup) = test_queue("cut");
    let proxy = Proxy::start().await;
    let server = ProduceServer::start(&proxy.url(), &queue, &[]).await;
    let consumer = Consumer::start(&proxy.url(), &queue, &[]).await;
    server.wait_ready(200, Duration::from_secs(10)).await;
    let client = reqwest::Client::new();
    let mut confirmed = Vec::new();

    for i in 0..10 {
        let (status, body) = server.send(&client, &format!("before {i}")).await;
        assert_eq!(status, 200, "{body}");
        confirmed.push(body["data"]["id"].as_str().unwrap().to_owned());
    }

    proxy.cut();
    let cut_at = Instant::now();
    server.wait_ready(503, Duration::from_secs(5)).await;
    let (status, body) = server.send(&client, "while cut").await;
    assert_eq!(
        status, 503,
        "a POST while the broker is away is refused: {body}"
    );
    assert_eq!(body["error"], "RabbitMQ not connected");
    println!("ready went 503 {:?} after the cut", cut_at.elapsed());
    let (status, health) = get(&server.url("/health")).await;
    assert_eq!(
        (status, health["rabbitmq"].as_str()),
        (200, Some("disconnected"))
    );

    proxy.restore();
    server.wait_ready(200, Duration::from_secs(10)).await;
    wait_status(
        &format!("{}/ready", consumer.health),
        200,
        Duration::from_secs(10),
    )
    .await;
    for i in 0..10 {
        let (status, body) = server.send(&client, &format!("after {i}")).await;
        assert_eq!(status, 200, "{body}");
        confirmed.push(body["data"]["id"].as_str().unwrap().to_owned());
    }

    eventually(
        Duration::from_secs(15),
        "every confirmed message to be consumed",
        || async {
            let received: HashSet<String> = consumer.received_ids().into_iter().collect();
            confirmed
                .iter()
                .all(|id| received.contains(id))
                .then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn sigterm_during_a_burst_of_concurrent_posts_loses_no_confirmed_message() {
    let (queue, _cleanup) = test_queue("term");
    let mut server = ProduceServer::start(&amqp_url(), &queue, &[]).await;
    server.wait_ready(200, Duration::from_secs(10)).await;
    let client = reqwest::Client::new();
    let url = Arc::new(server.url("/send-message"));

    // 16 clients post as fast as they can; SIGTERM lands in the middle of it.
    let mut workers = Vec::new();
    for w in 0..16 {
        let (client, url) = (client.clone(), url.clone());
        workers.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for i in 0..200 {
                let result = client
                    .post(url.as_str())
                    .json(&serde_json::json!({ "message": format!("w{w} m{i}") }))
                    .send()
                    .await;
                match result {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let body: serde_json::Value = response.json().await.unwrap_or_default();
                        outcomes.push((status, body["data"]["id"].as_str().map(str::to_owned)));
                    }
                    // The server stopped accepting: this request was never answered, so it
                    // was never reported as sent.
                    Err(_) => break,
                }
            }
            outcomes
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.process.sigterm();
    let code = server.process.wait_exit(Duration::from_secs(15)).await;
    assert_eq!(code, 0, "{}", server.process.output());

    let mut confirmed = HashSet::new();
    for worker in workers {
        for (status, id) in worker.await.unwrap() {
            assert!(
                status == 200 || status == 503,
                "unexpected status {status} during shutdown"
            );
            if status == 200 {
                confirmed.insert(id.expect("a 200 carries the id"));
            }
        }
    }
    assert!(
        !confirmed.is_empty(),
        "some messages went through before SIGTERM"
    );
    let broker = Broker::connect().await;
    let queued: HashSet<String> = broker
        .drain(&queue)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let missing: Vec<_> = confirmed.difference(&queued).collect();
    assert!(
        missing.is_empty(),
        "{} confirmed messages missing: {missing:?}",
        missing.len()
    );
    println!(
        "{} confirmed before SIGTERM, all {} queued",
        confirmed.len(),
        queued.len()
    );
}

#[tokio::test]
async fn a_silent_broker_gives_504_then_is_dropped_by_heartbeat_and_recovered() {
    let (queue, _cleanup) = test_queue("silent");
    let proxy = Proxy::start().await;
    let server = ProduceServer::start(
        &proxy.url(),
        &queue,
        &["--publish-timeout", "1s", "--heartbeat", "2s"],
    )
    .await;
    server.wait_ready(200, Duration::from_secs(10)).await;
    let client = reqwest::Client::new();

    proxy.freeze();
    let started = Instant::now();
    let (status, body) = server.send(&client, "into the void").await;
    assert_eq!(status, 504, "no confirm within --publish-timeout: {body}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // Missed heartbeats end the connection: readiness follows.
    server.wait_ready(503, Duration::from_secs(15)).await;
    println!(
        "silent broker noticed {:?} after the freeze",
        started.elapsed()
    );

    proxy.restore();
    server.wait_ready(200, Duration::from_secs(15)).await;
    let (status, body) = server.send(&client, "back").await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_broker_nack_is_a_503_not_a_success() {
    let (queue, _cleanup) = test_queue("nack");
    // A policy (not queue arguments, so the roles' plain declaration still matches) that makes
    // the broker refuse every publish to this queue with a nack.
    let policy = unique("nack-policy");
    let applied = std::process::Command::new("rabbitmqctl")
        .args([
            "set_policy",
            &policy,
            &format!("^{queue}$"),
            r#"{"max-length":0,"overflow":"reject-publish"}"#,
            "--apply-to",
            "queues",
        ])
        .output();
    if !applied.is_ok_and(|output| output.status.success()) {
        eprintln!(
            "SKIPPED a_broker_nack_is_a_503_not_a_success: rabbitmqctl is not available here"
        );
        return;
    }
    let _policy_cleanup = PolicyGuard(policy);
    let server = ProduceServer::start(&amqp_url(), &queue, &[]).await;
    server.wait_ready(200, Duration::from_secs(10)).await;
    let client = reqwest::Client::new();
    // The policy reaches the queue a moment after it exists.
    let (status, body) = eventually(Duration::from_secs(10), "the broker to nack", || async {
        let (status, body) = server.send(&client, "refused").await;
        (status != 200).then_some((status, body))
    })
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "Publish rejected");
}

/// Clears a broker policy when dropped, even when the test panicked.
struct PolicyGuard(String);

impl Drop for PolicyGuard {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rabbitmqctl")
            .args(["clear_policy", &self.0])
            .output();
    }
}
