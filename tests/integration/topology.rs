//! The console's topology diagram against the real broker: depths come from produce-server's
//! passive declares (and "missing" once a queue is deleted, never a made-up 0), a subscriber's
//! private queue from its owner, and dead-lettered messages run along the dead-letter edge.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::*;

/// The entry of `list` (`queues`, `edges`, …) with this `id`, if the view has it.
fn find<'a>(view: &'a Value, list: &str, id: &str) -> Option<&'a Value> {
    view["topology"][list]
        .as_array()?
        .iter()
        .find(|item| item["id"] == id)
}

#[tokio::test]
async fn the_diagram_shows_real_depths_dead_letters_and_deleted_queues() {
    let (queue, _cleanup) = test_work_queue("topology");
    let dead_letters = format!("{queue}.dead-letter");
    let telemetry = Telemetry::new("300ms");
    let exchanges = TestExchanges::new("topology");
    let url = amqp_url();
    let snapshots = telemetry.flags();
    let mut server_args = exchanges.flags();
    server_args.extend(["--dead-letter"]);
    server_args.extend(snapshots);
    let server = ProduceServer::start(&url, &queue, &server_args).await;
    server.wait_ready(200, Duration::from_secs(10)).await;
    let mut sub_args = vec![
        "--exchange",
        exchanges.topic.as_str(),
        "--pattern",
        "*.error",
    ];
    sub_args.extend(snapshots);
    let _handler = Subscriber::start("topic-sub", &url, "error-handler", &sub_args).await;
    let events = server.url("/events");

    // Three messages and nobody consuming: the broker's depth, through passive declares.
    let client = reqwest::Client::new();
    for i in 0..3 {
        let (status, body) = server.send(&client, &format!("poison {i}")).await;
        assert_eq!(status, 200, "{body}");
    }
    let queue_id = format!("q:{queue}");
    let view = watch_events(&events, Duration::from_secs(15), |view| {
        find(view, "queues", &queue_id).is_some_and(|q| q["depth"] == 3 && q["consumers"] == 0)
    })
    .await;
    let work = find(&view, "queues", &queue_id).unwrap();
    assert_eq!(
        (work["purpose"].as_str(), work["type"].as_str()),
        (Some("work"), Some("classic"))
    );
    // The subscriber's private queue: exclusive, so its owner reports it.
    let private = view["topology"]["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["purpose"] == "subscriber")
        .expect("the subscriber's queue");
    assert_eq!(
        (private["depth"].as_u64(), private["consumers"].as_u64()),
        (Some(0), Some(1))
    );
    let binding = format!(
        "binding|x:{}|{}|*.error",
        exchanges.topic,
        private["id"].as_str().unwrap()
    );
    assert!(find(&view, "bindings", &binding).is_some(), "{binding}");

    // A worker that fails every message: all three go to the dead-letter queue.
    let mut worker_args = vec![
        "--name",
        "poison-worker",
        "--dead-letter",
        "--fail-rate",
        "1",
    ];
    worker_args.extend(snapshots);
    let _worker = Consumer::start(&url, &queue, &worker_args).await;
    let dead_letter_edge = format!("dead-letter|{queue_id}|x:{queue}.dlx");
    let view = watch_events(&events, Duration::from_secs(15), |view| {
        let dlq = find(view, "queues", &format!("q:{dead_letters}"));
        find(view, "edges", &dead_letter_edge).is_some_and(|e| e["count"] == 3)
            && dlq.is_some_and(|q| q["depth"] == 3)
            && find(view, "queues", &queue_id).is_some_and(|q| q["depth"] == 0)
    })
    .await;
    let dlq = find(&view, "queues", &format!("q:{dead_letters}")).unwrap();
    assert_eq!(dlq["purpose"], "dead-letter");
    let moves: Vec<&Value> = view["topology"]["moves"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "dead_lettered")
        .collect();
    assert_eq!(moves.len(), 3, "{}", view["topology"]["moves"]);
    assert!(moves[0]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == dead_letter_edge.as_str()));
    let recent = view["topology"]["recent"][&queue_id].as_array().unwrap();
    assert_eq!(recent.len(), 3);
    assert!(recent.iter().all(|m| m["by"] == "poison-worker"
        && m["outcome"] == "dead_lettered"
        && m["preview"].as_str().unwrap().starts_with("poison ")));

    // Deleted under the lab: shown as missing, not as empty.
    Broker::connect().await.delete(&dead_letters).await;
    watch_events(&events, Duration::from_secs(10), |view| {
        find(view, "queues", &format!("q:{dead_letters}"))
            .is_some_and(|q| q["missing"] == true && q["depth"].is_null())
    })
    .await;
}

#[tokio::test]
async fn a_management_api_that_does_not_answer_leaves_leaders_unknown_and_is_said_once() {
    let (queue, _cleanup) = test_work_queue("topology-leaders");
    let telemetry = Telemetry::new("300ms");
    let url = amqp_url();
    // Nothing listens there: every ask fails at once, the way a node without the plugin answers.
    let management = format!("http://guest:s3cret@127.0.0.1:{}", free_port());
    let mut args = vec!["--management-url", management.as_str()];
    args.extend(telemetry.flags());
    let server = ProduceServer::start(&url, &queue, &args).await;
    server.wait_ready(200, Duration::from_secs(10)).await;
    let client = reqwest::Client::new();
    let (status, body) = server.send(&client, "still sent").await;
    assert_eq!(status, 200, "{body}");
    let queue_id = format!("q:{queue}");
    let events = server.url("/events");
    let view = watch_events(&events, Duration::from_secs(15), |view| {
        find(view, "queues", &queue_id).is_some_and(|q| q["depth"] == 1)
    })
    .await;
    let work = find(&view, "queues", &queue_id).unwrap();
    assert_eq!(work["leader"], Value::Null, "no leader is made up: {work}");
    // Asked every 2 s: after three more tries it has still said so only once.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let said = server
        .process
        .logs_matching(|line| {
            line["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("the management API does not answer"))
        })
        .len();
    assert_eq!(said, 1, "{}", server.process.output());
    let output = server.process.output();
    assert!(!output.contains("s3cret"), "the password reached the log");
    assert!(
        output.contains(&format!(
            "127.0.0.1:{}",
            management.rsplit(':').next().unwrap()
        )),
        "the warning names the URL tried"
    );
}
