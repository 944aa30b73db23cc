//! One file per subcommand. Each role is `run(config, amqp, shutdown)`: it starts the shared
//! connection manager with its own topology and channel settings, does its work until `shutdown`,
//! drains, and closes. Roles depend on `amqp` and `http`, never on each other; `fanout-sub` and
//! `topic-sub` are two faces of one engine, `subscription`.

mod body;
pub mod consume;
pub mod fanout_sub;
pub mod produce_server;
pub mod send;
mod subscription;
pub mod topic_sub;

pub(crate) use body::render_body;

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
}

/// Runs the chosen role until `shutdown`.
pub async fn run(role: Role, amqp: AmqpOptions, shutdown: CancellationToken) -> anyhow::Result<()> {
    match role {
        Role::ProduceServer(config) => produce_server::run(config, amqp, shutdown).await,
        Role::Consume(config) => consume::run(config, amqp, shutdown).await,
        Role::Send(config) => send::run(config, amqp, shutdown).await,
        Role::FanoutSub(config) => fanout_sub::run(config, amqp, shutdown).await,
        Role::TopicSub(config) => topic_sub::run(config, amqp, shutdown).await,
    }
}
