//! The small HTTP layer shared by roles: a hyper server with graceful shutdown, JSON responses
//! and errors, and the health/readiness endpoints every role serves.
//!
//! It knows the connection state (to report it) but nothing of any role.

pub mod error;
pub mod health;
pub mod server;

pub use error::{full_response, json_response, ApiError, HttpResponse};
pub use health::{metrics_response, spawn_health_server, Health};
pub use server::serve;
