//! Waiting for a session, the two ways roles do it: a command someone is watching (`send`,
//! `perf`) waits a bounded time for the first one and tells a refused login from a broker that
//! does not answer; a long-running role waits, as long as it takes, for the next live one after
//! every reconnect.

use std::time::Duration;

use tokio::sync::watch;

use super::manager::ConnectionManager;
use super::session::Session;
use super::state::{Cause, ConnectionState, Refusal};

/// Why a command-line role got no session: the broker refused it for good (a [`Refusal`], which
/// may be a settings mismatch), or it refused the login, or nothing answered in time — three
/// different things for a person to fix.
#[derive(Debug, thiserror::Error)]
pub enum NoSession {
    /// The manager gave up for good.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The broker answered and refused the login or the vhost.
    #[error("RabbitMQ at {url} refused the connection: {error}")]
    LoginRefused {
        /// The broker's URL, password hidden.
        url: String,
        /// The refusal in words.
        error: String,
    },
    /// Nothing answered within the wait.
    #[error("could not reach RabbitMQ at {url} within {}: {error}", humantime::format_duration(*.waited))]
    Unreachable {
        /// The broker's URL, password hidden.
        url: String,
        /// How long it was waited for.
        waited: Duration,
        /// The last attempt's error.
        error: String,
    },
}

impl ConnectionManager {
    /// The first session, for a command someone is watching (`send`, `perf`): waits at most
    /// `wait` for a broker that does not answer, but not for a refused login, which a person must
    /// fix anyway.
    pub async fn first_session(&self, wait: Duration) -> Result<Session, NoSession> {
        let mut sessions = self.sessions();
        let last_error =
            |state: &ConnectionState| state.last_error().unwrap_or("no answer").to_owned();
        let login_refused = async {
            let mut state = self.state();
            loop {
                if let ConnectionState::Disconnected {
                    cause: Cause::Refused,
                    last_error,
                } = &*state.borrow_and_update()
                {
                    return last_error.clone();
                }
                if state.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            session = tokio::time::timeout(wait, next_live_session(&mut sessions)) => {
                match (session, self.failure()) {
                    (Ok(Some(session)), None) => Ok(session),
                    (_, Some(refusal)) => Err(NoSession::Refused(refusal)),
                    _ => Err(NoSession::Unreachable {
                        url: self.url().to_owned(),
                        waited: wait,
                        error: last_error(&self.state().borrow()),
                    }),
                }
            }
            refusal = self.failed() => Err(NoSession::Refused(refusal)),
            error = login_refused => Err(NoSession::LoginRefused { url: self.url().to_owned(), error }),
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

/// The broker's refusal behind `error`, whether a role returned it as it is or inside
/// [`NoSession`]: `main` turns a settings mismatch into exit code 2 either way.
pub fn refusal_in(error: &anyhow::Error) -> Option<&Refusal> {
    match error.downcast_ref::<NoSession>() {
        Some(NoSession::Refused(refusal)) => Some(refusal),
        _ => error.downcast_ref::<Refusal>(),
    }
}
