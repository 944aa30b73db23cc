//! The headers exchange's truth table (`x-match` all and any), and the alternate exchange that
//! keeps what no binding matched — with `/publish` saying where each message went.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};

use super::wait_received;
use crate::helpers::*;

/// Publishes `headers` to the headers exchange through `/publish`; returns the answer.
async fn publish_headers(server: &ProduceServer, headers: &Value, text: &str) -> Value {
    let (status, body) = post_json(
        &reqwest::Client::new(),
        &server.url("/publish"),
        &json!({"exchange": "headers", "headers": headers, "message": text}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The texts a subscriber received, as a set.
fn texts(subscriber: &Subscriber) -> BTreeSet<String> {
    subscriber.received().into_iter().map(|(_, t)| t).collect()
}

#[tokio::test]
async fn headers_routing_follows_x_match_all_and_any() {
    let exchanges = TestExchanges::new("headers");
    let (queue, _cleanup) = test_queue("headers-producer");
    let url = amqp_url();
    let on_headers = [
        "--exchange-type",
        "headers",
        "--exchange",
        &exchanges.headers,
    ];
    // name → its binding, and the messages (below) it must receive, exactly.
    let table: [(&str, &[&str], &[&str]); 4] = [
        (
            "all-error-db",
            &[
                "--match",
                "all",
                "--header",
                "level=error",
                "--header",
                "app=db",
            ],
            &["m1", "m5"],
        ),
        (
            "any-error-db",
            &[
                "--match",
                "any",
                "--header",
                "level=error",
                "--header",
                "app=db",
            ],
            &["m1", "m2", "m3", "m5"],
        ),
        (
            "all-error",
            &["--header", "level=error"],
            &["m1", "m2", "m5"],
        ),
        (
            "any-info-web",
            &[
                "--match",
                "any",
                "--header",
                "level=info",
                "--header",
                "app=web",
            ],
            &["m2", "m3", "m8"],
        ),
    ];
    let mut subscribers = Vec::new();
    for (name, binding, _) in &table {
        let args = [&on_headers[..], binding].concat();
        subscribers.push(Subscriber::start("topic-sub", &url, name, &args).await);
    }
    let server = ProduceServer::start(&url, &queue, &exchanges.flags()).await;
    server.wait_ready(200, Duration::from_secs(10)).await;
    let publishes = [
        ("m1", json!({"level": "error", "app": "db"}), true),
        ("m2", json!({"level": "error", "app": "web"}), true),
        ("m3", json!({"level": "info", "app": "db"}), true),
        ("m4", json!({"level": "debug"}), false),
        (
            "m5",
            json!({"level": "error", "app": "db", "host": "h1"}),
            true,
        ),
        ("m6", json!({}), false),
        // Values compare exactly: case matters.
        ("m7", json!({"level": "ERROR"}), false),
    ];
    for (text, headers, routed) in &publishes {
        let body = publish_headers(&server, headers, text).await;
        assert_eq!(body["routed"], *routed, "{text} {headers}: {body}");
        assert_eq!(body["exchange"], exchanges.headers.as_str());
        assert_eq!(body["exchange_type"], "headers");
        assert!(body.get("alternate_exchange").is_none(), "{body}");
    }
    // `send` publishes with headers too.
    let mut args = vec![
        "send",
        "--exchange",
        "headers",
        "--header",
        "level=info",
        "--quiet",
        "--amqp-url",
        &url,
    ];
    args.extend(exchanges.flags());
    args.push("m8");
    let (code, output) = run_to_end(&args, Duration::from_secs(30)).await;
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("with headers {level=info}"), "{output}");

    for ((_, _, expected), subscriber) in table.iter().zip(&subscribers) {
        wait_received(subscriber, expected.len()).await;
    }
    // Anything extra would have arrived by now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for ((name, _, expected), subscriber) in table.iter().zip(&subscribers) {
        let expected: BTreeSet<String> = expected.iter().map(|t| t.to_string()).collect();
        assert_eq!(texts(subscriber), expected, "{name}");
    }
    // The log line says which headers the message carried and what the binding asked for.
    let line = subscribers[0]
        .process
        .wait_log("received message", |_| true, Duration::from_secs(1))
        .await;
    assert_eq!(line["headers"], "{app=db, level=error}", "{line}");
    assert_eq!(line["patterns"], "(headers: all of {app=db, level=error})");
}

#[tokio::test]
async fn alternate_exchange_keeps_what_no_binding_matched_and_publish_says_so() {
    let exchanges = TestExchanges::new("alt");
    let alternate = TestAlternate::new("alt-ae");
    let (queue, _cleanup) = test_queue("alt-producer");
    let url = amqp_url();
    let sub_args = [
        &[
            "--exchange",
            exchanges.topic.as_str(),
            "--pattern",
            "logs.*",
        ][..],
        &alternate.flags(),
    ]
    .concat();
    let logs = Subscriber::start("topic-sub", &url, "logs", &sub_args).await;
    let server_args = [exchanges.flags(), alternate.flags()].concat();
    let server = ProduceServer::start(&url, &queue, &server_args).await;
    server.wait_ready(200, Duration::from_secs(10)).await;
    let client = reqwest::Client::new();
    let publish = |body: Value| {
        let (client, url) = (client.clone(), server.url("/publish"));
        async move {
            let (status, answer) = post_json(&client, &url, &body).await;
            assert_eq!(status, 200, "{answer}");
            answer
        }
    };
    let broker = Broker::connect().await;

    let routed = publish(json!({"routing_key": "logs.error", "message": "seen"})).await;
    assert_eq!(routed["routed"], true, "{routed}");
    assert!(routed.get("alternate_exchange").is_none(), "{routed}");
    wait_received(&logs, 1).await;

    // Nothing bound for the key: the alternate exchange keeps it, and the answer says where.
    let kept = publish(json!({"routing_key": "app.error", "message": "kept"})).await;
    assert_eq!(kept["routed"], false, "{kept}");
    assert_eq!(kept["alternate_exchange"], alternate.exchange.as_str());
    assert_eq!(kept["unrouted_queue"], alternate.queue.as_str());
    assert!(kept["message"]
        .as_str()
        .unwrap()
        .contains("alternate exchange"));
    let kept_headers = publish(json!({
        "exchange": "headers", "headers": {"level": "error"}, "message": "kept too"
    }))
    .await;
    assert_eq!(kept_headers["routed"], false, "{kept_headers}");
    assert_eq!(
        kept_headers["alternate_exchange"],
        alternate.exchange.as_str()
    );
    let parked: Vec<String> = broker
        .drain(&alternate.queue)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        parked,
        [&kept["data"]["id"], &kept_headers["data"]["id"]].map(|id| id.as_str().unwrap()),
        "exactly the unroutable ones, in order"
    );
    let unrouted = |to: &str| format!("playground_unrouted_total{{to=\"{to}\"}}");
    let metrics = server.url("/metrics");
    assert_eq!(metric(&metrics, &unrouted("alternate_exchange")).await, 2.0);

    // An operator deleted the queue: the alternate exchange kept nothing, and the answer says
    // so; the server declares the queue again, and the next one is kept.
    broker.delete(&alternate.queue).await;
    let lost = publish(json!({"routing_key": "app.error", "message": "lost"})).await;
    assert_eq!(lost["routed"], false, "{lost}");
    assert!(lost.get("alternate_exchange").is_none(), "{lost}");
    assert!(
        lost["message"].as_str().unwrap().contains("nobody"),
        "{lost}"
    );
    assert_eq!(metric(&metrics, &unrouted("nowhere")).await, 1.0);
    let ae = alternate.exchange.as_str();
    let again = eventually(Duration::from_secs(10), "the queue declared again", || {
        let (client, url) = (client.clone(), server.url("/publish"));
        async move {
            let body = json!({"routing_key": "app.error", "message": "again"});
            // 503 while the server reconnects; then a publish the alternate exchange keeps.
            let (status, answer) = post_json(&client, &url, &body).await;
            (status == 200 && answer["alternate_exchange"] == ae).then_some(answer)
        }
    })
    .await;
    assert_eq!(broker.count(&alternate.queue).await, 1, "{again}");

    // Every declarer must agree: a subscriber without the option is refused, in one line that
    // names it.
    let (code, output) = run_to_end(
        &[
            "fanout-sub",
            "--exchange",
            &exchanges.fanout,
            "--amqp-url",
            &url,
            "--health-port",
            "0",
        ],
        Duration::from_secs(15),
    )
    .await;
    assert_eq!(code, 2, "{output}");
    assert!(output.contains("--alternate-exchange"), "{output}");
    assert!(
        output.contains("inequivalent arg 'alternate-exchange'"),
        "{output}"
    );
}

#[tokio::test]
async fn headers_flags_that_make_no_sense_exit_2_and_check_config_shows_the_new_settings() {
    for (args, says) in [
        (
            &[
                "--exchange-type",
                "headers",
                "--pattern",
                "#",
                "--header",
                "a=b",
            ][..],
            "--pattern",
        ),
        (
            &["--header", "level=error", "--pattern", "#"],
            "--exchange-type headers",
        ),
        (&["--exchange-type", "headers"], "at least one"),
        (
            &["--exchange-type", "headers", "--header", "x-match=any"],
            "\"x-\"",
        ),
        (
            &["--exchange-type", "headers", "--header", "level"],
            "KEY=VALUE",
        ),
        (
            &["--unrouted-queue", "parked", "--pattern", "#"],
            "--alternate-exchange",
        ),
    ] {
        let (code, output) =
            run_to_end(&[&["topic-sub"], args].concat(), Duration::from_secs(10)).await;
        assert_eq!(code, 2, "{args:?}: {output}");
        assert!(output.contains(says), "{args:?}: {output}");
        assert_eq!(output.trim().lines().count(), 1, "one line: {output}");
    }
    let (code, output) = run_to_end(
        &[
            "topic-sub",
            "--check-config",
            "--exchange-type",
            "headers",
            "--header",
            "level=error",
            "--match",
            "any",
            "--alternate-exchange",
            "lab.ae",
        ],
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(code, 0, "{output}");
    let described: Value = serde_json::from_str(output.trim()).expect("JSON");
    assert_eq!(described["exchange"], "logs-headers");
    assert_eq!(
        described["header_match"],
        json!({"x-match": "any", "headers": {"level": "error"}})
    );
    assert_eq!(
        described["alternate_exchange"],
        json!({"exchange": "lab.ae", "queue": "lab.ae.unrouted"})
    );
}
