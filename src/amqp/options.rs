//! The broker options every role shares (from the common flags), and how they become one role's
//! connection manager configuration.

use std::time::Duration;

use super::endpoints::Endpoints;
use super::manager::{ChannelSetup, ManagerConfig};
use super::names::ExchangeName;
use super::topology::Topology;

/// The part of the manager's configuration every role shares.
#[derive(Debug, Clone)]
pub struct AmqpOptions {
    /// Where the broker (or the cluster's nodes) is and how to log in (`--amqp-url` and the
    /// credential flags).
    pub endpoints: Endpoints,
    /// First wait of the reconnect backoff (`--reconnect-min`).
    pub reconnect_min: Duration,
    /// Ceiling of the reconnect backoff, never below `reconnect_min` (`--reconnect-max`).
    pub reconnect_max: Duration,
    /// Bounds one connection attempt, and separately its set-up (fixed, not a flag).
    pub connect_timeout: Duration,
    /// Where and how often roles publish their snapshots for the lab console; `None` is
    /// `--telemetry off`.
    pub snapshots: Option<SnapshotSettings>,
}

/// `--telemetry` and `--telemetry-exchange`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotSettings {
    /// How often each role publishes one (`--telemetry`, 100ms to 24h).
    pub interval: Duration,
    /// A fanout exchange, non-durable: snapshots are transient and cost the broker nothing.
    pub exchange: ExchangeName,
}

impl AmqpOptions {
    /// The full manager configuration for one role's topology and channel. With snapshots on,
    /// the channel set-up gains the side channel they are published on.
    pub fn for_role(
        &self,
        connection_name: String,
        topology: Topology,
        mut channel: ChannelSetup,
    ) -> ManagerConfig {
        channel.side_channel |= self.snapshots.is_some();
        ManagerConfig {
            endpoints: self.endpoints.clone(),
            connection_name,
            reconnect_min: self.reconnect_min,
            reconnect_max: self.reconnect_max,
            connect_timeout: self.connect_timeout,
            topology,
            channel,
        }
    }
}
