//! The view's aggregation: bursts, the routing-key matrix, highlights, retries and bounds.
use super::*;
use crate::roles::snapshot::{Identity, SnapshotCounters};

fn snapshot(role: &str, name: &str, handled: Vec<Handled>) -> Snapshot {
    Snapshot {
        identity: Identity {
            role: role.to_owned(),
            instance: name.to_owned(),
            ..Identity::default()
        },
        process: format!("host/{name}"),
        connection: "connected".to_owned(),
        node: Some("127.0.0.1:5682".to_owned()),
        counters: SnapshotCounters::default(),
        handled,
        cut: 0,
        rpc: None,
        interval_ms: 1000,
        sent_at: rfc3339_now(),
        stream: None,
        shape: None,
    }
}

fn handled(burst: Option<&str>, key: Option<&str>, outcome: Outcome) -> Handled {
    Handled {
        message_id: "m".to_owned(),
        seq: Some(1),
        burst: burst.map(str::to_owned),
        routing_key: key.map(str::to_owned),
        redelivered: false,
        outcome,
        attempt: None,
        trace: crate::roles::snapshot::Trace::default(),
    }
}

#[test]
fn bursts_matrix_and_highlights_are_aggregated() {
    let mut view = View::default();
    view.ingest(snapshot(
        "consume",
        "fast",
        vec![handled(Some("b1"), None, Outcome::Acked); 3],
    ));
    view.ingest(snapshot(
        "consume",
        "slow",
        vec![
            handled(Some("b1"), None, Outcome::Acked),
            handled(Some("b1"), None, Outcome::DeadLettered),
        ],
    ));
    view.ingest(snapshot(
        "topic-sub",
        "error-handler",
        vec![handled(None, Some("app.error"), Outcome::Acked)],
    ));
    let rendered = view.render(Duration::from_secs(1));
    assert_eq!(rendered["last_burst"]["handled"]["fast"], 3);
    assert_eq!(rendered["last_burst"]["handled"]["slow"], 2);
    assert_eq!(rendered["last_burst"]["count"], 5);
    assert_eq!(
        rendered["matrix"]["counts"]["app.error"]["error-handler"],
        1
    );
    assert_eq!(rendered["highlights"][0]["kind"], "dead_lettered");
    assert_eq!(rendered["instances"].as_array().unwrap().len(), 3);
    // A new burst starts new bars; a late report of the old one does not reset them.
    view.ingest(snapshot(
        "consume",
        "fast",
        vec![handled(Some("b2"), None, Outcome::Acked)],
    ));
    view.ingest(snapshot(
        "consume",
        "slow",
        vec![handled(Some("b1"), None, Outcome::Acked)],
    ));
    view.ingest(snapshot(
        "consume",
        "fast",
        vec![handled(Some("b2"), None, Outcome::Acked)],
    ));
    let rendered = view.render(Duration::from_secs(1));
    assert_eq!(rendered["last_burst"]["id"], "b2");
    assert_eq!(rendered["last_burst"]["count"], 2);
}

#[test]
fn retries_are_counted_per_attempt_and_highlighted() {
    let mut view = View::default();
    let retried = |attempt| Handled {
        attempt: Some(attempt),
        ..handled(None, None, Outcome::Retried)
    };
    view.ingest(snapshot(
        "consume",
        "worker",
        vec![retried(1), retried(1), retried(2), retried(99)],
    ));
    let rendered = view.render(Duration::from_secs(1));
    assert_eq!(rendered["retries"]["1"], 2);
    assert_eq!(rendered["retries"]["2"], 1);
    assert!(rendered["retries"].get("99").is_none(), "bounded");
    assert_eq!(rendered["highlights"][0]["kind"], "retried");
    assert_eq!(rendered["highlights"][1]["attempt"], 2);
}

#[test]
fn the_matrix_keeps_the_most_recent_routing_keys_and_counts_the_rest() {
    let mut view = View::default();
    for batch in 0..100 {
        let handled = (0..100)
            .map(|i| {
                let key = format!("key.{batch}.{i}");
                handled(None, Some(key.as_str()), Outcome::Acked)
            })
            .collect();
        view.ingest(snapshot("topic-sub", "audit", handled));
    }
    let rendered = view.render(Duration::from_secs(1));
    let keys = rendered["matrix"]["routing_keys"].as_array().unwrap();
    assert_eq!(keys.len(), MAX_ROUTING_KEYS);
    assert!(keys
        .iter()
        .all(|k| k.as_str().unwrap().starts_with("key.99.")));
    assert_eq!(
        rendered["matrix"]["dropped_routing_keys"],
        10_000 - MAX_ROUTING_KEYS as u64
    );
    assert!(
        rendered.to_string().len() < 16 * 1024,
        "{}",
        rendered.to_string().len()
    );
}
