//! The broker options every role shares (from the common flags), and how they become one role's
//! connection manager configuration.

use std::time::Duration;

use super::manager::{ChannelSetup, ManagerConfig};
use super::names::ExchangeName;
use super::settings::AmqpSettings;
use super::topology::Topology;

/// The part of the manager's configuration every role shares.
#[derive(Debug, Clone)]
pub struct AmqpOptions {
    pub settings: AmqpSettings,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    pub connect_timeout: Duration,
    /// Where and how often roles publish their snapshots for the lab console; `None` is
    /// `--telemetry off`.
    pub snapshots: Option<SnapshotSettings>,
}

/// `--telemetry` and `--telemetry-exchange`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotSettings {
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
            settings: self.settings.clone(),
            connection_name,
            reconnect_min: self.reconnect_min,
            reconnect_max: self.reconnect_max,
            connect_timeout: self.connect_timeout,
            topology,
            channel,
        }
    }
}
