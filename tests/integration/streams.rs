//! `stream-sub`: replaying a RabbitMQ stream from first, a number, a time and next; several
//! readers each getting everything; a connection cut mid-replay that neither repeats nor skips;
//! the retention flags and the binding as the broker sees them; the start-up errors. Each test on
//! streams of its own, deleted at the end.

use std::time::{Duration, SystemTime};

use amqprs::channel::QueueDeclareArguments;
use amqprs::{FieldTable, FieldValue};
use serde_json::Value;

use crate::helpers::*;

/// A stream reader with health endpoints on a free port; returns once it consumes.
struct Reader {
    process: Running,
    health: String,
}

impl Reader {
    async fn start(amqp_url: &str, stream: &str, name: &str, extra: &[&str]) -> Self {
        let mut args = vec!["--stream", stream, "--name", name];
        args.extend_from_slice(extra);
        let (process, health) =
            start_with_health("stream-sub", amqp_url, &args, "reading stream").await;
        Self { process, health }
    }

    /// The `x-stream-offset` of every message logged as received, in order.
    fn offsets(&self) -> Vec<i64> {
        self.process
            .logs_matching(|v| v["message"] == "received message")
            .iter()
            .map(|v| {
                v["stream_offset"]
                    .as_i64()
                    .expect("stream_offset in the log")
            })
            .collect()
    }

    /// Waits until it logged `count` messages (and a moment more, to see any extra one).
    async fn wait_for(&self, count: usize) -> Vec<i64> {
        // Generous: the cut test replays thousands of messages on two shared cores.
        eventually(
            Duration::from_secs(60),
            &format!("{count} messages read"),
            || async { (self.offsets().len() >= count).then_some(()) },
        )
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.offsets()
    }

    /// The `reading stream` line of connection `generation`.
    async fn reading(&self, generation: u64) -> Value {
        self.process
            .wait_log(
                "reading stream",
                |v| v["generation"] == generation,
                Duration::from_secs(15),
            )
            .await
    }
}

/// Declares `name` as a stream, as the readers do without retention flags.
async fn declare_stream(broker: &Broker, name: &str) {
    let mut arguments = FieldTable::new();
    arguments.insert(
        "x-queue-type".try_into().unwrap(),
        FieldValue::from("stream"),
    );
    broker
        .channel()
        .queue_declare(
            QueueDeclareArguments::new(name)
                .durable(true)
                .arguments(arguments)
                .finish(),
        )
        .await
        .expect("declare the stream");
}

/// Publishes messages `m<from>` … `m<to - 1>` to the stream (one channel: in order).
async fn publish(broker: &Broker, stream: &str, range: std::ops::Range<u32>) {
    for i in range {
        let id = format!("m{i}");
        broker
            .publish_raw(stream, id.clone().into_bytes(), &id)
            .await;
    }
}

fn span(range: std::ops::Range<i64>) -> Vec<i64> {
    range.collect()
}

#[tokio::test]
async fn readers_replay_from_first_a_number_a_time_and_next() {
    let (stream, _cleanup) = test_queue("stream-replay");
    let broker = Broker::connect().await;
    declare_stream(&broker, &stream).await;
    let url = amqp_url();

    publish(&broker, &stream, 0..60).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Whole seconds (the broker's resolution): after every message of the first batch, before
    // any of the second.
    let between = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    publish(&broker, &stream, 60..100).await;

    let first = Reader::start(&url, &stream, "first", &["--offset", "first"]).await;
    let again = Reader::start(&url, &stream, "again", &["--offset", "first"]).await;
    let numbered = Reader::start(&url, &stream, "numbered", &["--offset", "42"]).await;
    let timed = Reader::start(&url, &stream, "timed", &["--offset", &between]).await;
    assert_eq!(first.wait_for(100).await, span(0..100), "all, in order");
    let next = Reader::start(&url, &stream, "next", &["--offset", "next"]).await;
    publish(&broker, &stream, 100..105).await;

    assert_eq!(first.wait_for(105).await, span(0..105));
    assert_eq!(
        again.wait_for(105).await,
        span(0..105),
        "a second reader gets everything too"
    );
    assert_eq!(numbered.wait_for(63).await, span(42..105));
    assert_eq!(
        timed.wait_for(45).await,
        span(60..105),
        "exactly the batch after {between}"
    );
    assert_eq!(next.wait_for(5).await, span(100..105), "only the new ones");

    let received = first
        .process
        .logs_matching(|v| v["message"] == "received message");
    assert_eq!(received[7]["message_id"], "m7");
    assert_eq!(received[7]["body"], "m7");
    let metrics = format!("{}/metrics", first.health);
    eventually(Duration::from_secs(5), "the offset gauge", || async {
        (metric(&metrics, "playground_stream_offset").await == 104.0).then_some(())
    })
    .await;
    assert_eq!(
        metric(&metrics, "playground_messages_delivered_total").await,
        105.0
    );
    assert_eq!(metric(&metrics, "playground_stream_lag").await, 0.0);

    // The lag a new reader starts with: the stream's length (as the broker last counted it)
    // minus where it starts.
    eventually(
        Duration::from_secs(10),
        "the broker to count 105",
        || async { (broker.count(&stream).await == 105).then_some(()) },
    )
    .await;
    let late = Reader::start(&url, &stream, "late", &["--offset", "5"]).await;
    let reading = late.reading(1).await;
    assert_eq!(reading["messages_in_stream"], 105, "{reading}");
    assert_eq!(reading["lag"], 100, "{reading}");
}

#[tokio::test]
async fn a_cut_mid_replay_neither_repeats_nor_skips() {
    const COUNT: u32 = 10_000;
    let (stream, _cleanup) = test_queue("stream-cut");
    let broker = Broker::connect().await;
    declare_stream(&broker, &stream).await;
    publish(&broker, &stream, 0..COUNT).await;
    let proxy = Proxy::start().await;
    let reader = Reader::start(
        &proxy.url(),
        &stream,
        "cut",
        &["--offset", "first", "--prefetch", "50"],
    )
    .await;
    eventually(Duration::from_secs(20), "the replay under way", || async {
        (reader.offsets().len() >= 1_000).then_some(())
    })
    .await;
    proxy.cut();
    let at_cut = reader.offsets().len();
    assert!(
        at_cut < COUNT as usize,
        "the cut came after the replay ended ({at_cut} read): make the stream longer"
    );
    wait_status(
        &format!("{}/ready", reader.health),
        503,
        Duration::from_secs(10),
    )
    .await;
    proxy.restore();
    let resumed = reader
        .process
        .wait_log(
            "reading stream",
            |v| v["generation"] == 2,
            Duration::from_secs(30),
        )
        .await;
    let read = reader.wait_for(COUNT as usize).await;
    assert_eq!(read.len(), COUNT as usize, "no duplicates");
    assert!(
        read.iter().zip(0..).all(|(offset, i)| *offset == i),
        "offsets strictly consecutive across the reconnect"
    );
    let before = resumed["from"].as_str().unwrap().parse::<usize>().unwrap();
    assert!(
        before >= at_cut && before < COUNT as usize,
        "resumed mid-way, after what it had read: {resumed}"
    );
    eprintln!("cut after {at_cut} of {COUNT}; resumed from offset {before}");
}

#[tokio::test]
async fn retention_and_binding_reach_the_broker() {
    let (stream, _cleanup) = test_queue("stream-retention");
    let exchanges = TestExchanges::new("stream-bind");
    let url = amqp_url();
    let reader = Reader::start(
        &url,
        &stream,
        "audit",
        &[
            "--offset",
            "first",
            "--max-age",
            "7D",
            "--max-length-bytes",
            "5MB",
            "--bind-exchange",
            &exchanges.topic,
            "--pattern",
            "audit.#",
        ],
    )
    .await;
    let queue = management_queue(&stream).await;
    let arguments = &queue["arguments"];
    assert_eq!(arguments["x-queue-type"], "stream", "{queue}");
    assert_eq!(arguments["x-max-age"], "7D", "{queue}");
    assert_eq!(arguments["x-max-length-bytes"], 5_000_000, "{queue}");
    assert_eq!(queue["durable"], true, "{queue}");
    assert_eq!(queue["type"], "stream", "{queue}");

    let send = |key: &'static str| {
        let (url, flags) = (url.clone(), exchanges.flags().join(" "));
        async move {
            let mut args = vec![
                "send",
                "--exchange",
                "topic",
                "--routing-key",
                key,
                "--quiet",
                "--amqp-url",
                &url,
            ];
            args.extend(flags.split(' '));
            args.push("an event");
            let (code, output) = run_to_end(&args, Duration::from_secs(20)).await;
            assert_eq!(code, 0, "{output}");
        }
    };
    send("audit.login").await;
    send("other.thing").await;
    send("audit.logout").await;
    assert_eq!(reader.wait_for(2).await, vec![0, 1], "only the bound keys");
    let keys: Vec<Value> = reader
        .process
        .logs_matching(|v| v["message"] == "received message")
        .iter()
        .map(|v| v["routing_key"].clone())
        .collect();
    assert_eq!(keys, ["audit.login", "audit.logout"]);

    // A second reader with other retention is refused: a stream's arguments are fixed.
    let (code, output) = run_to_end(
        &[
            "stream-sub",
            "--stream",
            &stream,
            "--max-age",
            "1h",
            "--max-length-bytes",
            "5MB",
            "--health-port",
            "0",
            "--amqp-url",
            &url,
        ],
        Duration::from_secs(15),
    )
    .await;
    assert_eq!(code, 2, "{output}");
    assert!(output.contains("x-max-age"), "{output}");
}

#[tokio::test]
async fn bad_offsets_prefetch_0_and_a_classic_queue_exit_2_with_one_line() {
    let url = amqp_url();
    for (flag, value, named) in [
        ("--offset", "yesterday", "stream offset"),
        ("--offset=-3", "", "stream offset"),
        ("--prefetch", "0", "prefetch of at least 1"),
        ("--max-age", "7 days", "max age"),
        ("--max-length-bytes", "0", "size"),
    ] {
        let mut args = vec!["stream-sub", "--stream", "never-declared", flag];
        if !value.is_empty() {
            args.push(value);
        }
        args.extend(["--amqp-url", &url]);
        let (code, output) = run_to_end(&args, Duration::from_secs(10)).await;
        assert_eq!(code, 2, "{flag} {value}: {output}");
        assert_eq!(output.trim().lines().count(), 1, "one line: {output}");
        assert!(output.contains(named), "{output}");
    }

    let (queue, _cleanup) = test_queue("stream-classic");
    let broker = Broker::connect().await;
    broker.depth(&queue).await;
    let (code, output) = run_to_end(
        &[
            "stream-sub",
            "--stream",
            &queue,
            "--health-port",
            "0",
            "--amqp-url",
            &url,
        ],
        Duration::from_secs(15),
    )
    .await;
    assert_eq!(code, 2, "{output}");
    let exiting: Vec<&str> = output
        .lines()
        .filter(|l| l.contains("\"exiting\""))
        .collect();
    assert_eq!(exiting.len(), 1, "{output}");
    for needed in [queue.as_str(), "stream", "classic"] {
        assert!(
            exiting[0].contains(needed),
            "{needed} missing: {}",
            exiting[0]
        );
    }
}
