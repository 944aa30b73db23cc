//! Retry with delay, then the dead-letter queue (`--retry-delays`): the ladder's timing and its
//! `x-death` story, no loss and no double dead letter under random failures or a cut connection;
//! what each role is given (the queue's shape, unreadable bodies) in [`inputs`].

mod inputs;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use amqprs::{FieldValue, ShortStr};
use serde_json::Value;

use crate::helpers::*;

/// A work queue with dead letters and its delay queues, all deleted when dropped.
struct RetryQueues {
    name: String,
    dead_letter_queue: String,
    _work: WorkQueueGuard,
    _delays: Vec<QueueGuard>,
}

impl RetryQueues {
    /// `labels` are the delay queues' suffixes as the binary names them (`200ms`, `1s`).
    fn new(prefix: &str, labels: &[&str]) -> Self {
        let (name, work) = test_work_queue(prefix);
        let delays = labels
            .iter()
            .map(|label| QueueGuard(format!("{name}.retry.{label}")))
            .collect();
        Self {
            dead_letter_queue: format!("{name}.dead-letter"),
            name,
            _work: work,
            _delays: delays,
        }
    }
}

/// `send --count N` to the queue with `shape`; asserts it succeeded.
async fn send(queue: &str, count: u64, shape: &[&str]) {
    let (count, url) = (count.to_string(), amqp_url());
    let mut args = vec!["send", "--queue", queue, "--count", &count, "--quiet"];
    args.extend_from_slice(&["--amqp-url", &url]);
    args.extend_from_slice(shape);
    args.push("Task");
    let (code, output) = run_to_end(&args, Duration::from_secs(30)).await;
    assert_eq!(code, 0, "send failed:\n{output}");
}

/// The consumer's log lines `message`, by message id, in order.
fn by_id(consumer: &Consumer, message: &str) -> BTreeMap<String, Vec<Value>> {
    let mut lines: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for line in consumer.process.logs_matching(|v| v["message"] == message) {
        let id = line["message_id"].as_str().unwrap_or_default().to_owned();
        lines.entry(id).or_default().push(line);
    }
    lines
}

fn logged_at(line: &Value) -> SystemTime {
    humantime::parse_rfc3339_weak(line["timestamp"].as_str().expect("timestamp"))
        .expect("RFC 3339 timestamp")
}

/// The ids in the dead-letter queue (drained) and their `x-death` headers.
async fn drain_dead_letters(
    broker: &Broker,
    queue: &str,
) -> Vec<(String, Vec<(String, String, i64)>)> {
    let mut out = Vec::new();
    while let Some((properties, _)) = broker.get_one(queue).await {
        let id = properties.message_id().cloned().unwrap_or_default();
        let mut deaths = Vec::new();
        let key = ShortStr::try_from("x-death").unwrap();
        if let Some(FieldValue::A(entries)) = properties.headers().and_then(|h| h.get(&key)) {
            let entries: Vec<FieldValue> = entries.clone().into();
            for entry in entries {
                let FieldValue::F(table) = entry else {
                    continue;
                };
                let text = |k: &str| match table.get(&ShortStr::try_from(k).unwrap()) {
                    Some(FieldValue::S(s)) => s.to_string(),
                    other => panic!("x-death {k}: {other:?}"),
                };
                let count = match table.get(&ShortStr::try_from("count").unwrap()) {
                    Some(FieldValue::l(n)) => *n,
                    other => panic!("x-death count: {other:?}"),
                };
                deaths.push((text("queue"), text("reason"), count));
            }
        }
        out.push((id, deaths));
    }
    out
}

#[tokio::test]
async fn a_failing_message_climbs_the_ladder_then_rests_in_the_dead_letter_queue() {
    let queues = RetryQueues::new("retry-ladder", &["200ms", "400ms"]);
    let q = queues.name.as_str();
    let shape = ["--dead-letter", "--retry-delays", "200ms,400ms"];
    let mut args = shape.to_vec();
    args.extend(["--fail-rate", "1.0", "--summary-every", "0s"]);
    let consumer = Consumer::start(&amqp_url(), q, &args).await;
    send(q, 3, &shape).await;

    let broker = Broker::connect().await;
    eventually(Duration::from_secs(15), "3 dead letters", || async {
        (broker.count(&queues.dead_letter_queue).await == 3).then_some(())
    })
    .await;

    // Each message was delivered three times: at once, after 200 ms, after 400 ms more. The
    // tolerance is generous (a loaded machine), but a requeue at once or a wait behind another
    // message's TTL would fall outside it.
    let received = by_id(&consumer, "received message");
    assert_eq!(received.len(), 3, "{received:?}");
    for (id, lines) in &received {
        let attempts: Vec<u64> = lines
            .iter()
            .map(|l| l["attempt"].as_u64().unwrap())
            .collect();
        assert_eq!(attempts, [1, 2, 3], "{id}");
        assert!(lines.iter().all(|l| l["attempts"] == 3));
        let gaps: Vec<f64> = lines
            .windows(2)
            .map(|w| {
                logged_at(&w[1])
                    .duration_since(logged_at(&w[0]))
                    .unwrap()
                    .as_secs_f64()
            })
            .collect();
        assert!((0.19..1.5).contains(&gaps[0]), "{id}: first delay {gaps:?}");
        assert!(
            (0.39..1.7).contains(&gaps[1]),
            "{id}: second delay {gaps:?}"
        );
        assert_eq!(
            lines[2]["x_death"],
            format!("expired in {q}.retry.400ms ×1, expired in {q}.retry.200ms ×1")
        );
    }
    let retried = by_id(
        &consumer,
        "processing failed (simulated): retrying after a delay",
    );
    for lines in retried.values() {
        let steps: Vec<(u64, &str)> = lines
            .iter()
            .map(|l| {
                (
                    l["attempt"].as_u64().unwrap(),
                    l["next_delay"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(steps, [(1, "200ms"), (2, "400ms")]);
    }
    let rejected = consumer
        .process
        .logs_matching(|v| v["message"] == "processing failed (simulated): rejected");
    assert_eq!(rejected.len(), 3);
    assert!(rejected.iter().all(|v| v["attempt"] == 3
        && v["destination"]
            .as_str()
            .unwrap()
            .ends_with("after 3 attempts")));

    // The dead letter carries the whole story: the rejection first (newest), then both delays
    // (RabbitMQ 3.10 does not keep the older entries in order; see amqp/death.rs).
    let dead = drain_dead_letters(&broker, &queues.dead_letter_queue).await;
    assert_eq!(dead.len(), 3);
    let ids: BTreeSet<&String> = dead.iter().map(|(id, _)| id).collect();
    assert_eq!(ids, received.keys().collect());
    for (id, deaths) in &dead {
        assert_eq!(deaths[0], (q.to_owned(), "rejected".to_owned(), 1), "{id}");
        let delays: BTreeSet<_> = deaths[1..].iter().cloned().collect();
        let expected = BTreeSet::from([
            (format!("{q}.retry.200ms"), "expired".to_owned(), 1),
            (format!("{q}.retry.400ms"), "expired".to_owned(), 1),
        ]);
        assert_eq!((deaths.len(), delays), (3, expected), "{id}");
    }
    let metrics = format!("{}/metrics", consumer.health);
    for attempt in ["1", "2"] {
        let series = format!("playground_retries_total{{attempt=\"{attempt}\"}}");
        assert_eq!(metric(&metrics, &series).await, 3.0, "{series}");
    }
    assert_eq!(broker.count(q).await, 0);
}

#[tokio::test]
async fn half_failing_messages_are_each_acked_or_dead_lettered_once() {
    let queues = RetryQueues::new("retry-half", &["20ms", "50ms"]);
    let q = queues.name.as_str();
    let shape = ["--dead-letter", "--retry-delays", "20ms,50ms"];
    let mut args = shape.to_vec();
    args.extend([
        "--fail-rate",
        "0.5",
        "--prefetch",
        "20",
        "--summary-every",
        "0s",
    ]);
    let consumer = Consumer::start(&amqp_url(), q, &args).await;
    send(q, 200, &shape).await;

    let broker = Broker::connect().await;
    let dead_letter_queue = queues.dead_letter_queue.as_str();
    let dead = eventually(Duration::from_secs(30), "200 messages settled", || async {
        let acked = consumer.acked_ids().len() as u32;
        let dead = broker.count(dead_letter_queue).await;
        (acked + dead >= 200).then_some(dead)
    })
    .await;
    // Let anything still in flight (a duplicate would be) arrive before counting.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let first: BTreeSet<String> = by_id(&consumer, "received message")
        .into_iter()
        .filter(|(_, lines)| lines[0]["attempt"] == 1)
        .map(|(id, _)| id)
        .collect();
    assert_eq!(first.len(), 200, "every message had a first attempt");
    let acked = consumer.acked_ids();
    let acked_set: BTreeSet<String> = acked.iter().cloned().collect();
    assert_eq!(acked.len(), acked_set.len(), "a message was acked twice");
    let dead_ids: Vec<String> = drain_dead_letters(&broker, dead_letter_queue)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let dead_set: BTreeSet<String> = dead_ids.iter().cloned().collect();
    assert_eq!(
        dead_ids.len(),
        dead_set.len(),
        "a message was dead-lettered twice"
    );
    assert!(acked_set.is_disjoint(&dead_set), "acked and dead-lettered");
    let settled: BTreeSet<String> = acked_set.union(&dead_set).cloned().collect();
    assert_eq!(
        settled, first,
        "every message acked or dead-lettered, none lost"
    );
    // Three failures in a row at 0.5: about one in eight ends in the dead-letter queue.
    assert!((1..100).contains(&dead), "{dead} dead letters of 200");
    let last_chance = consumer
        .process
        .logs_matching(|v| v["message"] == "acked" && v["attempt"] == 3);
    assert!(
        !last_chance.is_empty(),
        "some succeeded on their last attempt"
    );
}

#[tokio::test]
async fn a_connection_cut_during_the_delays_loses_nothing() {
    let queues = RetryQueues::new("retry-cut", &["300ms", "300ms"]);
    let q = queues.name.as_str();
    let shape = ["--dead-letter", "--retry-delays", "300ms,300ms"];
    let proxy = Proxy::start().await;
    let mut args = shape.to_vec();
    args.extend([
        "--fail-rate",
        "1.0",
        "--prefetch",
        "10",
        "--summary-every",
        "0s",
    ]);
    let consumer = Consumer::start(&proxy.url(), q, &args).await;
    send(q, 30, &shape).await;

    // Cut while messages wait in the delay queue and others are being copied into it.
    consumer
        .process
        .wait_log(
            "processing failed (simulated): retrying after a delay",
            |_| true,
            Duration::from_secs(10),
        )
        .await;
    proxy.cut();
    tokio::time::sleep(Duration::from_millis(700)).await;
    proxy.restore();

    let broker = Broker::connect().await;
    let dead_letter_queue = queues.dead_letter_queue.as_str();
    // Taken off as they arrive, so a duplicate (copy confirmed, ack lost with the connection)
    // would be seen too.
    let (mut dead, mut copies) = (BTreeSet::new(), 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while dead.len() < 30 {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of 30 dead letters",
            dead.len()
        );
        let arrived = drain_dead_letters(&broker, dead_letter_queue).await;
        copies += arrived.len();
        dead.extend(arrived.into_iter().map(|(id, _)| id));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("retry cut: 30 messages, {copies} dead letters (duplicates allowed, none lost)");
    let first: BTreeSet<String> = by_id(&consumer, "received message").into_keys().collect();
    assert_eq!(first.len(), 30);
    assert_eq!(dead, first, "every message reached the dead-letter queue");
    consumer
        .process
        .wait_log(
            "consuming",
            |v| v["generation"] == 2,
            Duration::from_secs(1),
        )
        .await;
    assert_eq!(broker.count(q).await, 0);
    assert_eq!(broker.count(&format!("{q}.retry.300ms")).await, 0);
}
