//! Depths only from the broker's answers: unknown before one, missing (not 0) for a deleted
//! queue, asked again only after a while, and an old answer not shown as current.

use super::*;

#[test]
fn depths_come_from_the_broker_and_a_deleted_queue_is_missing_not_zero() {
    let mut lab = Lab::new();
    let now = Instant::now();
    let kept = lab.snapshots.clone();
    let targets = lab.graph.probe_targets(&members(&kept, &[]), now);
    assert_eq!(
        targets,
        ["jobs", "jobs.dead-letter"],
        "exclusive queues are their owners'"
    );
    let queue = |topology: &Value, name: &str| {
        topology["queues"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["name"] == name)
            .cloned()
            .unwrap()
    };
    let topology = lab.render(&[], &[], now);
    assert_eq!(
        queue(&topology, "jobs")["depth"],
        Value::Null,
        "unknown before an answer"
    );
    let counts = QueueCounts {
        messages: 7,
        consumers: 2,
    };
    lab.graph.record_probe("jobs".to_owned(), Ok(counts), now);
    lab.graph.record_probe(
        "jobs.dead-letter".to_owned(),
        Err(ProbeFailure::NotFound),
        now,
    );
    let topology = lab.render(&[], &[], now);
    assert_eq!(queue(&topology, "jobs")["depth"], 7);
    assert_eq!(queue(&topology, "jobs")["consumers"], 2);
    let deleted = queue(&topology, "jobs.dead-letter");
    assert_eq!(
        (deleted["missing"].clone(), deleted["depth"].clone()),
        (Value::Bool(true), Value::Null)
    );
    // A missing queue is asked about again only after a while.
    let targets = lab.graph.probe_targets(&members(&kept, &[]), now);
    assert_eq!(targets, ["jobs"]);
    let later = now + MISSING_RECHECK + Duration::from_secs(1);
    assert_eq!(
        lab.graph.probe_targets(&members(&kept, &[]), later).len(),
        2
    );
    // An old answer is not shown as if it were current.
    let topology = lab.render(&[], &[], now + PROBE_FRESH + Duration::from_secs(1));
    assert_eq!(queue(&topology, "jobs")["depth"], Value::Null);
}
