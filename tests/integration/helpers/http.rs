//! HTTP as the tests speak it: GET and POST with JSON answers, waiting for a status, reading one
//! Prometheus series, watching the console's `/events` stream.

use std::time::Duration;

use serde_json::Value;

use super::eventually;

pub async fn get(url: &str) -> (u16, Value) {
    match reqwest::get(url).await {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

pub async fn post_json(client: &reqwest::Client, url: &str, body: &Value) -> (u16, Value) {
    post_raw(
        client,
        url,
        body.to_string().into_bytes(),
        "application/json",
    )
    .await
}

pub async fn post_raw(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    content_type: &str,
) -> (u16, Value) {
    let response = client
        .post(url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("HTTP request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub async fn wait_status(url: &str, status: u16, timeout: Duration) {
    eventually(timeout, &format!("{url} to answer {status}"), || async {
        (get(url).await.0 == status).then_some(())
    })
    .await;
}

/// A test's own AMQP connection, for looking into and cleaning up its queues.
/// The value of one Prometheus series (`name{labels}` exactly as rendered) from `GET url`, or 0
/// when the series is absent.
pub async fn metric(url: &str, series: &str) -> f64 {
    let text = reqwest::get(url)
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics body");
    text.lines()
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse::<f64>().ok())?
        })
        .unwrap_or(0.0)
}

/// Reads `/events` until a view satisfies `done`; returns it.
pub async fn watch_events(url: &str, timeout: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let mut response = reqwest::get(url).await.expect("GET /events");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buffer = String::new();
    let mut last = Value::Null;
    loop {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .unwrap_or_else(|_| panic!("no matching view within {timeout:?}; last: {last}"))
            .expect("read /events")
            .expect("stream still open");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            if let Some(data) = event.trim().strip_prefix("data: ") {
                last = serde_json::from_str(data).expect("view JSON");
                if done(&last) {
                    return last;
                }
            }
        }
    }
}
