//! How a session ends: what waited on it fails at once, and on shutdown its channels and
//! connection are closed politely, each bounded so a silent broker cannot hold the exit.

use std::time::Duration;

use tracing::{debug, info, warn};

use super::connect::Live;
use super::session::Session;

/// Fails every publish still waiting for a confirm on `session`: the connection that would have
/// carried it is gone, so its caller hears so now instead of at its timeout.
pub(super) fn fail_outstanding(session: &Session) {
    if let Some(confirms) = session.gate().confirms() {
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

/// Graceful close: channels, then connection. Errors only mean it was already gone.
pub(super) async fn shut(live: Live) {
    let Live {
        connection,
        session,
    } = live;
    session.end("closed on shutdown");
    fail_outstanding(&session);
    let (channel, side) = session.into_channels();
    // A broker that stopped answering must not hold the exit hostage.
    let bound = Duration::from_secs(5);
    for channel in std::iter::once(channel).chain(side) {
        match tokio::time::timeout(bound, channel.close()).await {
            Ok(Err(e)) => debug!(error = %e, "channel was already closed"),
            Err(_) => warn!("channel close not answered within 5s"),
            Ok(Ok(())) => {}
        }
    }
    match tokio::time::timeout(bound, connection.close()).await {
        Ok(Err(e)) => debug!(error = %e, "connection was already closed"),
        Err(_) => warn!("connection close not answered within 5s"),
        Ok(Ok(())) => {}
    }
    info!("closed the RabbitMQ connection");
}
