//! Work queues: bursts (`/send-burst`, `playground send`), fair dispatch, simulated work, crash
//! and redelivery, shutdown mid-task, failures, dead letters and quorum delivery limits.
//!
//! - [`dispatch`]: how a burst is shared between workers, and redelivery after a crash;
//! - [`failures`]: shutdown mid-task, rejected messages, dead letters, delivery limits;
//! - [`bursts`]: `/send-burst` and `playground send`, and a queue of another shape.

mod bursts;
mod dispatch;
mod failures;

use std::collections::BTreeSet;
use std::time::Duration;

use crate::helpers::*;

/// `playground send --count N` to `queue` (plus `extra` queue options); asserts it succeeded.
pub(super) async fn send(queue: &str, count: u64, text: &str, extra: &[&str]) {
    let count = count.to_string();
    let url = amqp_url();
    let mut args = vec![
        "send",
        "--queue",
        queue,
        "--count",
        &count,
        "--quiet",
        "--amqp-url",
        &url,
    ];
    args.extend_from_slice(extra);
    args.push(text);
    let (code, output) = run_to_end(&args, Duration::from_secs(30)).await;
    assert_eq!(code, 0, "send failed:\n{output}");
}

/// Waits until the consumers acked `total` messages between them; returns the acks per consumer.
pub(super) async fn wait_acked(
    consumers: &[&Consumer],
    total: usize,
    timeout: Duration,
) -> Vec<Vec<String>> {
    eventually(timeout, &format!("{total} acks"), || async {
        let acked: Vec<Vec<String>> = consumers.iter().map(|c| c.acked_ids()).collect();
        (acked.iter().map(Vec::len).sum::<usize>() >= total).then_some(acked)
    })
    .await
}

/// Every id exactly once across all the consumers' acks.
pub(super) fn assert_acked_exactly_once(acked: &[Vec<String>], expected: usize) {
    let all: Vec<&String> = acked.iter().flatten().collect();
    let distinct: BTreeSet<&String> = all.iter().copied().collect();
    assert_eq!(all.len(), expected, "acks: {acked:?}");
    assert_eq!(
        distinct.len(),
        expected,
        "a message was acked twice: {acked:?}"
    );
}
