//! Hostile requests to every HTTP endpoint: each gets a 4xx JSON error, nothing is published for
//! any of them, and the server stays healthy.

use amqprs::channel::QueueBindArguments;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

/// One hostile request.
struct Hostile {
    what: String,
    method: Method,
    path: &'static str,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    extra_header: Option<(&'static str, String)>,
}

fn post(what: &str, path: &'static str, body: impl Into<Vec<u8>>) -> Hostile {
    Hostile {
        what: what.to_owned(),
        method: Method::POST,
        path,
        content_type: Some("application/json"),
        body: body.into(),
        extra_header: None,
    }
}

/// The same kinds of damage for every POST endpoint, plus each endpoint's own invalid values.
fn hostile_requests() -> Vec<Hostile> {
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let mut requests = Vec::new();
    for path in ["/send-message", "/send-burst", "/publish"] {
        let generic: Vec<(&str, Vec<u8>)> = vec![
            ("malformed JSON", b"{message: hi}".to_vec()),
            ("truncated JSON", br#"{"message":"hi"#.to_vec()),
            ("empty body", Vec::new()),
            ("JSON array", br#"["message","hi"]"#.to_vec()),
            ("JSON string", br#""hi""#.to_vec()),
            ("JSON null", b"null".to_vec()),
            (
                "deeply nested JSON",
                format!(r#"{{"message":{deep},"count":{deep}}}"#).into_bytes(),
            ),
            ("not UTF-8", b"{\"message\":\"\xff\xfe\"}".to_vec()),
            ("body over --max-body", vec![b' '; 70 * 1024]),
            ("whitespace only", b"   \n\t ".to_vec()),
            ("JSON number", b"42".to_vec()),
            ("JSON true", b"true".to_vec()),
            (
                "trailing garbage",
                br#"{"message":"x","count":1,"routing_key":"a"} junk"#.to_vec(),
            ),
            ("single quotes", b"{'message':'x'}".to_vec()),
            ("comment", b"// x\n{\"message\":\"x\"}".to_vec()),
            ("NaN literal", br#"{"message":NaN,"count":NaN}"#.to_vec()),
            (
                "raw control character",
                b"{\"message\":\"a\x01b\x00\"}".to_vec(),
            ),
            (
                "lone surrogate escape",
                br#"{"message":"\ud800","count":"\ud800"}"#.to_vec(),
            ),
            ("UTF-16 body", vec![0xff, 0xfe, b'{', 0, b'}', 0]),
            ("key without value", br#"{"message":}"#.to_vec()),
        ];
        for (what, body) in generic {
            requests.push(post(&format!("{path}: {what}"), path, body));
        }
        let mut missing = post(
            &format!("{path}: missing Content-Type"),
            path,
            br#"{"message":"x","count":1,"routing_key":"a"}"#.to_vec(),
        );
        missing.content_type = None;
        requests.push(missing);
        let mut form = post(
            &format!("{path}: form Content-Type"),
            path,
            br#"{"message":"x","count":1,"routing_key":"a"}"#.to_vec(),
        );
        form.content_type = Some("application/x-www-form-urlencoded");
        requests.push(form);
        let mut huge_header = post(
            &format!("{path}: huge header"),
            path,
            br#"{"message":"x","count":1,"routing_key":"a"}"#.to_vec(),
        );
        huge_header.extra_header = Some(("x-padding", "p".repeat(32 * 1024)));
        requests.push(huge_header);
        requests.push(Hostile {
            method: Method::GET,
            ..post(&format!("GET {path}"), path, Vec::new())
        });
        requests.push(Hostile {
            method: Method::DELETE,
            ..post(&format!("DELETE {path}"), path, Vec::new())
        });
    }
    let specific = [
        ("/send-message", json!({"message": 5})),
        ("/send-message", json!({"message": ""})),
        ("/send-message", json!({"message": {"nested": true}})),
        ("/send-message", json!({"text": "wrong field"})),
        ("/send-burst", json!({"count": 0})),
        ("/send-burst", json!({"count": -5})),
        ("/send-burst", json!({"count": 100_001})),
        ("/send-burst", json!({"count": 1e300})),
        ("/send-burst", json!({"count": "7"})),
        ("/send-burst", json!({"count": 3, "message": ["a"]})),
        ("/publish", json!({"message": "x"})),
        (
            "/publish",
            json!({"message": "x", "routing_key": "k".repeat(256)}),
        ),
        ("/publish", json!({"message": "x", "routing_key": 42})),
        (
            "/publish",
            json!({"message": "x", "routing_key": "a", "exchange": "match"}),
        ),
        (
            "/publish",
            json!({"message": "x", "exchange": "headers", "headers": {"level": 5}}),
        ),
        (
            "/publish",
            json!({"message": "x", "exchange": "headers", "headers": ["level"]}),
        ),
        (
            "/publish",
            json!({"message": "x", "exchange": "headers", "headers": {"k".repeat(256): "v"}}),
        ),
        (
            "/publish",
            json!({"routing_key": "a", "exchange": null, "extra": [1, 2]}),
        ),
        ("/publish", json!({"message": "", "routing_key": "a"})),
        ("/send-message", json!({"message": null})),
    ];
    for (path, body) in specific {
        requests.push(post(&format!("{path}: {body}"), path, body.to_string()));
    }
    for (method, path) in [
        (Method::GET, "/no-such-route"),
        (Method::POST, "/no-such-route"),
        (Method::POST, "/health"),
        (Method::PUT, "/ready"),
        (Method::POST, "/metrics"),
        (Method::PATCH, "/"),
    ] {
        requests.push(Hostile {
            method: method.clone(),
            ..post(&format!("{method} {path}"), path, Vec::new())
        });
    }
    requests
}

#[tokio::test]
async fn hostile_requests_get_json_4xx_and_publish_nothing() {
    let (queue, _cleanup) = test_queue("hostile");
    let exchanges = TestExchanges::new("hostile");
    let url = amqp_url();
    let server = ProduceServer::start(&url, &queue, &exchanges.flags()).await;
    server
        .wait_ready(200, std::time::Duration::from_secs(10))
        .await;

    // Catch-all queues on every exchange, so a message published anywhere would be counted.
    let broker = Broker::connect().await;
    let mut guards = Vec::new();
    let mut catch_all = Vec::new();
    for (exchange, key) in [
        (&exchanges.topic, "#"),
        (&exchanges.direct, "a"),
        (&exchanges.fanout, ""),
        // No headers in the binding, x-match all: matches every message.
        (&exchanges.headers, ""),
    ] {
        let (name, guard) = test_queue("hostile-catch-all");
        broker.depth(&name).await;
        broker
            .channel()
            .queue_bind(QueueBindArguments::new(&name, exchange, key))
            .await
            .unwrap();
        catch_all.push(name);
        guards.push(guard);
    }

    let client = reqwest::Client::new();
    let requests = hostile_requests();
    for path in ["/send-message", "/send-burst", "/publish"] {
        let aimed = requests.iter().filter(|r| r.path == path).count();
        assert!(aimed >= 30, "only {aimed} hostile requests for {path}");
    }
    for request in &requests {
        let mut builder = client
            .request(request.method.clone(), server.url(request.path))
            .body(request.body.clone());
        if let Some(content_type) = request.content_type {
            builder = builder.header("content-type", content_type);
        }
        if let Some((name, value)) = &request.extra_header {
            builder = builder.header(*name, value);
        }
        let response = builder
            .send()
            .await
            .expect("a response, not a dropped connection");
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(
            (400..500).contains(&status),
            "{}: expected a 4xx, got {status} {body}",
            request.what
        );
        assert!(
            body["error"].is_string() && body["message"].is_string(),
            "{}: not a JSON error: {body}",
            request.what
        );
    }

    assert_eq!(
        broker.depth(&queue).await,
        0,
        "nothing reached the work queue"
    );
    for name in &catch_all {
        assert_eq!(broker.depth(name).await, 0, "nothing reached {name}");
    }
    let (status, health) = get(&server.url("/health")).await;
    assert_eq!(status, 200, "{health}");
    let (status, _) = get(&server.url("/ready")).await;
    assert_eq!(status, 200, "still ready");
    assert_eq!(
        metric(
            &server.url("/metrics"),
            "playground_messages_published_total"
        )
        .await,
        0.0
    );
    // And it still works.
    let (status, body) = server.send(&client, "after the storm").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(broker.depth(&queue).await, 1);
}
