//! playground: one binary that turns a RabbitMQ broker into a hands-on lab for messaging patterns.
//!
//! How the pieces fit (dependencies point down the list):
//! - [`cli`]: the only place that knows clap; turns flags and env vars into a [`Config`].
//! - [`roles`]: one module per subcommand (`produce-server`, `consume`), each `run(config, amqp,
//!   shutdown)`.
//! - [`http`]: hyper server with graceful shutdown, JSON errors, `/health` and `/ready`.
//! - [`amqp`]: the shared connection manager (backoff, reconnect, topology re-declaration,
//!   state watch) and confirmed publishing. Knows nothing of HTTP, clap or roles.
//! - Leaves: [`message`] (the JSON envelope), [`metrics`] (Prometheus registry), [`shutdown`] (signals), [`telemetry`] (logging),
//!   [`identity`] (host and connection names).
//!
//! [`Config`]: cli::Config

pub mod amqp;
pub mod cli;
pub mod http;
pub mod identity;
pub mod message;
pub mod metrics;
pub mod roles;
pub mod shutdown;
pub mod telemetry;
