//! `/health` (liveness), `/ready` (readiness) and `/metrics`, with the Node services' JSON shape.
//!
//! `/health` is 200 whatever the broker does: a liveness probe must not restart a pod because the
//! broker is away, which would only add a restart storm to an outage. It turns 503 only when the
//! process itself is broken (a task panicked), which a restart does fix. `/ready` is 503 while the
//! broker connection is down (or the role is draining), so Kubernetes stops sending traffic to that
//! replica.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::json;
use tokio::sync::watch;

use super::error::{full_response, json_response};
use crate::amqp::stall::PublishStall;
use crate::amqp::ConnectionState;
use crate::message::rfc3339_now;
use crate::metrics::Metrics;
use crate::shutdown;

/// What the health endpoints report, shared by a role and its HTTP server.
#[derive(Clone)]
pub struct Health {
    role: &'static str,
    service: String,
    started: Instant,
    connection: watch::Receiver<ConnectionState>,
    /// Set by the role when it is ready beyond the connection (a consumer that is consuming);
    /// cleared when it starts draining on shutdown.
    role_ready: Arc<AtomicBool>,
    /// For a role that publishes: a broker that stopped confirming (resource alarm) makes it
    /// unready.
    publishing: Option<Arc<PublishStall>>,
}

/// Whether a role is ready before it says so itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Ready whenever the connection is up (a producer).
    WithTheConnection,
    /// Ready only once the role calls [`Health::set_role_ready`] (a consumer, once consuming).
    WhenTheRoleSaysSo,
}

impl Health {
    /// Health for `role` (named `service`), following `connection`.
    pub fn new(
        role: &'static str,
        service: impl Into<String>,
        connection: watch::Receiver<ConnectionState>,
        readiness: Readiness,
    ) -> Self {
        Self {
            role,
            service: service.into(),
            started: Instant::now(),
            connection,
            role_ready: Arc::new(AtomicBool::new(readiness == Readiness::WithTheConnection)),
            publishing: None,
        }
    }

    /// Also report `blocked` (and not ready) while the broker is not confirming publishes.
    pub fn watching_publishes(mut self, stall: Arc<PublishStall>) -> Self {
        self.publishing = Some(stall);
        self
    }

    fn blocked(&self) -> bool {
        self.publishing.as_ref().is_some_and(|s| s.is_stalled())
    }

    /// Marks the role ready or not (consuming, draining).
    pub fn set_role_ready(&self, ready: bool) {
        self.role_ready.store(ready, Ordering::SeqCst);
    }

    /// Whether the connection is up and the role says it is ready.
    pub fn is_ready(&self) -> bool {
        self.connection.borrow().is_connected()
            && self.role_ready.load(Ordering::SeqCst)
            && !self.blocked()
            && shutdown::panicked().is_none()
    }

    fn body(&self) -> serde_json::Value {
        let state = self.connection.borrow().clone();
        let panic = shutdown::panicked();
        let mut body = json!({
            "status": if panic.is_some() { "unhealthy" } else { "healthy" },
            "uptime": self.started.elapsed().as_secs_f64(),
            "rabbitmq": if state.is_connected() { "connected" } else { "disconnected" },
            "node": state.node(),
            "service": self.service,
            "role": self.role,
            "ready": self.is_ready(),
            "timestamp": rfc3339_now(),
        });
        if let Some(panic) = panic {
            body["error"] = json!(format!("a task panicked, the process is stopping: {panic}"));
        }
        if let Some(error) = state.last_error() {
            body["last_error"] = json!(error);
        }
        if self.publishing.is_some() {
            let blocked = self.blocked();
            body["blocked"] = json!(blocked);
            if blocked {
                body["blocked_reason"] = json!(
                    "RabbitMQ is not confirming publishes: a memory or disk alarm blocking \
                     publishers (rabbitmq-diagnostics alarms), or, in a cluster, a quorum queue \
                     that lost the majority of its nodes (rabbitmq-queues quorum_status QUEUE)"
                );
            }
        }
        body
    }

    /// `GET /health`: 200 unless the process is broken.
    pub fn health(&self) -> Response {
        let status = match shutdown::panicked() {
            Some(_) => StatusCode::SERVICE_UNAVAILABLE,
            None => StatusCode::OK,
        };
        json_response(status, &self.body())
    }

    /// `GET /ready`: 200 when ready, 503 otherwise, same body.
    pub fn ready(&self) -> Response {
        let status = if self.is_ready() {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        json_response(status, &self.body())
    }
}

/// The state of the health routes.
#[derive(Clone)]
struct Probes {
    health: Health,
    metrics: Arc<Metrics>,
}

/// `/health`, `/ready` and `/metrics` (GET and HEAD), for any role's server.
pub fn routes(health: Health, metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route(
            "/health",
            get(|State(p): State<Probes>| async move { p.health.health() }),
        )
        .route(
            "/ready",
            get(|State(p): State<Probes>| async move { p.health.ready() }),
        )
        .route(
            "/metrics",
            get(|State(p): State<Probes>| async move { metrics_response(&p.metrics) }),
        )
        .with_state(Probes { health, metrics })
}

/// `GET /metrics`: the Prometheus text format.
fn metrics_response(metrics: &Metrics) -> Response {
    full_response(
        StatusCode::OK,
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        metrics.render(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connected() -> ConnectionState {
        ConnectionState::Connected {
            node: "127.0.0.1:5682".to_owned(),
        }
    }

    #[test]
    fn readiness_follows_the_connection_and_the_role() {
        let (tx, rx) = watch::channel(connected());
        let health = Health::new("consume", "h", rx, Readiness::WhenTheRoleSaysSo);
        assert!(!health.is_ready(), "not before the role says so");
        health.set_role_ready(true);
        assert!(health.is_ready());
        tx.send_replace(ConnectionState::Closed);
        assert!(!health.is_ready());
        assert_eq!(health.body()["rabbitmq"], "disconnected");
        assert!(health.body()["node"].is_null());
        let stall = Arc::new(PublishStall::default());
        let producer = Health::new(
            "produce-server",
            "p",
            watch::channel(connected()).1,
            Readiness::WithTheConnection,
        )
        .watching_publishes(stall.clone());
        assert!(producer.is_ready());
        assert_eq!(producer.body()["node"], "127.0.0.1:5682");
        stall.confirm_timed_out();
        assert!(!producer.is_ready());
        assert_eq!(producer.body()["blocked"], true);
    }
}
