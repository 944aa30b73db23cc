//! One module per subcommand. Each role is `run(config, amqp, shutdown)`: it starts the shared
//! connection manager with its own topology and channel settings, does its work until `shutdown`,
//! drains, and closes. Roles depend on `amqp` and `http`, never on each other.
//!
//! - [`produce_server`]: HTTP in, confirmed messages out (and the lab console);
//! - [`consume`]: the work-queue worker;
//! - [`send`]: the command-line publisher (the tutorial's `new_task`);
//! - [`fanout_sub`], [`topic_sub`]: the pub/sub subscribers, two faces of one engine,
//!   `subscription`;
//! - [`perf`]: the load tool;
//! - [`rpc_server`], [`call`]: request/reply's two sides (produce-server's `/rpc` is a caller
//!   too), sharing [`rpc_reply`] (the reply's shape);
//! - [`stream_sub`]: the stream reader (replay from an offset, resume after a reconnect);
//! - shared by them: [`consuming`] (what runs around every consumer), [`snapshot`] (what each
//!   role tells the console), [`body`] (logging bodies).

pub mod body;
pub mod call;
pub mod consume;
pub mod consuming;
pub mod fanout_sub;
pub mod perf;
pub mod produce_server;
pub mod rpc_reply;
pub mod rpc_server;
pub mod send;
pub mod snapshot;
pub mod stream_sub;
pub mod subscription;
pub mod topic_sub;

use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::amqp::{AlternateExchange, AmqpOptions, QueueName, RoutingKey};
use crate::http::Listen;

/// The role chosen on the command line, with its settings.
#[derive(Debug, Clone)]
pub enum Role {
    /// The HTTP service that publishes confirmed messages (and serves the lab console).
    ProduceServer(produce_server::ProduceServerConfig),
    /// The work-queue worker.
    Consume(consume::ConsumeConfig),
    /// The one-shot command-line publisher.
    Send(send::SendConfig),
    /// A subscriber to every message of a fanout exchange.
    FanoutSub(fanout_sub::FanoutSubConfig),
    /// A subscriber to the keys matching its patterns, on a topic or direct exchange (or to the
    /// headers it binds, on a headers exchange).
    TopicSub(topic_sub::TopicSubConfig),
    /// The load tool.
    Perf(perf::PerfConfig),
    /// The request/reply server.
    RpcServer(rpc_server::RpcServerConfig),
    /// The command-line request/reply caller.
    Call(call::CallConfig),
    /// A reader of a stream, replaying from an offset.
    StreamSub(stream_sub::StreamSubConfig),
}

/// The paths every role with health endpoints serves.
const PROBE_PATHS: [&str; 3] = ["/health", "/ready", "/metrics"];

/// What the role would do, as JSON (for `--check-config`): its name, the port it serves HTTP on
/// and the paths there, and its main settings. The password never appears.
pub fn describe(role: &Role, amqp: &AmqpOptions) -> serde_json::Value {
    let port = |listen: Option<Listen>| listen.map(|l| l.addr.port());
    let queue = |queue: &Option<QueueName>| queue.as_ref().map(QueueName::to_string);
    let mut description = match role {
        Role::ProduceServer(c) => json!({
            "role": "produce-server",
            "port": c.listen.addr.port(),
            "paths": produce_server_paths(amqp),
            "queue": c.queue.name.as_str(),
            "queue_shape": c.queue.describe(),
            "exchanges": [c.exchanges.topic.as_str(), c.exchanges.direct.as_str(), c.exchanges.fanout.as_str()],
            "headers_exchange": c.exchanges.headers.as_str(),
            "alternate_exchange": alternate(c.exchanges.alternate.as_ref()),
            "management_urls": c.management.as_ref().map(ToString::to_string),
        }),
        Role::Consume(c) => json!({
            "role": "consume",
            "port": port(c.health_listen),
            "paths": PROBE_PATHS,
            "queue": c.queue.name.as_str(),
            "queue_shape": c.queue.describe(),
            "prefetch": c.prefetch,
            "name": c.name.as_str(),
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
            "port": port(c.subscriber.health_listen),
            "paths": PROBE_PATHS,
            "exchange": c.exchange.as_str(),
            "queue": queue(&c.subscriber.queue),
            "queue_type": c.subscriber.queue_type.as_str(),
            "name": c.subscriber.name.as_str(),
            "alternate_exchange": alternate(c.alternate.as_ref()),
        }),
        Role::TopicSub(c) => json!({
            "role": "topic-sub",
            "port": port(c.subscriber.health_listen),
            "paths": PROBE_PATHS,
            "exchange": c.exchange.as_str(),
            "exchange_type": c.kind.as_str(),
            "patterns": match &c.header_match {
                Some(_) => Vec::new(),
                None => c.patterns.iter().map(RoutingKey::as_str).collect::<Vec<_>>(),
            },
            "header_match": c.header_match.as_ref().map(|m| json!({
                "x-match": m.mode.as_str(),
                "headers": m.headers.iter().collect::<std::collections::BTreeMap<_, _>>(),
            })),
            "queue": queue(&c.subscriber.queue),
            "queue_type": c.subscriber.queue_type.as_str(),
            "name": c.subscriber.name.as_str(),
            "alternate_exchange": alternate(c.alternate.as_ref()),
        }),
        Role::Perf(c) => json!({
            "role": "perf",
            "port": null,
            "paths": [],
            "producers": c.producers,
            "consumers": c.consumers,
            "http": c.http.as_ref().map(ToString::to_string),
        }),
        Role::RpcServer(c) => json!({
            "role": "rpc-server",
            "port": port(c.health_listen),
            "paths": PROBE_PATHS,
            "queue": c.queue.as_str(),
            "prefetch": c.prefetch,
            "name": c.name.as_str(),
        }),
        Role::Call(c) => json!({
            "role": "call",
            "port": null,
            "paths": [],
            "rpc_queue": c.queue.as_str(),
            "count": c.count,
            "concurrency": c.concurrency,
            "timeout_ms": c.timeout.as_millis() as u64,
        }),
        Role::StreamSub(c) => json!({
            "role": "stream-sub",
            "port": port(c.health_listen),
            "paths": PROBE_PATHS,
            "stream": c.stream.as_str(),
            "offset": c.offset.describe(),
            "max_age": c.retention.max_age.as_ref().map(|a| a.as_str()),
            "max_length_bytes": c.retention.max_length_bytes,
            "exchange": c.binding.as_ref().map(|b| b.exchange.as_str()),
            "exchange_type": c.binding.as_ref().map(|b| b.kind.as_str()),
            "patterns": c.binding.as_ref().map(|b| b.patterns.iter().map(RoutingKey::as_str).collect::<Vec<_>>()),
            "prefetch": c.prefetch,
            "name": c.name.as_str(),
        }),
    };
    description["amqp_url"] = json!(amqp.endpoints.redacted());
    description["amqp_nodes"] = json!(amqp.endpoints.iter().map(|e| e.node()).collect::<Vec<_>>());
    description
}

/// An alternate exchange for `--check-config`: its name and its queue, or null.
fn alternate(alternate: Option<&AlternateExchange>) -> serde_json::Value {
    alternate.map_or(
        serde_json::Value::Null,
        |a| json!({"exchange": a.exchange.as_str(), "queue": a.queue.as_str()}),
    )
}

/// The paths `produce-server` serves; `/events` only with the console on.
fn produce_server_paths(amqp: &AmqpOptions) -> Vec<&'static str> {
    let mut paths = vec!["/", "/health", "/ready", "/metrics"];
    if amqp.snapshots.is_some() {
        paths.push("/events");
    }
    paths.extend(["/send-message", "/send-burst", "/publish", "/rpc"]);
    paths
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
        Role::RpcServer(config) => rpc_server::run(config, amqp, shutdown).await,
        Role::Call(config) => call::run(config, amqp, shutdown).await,
        Role::StreamSub(config) => stream_sub::run(config, amqp, shutdown).await,
    }
}
