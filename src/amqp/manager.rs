//! The shared connection manager: one long-lived task per process that keeps a connection to
//! RabbitMQ open and hands every role a ready-to-use [`Session`].
//!
//! amqprs has no connection recovery, so this is where it lives, once. The task loops:
//! connect (with backoff and jitter) → open the channel → declare the topology → apply qos and
//! confirm mode → publish the session → wait until the session ends → fail what was waiting on it →
//! reconnect. Roles never reconnect themselves: they follow [`ConnectionManager::sessions`] and
//! start over whenever a new session appears. A refusal that someone can fix while we run (wrong
//! credentials, a missing vhost or permission) is retried with backoff and logged as an error
//! naming the user or vhost on every attempt; a conflict that retrying cannot fix (a queue or
//! exchange that exists with other settings) stops the loop as [`ConnectionState::Failed`] with a
//! line that says what to do, instead of looping in silence.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use amqprs::channel::{BasicQosArguments, Channel, ConfirmSelectArguments};
use amqprs::connection::Connection;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::backoff::Backoff;
use super::confirms::ConfirmTracker;
use super::probe;
use super::settings::AmqpSettings;
use super::signals::{BrokerClose, ChannelEvents, ConnectionEvents, SessionSignals};
use super::topology::{Declaration, DeclaredTopology, Topology};
use crate::metrics::metrics;

/// How the role's channel is set up on every connect.
#[derive(Debug, Clone, Default)]
pub struct ChannelSetup {
    /// Put the channel in publisher-confirm mode and track confirms.
    pub confirms: bool,
    /// `basic.qos` prefetch count for consumers: how many unacked messages the broker may push.
    pub prefetch: Option<u16>,
}

/// Everything the manager needs; built from the command line before any work starts.
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    pub settings: AmqpSettings,
    /// Shown in the management UI's connection list (role and host name).
    pub connection_name: String,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// Bounds the handshake (TCP, TLS, login) and, separately, the set-up (channel, declarations):
    /// a black-holed address must not stall the loop for the OS's minutes-long TCP timeout.
    pub connect_timeout: Duration,
    pub topology: Topology,
    pub channel: ChannelSetup,
}

/// The part of the manager's configuration every role shares (from the common flags).
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
    pub exchange: String,
}

impl AmqpOptions {
    /// The full manager configuration for one role's topology and channel.
    pub fn for_role(
        &self,
        connection_name: String,
        topology: Topology,
        channel: ChannelSetup,
    ) -> ManagerConfig {
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

/// Where the connection stands; followed by health endpoints and roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// Attempt `attempt` (1-based since the last success) is under way.
    Connecting {
        attempt: u32,
        last_error: Option<String>,
    },
    /// A session is up: channel open, topology declared.
    Connected,
    /// The connection ended or an attempt failed; the next attempt waits for the backoff.
    Disconnected { last_error: String },
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
            ConnectionState::Connected => "connected",
            ConnectionState::Disconnected { .. } => "disconnected",
            ConnectionState::Failed(_) => "failed",
            ConnectionState::Closed => "closed",
        }
    }

    /// `true` while a session is usable.
    pub fn is_connected(&self) -> bool {
        matches!(self, ConnectionState::Connected)
    }

    /// The most recent error, for health endpoints.
    pub fn last_error(&self) -> Option<&str> {
        match self {
            ConnectionState::Connecting { last_error, .. } => last_error.as_deref(),
            ConnectionState::Disconnected { last_error } => Some(last_error),
            ConnectionState::Failed(refusal) => Some(&refusal.message),
            ConnectionState::Connected | ConnectionState::Closed => None,
        }
    }
}

/// One live connection's channel, as handed to roles. Cheap to clone. When it ends, the manager
/// publishes the next one; a role must not use a session after [`Session::ended`] resolved (an ack
/// or publish on a closed channel makes the broker close the whole next connection).
#[derive(Clone)]
pub struct Session {
    generation: u64,
    channel: Channel,
    confirms: Option<Arc<ConfirmTracker>>,
    signals: Arc<SessionSignals>,
    declared: Arc<DeclaredTopology>,
}

impl Session {
    /// Counts connections since start; tells a role that its session was replaced.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The role's channel, already set up (qos, confirm mode).
    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// The confirm book-keeping, when the channel is in confirm mode.
    pub fn confirms(&self) -> Option<&Arc<ConfirmTracker>> {
        self.confirms.as_ref()
    }

    /// What the topology declaration answered (queue names and depths).
    pub fn declared(&self) -> &DeclaredTopology {
        &self.declared
    }

    /// Resolves when this session is over (connection or channel closed, socket failed).
    pub async fn ended(&self) {
        self.signals.ended().await;
    }

    /// Whether this session is over.
    pub fn is_ended(&self) -> bool {
        self.signals.is_ended()
    }

    /// Ends this session on purpose: the manager reconnects and declares the topology again
    /// (e.g. a role found its queue deleted under it).
    pub fn end(&self, reason: impl Into<String>) {
        self.signals.end(reason);
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("generation", &self.generation)
            .field("ended", &self.is_ended())
            .finish()
    }
}

/// Handle to the manager task. Share it behind an `Arc`.
pub struct ConnectionManager {
    state: watch::Receiver<ConnectionState>,
    sessions: watch::Receiver<Option<Session>>,
    close: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl ConnectionManager {
    /// Starts connecting in the background and returns at once.
    pub fn start(config: ManagerConfig) -> Self {
        let (state_tx, state) = watch::channel(ConnectionState::Connecting {
            attempt: 1,
            last_error: None,
        });
        metrics().set_connection_state("connecting");
        let (session_tx, sessions) = watch::channel(None);
        let close = CancellationToken::new();
        let task = tokio::spawn(run(config, state_tx, session_tx, close.clone()));
        Self {
            state,
            sessions,
            close,
            task: Mutex::new(Some(task)),
        }
    }

    /// Follows the connection state.
    pub fn state(&self) -> watch::Receiver<ConnectionState> {
        self.state.clone()
    }

    /// Follows the sessions: `Some` while connected, `None` in between.
    pub fn sessions(&self) -> watch::Receiver<Option<Session>> {
        self.sessions.clone()
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

    /// Closes the channel and the connection cleanly and waits for the task to end. Call after the
    /// role finished its in-flight work (pending confirms, the message in hand).
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

/// Waits until `sessions` holds a live session and returns it; `None` once the manager is gone.
/// Roles loop on this: consume on the session until it ends, then wait for the next.
pub async fn next_live_session(sessions: &mut watch::Receiver<Option<Session>>) -> Option<Session> {
    loop {
        if let Some(session) = sessions.borrow_and_update().clone() {
            if !session.is_ended() {
                return Some(session);
            }
        }
        sessions.changed().await.ok()?;
    }
}

/// Why the manager gave up for good: the text says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub message: String,
    /// A queue or exchange exists with other settings than this role's (406): the configuration
    /// must change, not the weather. `main` exits with 2 for these, 1 for other refusals.
    pub settings_mismatch: bool,
}

/// A failed connect: worth retrying, or not.
enum ConnectError {
    Transient(String),
    /// The broker refused our credentials or the vhost: retried with backoff (a Secret or the
    /// broker's users may be fixed while we run), and logged as an error every time.
    Refused(String),
    /// Retrying cannot help (a malformed TLS setup).
    Permanent(String),
    /// A declaration was refused because the object exists with other settings.
    Mismatch(String),
}

/// A connection and its session, owned by the manager task while it lasts.
struct Live {
    connection: Connection,
    session: Session,
}

async fn run(
    config: ManagerConfig,
    state: watch::Sender<ConnectionState>,
    sessions: watch::Sender<Option<Session>>,
    close: CancellationToken,
) {
    let mut backoff = Backoff::new(config.reconnect_min, config.reconnect_max);
    let mut generation = 0u64;
    let mut attempt = 0u32;
    let mut last_error: Option<String> = None;
    loop {
        attempt += 1;
        set_state(
            &state,
            ConnectionState::Connecting {
                attempt,
                last_error: last_error.clone(),
            },
        );
        let attempt_result = tokio::select! {
            result = connect(&config, generation + 1) => result,
            _ = close.cancelled() => break,
        };
        match attempt_result {
            Ok(live) => {
                generation += 1;
                attempt = 0;
                backoff.reset();
                info!(
                    url = %config.settings,
                    connection_name = %config.connection_name,
                    generation,
                    "connected to RabbitMQ"
                );
                sessions.send_replace(Some(live.session.clone()));
                set_state(&state, ConnectionState::Connected);
                metrics().connected(generation);
                super::stall::connection_renewed();
                tokio::select! {
                    _ = live.session.ended() => {
                        let reason = live.session.signals.reason()
                            .unwrap_or_else(|| "connection ended".to_owned());
                        sessions.send_replace(None);
                        fail_outstanding(&live.session);
                        warn!(%reason, generation, "lost the RabbitMQ connection; reconnecting");
                        set_state(&state, ConnectionState::Disconnected { last_error: reason.clone() });
                        last_error = Some(reason);
                        // Dropping the last handle lets amqprs tear the socket down.
                        drop(live);
                    }
                    _ = close.cancelled() => {
                        sessions.send_replace(None);
                        shut(live).await;
                        break;
                    }
                }
            }
            Err(failure) => {
                let (error, refused) = match failure {
                    ConnectError::Mismatch(error) => {
                        // Another role's settings are in the way: retrying cannot help, and
                        // looping would hide the conflict. Stop with the line that says why.
                        error!(%error, "giving up on RabbitMQ");
                        set_state(
                            &state,
                            ConnectionState::Failed(Refusal {
                                message: error,
                                settings_mismatch: true,
                            }),
                        );
                        return;
                    }
                    ConnectError::Permanent(error) => {
                        error!(%error, "giving up on RabbitMQ");
                        set_state(
                            &state,
                            ConnectionState::Failed(Refusal {
                                message: error,
                                settings_mismatch: false,
                            }),
                        );
                        return;
                    }
                    // Credentials and permissions can be fixed while the pod runs (a Secret
                    // updated, a user or vhost created): keep trying, loudly.
                    ConnectError::Refused(error) => (error, true),
                    ConnectError::Transient(error) => (error, false),
                };
                let delay = backoff.next_delay();
                let retry_in = humantime::format_duration(round_ms(delay)).to_string();
                if refused {
                    error!(attempt, url = %config.settings, %error, %retry_in, "RabbitMQ refused the connection; retrying");
                } else {
                    warn!(attempt, url = %config.settings, %error, %retry_in, "could not connect to RabbitMQ");
                }
                set_state(
                    &state,
                    ConnectionState::Disconnected {
                        last_error: error.clone(),
                    },
                );
                last_error = Some(error);
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = close.cancelled() => break,
                }
            }
        }
    }
    set_state(&state, ConnectionState::Closed);
}

/// Publishes the new state to its watchers and to the `playground_connection_state` gauge.
fn set_state(state: &watch::Sender<ConnectionState>, new: ConnectionState) {
    metrics().set_connection_state(new.name());
    state.send_replace(new);
}

fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis().try_into().unwrap_or(u64::MAX))
}

fn fail_outstanding(session: &Session) {
    if let Some(confirms) = &session.confirms {
        let lost = confirms.outstanding();
        confirms.fail_all();
        if lost > 0 {
            warn!(
                unconfirmed = lost,
                "publishes lost their confirm with the connection"
            );
        }
    }
}

/// Graceful close: channel, then connection. Errors only mean it was already gone.
async fn shut(live: Live) {
    let Live {
        connection,
        session,
    } = live;
    session.signals.end("closed on shutdown");
    fail_outstanding(&session);
    let Session { channel, .. } = session;
    // A broker that stopped answering must not hold the exit hostage.
    let bound = Duration::from_secs(5);
    match tokio::time::timeout(bound, channel.close()).await {
        Ok(Err(e)) => debug!(error = %e, "channel was already closed"),
        Err(_) => warn!("channel close not answered within 5s"),
        Ok(Ok(())) => {}
    }
    match tokio::time::timeout(bound, connection.close()).await {
        Ok(Err(e)) => debug!(error = %e, "connection was already closed"),
        Err(_) => warn!("connection close not answered within 5s"),
        Ok(Ok(())) => {}
    }
    info!("closed the RabbitMQ connection");
}

async fn connect(config: &ManagerConfig, generation: u64) -> Result<Live, ConnectError> {
    let settings = &config.settings;
    let args = settings
        .open_arguments(&config.connection_name)
        .map_err(|e| ConnectError::Permanent(format!("{e:#}")))?;
    let too_slow = || {
        ConnectError::Transient(format!(
            "no answer within {}",
            humantime::format_duration(config.connect_timeout)
        ))
    };
    let opened = tokio::time::timeout(config.connect_timeout, Connection::open(&args))
        .await
        .map_err(|_| too_slow())?;
    let connection = match opened {
        Ok(connection) => connection,
        Err(error) => {
            let failure = classify_open_error(&error, settings);
            // Only a broker that really answers can have refused the login.
            if let ConnectError::Refused(text) = failure {
                let broker_up = !settings.tls
                    && probe::answers_amqp(&settings.host, settings.port, Duration::from_secs(2))
                        .await;
                return Err(if broker_up {
                    ConnectError::Refused(text)
                } else {
                    ConnectError::Transient(error.to_string())
                });
            }
            return Err(failure);
        }
    };

    let signals = Arc::new(SessionSignals::default());
    // Must listen right after open: the notification is a broadcast that only reaches listeners
    // subscribed before it is sent.
    tokio::spawn(watch_socket(connection.clone(), signals.clone()));
    let set_up = tokio::time::timeout(
        config.connect_timeout,
        set_up(config, &connection, &signals),
    )
    .await
    .unwrap_or_else(|_| Err(too_slow()));
    match set_up {
        Ok((channel, confirms, declared)) => Ok(Live {
            connection,
            session: Session {
                generation,
                channel,
                confirms,
                signals,
                declared: Arc::new(declared),
            },
        }),
        Err(error) => {
            // Releases the socket watcher's handle, so the half-set-up connection is closed.
            signals.end("set-up failed");
            Err(error)
        }
    }
}

/// Everything after the handshake: channel, callbacks, topology, qos, confirm mode.
async fn set_up(
    config: &ManagerConfig,
    connection: &Connection,
    signals: &Arc<SessionSignals>,
) -> Result<(Channel, Option<Arc<ConfirmTracker>>, DeclaredTopology), ConnectError> {
    connection
        .register_callback(ConnectionEvents(signals.clone()))
        .await
        .map_err(|e| ConnectError::Transient(format!("registering connection callback: {e}")))?;

    let channel = connection
        .open_channel(None)
        .await
        .map_err(|e| ConnectError::Transient(format!("opening a channel: {e}")))?;
    let confirms = config
        .channel
        .confirms
        .then(|| Arc::new(ConfirmTracker::default()));
    channel
        .register_callback(ChannelEvents {
            signals: signals.clone(),
            confirms: confirms.clone(),
        })
        .await
        .map_err(|e| ConnectError::Transient(format!("registering channel callback: {e}")))?;

    let declared = match config.topology.declare(&channel).await {
        Ok(declared) => declared,
        Err((what, error)) => {
            let topology = &config.topology;
            let hint = match what {
                Declaration::Queue(_) => topology.queue_mismatch_hint.as_deref(),
                Declaration::Exchange(_) => topology.exchange_mismatch_hint.as_deref(),
                Declaration::Binding { .. } => None,
            };
            return Err(classify_declare_error(&what, &error, signals, hint).await);
        }
    };
    if let Some(prefetch) = config.channel.prefetch {
        channel
            .basic_qos(BasicQosArguments::new(0, prefetch, false))
            .await
            .map_err(|e| ConnectError::Transient(format!("setting prefetch {prefetch}: {e}")))?;
    }
    if config.channel.confirms {
        channel
            .confirm_select(ConfirmSelectArguments::default())
            .await
            .map_err(|e| ConnectError::Transient(format!("enabling publisher confirms: {e}")))?;
    }
    if signals.is_ended() {
        return Err(ConnectError::Transient(
            signals
                .reason()
                .unwrap_or_else(|| "connection ended during set-up".to_owned()),
        ));
    }
    Ok((channel, confirms, declared))
}

/// Turns the end of the socket into the end of the session. Holds a connection handle only until
/// the session ends, so it never keeps a dead connection alive.
async fn watch_socket(connection: Connection, signals: Arc<SessionSignals>) {
    tokio::select! {
        io_failure = connection.listen_network_io_failure() => {
            // `false` is a server-sent close (its reason came through the callback) or our own.
            signals.end(if io_failure {
                "network failure (socket closed, reset or heartbeats missed)"
            } else {
                "connection closed"
            });
        }
        _ = signals.ended() => {}
    }
}

/// Sorts a failed `Connection::open`. A refused vhost comes back as a `connection.close` (530) we
/// can quote. A refused login does not: RabbitMQ only sends its reason to clients that advertise
/// `authentication_failure_close`, which amqprs does not, so the socket is just reset (≈3 s after
/// the attempt). A reset during the handshake of a broker that accepted the TCP connection is
/// therefore a probable login failure; the caller confirms the broker is really there (a proxy
/// with nothing behind it also resets), and it is retried with backoff, logged as an error.
fn classify_open_error(error: &amqprs::error::Error, settings: &AmqpSettings) -> ConnectError {
    use amqprs::error::Error;
    let text = error.to_string();
    match error {
        Error::UriError(_) => ConnectError::Permanent(text),
        Error::ConnectionOpenError(msg) => match quoted_close(msg) {
            Some((530, reason)) => ConnectError::Refused(format!(
                "RabbitMQ refused vhost {:?} for user {:?}: 530 {reason}. Create the vhost or \
                 grant the user access (rabbitmqctl set_permissions -p VHOST USER '.*' '.*' '.*')",
                settings.vhost, settings.user
            )),
            Some((403, reason)) => ConnectError::Refused(format!(
                "RabbitMQ refused the login of user {:?}: 403 {reason}",
                settings.user
            )),
            Some((code, reason)) => {
                ConnectError::Transient(format!("RabbitMQ closed the connection: {code} {reason}"))
            }
            None => ConnectError::Transient(text),
        },
        Error::NetworkError(msg)
            if msg.contains("reset by peer") || msg.contains("peer shutdown") =>
        {
            // RabbitMQ gives no reason to clients that do not advertise
            // `authentication_failure_close` (amqprs does not): a wrong password and a vhost the
            // user may not open look the same, so name both.
            ConnectError::Refused(format!(
                "RabbitMQ closed the connection during the login of user {:?} to vhost {:?} \
                 ({msg}): wrong credentials, or a vhost that does not exist or that the user may \
                 not access. Check RABBITMQ_USER / RABBITMQ_PASS (or the URL's) and the URL's \
                 vhost; RabbitMQ's guest user may only connect from localhost",
                settings.user, settings.vhost
            ))
        }
        _ => ConnectError::Transient(text),
    }
}

/// The reply code and text of a `connection.close` that amqprs only gives us in Debug form
/// (`… reply_code: 530, reply_text: ShortStr(36, "NOT_ALLOWED - …") …`).
fn quoted_close(message: &str) -> Option<(u16, String)> {
    let code_start = message.find("reply_code: ")? + "reply_code: ".len();
    let code_len = message[code_start..].find(|c: char| !c.is_ascii_digit())?;
    let code = message[code_start..code_start + code_len].parse().ok()?;
    let text_start = message.find("reply_text: ShortStr(")?;
    let quote = text_start + message[text_start..].find('"')? + 1;
    let text_len = message[quote..].find('"')?;
    Some((code, message[quote..quote + text_len].to_owned()))
}

/// A declaration failed. The broker's reply code comes through the channel (or connection)
/// callback, just before amqprs' call returns, so it is normally there already; wait briefly in
/// case it is still on its way.
async fn classify_declare_error(
    what: &Declaration,
    error: &amqprs::error::Error,
    signals: &SessionSignals,
    hint: Option<&str>,
) -> ConnectError {
    let mut close = signals.broker_close();
    for _ in 0..20 {
        if close.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        close = signals.broker_close();
    }
    let Some(BrokerClose { code, text, .. }) = close else {
        return ConnectError::Transient(format!("declaring {what}: {error}"));
    };
    match code {
        406 => ConnectError::Mismatch(format!(
            "RabbitMQ refused to declare {what}: {code} {text}. It exists with other settings: \
             delete it ({}) or run with settings that match it{}",
            what.how_to_delete(),
            hint.map(|h| format!(". {h}")).unwrap_or_default()
        )),
        403 => ConnectError::Refused(format!(
            "RabbitMQ refused to declare {what}: {code} {text}. The user lacks configure \
             permission on it (rabbitmqctl set_permissions)"
        )),
        404 | 530 => {
            ConnectError::Permanent(format!("RabbitMQ refused to declare {what}: {code} {text}"))
        }
        _ => ConnectError::Transient(format!("declaring {what}: {code} {text}")),
    }
}

#[cfg(test)]
mod tests {
    use super::quoted_close;

    #[test]
    fn reply_code_and_text_are_read_from_amqprs_debug_output() {
        let msg = r#"failed to open connection, reason: Close(MethodHeader { class_id: 10, method_id: 50 }, Close { reply_code: 530, reply_text: ShortStr(36, "NOT_ALLOWED - vhost nosuch not found"), class_id: 10, method_id: 40 })"#;
        assert_eq!(
            quoted_close(msg),
            Some((530, "NOT_ALLOWED - vhost nosuch not found".to_owned()))
        );
        assert_eq!(quoted_close("peer shutdown"), None);
    }
}
