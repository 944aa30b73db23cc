//! SIGINT/SIGTERM as one cancellation token that every role's loops `select!` on.
//!
//! Kubernetes sends SIGTERM and waits `terminationGracePeriodSeconds` before SIGKILL; a terminal
//! sends SIGINT. Both mean "finish what is in hand and leave". Tests pass their own token instead.

use tokio_util::sync::CancellationToken;

/// A token cancelled by the first SIGINT or SIGTERM. Later signals are swallowed, so a second
/// Ctrl-C (or `make run` passing SIGTERM after the terminal's SIGINT) cannot cut the drain short;
/// every drain step is bounded by a timeout instead.
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        match wait_for_signal().await {
            Ok(name) => tracing::info!(signal = name, "shutting down"),
            Err(e) => tracing::error!(error = %e, "cannot listen for signals; shutting down"),
        }
        trigger.cancel();
    });
    token
}

#[cfg(unix)]
async fn wait_for_signal() -> std::io::Result<&'static str> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}

#[cfg(not(unix))]
async fn wait_for_signal() -> std::io::Result<&'static str> {
    tokio::signal::ctrl_c().await?;
    Ok("Ctrl-C")
}
