//! Request/reply end to end: `rpc-server` processes answering `POST /rpc` on produce-server and
//! `playground call`, through the real broker's direct reply-to.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::*;

/// `rpc-server` with its health endpoints on a free port; returns once it serves.
async fn rpc_server(amqp_url: &str, queue: &str, name: &str, extra: &[&str]) -> Running {
    let mut args = vec!["--queue", queue, "--name", name];
    args.extend_from_slice(extra);
    start_with_health("rpc-server", amqp_url, &args, "serving requests")
        .await
        .0
}

/// A produce-server whose `/rpc` calls go to `rpc_queue`.
async fn caller(amqp_url: &str, rpc_queue: &str) -> (ProduceServer, QueueGuard) {
    let (queue, guard) = test_queue("rpc-work");
    let server = ProduceServer::start(amqp_url, &queue, &["--rpc-queue", rpc_queue]).await;
    server.wait_ready(200, Duration::from_secs(10)).await;
    (server, guard)
}

async fn call(
    client: &reqwest::Client,
    server: &ProduceServer,
    text: &str,
    timeout_ms: u64,
) -> (u16, Value) {
    post_json(
        client,
        &server.url("/rpc"),
        &json!({ "message": text, "timeout_ms": timeout_ms }),
    )
    .await
}

#[tokio::test]
async fn a_thousand_concurrent_calls_each_get_the_reply_to_their_own_request() {
    let (queue, _guard) = test_queue("rpc");
    let url = amqp_url();
    let first = rpc_server(&url, &queue, "rpc-a", &[]).await;
    let second = rpc_server(&url, &queue, "rpc-b", &[]).await;
    let (producer, _work) = caller(&url, &queue).await;
    let client = Arc::new(reqwest::Client::new());
    let producer = Arc::new(producer);
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut callers = Vec::new();
    for _ in 0..50 {
        let (client, producer, next) = (client.clone(), producer.clone(), next.clone());
        callers.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if n >= 1000 {
                    return answers;
                }
                let text = format!("request {n}");
                let (status, body) = call(&client, &producer, &text, 10_000).await;
                answers.push((text, status, body));
            }
        }));
    }
    let mut by_server: HashMap<String, usize> = HashMap::new();
    let mut texts = BTreeSet::new();
    for task in callers {
        for (text, status, body) in task.await.unwrap() {
            assert_eq!(status, 200, "{text}: {body}");
            // The reply carries the request's own text and id: no reply reached another call.
            assert_eq!(body["reply"], text.as_str(), "{body}");
            assert_eq!(body["request"]["message"], text.as_str());
            assert!(body["round_trip_ms"].as_f64().unwrap() > 0.0);
            *by_server
                .entry(body["server"].as_str().unwrap().to_owned())
                .or_default() += 1;
            texts.insert(text);
        }
    }
    assert_eq!(texts.len(), 1000);
    // Both servers share the queue (prefetch 1: fair dispatch).
    assert_eq!(by_server.len(), 2, "{by_server:?}");
    assert!(by_server.values().all(|&n| n >= 100), "{by_server:?}");
    // What each server says it replied is what the callers got from it. A server logs
    // "replied" once the broker confirmed the reply, which can be just after the caller got it.
    for (name, server) in [("rpc-a", &first), ("rpc-b", &second)] {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let mut replied = 0;
        while tokio::time::Instant::now() < deadline {
            replied = server.logs_matching(|v| v["message"] == "replied").len();
            if replied >= by_server[name] {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(replied, by_server[name], "{name}");
    }
    let metrics = producer.url("/metrics");
    assert_eq!(
        metric(&metrics, "playground_rpc_calls_total{outcome=\"replied\"}").await,
        1000.0
    );
    assert_eq!(metric(&metrics, "playground_rpc_pending_calls").await, 0.0);
}

#[tokio::test]
async fn the_call_command_prints_every_reply_and_fails_when_nobody_answers() {
    let (queue, _guard) = test_queue("rpc-call");
    let url = amqp_url();
    let server = rpc_server(&url, &queue, "rpc-c", &[]).await;
    let args = [
        "call",
        "--amqp-url",
        &url,
        "--rpc-queue",
        &queue,
        "--count",
        "20",
        "--concurrency",
        "5",
        "ping",
    ];
    let (code, output) = run_to_end(&args, Duration::from_secs(30)).await;
    assert_eq!(code, 0, "{output}");
    let replies: BTreeSet<u64> = output
        .lines()
        .filter(|line| line.starts_with("reply "))
        .map(|line| {
            let seq: u64 = line["reply ".len()..line.find('/').unwrap()]
                .parse()
                .unwrap();
            assert!(line.ends_with(&format!(": ping {seq} of 20")), "{line}");
            assert!(line.contains(" from rpc-c in "), "{line}");
            seq
        })
        .collect();
    assert_eq!(replies, (1..=20).collect());
    assert!(output.contains("calls=20 replied=20"), "{output}");

    // The queue goes with its last server: a call to nobody fails at once, exit code 1.
    server.sigterm();
    eventually(
        Duration::from_secs(10),
        "the request queue deleted",
        || async { (!queue_exists(&queue)).then_some(()) },
    )
    .await;
    let started = Instant::now();
    let (code, output) = run_to_end(&args, Duration::from_secs(30)).await;
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("no rpc-server is listening"), "{output}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

fn queue_exists(queue: &str) -> bool {
    let output = std::process::Command::new("rabbitmqctl")
        .args(["list_queues", "name", "-q"])
        .output()
        .expect("rabbitmqctl");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .any(|line| line.trim() == queue)
}

#[tokio::test]
async fn no_server_is_a_503_long_before_the_timeout_and_bad_bodies_are_400s() {
    let (queue, _guard) = test_queue("rpc-nobody");
    let (producer, _work) = caller(&amqp_url(), &queue).await;
    let client = reqwest::Client::new();
    let started = Instant::now();
    let (status, body) = call(&client, &producer, "anyone?", 10_000).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "No RPC server");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "503 after {:?}, not well under the 10 s timeout",
        started.elapsed()
    );
    for bad in [
        json!({}),
        json!({"message": ""}),
        json!({"message": "x", "timeout_ms": 0}),
        json!({"message": "x", "timeout_ms": "soon"}),
        json!({"message": "x", "timeout_ms": 300_001}),
    ] {
        let (status, body) = post_json(&client, &producer.url("/rpc"), &bad).await;
        assert_eq!(status, 400, "{bad} → {body}");
        assert!(body["message"].as_str().is_some(), "{body}");
    }
    let (status, body) = post_raw(
        &client,
        &producer.url("/rpc"),
        b"{nope".to_vec(),
        "application/json",
    )
    .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn a_failing_server_answers_with_an_error_reply_not_silence() {
    let (queue, _guard) = test_queue("rpc-fail");
    let url = amqp_url();
    let _server = rpc_server(&url, &queue, "rpc-f", &["--fail-rate", "1.0"]).await;
    let (producer, _work) = caller(&url, &queue).await;
    let started = Instant::now();
    let (status, body) = call(&reqwest::Client::new(), &producer, "doomed", 10_000).await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("rpc-f failed"),
        "{body}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_server_killed_mid_call_is_a_504_and_the_request_goes_to_the_other_server() {
    let (queue, _guard) = test_queue("rpc-kill");
    let url = amqp_url();
    let servers = [
        rpc_server(&url, &queue, "rpc-k1", &["--work", "3s"]).await,
        rpc_server(&url, &queue, "rpc-k2", &["--work", "3s"]).await,
    ];
    let (producer, _work) = caller(&url, &queue).await;
    let producer = Arc::new(producer);
    let pending = {
        let producer = producer.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let answer = call(&reqwest::Client::new(), &producer, "fragile", 2_000).await;
            (answer, started.elapsed())
        })
    };
    let first = eventually(
        Duration::from_secs(5),
        "a server took the request",
        || async {
            servers.iter().position(|s| {
                !s.logs_matching(|v| v["message"] == "request received")
                    .is_empty()
            })
        },
    )
    .await;
    servers[first].kill();
    let other = &servers[1 - first];
    let redelivered = other
        .wait_log(
            "request received",
            |v| v["redelivered"] == true,
            Duration::from_secs(5),
        )
        .await;
    let ((status, body), elapsed) = pending.await.unwrap();
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["error"], "No reply");
    assert!(
        elapsed >= Duration::from_millis(1900) && elapsed < Duration::from_secs(4),
        "504 after {elapsed:?}, the timeout was 2 s"
    );
    // The other server finishes it and replies; the reply comes too late and is dropped.
    other
        .wait_log(
            "replied",
            |v| v["message_id"] == redelivered["message_id"],
            Duration::from_secs(6),
        )
        .await;
    let metrics = producer.url("/metrics");
    eventually(Duration::from_secs(5), "the late reply counted", || async {
        (metric(&metrics, "playground_rpc_late_replies_total").await == 1.0).then_some(())
    })
    .await;
    assert_eq!(metric(&metrics, "playground_rpc_pending_calls").await, 0.0);
}

#[tokio::test]
async fn a_cut_caller_connection_fails_pending_calls_with_503_and_the_next_calls_succeed() {
    let (queue, _guard) = test_queue("rpc-cut");
    let url = amqp_url();
    let server = rpc_server(&url, &queue, "rpc-s", &["--work", "10s"]).await;
    let proxy = Proxy::start().await;
    let (producer, _work) = caller(&proxy.url(), &queue).await;
    let producer = Arc::new(producer);
    let calls: Vec<_> = (0..5)
        .map(|i| {
            let producer = producer.clone();
            tokio::spawn(async move {
                let answer = call(
                    &reqwest::Client::new(),
                    &producer,
                    &format!("held {i}"),
                    20_000,
                )
                .await;
                (answer, Instant::now())
            })
        })
        .collect();
    // One is being worked on (10 s), four wait in the queue: all five calls are pending.
    server
        .wait_log("request received", |_| true, Duration::from_secs(5))
        .await;
    let metrics = producer.url("/metrics");
    eventually(Duration::from_secs(5), "five calls pending", || async {
        let pending = metric(&metrics, "playground_rpc_pending_calls").await;
        (pending == 5.0).then_some(())
    })
    .await;
    proxy.cut();
    let cut_at = Instant::now();
    for task in calls {
        let ((status, body), answered) = task.await.unwrap();
        assert_eq!(status, 503, "{body}");
        assert!(
            answered.duration_since(cut_at) < Duration::from_secs(5),
            "a pending call hung {:?} after the cut",
            answered.duration_since(cut_at)
        );
    }
    proxy.restore();
    producer.wait_ready(200, Duration::from_secs(10)).await;
    // A server that is not busy for the next 40 s with the calls nobody waits for any more.
    let _fast = rpc_server(&url, &queue, "rpc-fast", &[]).await;
    server.kill();
    let (status, body) = call(&reqwest::Client::new(), &producer, "after", 10_000).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reply"], "after");
}

#[tokio::test]
async fn the_console_shows_calls_round_trips_timeouts_and_the_servers() {
    let (queue, _guard) = test_queue("rpc-console");
    let telemetry = Telemetry::new("300ms");
    let snapshots = telemetry.flags();
    let url = amqp_url();
    let mut server_args = vec!["--work", "50ms"];
    server_args.extend(snapshots);
    let _server = rpc_server(&url, &queue, "rpc-seen", &server_args).await;
    let (work, _work) = test_queue("rpc-console-work");
    let mut producer_args = vec!["--rpc-queue", queue.as_str()];
    producer_args.extend(snapshots);
    let producer = ProduceServer::start(&url, &work, &producer_args).await;
    producer.wait_ready(200, Duration::from_secs(10)).await;
    let client = reqwest::Client::new();
    for i in 0..5 {
        let (status, body) = call(&client, &producer, &format!("seen {i}"), 5_000).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = call(&client, &producer, "too slow", 10).await;
    assert_eq!(status, 504, "{body}");
    let card = |view: &Value, role: &str| {
        view["instances"]
            .as_array()
            .and_then(|all| all.iter().find(|i| i["role"] == role).cloned())
    };
    let view = watch_events(&producer.url("/events"), Duration::from_secs(10), |view| {
        let Some(producer) = card(view, "produce-server") else {
            return false;
        };
        let served = card(view, "rpc-server").map(|s| s["counters"]["rpc_served"].clone());
        producer["counters"]["rpc_calls"] == 6 && served == Some(json!(6))
    })
    .await;
    let producer_card = card(&view, "produce-server").unwrap();
    assert_eq!(
        producer_card["counters"]["rpc_timeouts"], 1,
        "{producer_card}"
    );
    let p50 = producer_card["rpc"]["p50_us"].as_u64().unwrap();
    let p99 = producer_card["rpc"]["p99_us"].as_u64().unwrap();
    // Every reply took the server's 50 ms of work.
    assert!(p50 >= 50_000 && p99 >= p50, "{producer_card}");
    assert_eq!(card(&view, "rpc-server").unwrap()["instance"], "rpc-seen");
}
