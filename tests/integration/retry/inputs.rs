//! What each role of a retrying queue is given: every role must declare the same ladder (a
//! mismatch is exit 2), and a body the worker cannot read climbs the ladder like a failure.

use super::*;

#[tokio::test]
async fn every_role_declares_the_same_ladder_and_a_mismatch_is_exit_2() {
    let queues = RetryQueues::new("retry-share", &["250ms"]);
    let q = queues.name.as_str();
    let shape = ["--dead-letter", "--retry-delays", "250ms"];
    let server = ProduceServer::start(&amqp_url(), q, &shape).await;
    server.wait_ready(200, Duration::from_secs(10)).await;
    send(q, 1, &shape).await;
    let consumer = Consumer::start(&amqp_url(), q, &shape).await;
    let (status, _) = server.send(&reqwest::Client::new(), "shared").await;
    assert_eq!(status, 200);
    eventually(Duration::from_secs(10), "both messages acked", || async {
        (consumer.acked_ids().len() == 2).then_some(())
    })
    .await;
    let (code, output) = run_to_end(
        &[
            "--check-config",
            "consume",
            "--queue",
            q,
            "--dead-letter",
            "--retry-delays",
            "250ms",
        ],
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("retries after 250ms"), "{output}");

    // A queue created without dead letters (the shape retries need) refuses the declaration.
    let (plain, _plain_cleanup) = test_queue("retry-plain");
    send(&plain, 1, &[]).await;
    let _plain_delay = QueueGuard(format!("{plain}.retry.250ms"));
    let _plain_dead = QueueGuard(format!("{plain}.dead-letter"));
    let _plain_dlx = ExchangeGuard(vec![format!("{plain}.dlx")]);
    let mut process = Running::spawn(
        &[
            "consume",
            "--queue",
            &plain,
            "--amqp-url",
            &amqp_url(),
            "--health-port",
            "0",
            "--dead-letter",
            "--retry-delays",
            "250ms",
        ],
        &[],
    );
    assert_eq!(process.wait_exit(Duration::from_secs(10)).await, 2);
    let output = process.output();
    assert!(output.contains("PRECONDITION_FAILED"), "{output}");
    assert!(
        output.contains("RETRY_DELAYS"),
        "names the setting: {output}"
    );

    // Retries without a dead-letter queue have nowhere to park a message: a usage error.
    let (code, output) = run_to_end(
        &["consume", "--queue", q, "--retry-delays", "250ms"],
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(code, 2, "{output}");
    assert_eq!(output.trim().lines().count(), 1, "{output}");
    assert!(output.contains("--dead-letter"), "{output}");
}

#[tokio::test]
async fn a_body_the_worker_cannot_read_climbs_the_ladder_and_an_envelope_is_acked() {
    let queues = RetryQueues::new("retry-poison", &["100ms"]);
    let shape = ["--dead-letter", "--retry-delays", "100ms"];
    let url = amqp_url();
    let consumer = Consumer::start(&url, &queues.name, &shape).await;
    let broker = Broker::connect().await;
    broker
        .publish_raw(&queues.name, b"\xff not json".to_vec(), "poison-1")
        .await;
    send(&queues.name, 1, &shape).await;
    let dead = eventually(
        Duration::from_secs(10),
        "the poison message dead-lettered",
        || async {
            let dead = drain_dead_letters(&broker, &queues.dead_letter_queue).await;
            (!dead.is_empty()).then_some(dead)
        },
    )
    .await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].0, "poison-1");
    let retried = by_id(
        &consumer,
        "processing failed (simulated): retrying after a delay",
    );
    assert_eq!(retried["poison-1"].len(), 1);
    assert!(
        retried["poison-1"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("not a JSON object"),
        "{:?}",
        retried["poison-1"]
    );
    // The envelope sent beside it was read and acked on its first attempt.
    let acked = by_id(&consumer, "acked");
    assert_eq!(acked.len(), 1, "{acked:?}");
    assert!(!acked.contains_key("poison-1"));
}
