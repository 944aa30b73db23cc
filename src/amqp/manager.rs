//! The shared connection manager: one long-lived task per role that keeps a connection to
//! RabbitMQ open and hands the role a ready-to-use [`Session`].
//!
//! amqprs has no connection recovery, so this is where it lives, once. The task loops:
//! connect to one of the endpoints (a cluster's nodes are tried in turn from a random start, and
//! a lost session moves on to the next one; the backoff, with jitter, waits between full rounds) → open the channels → declare the topology → apply qos and
//! confirm mode → publish the session → wait until the session ends → fail what was waiting on it →
//! reconnect. Roles never reconnect themselves: they follow [`ConnectionManager::sessions`] and
//! start over whenever a new session appears. A refusal that someone can fix while we run (wrong
//! credentials, a missing vhost or permission) is retried with backoff and logged as an error
//! naming the user or vhost on every attempt; a conflict that retrying cannot fix (a queue or
//! exchange that exists with other settings) stops the loop as [`ConnectionState::Failed`], and
//! the role exits with the line that says what to do, instead of looping in silence.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::backoff::Backoff;
use super::classify::ConnectError;
use super::connect::{connect, Live};
use super::endpoints::{Endpoints, Rotation};
use super::session::Session;
use super::settings::AmqpSettings;
use super::stall::PublishStall;
use super::state::{Cause, ConnectionState, Refusal};
use super::teardown::{fail_outstanding, shut};
use super::topology::Topology;
use crate::metrics::Metrics;

/// How the role's channel is set up on every connect.
#[derive(Debug, Clone, Default)]
pub struct ChannelSetup {
    /// Put the channel in publisher-confirm mode and track confirms.
    pub confirms: bool,
    /// `basic.qos` prefetch count for consumers: how many unacked messages the broker may push.
    pub prefetch: Option<u16>,
    /// Also open a side channel, never in confirm mode, for fire-and-forget publishes.
    pub side_channel: bool,
    /// Consume RabbitMQ's direct reply-to pseudo-queue on the role's channel, before anything is
    /// published on it: a request published there with `reply_to = amq.rabbitmq.reply-to` gets
    /// its answer back on this channel, with no reply queue to declare or leak (see
    /// [`rpc`](super::rpc)).
    pub direct_reply: bool,
    /// Open a [`QueueProbe`](super::queue_probe::QueueProbe) on every connect: the console asks
    /// the broker how deep the lab's queues are.
    pub queue_probe: bool,
}

/// Everything the manager needs; built from the command line before any work starts.
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// The broker's address, or every node of a cluster, and the credentials; its `Display`
    /// (in logs) hides the passwords.
    pub endpoints: Endpoints,
    /// Shown in the management UI's connection list (role and host name).
    pub connection_name: String,
    /// The shortest wait before reconnecting; the backoff doubles from here, with jitter.
    pub reconnect_min: Duration,
    /// The longest wait between attempts, however many failed.
    pub reconnect_max: Duration,
    /// Bounds the handshake (TCP, TLS, login) and, separately, the set-up (channel, declarations):
    /// a black-holed address must not stall the loop for the OS's minutes-long TCP timeout.
    pub connect_timeout: Duration,
    /// Declared on every connect, before the session is handed out.
    pub topology: Topology,
    /// Confirm mode, prefetch and side channel, applied on every connect.
    pub channel: ChannelSetup,
}

/// Handle to the manager task. Share it behind an `Arc`.
pub struct ConnectionManager {
    state: watch::Receiver<ConnectionState>,
    sessions: watch::Receiver<Option<Session>>,
    metrics: Arc<Metrics>,
    stall: Arc<PublishStall>,
    close: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
    /// The broker's URL (or the cluster's URLs) with passwords hidden, for errors that name it.
    url: String,
    /// What every connect declares and whether it takes direct replies: the role's shape, as
    /// the console draws it.
    shape: (Arc<Topology>, bool),
}

impl ConnectionManager {
    /// Starts connecting in the background and returns at once; records into `metrics`.
    pub fn start(config: ManagerConfig, metrics: Arc<Metrics>) -> Self {
        let (state_tx, state) = watch::channel(ConnectionState::Connecting {
            attempt: 1,
            last_error: None,
        });
        metrics.set_connection_state("connecting", "");
        let (session_tx, sessions) = watch::channel(None);
        let close = CancellationToken::new();
        let stall = Arc::new(PublishStall::default());
        let url = config.endpoints.redacted();
        let shape = (
            Arc::new(config.topology.clone()),
            config.channel.direct_reply,
        );
        let loop_ = Loop {
            config,
            state: state_tx,
            sessions: session_tx,
            close: close.clone(),
            metrics: metrics.clone(),
            stall: stall.clone(),
        };
        let task = tokio::spawn(loop_.run());
        Self {
            state,
            sessions,
            metrics,
            stall,
            close,
            task: Mutex::new(Some(task)),
            url,
            shape,
        }
    }

    /// What this role declares on every connect.
    pub fn topology(&self) -> &Topology {
        &self.shape.0
    }

    /// Whether this role consumes RabbitMQ's direct replies (it makes RPC calls).
    pub fn takes_direct_replies(&self) -> bool {
        self.shape.1
    }

    /// The broker's URL (or the comma-separated list), passwords hidden.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Follows the connection state.
    pub fn state(&self) -> watch::Receiver<ConnectionState> {
        self.state.clone()
    }

    /// Follows the sessions: `Some` while connected, `None` in between.
    pub fn sessions(&self) -> watch::Receiver<Option<Session>> {
        self.sessions.clone()
    }

    /// The role's metrics, which the manager and its publishers record into.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Whether the broker stopped confirming this manager's publishes.
    pub fn stall(&self) -> &Arc<PublishStall> {
        &self.stall
    }

    /// The current session, if connected.
    pub fn current(&self) -> Option<Session> {
        self.sessions
            .borrow()
            .clone()
            .filter(|session| !session.is_ended())
    }

    /// The refusal, if the manager gave up for good.
    pub fn failure(&self) -> Option<Refusal> {
        match &*self.state.borrow() {
            ConnectionState::Failed(refusal) => Some(refusal.clone()),
            _ => None,
        }
    }

    /// Resolves with the refusal once the manager gave up for good; pending forever otherwise.
    pub async fn failed(&self) -> Refusal {
        let mut state = self.state.clone();
        loop {
            if let ConnectionState::Failed(refusal) = &*state.borrow_and_update() {
                return refusal.clone();
            }
            if state.changed().await.is_err() {
                // The manager task is gone without failing: never resolve.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Closes the channels and the connection cleanly and waits for the task to end. Call after
    /// the role finished its in-flight work (pending confirms, the message in hand, its
    /// background tasks).
    pub async fn close(&self) {
        self.close.cancel();
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            if let Err(e) = task.await {
                error!(error = %e, "connection manager task failed");
            }
        }
    }
}

/// The manager task's state.
struct Loop {
    config: ManagerConfig,
    state: watch::Sender<ConnectionState>,
    sessions: watch::Sender<Option<Session>>,
    close: CancellationToken,
    metrics: Arc<Metrics>,
    stall: Arc<PublishStall>,
}

impl Loop {
    async fn run(self) {
        let endpoints = &self.config.endpoints;
        let mut backoff = Backoff::new(self.config.reconnect_min, self.config.reconnect_max);
        let mut generation = 0u64;
        let mut attempt = 0u32;
        let mut last_error: Option<String> = None;
        let mut rotation = Rotation::random(endpoints);
        let mut previous_node: Option<String> = None;
        loop {
            let endpoint = endpoints.get(rotation.current());
            let node = endpoint.node();
            attempt += 1;
            self.set_state(
                ConnectionState::Connecting {
                    attempt,
                    last_error: last_error.clone(),
                },
                &node,
            );
            let attempt_result = tokio::select! {
                result = connect(&self.config, endpoint, generation + 1, &self.stall) => result,
                _ = self.close.cancelled() => break,
            };
            let failure = match attempt_result {
                Ok(live) => {
                    generation += 1;
                    attempt = 0;
                    rotation.connected();
                    backoff.reset();
                    let moved_from = previous_node.replace(node.clone()).filter(|p| *p != node);
                    match self.serve(live, generation, endpoint, moved_from).await {
                        Some(reason) => {
                            last_error = Some(reason);
                            rotation.session_ended();
                            continue;
                        }
                        None => break,
                    }
                }
                Err(failure) => failure,
            };
            let (error, cause) = match failure {
                // Another role's settings are in the way, or retrying cannot help: stop, and let
                // the role exit with the line that says why (looping would hide the conflict).
                ConnectError::Mismatch(message) => return self.give_up(message, true, &node),
                ConnectError::Permanent(message) => return self.give_up(message, false, &node),
                // Credentials and permissions can be fixed while the pod runs (a Secret
                // updated, a user or vhost created): keep trying, loudly.
                ConnectError::Refused(error) => (error, Cause::Refused),
                ConnectError::Unreachable(error) => (error, Cause::Unreachable),
            };
            let full_round_failed = rotation.attempt_failed();
            let url = endpoint.redacted();
            // State first: whoever reads the log line and then asks /ready sees the same error.
            self.set_state(
                ConnectionState::Disconnected {
                    last_error: error.clone(),
                    cause,
                },
                &node,
            );
            last_error = Some(error.clone());
            if !full_round_failed {
                let next_node = endpoints.get(rotation.current()).node();
                if cause == Cause::Refused {
                    error!(attempt, %node, %url, %error, %next_node, "RabbitMQ refused the connection; trying the next node");
                } else {
                    warn!(attempt, %node, %url, %error, %next_node, "could not connect to RabbitMQ; trying the next node");
                }
                continue;
            }
            let delay = backoff.next_delay();
            let retry_in = humantime::format_duration(round_ms(delay)).to_string();
            if cause == Cause::Refused {
                error!(attempt, %node, %url, %error, %retry_in, "RabbitMQ refused the connection; retrying");
            } else {
                warn!(attempt, %node, %url, %error, %retry_in, "could not connect to RabbitMQ");
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.close.cancelled() => break,
            }
        }
        let node = endpoints.get(rotation.current()).node();
        self.set_state(ConnectionState::Closed, &node);
    }

    /// Hands `live`'s session out until it ends (`Some(reason)`) or the manager is closed
    /// (`None`, after a clean close). `moved_from` is the node of the session before, when it
    /// was another one: a failover, which the connect line says.
    async fn serve(
        &self,
        live: Live,
        generation: u64,
        endpoint: &AmqpSettings,
        moved_from: Option<String>,
    ) -> Option<String> {
        let node = endpoint.node();
        self.stall.connection_renewed();
        self.sessions.send_replace(Some(live.session.clone()));
        self.set_state(ConnectionState::Connected { node: node.clone() }, &node);
        self.metrics.connected(generation, moved_from.is_some());
        match &moved_from {
            Some(previous) => info!(
                %node,
                url = %endpoint,
                connection_name = %self.config.connection_name,
                generation,
                failed_over_from = %previous,
                "connected to RabbitMQ on another node"
            ),
            None => info!(
                %node,
                url = %endpoint,
                connection_name = %self.config.connection_name,
                generation,
                "connected to RabbitMQ"
            ),
        }
        tokio::select! {
            _ = live.session.ended() => {
                let reason = live.session.signals().reason()
                    .unwrap_or_else(|| "connection ended".to_owned());
                self.sessions.send_replace(None);
                fail_outstanding(&live.session);
                self.set_state(
                    ConnectionState::Disconnected {
                        last_error: reason.clone(),
                        cause: Cause::Lost,
                    },
                    &node,
                );
                warn!(%node, %reason, generation, "lost the RabbitMQ connection; reconnecting");
                // Dropping the last handle lets amqprs tear the socket down.
                drop(live);
                Some(reason)
            }
            _ = self.close.cancelled() => {
                self.sessions.send_replace(None);
                shut(live).await;
                None
            }
        }
    }

    /// Stops for good with `message` (the role reports it once, on exit).
    fn give_up(&self, message: String, settings_mismatch: bool, node: &str) {
        debug!(error = %message, %node, "giving up on RabbitMQ");
        self.set_state(
            ConnectionState::Failed(Refusal {
                message,
                settings_mismatch,
            }),
            node,
        );
    }

    /// Publishes the new state to its watchers and to the `playground_connection_state` gauge,
    /// labelled with the `node` the manager is on.
    fn set_state(&self, new: ConnectionState, node: &str) {
        self.metrics.set_connection_state(new.name(), node);
        self.state.send_replace(new);
    }
}

fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis().try_into().unwrap_or(u64::MAX))
}
