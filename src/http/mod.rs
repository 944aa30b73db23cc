//! The HTTP layer shared by roles, on axum over hyper: the server with graceful shutdown and a
//! header timeout ([`server`]), request observation and JSON 404/405s ([`observe`]), the JSON body
//! extractor ([`json_body`]), JSON errors ([`error`]), and `/health`, `/ready` and `/metrics`
//! ([`health`]).
//!
//! It knows the connection state (to report it) but nothing of any role.

pub mod error;
pub mod health;
pub mod json_body;
pub mod observe;
pub mod server;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::info;

pub use error::{full_response, json_response, ApiError};
pub use health::{Health, Readiness};
pub use json_body::{BodyLimit, JsonBody};
pub use server::{Listen, PortChoice};

use crate::metrics::Metrics;

/// Serves `/health`, `/ready` and `/metrics` on `listener` (bound with [`server::bind`] before
/// the role touches the broker, so a bad port declares nothing), for roles without an HTTP
/// server of their own (consumers, subscribers), until `stop`, as a task of `tracker`.
pub fn spawn_probe_server(
    listener: TcpListener,
    health: Health,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
    tracker: &TaskTracker,
) {
    if let Ok(local) = listener.local_addr() {
        info!(addr = %local, port = local.port(), "health endpoints listening");
    }
    let router = observe::observed(health::routes(health, metrics.clone()), metrics);
    tracker.spawn(server::serve(
        listener,
        router,
        stop,
        Duration::from_secs(1),
    ));
}
