//! Opening one session: the handshake, the channels, the topology, qos and confirm mode, each
//! bounded in time, with failures sorted by [`classify`](super::classify).

use std::sync::Arc;
use std::time::Duration;

use amqprs::channel::{
    BasicConsumeArguments, BasicQosArguments, Channel, ConfirmSelectArguments, ConsumerMessage,
};
use amqprs::connection::Connection;
use tokio::sync::mpsc::UnboundedReceiver;

use super::classify::{classify_declare_error, classify_open_error, ConnectError};
use super::confirms::ConfirmTracker;
use super::manager::ManagerConfig;
use super::probe;
use super::queue_probe::QueueProbe;
use super::rpc::{DIRECT_REPLY_CONSUMER, DIRECT_REPLY_TO};
use super::session::{Session, SessionParts};
use super::settings::AmqpSettings;
use super::signals::{ChannelEvents, ConnectionEvents, SessionSignals};
use super::stall::PublishStall;
use super::topology::Declaration;

/// A connection and its session, owned by the manager task while it lasts.
pub(super) struct Live {
    pub connection: Connection,
    pub session: Session,
}

/// Opens a connection to `settings` (one of the configured endpoints) and sets up session number
/// `generation` on it.
pub(super) async fn connect(
    config: &ManagerConfig,
    settings: &AmqpSettings,
    generation: u64,
    stall: &Arc<PublishStall>,
) -> Result<Live, ConnectError> {
    let args = settings
        .open_arguments(&config.connection_name)
        .map_err(|e| ConnectError::Permanent(format!("{e:#}")))?;
    let too_slow = || {
        ConnectError::Unreachable(format!(
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
                    ConnectError::Unreachable(error.to_string())
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
        set_up(config, &connection, &signals, stall, generation),
    )
    .await
    .unwrap_or_else(|_| Err(too_slow()));
    match set_up {
        Ok(session) => Ok(Live {
            connection,
            session,
        }),
        Err(error) => {
            // Releases the socket watcher's handle, so the half-set-up connection is closed.
            signals.end("set-up failed");
            Err(error)
        }
    }
}

/// Opens a channel with its callback; `confirms` when it will be in confirm mode.
async fn open_channel(
    connection: &Connection,
    signals: &Arc<SessionSignals>,
    stall: &Arc<PublishStall>,
    confirms: Option<Arc<ConfirmTracker>>,
) -> Result<Channel, ConnectError> {
    let channel = connection
        .open_channel(None)
        .await
        .map_err(|e| ConnectError::Unreachable(format!("opening a channel: {e}")))?;
    channel
        .register_callback(ChannelEvents {
            signals: signals.clone(),
            confirms,
            stall: stall.clone(),
        })
        .await
        .map_err(|e| ConnectError::Unreachable(format!("registering channel callback: {e}")))?;
    Ok(channel)
}

/// Everything after the handshake: channels, callbacks, topology, qos, confirm mode.
async fn set_up(
    config: &ManagerConfig,
    connection: &Connection,
    signals: &Arc<SessionSignals>,
    stall: &Arc<PublishStall>,
    generation: u64,
) -> Result<Session, ConnectError> {
    connection
        .register_callback(ConnectionEvents(signals.clone()))
        .await
        .map_err(|e| ConnectError::Unreachable(format!("registering connection callback: {e}")))?;
    let setup = &config.channel;
    let confirms = setup.confirms.then(|| Arc::new(ConfirmTracker::default()));
    let channel = open_channel(connection, signals, stall, confirms.clone()).await?;
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
    if let Some(prefetch) = setup.prefetch {
        channel
            .basic_qos(BasicQosArguments::new(0, prefetch, false))
            .await
            .map_err(|e| ConnectError::Unreachable(format!("setting prefetch {prefetch}: {e}")))?;
    }
    if setup.confirms {
        channel
            .confirm_select(ConfirmSelectArguments::default())
            .await
            .map_err(|e| ConnectError::Unreachable(format!("enabling publisher confirms: {e}")))?;
    }
    // After confirm mode and before the session exists: nothing can publish a request before
    // the reply consumer is there (the broker refuses such a publish with 406).
    let replies = match setup.direct_reply {
        true => Some(consume_direct_replies(&channel).await?),
        false => None,
    };
    let side = match setup.side_channel {
        true => Some(open_channel(connection, signals, stall, None).await?),
        false => None,
    };
    if signals.is_ended() {
        return Err(ConnectError::Unreachable(
            signals
                .reason()
                .unwrap_or_else(|| "connection ended during set-up".to_owned()),
        ));
    }
    let probe = setup
        .queue_probe
        .then(|| QueueProbe::start(connection.clone(), signals.clone()));
    Ok(Session::new(SessionParts {
        generation,
        channel,
        confirms,
        side,
        signals: signals.clone(),
        declared,
        replies,
        probe,
    }))
}

/// Registers the no-ack consumer of `amq.rabbitmq.reply-to` (acking a reply is refused: 406).
async fn consume_direct_replies(
    channel: &Channel,
) -> Result<UnboundedReceiver<ConsumerMessage>, ConnectError> {
    let args = BasicConsumeArguments::new(DIRECT_REPLY_TO, DIRECT_REPLY_CONSUMER)
        .manual_ack(false)
        .finish();
    let (_, replies) = channel
        .basic_consume_rx(args)
        .await
        .map_err(|e| ConnectError::Unreachable(format!("consuming direct replies: {e}")))?;
    Ok(replies)
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
