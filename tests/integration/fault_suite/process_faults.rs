//! Our side fails: a consumer killed mid-message, a rolling restart, and secrets in the logs.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn a_consumer_killed_mid_message_loses_nothing() {
    let (queue, _cleanup) = test_queue("sigkill");
    let url = amqp_url();
    let doomed = Consumer::start(&url, &queue, &["--work", "5s"]).await;
    let server = ProduceServer::start(&url, &queue, &[]).await;
    server.wait_ready(200, Duration::from_secs(10)).await;
    let client = reqwest::Client::new();
    let mut sent = BTreeSet::new();
    for i in 0..3 {
        let (status, body) = server.send(&client, &format!("task {i}")).await;
        assert_eq!(status, 200);
        sent.insert(body["data"]["id"].as_str().unwrap().to_owned());
    }
    let in_hand = doomed
        .process
        .wait_log("received message", |_| true, Duration::from_secs(10))
        .await;
    doomed.process.kill();
    let survivor = Consumer::start(&url, &queue, &[]).await;
    let acked = eventually(Duration::from_secs(15), "3 acks", || async {
        let acked: BTreeSet<String> = survivor.acked_ids().into_iter().collect();
        (acked.len() >= 3).then_some(acked)
    })
    .await;
    assert_eq!(
        acked, sent,
        "every message, once the killed worker's is redelivered"
    );
    let again = survivor
        .process
        .wait_log(
            "received message",
            |v| v["message_id"] == in_hand["message_id"],
            Duration::from_secs(1),
        )
        .await;
    assert_eq!(again["redelivered"], true);
}

/// The numbered texts (`"A 7 of 3000"`) every consumer process logged.
fn burst_texts(processes: &[&Running]) -> BTreeSet<String> {
    processes
        .iter()
        .flat_map(|p| p.logs_matching(|v| v["message"] == "received message"))
        .filter_map(|v| {
            let body: Value = serde_json::from_str(v["body"].as_str()?).ok()?;
            Some(body["message"].as_str()?.to_owned())
        })
        .collect()
}

#[tokio::test]
async fn a_rolling_restart_during_bursts_loses_nothing() {
    let (queue, _cleanup) = test_queue("rolling");
    let url = amqp_url();
    let worker = ["--summary-every", "0s", "--work", "1ms"];
    let mut consumers = [
        Consumer::start(&url, &queue, &worker).await,
        Consumer::start(&url, &queue, &worker).await,
    ];
    let mut server = ProduceServer::start(&url, &queue, &[]).await;
    server.wait_ready(200, Duration::from_secs(10)).await;
    let client = reqwest::Client::new();
    let burst_url = server.url("/send-burst");

    // Burst A while each consumer in turn is stopped and replaced.
    let burst = |count: u64, text: &str| {
        let (client, url, body) = (
            client.clone(),
            burst_url.clone(),
            json!({"count": count, "message": text}),
        );
        tokio::spawn(async move { post_json(&client, &url, &body).await })
    };
    let a = burst(3000, "A");
    let mut retired = Vec::new();
    for consumer in consumers.iter_mut() {
        consumer
            .process
            .wait_log("received message", |_| true, Duration::from_secs(10))
            .await;
        consumer.process.sigterm();
        assert_eq!(consumer.process.wait_exit(Duration::from_secs(15)).await, 0);
        let replacement = Consumer::start(&url, &queue, &worker).await;
        retired.push(std::mem::replace(consumer, replacement));
    }
    let (status, a_body) = a.await.unwrap();
    assert_eq!(status, 200, "{a_body}");

    // Burst B while the producer itself is stopped: it drains the request in flight.
    let b = burst(2000, "B");
    tokio::time::sleep(Duration::from_millis(30)).await;
    server.process.sigterm();
    let (status, b_body) = b.await.unwrap();
    assert_eq!(server.process.wait_exit(Duration::from_secs(15)).await, 0);
    let b_sent = b_body["sent"].as_u64().unwrap_or(0);
    assert!(
        status == 200 || status == 503 || status == 504,
        "{status} {b_body}"
    );
    let replacement = ProduceServer::start(&url, &queue, &[]).await;
    replacement.wait_ready(200, Duration::from_secs(10)).await;
    let (status, _) = replacement.send(&client, "after the roll").await;
    assert_eq!(status, 200);

    let mut expected: BTreeSet<String> = (1..=3000).map(|i| format!("A {i} of 3000")).collect();
    expected.extend((1..=b_sent).map(|i| format!("B {i} of 2000")));
    let all: Vec<&Running> = consumers
        .iter()
        .chain(&retired)
        .map(|c| &c.process)
        .collect();
    eventually(
        Duration::from_secs(60),
        "every confirmed burst message consumed",
        || async {
            let seen = burst_texts(&all);
            expected.is_subset(&seen).then_some(())
        },
    )
    .await;
    eprintln!(
        "rolling restart: 3000 + {b_sent} confirmed burst messages, all consumed across {} \
         consumer processes",
        all.len()
    );
}

#[tokio::test]
async fn the_password_never_leaks_from_any_role() {
    const PASSWORD: &str = "Zebra-Quartz-9931-secret";
    let user = unique("leak");
    let Some(_user) = BrokerUser::create(&user, PASSWORD) else {
        return;
    };
    let exchanges = TestExchanges::new("leak");
    let (queue, _cleanup) = test_queue("leak");
    let proxy = Proxy::start().await;
    proxy.cut();
    let url = format!("amqp://{user}:{PASSWORD}@127.0.0.1:{}/%2f", proxy.port);
    let debug = [("RUST_LOG", "debug")];

    let mut roles: Vec<(Running, Option<String>)> = Vec::new();
    let mut with_health = |role: Vec<String>| {
        let port = free_port().to_string();
        let mut args: Vec<String> = role;
        args.extend(
            [
                "--amqp-url",
                &url,
                "--health-port",
                &port,
                "--health-bind",
                "127.0.0.1",
                "--reconnect-max",
                "300ms",
            ]
            .map(String::from),
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        roles.push((
            Running::spawn(&args, &debug),
            Some(format!("http://127.0.0.1:{port}")),
        ));
    };
    with_health(vec!["consume".into(), "--queue".into(), queue.clone()]);
    with_health(vec![
        "fanout-sub".into(),
        "--exchange".into(),
        exchanges.fanout.clone(),
    ]);
    with_health(vec![
        "topic-sub".into(),
        "--exchange".into(),
        exchanges.topic.clone(),
        "--pattern".into(),
        "#".into(),
    ]);
    let port = free_port();
    let port_arg = port.to_string();
    let mut producer_args = vec![
        "produce-server",
        "--queue",
        &queue,
        "--amqp-url",
        &url,
        "--port",
        &port_arg,
        "--bind",
        "127.0.0.1",
        "--reconnect-max",
        "300ms",
    ];
    producer_args.extend(exchanges.flags());
    roles.push((
        Running::spawn(&producer_args, &debug),
        Some(format!("http://127.0.0.1:{port}")),
    ));

    // Failed connects first…
    for (process, _) in &roles {
        process
            .wait_log(
                "could not connect to RabbitMQ",
                |_| true,
                Duration::from_secs(10),
            )
            .await;
    }
    let (send_url, send_queue) = (url.clone(), queue.clone());
    let send = tokio::spawn(async move {
        run_to_end(
            &[
                "send",
                "--queue",
                &send_queue,
                "--amqp-url",
                &send_url,
                "--connect-wait",
                "20s",
                "x",
            ],
            Duration::from_secs(30),
        )
        .await
    });
    // …then successful ones.
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.restore();
    for (process, _) in &roles {
        process
            .wait_log("connected to RabbitMQ", |_| true, Duration::from_secs(15))
            .await;
    }
    let (code, send_output) = send.await.unwrap();
    assert_eq!(code, 0, "{send_output}");
    assert!(!send_output.contains(PASSWORD), "send: {send_output}");

    for (process, base) in &roles {
        let base = base.as_ref().unwrap();
        for path in ["/health", "/ready", "/metrics"] {
            let text = reqwest::get(format!("{base}{path}"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(!text.contains(PASSWORD), "{base}{path}: {text}");
        }
        let output = process.output();
        assert!(output.contains(&format!("{user}:****@")), "{output}");
        assert!(!output.contains(PASSWORD), "{output}");
    }
}
