//! The shared AMQP layer every role is built on: settings, the connection manager with its
//! reconnect loop, topology as data (and the work queue's shape), and confirmed publishing.
//!
//! Nothing here knows about HTTP, the command line or any role.

pub mod backoff;
pub mod burst;
pub mod confirms;
pub mod consumer;
pub mod manager;
pub mod probe;
pub mod publisher;
pub mod routing;
pub mod settings;
pub mod signals;
pub mod stall;
pub mod topology;
pub mod work_queue;

pub use burst::{publish_burst, BurstItem, BurstReport, BURST_WINDOW};
pub use consumer::{consume_across_sessions, ConsumerEvent};
pub use manager::{
    next_live_session, AmqpOptions, ChannelSetup, ConnectionManager, ConnectionState,
    ManagerConfig, Refusal, Session, SnapshotSettings,
};
pub use publisher::{ConfirmedPublisher, OutgoingMessage, PublishError};
pub use routing::{ExchangeKind, LabExchanges};
pub use settings::{AmqpSettings, Secret};
pub use topology::{BindingSpec, ExchangeSpec, QueueSpec, Topology};
pub use work_queue::{DeadLetter, QueueType, WorkQueue};
