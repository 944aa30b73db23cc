//! The fault suite: break things on purpose and count what survived. Nothing the service confirmed
//! (a 200) may be lost; duplicates are allowed (at-least-once) and reported.
//!
//! Cuts go through a TCP proxy in front of the shared broker; restarts and alarms happen on a
//! private node (see `private_broker.rs`), so the other tests never notice. `make chaos` runs the
//! cut and restart scenarios at a larger scale through `CHAOS_MESSAGES` and `CHAOS_CUTS`.
//!
//! - [`broker_faults`]: connections cut under load, a broker restart, a memory alarm;
//! - [`process_faults`]: a consumer killed mid-message, a rolling restart, secrets in logs.

mod broker_faults;
mod process_faults;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::*;
pub(super) fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What a load run saw from the HTTP side.
#[derive(Default)]
pub(super) struct LoadOutcome {
    /// Ids of messages answered 200 (confirmed by the broker).
    confirmed: Vec<String>,
    /// Non-200 answers by status.
    refused: HashMap<u16, usize>,
}

/// POSTs `total` messages to `/send-message` with `clients` concurrent keep-alive clients, each
/// retrying a message after a 503/504 (as a client honouring Retry-After would) up to 50 times;
/// `progress` counts messages done so far.
pub(super) async fn post_load(
    base: String,
    total: usize,
    clients: usize,
    progress: Arc<AtomicUsize>,
) -> LoadOutcome {
    let next = Arc::new(AtomicUsize::new(0));
    let outcome = Arc::new(Mutex::new(LoadOutcome::default()));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (next, outcome, progress, base) = (
            next.clone(),
            outcome.clone(),
            progress.clone(),
            base.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= total {
                    return;
                }
                for _attempt in 0..50 {
                    let (status, body) = post_json(
                        &client,
                        &format!("{base}/send-message"),
                        &json!({ "message": format!("load {i}") }),
                    )
                    .await;
                    let done = {
                        let mut outcome = outcome.lock().unwrap();
                        if status == 200 {
                            outcome
                                .confirmed
                                .push(body["data"]["id"].as_str().unwrap().to_owned());
                        } else {
                            *outcome.refused.entry(status).or_default() += 1;
                        }
                        status == 200 || (status != 503 && status != 504)
                    };
                    if done {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                progress.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    Arc::try_unwrap(outcome).ok().unwrap().into_inner().unwrap()
}

/// Waits until every id in `confirmed` was received by one of `consumers`; returns how many
/// deliveries each id got.
pub(super) async fn wait_consumed(
    consumers: &[&Consumer],
    confirmed: &[String],
    timeout: Duration,
) -> HashMap<String, usize> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut seen: HashMap<String, usize> = HashMap::new();
        for consumer in consumers {
            for id in consumer.received_ids() {
                *seen.entry(id).or_default() += 1;
            }
        }
        let missing = confirmed
            .iter()
            .filter(|id| !seen.contains_key(*id))
            .count();
        if missing == 0 {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} of {} confirmed messages were never consumed",
            confirmed.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every non-200 must be a clean "try again" (503) or "not confirmed in time" (504).
pub(super) fn assert_clean_refusals(refused: &HashMap<u16, usize>) {
    for status in refused.keys() {
        assert!(
            *status == 503 || *status == 504,
            "unexpected statuses: {refused:?}"
        );
    }
}
