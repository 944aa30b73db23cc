//! One file per subcommand. Each role is `run(config, amqp, shutdown)`: it starts the shared
//! connection manager with its own topology and channel settings, does its work until `shutdown`,
//! drains, and closes. Roles depend on `amqp` and `http`, never on each other; `fanout-sub` and
//! `topic-sub` are two faces of one engine, `subscription`.

mod body;
pub mod consume;
pub mod fanout_sub;
pub mod perf;
pub mod produce_server;
pub mod send;
pub mod snapshot;
mod subscription;
pub mod topic_sub;

pub(crate) use body::{render_body, render_parsed_body};

use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::amqp::AmqpOptions;

/// The role chosen on the command line, with its settings.
#[derive(Debug, Clone)]
pub enum Role {
    ProduceServer(produce_server::ProduceServerConfig),
    Consume(consume::ConsumeConfig),
    Send(send::SendConfig),
    FanoutSub(fanout_sub::FanoutSubConfig),
    TopicSub(topic_sub::TopicSubConfig),
    Perf(perf::PerfConfig),
}

/// What the role would do, as JSON (for `--check-config`): its name, the port it serves HTTP on
/// and the paths there, and its main settings. The password never appears.
pub fn describe(role: &Role, amqp: &AmqpOptions) -> serde_json::Value {
    let health_paths = ["/health", "/ready", "/metrics"];
    let mut description = match role {
        Role::ProduceServer(c) => json!({
            "role": "produce-server",
            "port": c.listen.port(),
            "paths": ["/", "/health", "/ready", "/metrics", "/send-message", "/send-burst", "/publish"],
            "queue": c.queue.name,
            "queue_shape": c.queue.describe(),
            "exchanges": [c.exchanges.topic, c.exchanges.direct, c.exchanges.fanout],
        }),
        Role::Consume(c) => json!({
            "role": "consume",
            "port": c.health_listen.map(|a| a.port()),
            "paths": health_paths,
            "queue": c.queue.name,
            "queue_shape": c.queue.describe(),
            "prefetch": c.prefetch,
            "name": c.name,
        }),
        Role::Send(c) => json!({
            "role": "send",
            "port": null,
            "paths": [],
            "count": c.count,
            "to": c.target.describe(),
        }),
        Role::FanoutSub(c) => json!({
            "role": "fanout-sub",
            "port": c.health_listen.map(|a| a.port()),
            "paths": health_paths,
            "exchange": c.exchange,
            "queue": c.queue,
            "name": c.name,
        }),
        Role::TopicSub(c) => json!({
            "role": "topic-sub",
            "port": c.health_listen.map(|a| a.port()),
            "paths": health_paths,
            "exchange": c.exchange,
            "exchange_type": c.kind.as_str(),
            "patterns": c.patterns,
            "queue": c.queue,
            "name": c.name,
        }),
        Role::Perf(c) => json!({
            "role": "perf",
            "port": null,
            "paths": [],
            "producers": c.producers,
            "consumers": c.consumers,
            "http": c.http,
        }),
    };
    description["amqp_url"] = json!(amqp.settings.redacted());
    description
}

/// Runs the chosen role until `shutdown`.
pub async fn run(role: Role, amqp: AmqpOptions, shutdown: CancellationToken) -> anyhow::Result<()> {
    match role {
        Role::ProduceServer(config) => produce_server::run(config, amqp, shutdown).await,
        Role::Consume(config) => consume::run(config, amqp, shutdown).await,
        Role::Send(config) => send::run(config, amqp, shutdown).await,
        Role::FanoutSub(config) => fanout_sub::run(config, amqp, shutdown).await,
        Role::TopicSub(config) => topic_sub::run(config, amqp, shutdown).await,
        Role::Perf(config) => perf::run(config, amqp, shutdown).await,
    }
}
