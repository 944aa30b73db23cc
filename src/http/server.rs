//! Serving a role's axum `Router` over hyper: stop accepting on shutdown, let in-flight requests
//! finish for a grace period, and bound how long a client may take to send its headers.
//!
//! `axum::serve` would do the first two, but it builds hyper's connection without a timer, so it
//! cannot time out a client that opens a connection and never finishes its headers; a handful of
//! those would pin tasks and sockets forever. This loop is axum's documented "serve with hyper"
//! shape with that one setting added.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// How long a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether a listening port was asked for or is the role's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortChoice {
    /// Given by a flag or env var: if it is taken, that is the user's error to fix.
    Explicit,
    /// The role's default: if it is taken (a second worker on one machine, as the work-queue
    /// tutorial has you start), a free port is used instead and logged.
    Default,
}

/// Where a role listens, and which flag and env var set it (named in errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen {
    /// Address and port; port 0 lets the OS pick a free one (which is logged).
    pub addr: SocketAddr,
    /// Whether a taken port is an error, or falls back to a free one.
    pub choice: PortChoice,
    /// `--port / PORT` or `--health-port / HEALTH_PORT`.
    pub flag: &'static str,
}

/// A port that cannot be listened on: a configuration problem (exit code 2), named by its flag.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr} ({flag}): {source}. Choose another port{hint}")]
pub struct ListenError {
    addr: SocketAddr,
    flag: &'static str,
    hint: &'static str,
    source: std::io::Error,
}

/// Binds `listen`; a taken default port falls back to a free one (logged), a taken explicit one
/// is an error that names the flag and says what to do.
pub async fn bind(listen: Listen) -> Result<TcpListener, ListenError> {
    let refused = |source| ListenError {
        addr: listen.addr,
        flag: listen.flag,
        hint: if listen.flag.starts_with("--health-port") {
            ", or 0 to turn the health endpoints off"
        } else {
            ", or 0 for any free port"
        },
        source,
    };
    match TcpListener::bind(listen.addr).await {
        Ok(listener) => Ok(listener),
        Err(error)
            if error.kind() == std::io::ErrorKind::AddrInUse
                && listen.choice == PortChoice::Default =>
        {
            let free = SocketAddr::new(listen.addr.ip(), 0);
            let listener = TcpListener::bind(free).await.map_err(refused)?;
            let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
            warn!(
                taken = listen.addr.port(),
                port,
                "the default port {} is taken (another instance on this machine?); listening on \
                 {port} instead (set {} to choose, 0 for any free port)",
                listen.addr.port(),
                listen.flag
            );
            Ok(listener)
        }
        Err(source) => Err(refused(source)),
    }
}

/// Serves `router` on `listener` until `shutdown`; then stops accepting, lets open requests
/// finish (for up to `grace`) and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    grace: Duration,
) {
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // EMFILE and friends: back off a little instead of spinning.
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let service = TowerToHyperService::new(router.clone());
                let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        debug!(%peer, error = %e, "HTTP connection ended with an error");
                    }
                });
            }
            _ = shutdown.cancelled() => break,
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => info!("HTTP server drained"),
        _ = tokio::time::sleep(grace) => warn!(grace = ?grace, "HTTP requests still open after the grace period; closing"),
    }
}
