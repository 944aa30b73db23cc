//! Publish/subscribe: fanout to exclusive and shared queues, the topic routing truth table,
//! direct routing, `/publish` with `routed`, re-subscribing after a cut connection, and the
//! start-up errors. Each test on exchanges of its own.
//!
//! - [`routing`]: who gets which message, over every exchange type and through `/publish`;
//! - [`failures`]: a cut connection, and the start-up errors of subscribers;
//! - [`headers`]: the headers exchange's truth table, and the alternate exchange.

mod failures;
mod headers;
mod routing;

use std::time::Duration;

use crate::helpers::*;

/// Publishes over AMQP with `playground send --exchange KIND`; asserts it succeeded.
pub(super) async fn send_to(
    exchanges: &TestExchanges,
    kind: &str,
    key: &str,
    count: u64,
    text: &str,
) {
    let url = amqp_url();
    let count = count.to_string();
    let mut args = vec![
        "send",
        "--exchange",
        kind,
        "--routing-key",
        key,
        "--count",
        &count,
        "--quiet",
        "--amqp-url",
        &url,
    ];
    args.extend(exchanges.flags());
    args.push(text);
    let (code, output) = run_to_end(&args, Duration::from_secs(30)).await;
    assert_eq!(code, 0, "send failed:\n{output}");
}

/// Waits until `subscriber` received `count` messages.
pub(super) async fn wait_received(subscriber: &Subscriber, count: usize) {
    eventually(
        Duration::from_secs(15),
        &format!("{count} messages received"),
        || async { (subscriber.received().len() >= count).then_some(()) },
    )
    .await;
}
