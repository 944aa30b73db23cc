//! Test harness: spawn the real `playground` binary, talk HTTP and AMQP to it, cut its broker
//! connection with a TCP proxy, and clean up every queue a test declared.
//!
//! - [`process`]: the binary as a child process; [`roles`]: the roles started and read back;
//! - [`http`]: requests and metrics; [`broker`]: the test's own AMQP connection and cleanup
//!   guards; [`admin`]: `rabbitmqctl`; [`management`]: the management API; [`proxy`]: cutting
//!   connections.

pub mod admin;
pub mod broker;
pub mod http;
pub mod management;
pub mod process;
pub mod proxy;
pub mod roles;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use admin::*;
pub use broker::*;
pub use http::*;
pub use management::*;
pub use process::*;
pub use proxy::*;
pub use roles::*;

pub const BIN: &str = env!("CARGO_BIN_EXE_playground");

/// A name no other test (or run) uses.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "pgtest-{prefix}-{}-{}-{:04x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        fastrand::u16(..)
    )
}

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A free TCP port on loopback (bound then released: another process could take it, but the
/// kernel does not hand out recently used ephemeral ports soon).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}
