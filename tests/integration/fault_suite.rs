//! The fault suite: break things on purpose and count what survived. Nothing the service confirmed
//! (a 200) may be lost; duplicates are allowed (at-least-once) and reported.
//!
//! Cuts go through a TCP proxy in front of the shared broker; restarts and alarms happen on a
//! private node (see `private_broker.rs`), so the other tests never notice. `make chaos` runs the
//! cut and restart scenarios at a larger scale through `CHAOS_MESSAGES` and `CHAOS_CUTS`.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::*;
use crate::private_broker::PrivateBroker;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What a load run saw from the HTTP side.
#[derive(Default)]
struct LoadOutcome {
    /// Ids of messages answered 200 (confirmed by the broker).
    confirmed: Vec<String>,
    /// Non-200 answers by status.
    refused: HashMap<u16, usize>,
}

/// POSTs `total` messages to `/send-message` with `clients` concurrent keep-alive clients, each
/// retrying a message after a 503/504 (as a client honouring Retry-After would) up to 50 times;
/// `progress` counts messages done so far.
async fn post_load(
    base: String,
    total: usize,
    clients: usize,
    progress: Arc<AtomicUsize>,
) -> LoadOutcome {
    let next = Arc::new(AtomicUsize::new(0));
    let outcome = Arc::new(Mutex::new(LoadOutcome::default()));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (next, outcome, progress, base) = (
            next.clone(),
            outcome.clone(),
            progress.clone(),
            base.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= total {
                    return;
                }
                for _attempt in 0..50 {
                    let (status, body) = post_json(
                        &client,
                        &format!("{base}/send-message"),
                        &json!({ "message": format!("load {i}") }),
                    )
                    .await;
                    let done = {
                        let mut outcome = outcome.lock().unwrap();
                        if status == 200 {
                            outcome
                                .confirmed
                                .push(body["data"]["id"].as_str().unwrap().to_owned());
                        } else {
                            *outcome.refused.entry(status).or_default() += 1;
                        }
                        status == 200 || (status != 503 && status != 504)
                    };
                    if done {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                progress.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    Arc::try_unwrap(outcome).ok().unwrap().into_inner().unwrap()
}

/// Waits until every id in `confirmed` was received by one of `consumers`; returns how many
/// deliveries each id got.
async fn wait_consumed(
    consumers: &[&Consumer],
    confirmed: &[String],
    timeout: Duration,
) -> HashMap<String, usize> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut seen: HashMap<String, usize> = HashMap::new();
        for consumer in consumers {
            for id in consumer.received_ids() {
                *seen.entry(id).or_default() += 1;
            }
        }
        let missing = confirmed
            .iter()
            .filter(|id| !seen.contains_key(*id))
            .count();
        if missing == 0 {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} of {} confirmed messages were never consumed",
            confirmed.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every non-200 must be a clean "try again" (503) or "not confirmed in time" (504).
fn assert_clean_refusals(refused: &HashMap<u16, usize>) {
    for status in refused.keys() {
        assert!(
            *status == 503 || *status == 504,
            "unexpected statuses: {refused:?}"
        );
    }
}

#[tokio::test]
async fn cut_connections_under_load_lose_nothing_confirmed() {
    let total = env_or("CHAOS_MESSAGES", 5_000);
    let cuts = env_or("CHAOS_CUTS", 5);
    let (queue, _cleanup) = test_queue("chaos-cut");
    let proxy = Proxy::start().await;
    let server = ProduceServer::start(&proxy.url(), &queue, &["--publish-timeout", "2s"]).await;
    let consumers = [
        Consumer::start(&proxy.url(), &queue, &["--summary-every", "0s"]).await,
        Consumer::start(&proxy.url(), &queue, &["--summary-every", "0s"]).await,
    ];
    server.wait_ready(200, Duration::from_secs(10)).await;

    let started = Instant::now();
    let progress = Arc::new(AtomicUsize::new(0));
    let load = tokio::spawn(post_load(server.base.clone(), total, 32, progress.clone()));
    // Cut at spread-out, jittered points of the load; measure how long each takes to heal.
    let mut worst_recovery = Duration::ZERO;
    for cut in 0..cuts {
        let at = total * (2 * cut + 1) / (2 * cuts) + fastrand::usize(..total / (4 * cuts).max(1));
        while progress.load(Ordering::SeqCst) < at.min(total - 1) && !load.is_finished() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        proxy.cut();
        tokio::time::sleep(Duration::from_millis(50 + fastrand::u64(..250))).await;
        proxy.restore();
        let restored = Instant::now();
        wait_status(&server.url("/ready"), 200, Duration::from_secs(15)).await;
        worst_recovery = worst_recovery.max(restored.elapsed());
    }
    let outcome = load.await.unwrap();
    let publish_secs = started.elapsed().as_secs_f64();
    assert_clean_refusals(&outcome.refused);
    assert!(
        outcome.confirmed.len() >= total * 9 / 10,
        "with retries nearly every message gets through: {} of {total}",
        outcome.confirmed.len()
    );
    let consumer_refs: Vec<&Consumer> = consumers.iter().collect();
    let seen = wait_consumed(&consumer_refs, &outcome.confirmed, Duration::from_secs(120)).await;
    let duplicated = outcome
        .confirmed
        .iter()
        .filter(|id| seen.get(*id).copied().unwrap_or(0) > 1)
        .count();
    eprintln!(
        "chaos summary (cut connections): {total} sent by 32 clients in {publish_secs:.1} s, \
         {} confirmed, {} consumed, 0 lost, {duplicated} duplicated, {} retried after {:?}, \
         {cuts} cuts survived, worst recovery {} ms",
        outcome.confirmed.len(),
        outcome
            .confirmed
            .iter()
            .filter(|id| seen.contains_key(*id))
            .count(),
        outcome.refused.values().sum::<usize>(),
        outcome.refused,
        worst_recovery.as_millis()
    );
}

#[tokio::test]
async fn a_broker_restart_keeps_every_confirmed_message() {
    let Some(broker) = PrivateBroker::start().await else {
        return;
    };
    let total = env_or("CHAOS_MESSAGES", 600).min(20_000);
    let (queue, _cleanup) = (unique("restart"), ());
    let url = broker.url();
    let server = ProduceServer::start(&url, &queue, &["--publish-timeout", "2s"]).await;
    server.wait_ready(200, Duration::from_secs(15)).await;
    let client = reqwest::Client::new();

    // Persistent messages in a durable queue, with nobody consuming, across a restart.
    let mut before = Vec::new();
    for i in 0..50 {
        let (status, body) = server.send(&client, &format!("before {i}")).await;
        assert_eq!(status, 200, "{body}");
        before.push(body["data"]["id"].as_str().unwrap().to_owned());
    }
    broker.stop_app().await;
    wait_status(&server.url("/ready"), 503, Duration::from_secs(10)).await;
    broker.start_app().await;
    let back = Instant::now();
    wait_status(&server.url("/ready"), 200, Duration::from_secs(15)).await;
    let first_recovery = back.elapsed();

    // Now a consumer, a stream of messages, and a restart in the middle of it.
    let consumer = Consumer::start(&url, &queue, &["--summary-every", "0s"]).await;
    let progress = Arc::new(AtomicUsize::new(0));
    let load = tokio::spawn(post_load(server.base.clone(), total, 8, progress.clone()));
    while progress.load(Ordering::SeqCst) < total / 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    broker.stop_app().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    broker.start_app().await;
    let back = Instant::now();
    wait_status(&server.url("/ready"), 200, Duration::from_secs(15)).await;
    let second_recovery = back.elapsed();
    let outcome = load.await.unwrap();
    assert_clean_refusals(&outcome.refused);
    wait_status(
        &format!("{}/ready", consumer.health),
        200,
        Duration::from_secs(15),
    )
    .await;

    let mut confirmed = before.clone();
    confirmed.extend(outcome.confirmed.iter().cloned());
    let seen = wait_consumed(&[&consumer], &confirmed, Duration::from_secs(60)).await;
    // Reconnecting is bounded by --reconnect-max (1 s here) once the broker answers again.
    for recovery in [first_recovery, second_recovery] {
        assert!(
            recovery < Duration::from_secs(5),
            "recovered after {recovery:?}"
        );
    }
    let duplicated = confirmed.iter().filter(|id| seen[*id] > 1).count();
    eprintln!(
        "chaos summary (broker restart): 50 persisted across a restart, {} of {total} confirmed \
         during a second one, {} consumed, 0 lost, {duplicated} duplicated, refused {:?}, \
         recovery {} ms and {} ms",
        outcome.confirmed.len(),
        confirmed.len(),
        outcome.refused,
        first_recovery.as_millis(),
        second_recovery.as_millis()
    );
    drop(consumer);
    drop(server);
    broker.ctl(&["delete_queue", &queue]);
}

#[tokio::test]
async fn a_memory_alarm_turns_publishes_into_quick_errors_and_lifting_it_heals() {
    let Some(broker) = PrivateBroker::start().await else {
        return;
    };
    let queue = unique("alarm");
    let server = ProduceServer::start(&broker.url(), &queue, &["--publish-timeout", "1s"]).await;
    server.wait_ready(200, Duration::from_secs(15)).await;
    let client = reqwest::Client::new();
    let (status, _) = server.send(&client, "before the alarm").await;
    assert_eq!(status, 200);

    broker.memory_alarm(true).await;
    let asked = Instant::now();
    let (status, body) = server.send(&client, "during the alarm").await;
    let waited = asked.elapsed();
    assert!(status == 503 || status == 504, "{status} {body}");
    assert!(
        waited < Duration::from_secs(3),
        "answered after {waited:?}, not within the 1 s publish timeout"
    );
    let (status, ready) = get(&server.url("/ready")).await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["blocked"], true, "{ready}");
    assert!(ready["blocked_reason"].as_str().unwrap().contains("alarm"));

    broker.memory_alarm(false).await;
    wait_status(&server.url("/ready"), 200, Duration::from_secs(15)).await;
    let (status, body) = server.send(&client, "after the alarm").await;
    assert_eq!(status, 200, "service is back without a restart: {body}");
    let (_, ready) = get(&server.url("/ready")).await;
    assert_eq!(ready["blocked"], false);
    drop(server);
    broker.ctl(&["delete_queue", &queue]);
}

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
