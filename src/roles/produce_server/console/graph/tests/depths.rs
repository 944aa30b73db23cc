//! Depths only from the broker's answers: unknown before one, missing (not 0) for a deleted
//! queue, asked again only after a while, and an old answer not shown as current; leaders only
//! from the management API's, for the lab's queues.

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

#[test]
fn leaders_come_from_the_management_api_for_the_labs_queues_only() {
    let mut lab = Lab::new();
    let now = Instant::now();
    let kept = lab.snapshots.clone();
    let leader = |topology: &Value, name: &str| {
        let queue = topology["queues"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["name"] == name)
            .cloned()
            .unwrap();
        (queue["leader"].clone(), queue["members"].clone())
    };
    let topology = lab.render(&[], &[], now);
    assert_eq!(
        leader(&topology, "jobs"),
        (Value::Null, Value::Null),
        "no leader without an answer (or without --management-url)"
    );
    let home = |leader: &str, members: &[&str]| QueueHome {
        leader: leader.to_owned(),
        members: members.iter().map(|m| (*m).to_owned()).collect(),
    };
    let answer = std::collections::HashMap::from([
        (
            "jobs".to_owned(),
            home("rabbit@n2", &["rabbit@n1", "rabbit@n2", "rabbit@n3"]),
        ),
        ("jobs.dead-letter".to_owned(), home("rabbit@n1", &[])),
        ("someone-elses".to_owned(), home("rabbit@n3", &[])),
    ]);
    lab.graph.record_homes(answer, &members(&kept, &[]), now);
    let topology = lab.render(&[], &[], now);
    assert_eq!(
        leader(&topology, "jobs"),
        (
            Value::from("rabbit@n2"),
            serde_json::json!(["rabbit@n1", "rabbit@n2", "rabbit@n3"])
        )
    );
    assert_eq!(leader(&topology, "jobs.dead-letter").0, "rabbit@n1");
    let (homes, _) = lab.graph.homes.as_ref().unwrap();
    assert_eq!(
        homes.keys().collect::<Vec<_>>(),
        ["jobs", "jobs.dead-letter"],
        "queues outside the lab are not kept"
    );
    // When the API stops answering, the last answer ages out instead of staying as current.
    let topology = lab.render(&[], &[], now + PROBE_FRESH + Duration::from_secs(1));
    assert_eq!(leader(&topology, "jobs").0, Value::Null);
}
