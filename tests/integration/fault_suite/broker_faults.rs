//! The broker side fails: connections cut under load, a restart, a memory alarm.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::helpers::*;
use crate::private_broker::PrivateBroker;

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
