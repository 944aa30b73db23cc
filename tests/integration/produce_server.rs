//! `produce-server`: the HTTP contract kept from the Node service, and what reaches the queue.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn a_posted_message_is_confirmed_then_consumed_and_logged() {
    let (queue, _cleanup) = test_queue("e2e");
    let server = ProduceServer::start(&amqp_url(), &queue, &[]).await;
    let consumer = Consumer::start(&amqp_url(), &queue, &[]).await;
    server.wait_ready(200, Duration::from_secs(10)).await;
    let client = reqwest::Client::new();

    let (status, body) = server.send(&client, "Hello from RabbitMQ!").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["message"], "Message sent to queue");
    assert_eq!(body["queue"], queue.as_str());
    let data = &body["data"];
    assert_eq!(data["message"], "Hello from RabbitMQ!");
    assert_eq!(data["service"], "hello-world");
    let id = data["id"].as_str().expect("id").to_owned();
    assert!(data["timestamp"].as_str().unwrap().ends_with('Z'));

    let received = consumer
        .process
        .wait_log(
            "received message",
            |v| v["message_id"] == id.as_str(),
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(received["redelivered"], false);
    assert_eq!(received["queue"], queue.as_str());
    assert!(received["consumer"].as_str().is_some_and(|c| !c.is_empty()));
    assert!(received["received_at"].as_str().is_some());
    let logged: Value = serde_json::from_str(received["body"].as_str().unwrap()).unwrap();
    assert_eq!(&logged, data, "the consumer logs the envelope as sent");
    consumer
        .process
        .wait_log(
            "acked",
            |v| v["message_id"] == id.as_str(),
            Duration::from_secs(5),
        )
        .await;
    let broker = Broker::connect().await;
    eventually(
        Duration::from_secs(5),
        "the queue to be empty after the ack",
        || async { (broker.depth(&queue).await == 0).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn published_messages_are_persistent_json_with_id_timestamp_and_app_id() {
    let (queue, _cleanup) = test_queue("props");
    let server =
        ProduceServer::start(&amqp_url(), &queue, &["--service-name", "svc-under-test"]).await;
    server.wait_ready(200, Duration::from_secs(10)).await;
    let (status, body) = server.send(&reqwest::Client::new(), "props").await;
    assert_eq!(status, 200, "{body}");

    let broker = Broker::connect().await;
    let (properties, content) = broker.get_one(&queue).await.expect("one message queued");
    assert_eq!(properties.delivery_mode(), Some(2), "persistent");
    assert_eq!(
        properties.content_type().map(String::as_str),
        Some("application/json")
    );
    assert_eq!(
        properties.message_id().map(String::as_str),
        body["data"]["id"].as_str()
    );
    assert_eq!(
        properties.app_id().map(String::as_str),
        Some("svc-under-test")
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(properties.timestamp().is_some_and(|t| t.abs_diff(now) < 60));
    let envelope: Value = serde_json::from_slice(&content).unwrap();
    assert_eq!(envelope, body["data"]);
    assert_eq!(envelope["service"], "svc-under-test");
}

#[tokio::test]
async fn root_health_and_ready_keep_the_node_shapes() {
    let (queue, _cleanup) = test_queue("shapes");
    let server = ProduceServer::start(&amqp_url(), &queue, &[]).await;
    server.wait_ready(200, Duration::from_secs(10)).await;

    let (status, root) = get(&server.url("/")).await;
    assert_eq!(status, 200);
    assert_eq!(root["message"], "Hello World!");
    assert_eq!(root["service"], "hello-world");
    assert!(root["timestamp"].is_string());

    let (status, health) = get(&server.url("/health")).await;
    assert_eq!(status, 200);
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["rabbitmq"], "connected");
    assert!(health["uptime"].as_f64().is_some_and(|u| u >= 0.0));
}

#[tokio::test]
async fn rejected_requests_get_json_errors_and_publish_nothing() {
    let (queue, _cleanup) = test_queue("reject");
    let server = ProduceServer::start(&amqp_url(), &queue, &["--max-body", "1024"]).await;
    server.wait_ready(200, Duration::from_secs(10)).await;
    let client = reqwest::Client::new();
    let send = server.url("/send-message");

    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("malformed JSON", br#"{"message":"#.to_vec(), 400),
        ("not JSON at all", b"message=hello".to_vec(), 400),
        ("empty body", Vec::new(), 400),
        ("missing message", br#"{"text":"hi"}"#.to_vec(), 400),
        ("empty message", br#"{"message":""}"#.to_vec(), 400),
        ("number message", br#"{"message":42}"#.to_vec(), 400),
        ("array body", br#"["hi"]"#.to_vec(), 400),
        (
            "body over --max-body",
            serde_json::to_vec(&serde_json::json!({ "message": "x".repeat(2000) })).unwrap(),
            413,
        ),
    ];
    for (what, body, expected) in cases {
        let (status, json) = post_raw(&client, &send, body, "application/json").await;
        assert_eq!(status, expected, "{what}: {json}");
        assert!(json["error"].is_string(), "{what}: {json}");
        assert!(json["message"].is_string(), "{what}: {json}");
    }

    let (status, json) = get(&server.url("/no-such-route")).await;
    assert_eq!(status, 404, "{json}");
    assert!(json["error"].is_string());
    let (status, json) = get(&send).await;
    assert_eq!(status, 405, "GET /send-message: {json}");
    let response = client.delete(server.url("/health")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert!(response.headers().contains_key("allow"));

    // A valid message after all that is the only one in the queue.
    let (status, _) = server.send(&client, "the only one").await;
    assert_eq!(status, 200);
    let broker = Broker::connect().await;
    let queued = broker.drain(&queue).await;
    assert_eq!(queued.len(), 1, "only the valid request was published");
}

#[tokio::test]
async fn concurrent_posts_are_all_confirmed_and_queued() {
    let (queue, _cleanup) = test_queue("concurrent");
    let server = ProduceServer::start(&amqp_url(), &queue, &[]).await;
    server.wait_ready(200, Duration::from_secs(10)).await;
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let (client, url) = (client.clone(), server.url("/send-message"));
        tasks.push(tokio::spawn(async move {
            post_json(
                &client,
                &url,
                &serde_json::json!({ "message": format!("m{i}") }),
            )
            .await
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, 200, "{body}");
        ids.push(body["data"]["id"].as_str().unwrap().to_owned());
    }
    let broker = Broker::connect().await;
    let mut queued: Vec<String> = broker
        .drain(&queue)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    queued.sort();
    ids.sort();
    assert_eq!(queued, ids, "every confirmed message is in the queue, once");
}

#[tokio::test]
async fn a_deleted_queue_is_a_503_not_a_silent_loss_and_is_declared_again() {
    let (queue, _cleanup) = test_queue("vanish");
    let server = ProduceServer::start(&amqp_url(), &queue, &[]).await;
    server.wait_ready(200, Duration::from_secs(10)).await;
    let broker = Broker::connect().await;
    broker.delete(&queue).await;
    let client = reqwest::Client::new();
    let (status, body) = server.send(&client, "nowhere to go").await;
    assert_eq!(
        status, 503,
        "an unroutable message is not reported as sent: {body}"
    );
    // The queue is declared again and the next message lands in it.
    let (status, body) = eventually(
        Duration::from_secs(10),
        "a 200 after redeclaring",
        || async {
            let (status, body) = server.send(&client, "found a home").await;
            (status == 200).then_some((status, body))
        },
    )
    .await;
    assert_eq!(status, 200);
    let queued = broker.drain(&queue).await;
    assert_eq!(queued.len(), 1, "only the confirmed message is queued");
    assert_eq!(queued[0].0, body["data"]["id"].as_str().unwrap());
}

#[tokio::test]
async fn a_wrong_method_is_a_json_405_that_names_the_allowed_ones() {
    let (queue, _cleanup) = test_queue("allow");
    let server = ProduceServer::start(&amqp_url(), &queue, &[]).await;
    let client = reqwest::Client::new();
    for (method, path, allowed) in [
        (reqwest::Method::DELETE, "/health", "GET, HEAD"),
        (reqwest::Method::POST, "/", "GET, HEAD"),
        (reqwest::Method::GET, "/send-message", "POST"),
        (reqwest::Method::PUT, "/publish", "POST"),
    ] {
        let response = client
            .request(method.clone(), server.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 405, "{method} {path}");
        assert_eq!(response.headers()["allow"], allowed, "{method} {path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "Method Not Allowed");
        assert_eq!(
            body["message"],
            format!("{method} is not allowed on {path}; allowed: {allowed}")
        );
    }
}
