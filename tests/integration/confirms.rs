//! A 200 means *this* message was confirmed, in the default configuration: with the console's
//! snapshots going out at their fastest on the same connection, and clients that hang up in the
//! middle of their requests (the publishes they leave behind are abandoned between taking a
//! confirm number and enqueueing the frame — exactly where numbering used to drift).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::*;

/// The median of `n` sequential `POST /send-message` round trips; each must be a 200.
async fn median_latency(server: &ProduceServer, client: &reqwest::Client, n: usize) -> Duration {
    let mut samples = Vec::new();
    for i in 0..n {
        let started = Instant::now();
        let (status, body) = server.send(client, &format!("probe {i}")).await;
        samples.push(started.elapsed());
        assert_eq!(status, 200, "{body}");
    }
    samples.sort();
    samples[n / 2]
}

/// One client of the storm: `requests` POSTs, every third one abandoned after a few hundred
/// microseconds (the connection is dropped with the request in flight). Returns the ids the
/// server answered 200 for, and every other status it answered.
async fn storm_client(url: String, client_no: usize, requests: usize) -> (Vec<String>, Vec<u16>) {
    // A client of its own: an abandoned request closes its connection, not a pooled one.
    let client = reqwest::Client::new();
    let (mut confirmed, mut other) = (Vec::new(), Vec::new());
    for i in 0..requests {
        let request = client
            .post(&url)
            .json(&json!({ "message": format!("storm {client_no}/{i}") }))
            .send();
        let response = if i % 3 == 2 {
            let patience = Duration::from_micros(100 + 150 * (i as u64 % 7));
            match tokio::time::timeout(patience, request).await {
                Ok(response) => response,
                Err(_) => continue, // hung up mid-request
            }
        } else {
            request.await
        };
        let response = response.expect("an answer");
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        match body["data"]["id"].as_str() {
            Some(id) if status == 200 => confirmed.push(id.to_owned()),
            _ => other.push(status),
        }
    }
    (confirmed, other)
}

#[tokio::test]
async fn with_snapshots_at_their_fastest_and_clients_hanging_up_every_200_is_queued() {
    let (queue, _cleanup) = test_queue("storm");
    let server = ProduceServer::start(&amqp_url(), &queue, &["--telemetry", "100ms"]).await;
    server.wait_ready(200, Duration::from_secs(10)).await;
    let client = reqwest::Client::new();
    let before = median_latency(&server, &client, 40).await;

    let mut clients = Vec::new();
    for client_no in 0..24 {
        clients.push(tokio::spawn(storm_client(
            server.url("/send-message"),
            client_no,
            60,
        )));
    }
    let mut confirmed = Vec::new();
    for client in clients {
        let (ids, other) = client.await.expect("client task");
        assert!(other.is_empty(), "only 200s expected, got {other:?}");
        confirmed.extend(ids);
    }

    let after = median_latency(&server, &client, 40).await;
    // Numbering one ahead of the broker's makes every publish wait for the next frame's ack
    // (the next snapshot, up to 100 ms away); in step, a round trip is a millisecond or two.
    assert!(
        after <= before * 3 + Duration::from_millis(5),
        "single requests got slower after the storm: median {before:?} before, {after:?} after"
    );

    let queued: HashSet<String> = Broker::connect()
        .await
        .drain(&queue)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let missing: Vec<&String> = confirmed
        .iter()
        .filter(|id| !queued.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} confirmed messages are not in the queue: {missing:?}",
        missing.len(),
        confirmed.len()
    );
    assert!(confirmed.len() >= 24 * 40, "{} confirmed", confirmed.len());
    println!(
        "{} confirmed and queued ({} in the queue, the rest abandoned by their clients); \
         median latency {before:?} before the storm, {after:?} after",
        confirmed.len(),
        queued.len()
    );
}
