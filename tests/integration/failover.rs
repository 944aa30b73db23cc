//! A list of endpoints, without a cluster: two proxies in front of the one broker stand for two
//! nodes. Cutting the one a role sits on must move it to the other at once (no backoff between
//! endpoints), and the node it is on shows in /health, /ready, /metrics and the connect log. The
//! real three-node cluster is exercised by the `cluster` test binary.

use std::time::Duration;

use crate::helpers::*;

/// `127.0.0.1:PORT` of a proxy, as the roles name nodes.
fn node_of(proxy: &Proxy) -> String {
    format!("127.0.0.1:{}", proxy.port)
}

#[tokio::test]
async fn a_consumer_moves_to_the_next_endpoint_when_its_node_goes_away() {
    let (queue, _cleanup) = test_queue("failover");
    let proxies = [Proxy::start().await, Proxy::start().await];
    let list = format!("{},{}", proxies[0].url(), proxies[1].url());
    // A reconnect backoff far longer than the test: only moving on to the next endpoint at
    // once (not waiting for a round to end) can make it ready again in time.
    let port = free_port().to_string();
    let process = Running::spawn(
        &[
            "consume",
            "--amqp-url",
            &list,
            "--queue",
            &queue,
            "--health-port",
            &port,
            "--health-bind",
            "127.0.0.1",
            "--reconnect-min",
            "30s",
            "--reconnect-max",
            "30s",
        ],
        &[],
    );
    process
        .wait_log("consuming", |_| true, Duration::from_secs(10))
        .await;
    let consumer = Consumer {
        process,
        health: format!("http://127.0.0.1:{port}"),
    };
    let ready = format!("{}/ready", consumer.health);
    wait_status(&ready, 200, Duration::from_secs(10)).await;
    let (_, body) = get(&ready).await;
    let first = body["node"].as_str().unwrap().to_owned();
    let (on, other) = if first == node_of(&proxies[0]) {
        (&proxies[0], &proxies[1])
    } else {
        (&proxies[1], &proxies[0])
    };
    assert_eq!(first, node_of(on), "{body}");
    let connected = consumer
        .process
        .logs_matching(|v| v["message"] == "connected to RabbitMQ");
    assert_eq!(connected[0]["node"], first.as_str(), "{connected:?}");

    on.cut();
    let moved = eventually(
        Duration::from_secs(10),
        "the consumer on the other node",
        || {
            let (ready, first) = (ready.clone(), first.clone());
            async move {
                let (status, body) = get(&ready).await;
                (status == 200 && body["node"] != first.as_str()).then_some(body)
            }
        },
    )
    .await;
    assert_eq!(moved["node"], node_of(other).as_str(), "{moved}");
    let (_, health) = get(&format!("{}/health", consumer.health)).await;
    assert_eq!(health["node"], node_of(other).as_str(), "{health}");
    let metrics = format!("{}/metrics", consumer.health);
    assert_eq!(metric(&metrics, "playground_failovers_total").await, 1.0);
    let series = format!(
        "playground_connection_state{{state=\"connected\",node=\"{}\"}}",
        node_of(other)
    );
    assert_eq!(metric(&metrics, &series).await, 1.0, "{series}");
    let line = consumer
        .process
        .wait_log(
            "connected to RabbitMQ on another node",
            |_| true,
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(line["failed_over_from"], first.as_str(), "{line}");

    // Still consuming, through the other node.
    let broker = Broker::connect().await;
    broker
        .publish_raw(&queue, br#"{"text":"after"}"#.to_vec(), "after-failover")
        .await;
    eventually(
        Duration::from_secs(10),
        "the message after the failover",
        || {
            let acked = consumer.acked_ids();
            async move { acked.contains(&"after-failover".to_owned()).then_some(()) }
        },
    )
    .await;
}

#[tokio::test]
async fn every_url_of_a_list_is_checked_and_the_bad_one_named() {
    const SECRET: &str = "Sup3r-S3cret-PW";
    for (list, expected) in [
        (
            format!("{},amqp://bob:{SECRET}@/", amqp_url()),
            "URL 2 of 2",
        ),
        (
            format!("{},,{}", amqp_url(), amqp_url()),
            "URL 2 of 3: empty",
        ),
        (
            format!("{},amqp://127.0.0.1:5681/other", amqp_url()),
            "URL 2 of 2 names vhost",
        ),
    ] {
        let (code, output) = run_to_end(
            &["consume", "--amqp-url", &list, "--check-config"],
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(code, 2, "{list}: {output}");
        let lines: Vec<_> = output.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "one line: {output}");
        assert!(lines[0].contains("--amqp-url / RABBITMQ_URL"), "{output}");
        assert!(lines[0].contains(expected), "{output}");
        assert!(!output.contains(SECRET), "{output}");
    }
    let list = format!("amqp://u:{SECRET}@127.0.0.1:5681/%2f,amqp://u:{SECRET}@127.0.0.1:5682/%2f");
    let (code, output) = run_to_end(
        &["consume", "--amqp-url", &list, "--check-config"],
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(code, 0, "{output}");
    let description: serde_json::Value = serde_json::from_str(output.trim()).unwrap();
    assert_eq!(
        description["amqp_nodes"],
        serde_json::json!(["127.0.0.1:5681", "127.0.0.1:5682"])
    );
    assert!(!output.contains(SECRET), "{output}");
}
