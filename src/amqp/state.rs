//! Where a role's broker connection stands, as health endpoints, metrics, the console and the
//! roles themselves see it; and the refusals that end the connection manager for good.

/// Why the last attempt or session ended: a person needs to know whether the broker is away or
/// answered and said no, because the remedy differs (wait or check the network, versus fix a
/// password, vhost or permission).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// Nothing answered, or not in time (no broker, a network fault, a hung node).
    Unreachable,
    /// The broker answered and refused the login, the vhost or a permission.
    Refused,
    /// A session that was up ended (broker restart, a cut connection, missed heartbeats).
    Lost,
}

/// Where the connection stands; followed by health endpoints and roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// Attempt `attempt` (1-based since the last success) is under way.
    Connecting {
        /// 1 on the first try; grows with each failure until a connect succeeds.
        attempt: u32,
        /// Why the previous attempt or session ended; `None` until something failed.
        last_error: Option<String>,
    },
    /// A session is up: channel open, topology declared.
    Connected {
        /// The node it is up on (`host:port`); in a cluster, which of the endpoints that is.
        node: String,
    },
    /// The connection ended or an attempt failed; the next attempt waits for the backoff.
    Disconnected {
        /// What went wrong, as logged and as the health endpoints show it.
        last_error: String,
        /// Whether the broker was away, refused, or a live session was lost: the remedy differs.
        cause: Cause,
    },
    /// The broker refused something for good; the manager stopped. Its text says what to do.
    Failed(Refusal),
    /// Closed on request (shutdown).
    Closed,
}

impl ConnectionState {
    /// A one-word name: `connecting`, `connected`, `disconnected`, `failed`, `closed`.
    pub fn name(&self) -> &'static str {
        match self {
            ConnectionState::Connecting { .. } => "connecting",
            ConnectionState::Connected { .. } => "connected",
            ConnectionState::Disconnected { .. } => "disconnected",
            ConnectionState::Failed(_) => "failed",
            ConnectionState::Closed => "closed",
        }
    }

    /// `true` while a session is usable.
    pub fn is_connected(&self) -> bool {
        matches!(self, ConnectionState::Connected { .. })
    }

    /// The most recent error, for health endpoints.
    pub fn last_error(&self) -> Option<&str> {
        match self {
            ConnectionState::Connecting { last_error, .. } => last_error.as_deref(),
            ConnectionState::Disconnected { last_error, .. } => Some(last_error),
            ConnectionState::Failed(refusal) => Some(&refusal.message),
            ConnectionState::Connected { .. } | ConnectionState::Closed => None,
        }
    }

    /// The node (`host:port`) the session is up on; `None` while not connected.
    pub fn node(&self) -> Option<&str> {
        match self {
            ConnectionState::Connected { node } => Some(node),
            _ => None,
        }
    }

    /// Whether the broker answered and said no (so "could not reach" would mislead).
    pub fn was_refused(&self) -> bool {
        matches!(
            self,
            ConnectionState::Disconnected {
                cause: Cause::Refused,
                ..
            } | ConnectionState::Failed(_)
        )
    }
}

/// Why the manager gave up for good: the text says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    /// What went wrong and what to do about it: the line the role exits with.
    pub message: String,
    /// A queue or exchange exists with other settings than this role's (406): the configuration
    /// must change, not the weather. `main` exits with 2 for these, 1 for other refusals.
    pub settings_mismatch: bool,
}
