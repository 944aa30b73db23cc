//! The roles as tests start them: on free ports, with fast reconnects, waiting until they are
//! up; and what they logged, read back.

use std::time::Duration;

use serde_json::Value;

use super::broker::TestExchanges;
use super::free_port;
use super::http::{post_json, wait_status};
use super::process::Running;

/// Standard reconnect settings for tests: quick to notice, quick to come back.
pub const FAST_RECONNECT: [&str; 4] = ["--reconnect-min", "100ms", "--reconnect-max", "1s"];

/// `produce-server` on a free port; returns once it listens. Unless `extra` names them, its three
/// exchanges get fresh names that are deleted with it, so tests never leave `logs-*` behind.
pub struct ProduceServer {
    pub process: Running,
    pub base: String,
    _exchanges: Option<TestExchanges>,
}

impl ProduceServer {
    pub async fn start(amqp_url: &str, queue: &str, extra: &[&str]) -> Self {
        let exchanges =
            (!extra.contains(&"--topic-exchange")).then(|| TestExchanges::new("producer"));
        let mut args = vec![
            "produce-server",
            "--port",
            "0",
            "--bind",
            "127.0.0.1",
            "--queue",
            queue,
            "--amqp-url",
            amqp_url,
        ];
        args.extend_from_slice(&FAST_RECONNECT);
        if let Some(exchanges) = &exchanges {
            args.extend(exchanges.flags());
        }
        args.extend_from_slice(extra);
        let process = Running::spawn(&args, &[]);
        let listening = process
            .wait_log(
                "produce-server listening",
                |_| true,
                Duration::from_secs(10),
            )
            .await;
        let port = listening["port"].as_u64().expect("port in log");
        Self {
            process,
            base: format!("http://127.0.0.1:{port}"),
            _exchanges: exchanges,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Waits until `/ready` answers `status`.
    pub async fn wait_ready(&self, status: u16, timeout: Duration) {
        wait_status(&self.url("/ready"), status, timeout).await;
    }

    /// POSTs `{"message": text}`; returns the status and JSON body.
    pub async fn send(&self, client: &reqwest::Client, text: &str) -> (u16, Value) {
        post_json(
            client,
            &self.url("/send-message"),
            &serde_json::json!({ "message": text }),
        )
        .await
    }
}

/// Starts `role ARGS` with fast reconnects and its health endpoints on a free loopback port;
/// returns once it logged `ready_line`, with the health base URL.
pub async fn start_with_health(
    role: &str,
    amqp_url: &str,
    args: &[&str],
    ready_line: &str,
) -> (Running, String) {
    let port = free_port().to_string();
    let mut all = vec![
        role,
        "--amqp-url",
        amqp_url,
        "--health-port",
        &port,
        "--health-bind",
        "127.0.0.1",
    ];
    all.extend_from_slice(&FAST_RECONNECT);
    all.extend_from_slice(args);
    let process = Running::spawn(&all, &[]);
    process
        .wait_log(ready_line, |_| true, Duration::from_secs(10))
        .await;
    (process, format!("http://127.0.0.1:{port}"))
}

/// `consume` with health endpoints on a free port; returns once it consumes.
pub struct Consumer {
    pub process: Running,
    pub health: String,
}

impl Consumer {
    pub async fn start(amqp_url: &str, queue: &str, extra: &[&str]) -> Self {
        let mut args = vec!["--queue", queue];
        args.extend_from_slice(extra);
        let (process, health) = start_with_health("consume", amqp_url, &args, "consuming").await;
        Self { process, health }
    }

    /// The ids of the messages this consumer logged as received.
    pub fn received_ids(&self) -> Vec<String> {
        self.process
            .logs_matching(|v| v["message"] == "received message")
            .iter()
            .map(|v| v["message_id"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The ids this consumer acked.
    pub fn acked_ids(&self) -> Vec<String> {
        self.process
            .logs_matching(|v| v["message"] == "acked")
            .iter()
            .map(|v| v["message_id"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

/// `fanout-sub` or `topic-sub` with health endpoints on a free port; returns once it consumes.
pub struct Subscriber {
    pub process: Running,
    pub health: String,
}

impl Subscriber {
    /// Starts `role` (`fanout-sub`/`topic-sub`) with `args`, named `name` in its logs.
    pub async fn start(role: &str, amqp_url: &str, name: &str, args: &[&str]) -> Self {
        let mut all = vec!["--name", name];
        all.extend_from_slice(args);
        let (process, health) = start_with_health(role, amqp_url, &all, "subscribed").await;
        Self { process, health }
    }

    /// `(routing key, envelope text)` of every message received so far, in order.
    pub fn received(&self) -> Vec<(String, String)> {
        self.process
            .logs_matching(|v| v["message"] == "received message")
            .iter()
            .map(|v| {
                let body: Value = serde_json::from_str(v["body"].as_str().unwrap_or_default())
                    .unwrap_or_default();
                (
                    v["routing_key"].as_str().unwrap_or_default().to_owned(),
                    body["message"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// The routing keys received so far, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.received().into_iter().map(|(k, _)| k).collect();
        keys.sort();
        keys
    }
}
