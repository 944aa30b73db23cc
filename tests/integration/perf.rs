//! `playground perf`: a short confirmed run's counts add up, and the HTTP mode drives
//! produce-server.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::*;

/// The JSON summary `perf --json` prints as its last stdout line.
fn summary(output: &str) -> Value {
    output
        .lines()
        .rev()
        .find_map(|line| {
            serde_json::from_str::<Value>(line)
                .ok()
                .filter(|v| v["mode"].is_string())
        })
        .unwrap_or_else(|| panic!("no JSON summary in:\n{output}"))
}

#[tokio::test]
async fn a_confirmed_run_sends_confirms_and_receives_every_message() {
    let url = amqp_url();
    let (code, output) = run_to_end(
        &[
            "perf",
            "--producers",
            "2",
            "--consumers",
            "2",
            "--confirm",
            "32",
            "--count",
            "1500",
            "--size",
            "64",
            "--json",
            "--amqp-url",
            &url,
        ],
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(code, 0, "{output}");
    let summary = summary(&output);
    for field in ["sent", "confirmed", "received"] {
        assert_eq!(summary[field], 3000, "{field}: {summary}");
    }
    assert_eq!(summary["failed"], 0);
    assert_eq!(summary["latency"]["samples"], 3000);
    let latency = &summary["latency"];
    assert!(latency["min_ms"].as_f64() <= latency["p50_ms"].as_f64());
    assert!(latency["p50_ms"].as_f64() <= latency["p99_ms"].as_f64());
    assert!(latency["p99_ms"].as_f64() <= latency["max_ms"].as_f64());
}

#[tokio::test]
async fn http_mode_drives_produce_server() {
    let (queue, _cleanup) = test_queue("perf-http");
    let server = ProduceServer::start(&amqp_url(), &queue, &[]).await;
    server.wait_ready(200, Duration::from_secs(10)).await;
    let (code, output) = run_to_end(
        &[
            "perf",
            "--http",
            &server.base,
            "--concurrency",
            "4",
            "--count",
            "200",
            "--json",
        ],
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(code, 0, "{output}");
    let summary = summary(&output);
    assert_eq!(summary["mode"], "http");
    assert_eq!(summary["confirmed"], 200, "{summary}");
    assert_eq!(summary["failed"], 0);
    assert_eq!(Broker::connect().await.depth(&queue).await, 200);
}
