//! The shared AMQP layer every role is built on: settings, the connection manager with its
//! reconnect loop, topology as data, and confirmed publishing.
//!
//! Nothing here knows about HTTP, the command line or any role.

pub mod backoff;
pub mod confirms;
pub mod manager;
pub mod probe;
pub mod publisher;
pub mod settings;
pub mod signals;
pub mod topology;

pub use manager::{
    AmqpOptions, ChannelSetup, ConnectionManager, ConnectionState, ManagerConfig, Session,
};
pub use publisher::{ConfirmedPublisher, OutgoingMessage, PublishError};
pub use settings::{AmqpSettings, Secret};
pub use topology::{QueueSpec, Topology};
