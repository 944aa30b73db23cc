//! playground: one binary that turns a RabbitMQ broker into a hands-on lab for messaging patterns.
//!
//! How the pieces fit (dependencies point down the list: `main → cli → roles → amqp → amqprs`):
//! - [`cli`]: the only place that knows clap; turns flags and env vars into a validated
//!   [`Config`](cli::Config), so bad input is exit code 2 before anything runs.
//! - [`roles`]: one module per subcommand, each `run(config, amqp, shutdown)`:
//!   [`produce_server`](roles::produce_server) (HTTP in, confirmed messages out, the lab console),
//!   [`consume`](roles::consume) (the work-queue worker), [`send`](roles::send) (the command-line
//!   publisher), [`fanout_sub`](roles::fanout_sub) and [`topic_sub`](roles::topic_sub) (the
//!   pub/sub subscribers), [`perf`](roles::perf) (the load tool), [`stream_sub`](roles::stream_sub)
//!   (the stream reader: replay from an offset, resume after a reconnect).
//! - [`http`]: axum over hyper — the server with graceful shutdown, JSON errors and bodies,
//!   `/health`, `/ready`, `/metrics`. Serves roles; may read the connection state.
//! - [`amqp`]: the shared connection manager (reconnects, topology, the publish gate, confirms,
//!   consuming and settling). Knows nothing of HTTP, clap or roles.
//! - Leaves: [`message`] (the JSON envelope), [`metrics`] (a role's Prometheus registry),
//!   [`shutdown`] (signals and panics), [`telemetry`] (logging) with [`json_lines`] (its JSON
//!   lines, written directly), [`identity`] (host and connection names).

pub mod amqp;
pub mod cli;
pub mod http;
pub mod identity;
pub mod json_lines;
pub mod management_api;
pub mod message;
pub mod metrics;
pub mod roles;
pub mod shutdown;
pub mod telemetry;
