//! The shared AMQP layer every role is built on. Nothing here knows about HTTP, the command line
//! or any role.
//!
//! - Settings: [`settings`] (URLs, the password kept out of logs), [`endpoints`] (one broker
//!   or a cluster's nodes), [`names`] (the AMQP short
//!   strings as types), [`options`] (what every role shares).
//! - The connection: [`manager`] (the reconnect loop), [`waiting`] (for a session),
//!   [`connect`] (opening one session), [`session`] (the live session and its channels),
//!   [`state`] (where the connection stands), [`signals`] (how its end is noticed),
//!   [`classify`] (broker refusals and amqprs quirks), [`backoff`], [`probe`].
//! - The broker objects: [`topology`] (declared as data on every connect), [`work_queue`] (the
//!   work queue's shape), [`routing`] (exchange types and binding patterns), [`headers`] (what
//!   a headers exchange matches on), [`alternate`] (where unroutable messages go, and how a
//!   publisher learns they went there).
//! - Publishing: [`outgoing`] (a message and its properties), [`publish_gate`] (the one way onto
//!   a channel), [`confirms`] (tag book-keeping),
//!   [`publisher`] (confirmed and fire-and-forget publishing), [`burst`] (many at once),
//!   [`stall`] (a broker that stopped confirming).
//! - Consuming: [`consumer`] (the loop across sessions), [`delivery`] (ack and reject),
//!   [`stream`] (stream offsets and retention).
//! - Retrying: [`retry`] (the delay queues of a work queue), [`death`] (the `x-death` history).

pub mod alternate;
pub mod backoff;
pub mod burst;
pub mod classify;
pub mod confirms;
pub mod connect;
pub mod consumer;
pub mod death;
pub mod delivery;
pub mod described;
pub mod endpoints;
pub mod headers;
pub mod manager;
pub mod names;
pub mod options;
pub mod outgoing;
mod pending_calls;
pub mod probe;
pub mod publish_gate;
pub mod publisher;
pub mod queue_probe;
pub mod retry;
pub mod routing;
pub mod rpc;
pub mod session;
pub mod settings;
pub mod signals;
pub mod stall;
pub mod state;
pub mod stream;
mod teardown;
pub mod topology;
pub mod waiting;
pub mod work_queue;

pub use alternate::{AlternateExchange, Taken, UnroutedTap};
pub use burst::{publish_burst, BurstItem, BurstReport, BURST_WINDOW};
pub use consumer::{consume_across_sessions, consume_across_sessions_with, ConsumerEvent};
pub use death::{Death, DeathHistory};
pub use delivery::{Delivery, MessageCopy, SettleError};
pub use described::{DescribedTopology, QueuePurpose};
pub use endpoints::Endpoints;
pub use headers::{HeaderMatch, Headers, MatchMode};
pub use manager::{ChannelSetup, ConnectionManager, ManagerConfig};
pub use names::{
    ConsumerTag, ExchangeName, InstanceName, NameError, QueueName, RoutingKey, UserName, Vhost,
};
pub use options::{AmqpOptions, SnapshotSettings};
pub use outgoing::{Destination, MessageExtras, OutgoingMessage};
pub use publisher::{publish_fire_and_forget, ConfirmedPublisher, PublishError};
pub use queue_probe::{ProbeFailure, QueueCounts, QueueProbe};
pub use retry::{AfterFailure, RetryDelays, RetryLadder, RetryStep, MAX_RETRY_DELAYS};
pub use routing::{ExchangeKind, LabExchanges};
pub use rpc::{CallError, RpcClient, RpcReply, RpcRequest, CALL_OUTCOMES, DIRECT_REPLY_TO};
pub use session::Session;
pub use settings::{redact_url, AmqpSettings, Secret};
pub use state::{Cause, ConnectionState, Refusal};
pub use stream::{MaxAge, StreamOffset, StreamRetention};
pub use topology::{BindingSpec, BoundQueue, ExchangeSpec, QueueSpec, Topology};
pub use waiting::{next_live_session, refusal_in, NoSession};
pub use work_queue::{DeadLetter, QueueType, WorkQueue};
