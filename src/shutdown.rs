//! When to stop: SIGINT/SIGTERM, or a panic anywhere in the process, as one cancellation token
//! that every role's loops `select!` on.
//!
//! Kubernetes sends SIGTERM and waits `terminationGracePeriodSeconds` before SIGKILL; a terminal
//! sends SIGINT. Both mean "finish what is in hand and leave". A panic means the process can no
//! longer be trusted: a panicked tokio task just disappears, and whatever waited on it (a request,
//! a connection's writer) would wait forever while `/health` kept saying "healthy". So the panic
//! hook records the panic, logs it, and triggers the same orderly shutdown; `main` then exits
//! with [`PANIC_EXIT_CODE`] and `/health` answers 503 until it does. Tests pass their own token.

use std::sync::OnceLock;

use tokio_util::sync::CancellationToken;

/// The exit code after a panic, told apart from a runtime failure (1) and a usage error (2).
pub const PANIC_EXIT_CODE: u8 = 70;

/// The first panic's message, process-wide because a panic hook is.
static PANICKED: OnceLock<String> = OnceLock::new();

/// The first panic's message, if the process panicked.
pub fn panicked() -> Option<&'static str> {
    PANICKED.get().map(String::as_str)
}

/// A token cancelled by the first SIGINT or SIGTERM, or by the first panic. Later signals are
/// swallowed, so a second Ctrl-C (or `make run` passing SIGTERM after the terminal's SIGINT)
/// cannot cut the drain short; every drain step is bounded by a timeout instead.
pub fn on_signal_or_panic() -> CancellationToken {
    let token = CancellationToken::new();
    install_panic_hook(token.clone());
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

fn install_panic_hook(trigger: CancellationToken) {
    std::panic::set_hook(Box::new(move |info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".to_owned());
        let message = format!("{payload}{location}");
        let _ = PANICKED.set(message.clone());
        tracing::error!(panic = %message, "a task panicked; shutting down");
        trigger.cancel();
    }));
}

/// Debug builds only: `PLAYGROUND_TEST_PANIC_AFTER=<duration>` panics in a spawned task after
/// that long, so the integration tests can show what a panic does to a running role. Compiled out
/// of release builds.
#[cfg(debug_assertions)]
#[allow(
    clippy::panic,
    reason = "the panic is the point: it is injected on request, in tests"
)]
pub fn inject_test_panic() {
    let after = std::env::var("PLAYGROUND_TEST_PANIC_AFTER")
        .ok()
        .and_then(|value| humantime::parse_duration(&value).ok());
    if let Some(after) = after {
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            panic!("injected by PLAYGROUND_TEST_PANIC_AFTER");
        });
    }
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
