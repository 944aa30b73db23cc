//! `/health` (liveness) and `/ready` (readiness), with the Node services' JSON shape.
//!
//! `/health` is always 200: a liveness probe must not restart a pod because the broker is away,
//! which would only add a restart storm to an outage. `/ready` is 503 while the broker connection
//! is down (or the role is draining), so Kubernetes stops sending traffic to that replica.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use hyper::{Method, StatusCode};
use serde_json::json;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::error::{json_response, ApiError, HttpResponse};
use super::server;
use crate::amqp::{stall, ConnectionState};
use crate::message::rfc3339_now;
use crate::metrics::metrics;

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
    /// The role publishes: a broker that stopped confirming (resource alarm) makes it unready.
    publishes: bool,
}

impl Health {
    /// Health for `role`, following `connection`; the role flag starts as `role_ready`.
    pub fn new(
        role: &'static str,
        service: impl Into<String>,
        connection: watch::Receiver<ConnectionState>,
        role_ready: bool,
    ) -> Self {
        Self {
            role,
            service: service.into(),
            started: Instant::now(),
            connection,
            role_ready: Arc::new(AtomicBool::new(role_ready)),
            publishes: false,
        }
    }

    /// Also report `blocked` (and not ready) while the broker is not confirming publishes.
    pub fn watching_publishes(mut self) -> Self {
        self.publishes = true;
        self
    }

    fn blocked(&self) -> bool {
        self.publishes && stall::publishing_stalled()
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
    }

    fn body(&self) -> serde_json::Value {
        let state = self.connection.borrow().clone();
        let mut body = json!({
            "status": "healthy",
            "uptime": self.started.elapsed().as_secs_f64(),
            "rabbitmq": if state.is_connected() { "connected" } else { "disconnected" },
            "service": self.service,
            "role": self.role,
            "ready": self.is_ready(),
            "timestamp": rfc3339_now(),
        });
        if let Some(error) = state.last_error() {
            body["last_error"] = json!(error);
        }
        if self.publishes {
            let blocked = self.blocked();
            body["blocked"] = json!(blocked);
            if blocked {
                body["blocked_reason"] = json!(
                    "RabbitMQ is not confirming publishes: a memory or disk alarm is probably \
                     blocking publishers (rabbitmq-diagnostics alarms)"
                );
            }
        }
        body
    }

    /// `GET /health`: always 200.
    pub fn health(&self) -> HttpResponse {
        json_response(StatusCode::OK, &self.body())
    }

    /// `GET /ready`: 200 when ready, 503 otherwise, same body.
    pub fn ready(&self) -> HttpResponse {
        let status = if self.is_ready() {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        json_response(status, &self.body())
    }
}

/// Serves `/health` and `/ready` on their own port, for roles without an HTTP server of their own
/// (consumers, subscribers), until `stop`. Fails only if the address cannot be bound.
pub async fn spawn_health_server(
    addr: SocketAddr,
    health: Health,
    stop: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = server::bind(addr).await?;
    let local = listener.local_addr()?;
    info!(addr = %local, port = local.port(), "health endpoints listening");
    Ok(tokio::spawn(server::serve(
        listener,
        move |request| {
            let health = health.clone();
            async move {
                let started = std::time::Instant::now();
                let (method, path) = (request.method(), request.uri().path());
                let response = health_routes(&health, method, path);
                let route = match path {
                    "/health" | "/ready" | "/metrics" => path,
                    _ => "other",
                };
                metrics().request(
                    route,
                    method.as_str(),
                    response.status().as_u16(),
                    started.elapsed(),
                );
                response
            }
        },
        stop,
        std::time::Duration::from_secs(1),
    )))
}

/// `GET /metrics`: the Prometheus text format.
pub fn metrics_response() -> HttpResponse {
    super::error::full_response(
        StatusCode::OK,
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        metrics().render(),
    )
}

fn health_routes(health: &Health, method: &Method, path: &str) -> HttpResponse {
    match (method, path) {
        (&Method::GET | &Method::HEAD, "/health") => health.health(),
        (&Method::GET | &Method::HEAD, "/ready") => health.ready(),
        (&Method::GET | &Method::HEAD, "/metrics") => metrics_response(),
        (_, "/health" | "/ready" | "/metrics") => ApiError::MethodNotAllowed {
            method: method.to_string(),
            path: path.to_owned(),
            allow: "GET, HEAD",
        }
        .into_response(),
        _ => ApiError::NotFound {
            method: method.to_string(),
            path: path.to_owned(),
        }
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amqp::ConnectionState;

    #[test]
    fn unknown_routes_are_json_404s() {
        let (_tx, rx) = watch::channel(ConnectionState::Connected);
        let health = Health::new("consume", "h", rx, true);
        assert_eq!(
            health_routes(&health, &Method::GET, "/nope").status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            health_routes(&health, &Method::POST, "/ready").status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            health_routes(&health, &Method::GET, "/ready").status(),
            StatusCode::OK
        );
    }
}
