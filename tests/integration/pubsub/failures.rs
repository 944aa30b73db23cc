//! When things go wrong: subscribers after a cut connection, and the start-up errors.

use std::time::Duration;

use amqprs::channel::ExchangeDeclareArguments;

use super::{send_to, wait_received};
use crate::helpers::*;

#[tokio::test]
async fn subscribers_come_back_after_a_cut_connection_each_in_their_own_way() {
    let exchanges = TestExchanges::new("resubscribe");
    let (named_queue, _cleanup) = test_queue("resubscribe-named");
    let proxy = Proxy::start().await;
    let via_proxy = proxy.url();
    let topic = [
        "--exchange",
        exchanges.topic.as_str(),
        "--pattern",
        "logs.#",
    ];
    let private = Subscriber::start("topic-sub", &via_proxy, "private", &topic).await;
    let mut named_args = topic.to_vec();
    named_args.extend(["--queue", named_queue.as_str()]);
    let named = Subscriber::start("topic-sub", &via_proxy, "named", &named_args).await;

    send_to(&exchanges, "topic", "logs.info", 1, "before").await;
    wait_received(&private, 1).await;
    wait_received(&named, 1).await;

    proxy.cut();
    for subscriber in [&private, &named] {
        wait_status(
            &format!("{}/ready", subscriber.health),
            503,
            Duration::from_secs(10),
        )
        .await;
    }
    send_to(&exchanges, "topic", "logs.info", 1, "while away").await;
    proxy.restore();
    for subscriber in [&private, &named] {
        subscriber
            .process
            .wait_log(
                "subscribed",
                |v| v["generation"] == 2,
                Duration::from_secs(15),
            )
            .await;
    }
    send_to(&exchanges, "topic", "logs.info", 1, "after").await;

    wait_received(&named, 3).await;
    wait_received(&private, 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let texts = |s: &Subscriber| -> Vec<String> {
        let mut texts: Vec<String> = s.received().into_iter().map(|(_, t)| t).collect();
        texts.sort();
        texts
    };
    assert_eq!(
        texts(&private),
        ["after", "before"],
        "the new queue missed the gap"
    );
    assert_eq!(
        texts(&named),
        ["after", "before", "while away"],
        "the durable queue kept it"
    );
    let again = private
        .process
        .wait_log(
            "subscribed",
            |v| v["generation"] == 2,
            Duration::from_secs(1),
        )
        .await;
    assert_eq!(again["queue_kind"], "server-named");
    assert!(again["detail"].as_str().unwrap().contains("NEW"), "{again}");
    let resumed = named
        .process
        .wait_log(
            "subscribed",
            |v| v["generation"] == 2,
            Duration::from_secs(1),
        )
        .await;
    assert_eq!(resumed["queue_kind"], "named");
    assert_eq!(resumed["waiting"], 1, "{resumed}");
}

#[tokio::test]
async fn bad_patterns_and_exchange_type_clashes_exit_2_with_one_clear_line() {
    let url = amqp_url();
    for pattern in ["log*", "logs..error", ".error", "a.#b"] {
        let (code, output) = run_to_end(
            &["topic-sub", "--pattern", pattern, "--amqp-url", &url],
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(code, 2, "{pattern}: {output}");
        assert!(output.contains(pattern), "names the pattern: {output}");
        assert_eq!(output.trim().lines().count(), 1, "one line: {output}");
    }
    let (code, output) = run_to_end(
        &[
            "topic-sub",
            "--exchange-type",
            "direct",
            "--pattern",
            "*.error",
            "--amqp-url",
            &url,
        ],
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(code, 2, "{output}");
    assert!(output.contains("exactly"), "{output}");

    // The exchange exists as a topic exchange; a fanout subscriber must not loop on it.
    let exchanges = TestExchanges::new("clash");
    Broker::connect()
        .await
        .channel()
        .exchange_declare(ExchangeDeclareArguments::new(&exchanges.topic, "topic"))
        .await
        .unwrap();
    let (code, output) = run_to_end(
        &[
            "fanout-sub",
            "--exchange",
            &exchanges.topic,
            "--amqp-url",
            &url,
            "--health-port",
            "0",
        ],
        Duration::from_secs(15),
    )
    .await;
    assert_eq!(code, 2, "{output}");
    let line = output
        .lines()
        .find(|l| l.contains("\"exiting\""))
        .unwrap_or_else(|| panic!("no exit line: {output}"));
    for needed in [exchanges.topic.as_str(), "'fanout'", "'topic'"] {
        assert!(line.contains(needed), "{needed} missing from: {line}");
    }
}
