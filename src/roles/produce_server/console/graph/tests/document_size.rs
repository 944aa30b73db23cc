//! The `/events` document with the diagram in it, for the largest lab the issue names.

use super::*;

/// The large lab: 20 instances over 30 queues (10 work queues, each with a dead-letter
/// queue and a delay queue), every consumer reporting a full snapshot of 200 handled messages
/// with 80-character texts, on a cluster whose management API names every queue's leader. The whole `/events` document stays bounded; the figure is printed
/// (`cargo test -- --nocapture events_document`) and quoted in the docs.
#[test]
fn the_events_document_of_twenty_instances_and_thirty_queues_is_bounded() {
    use super::super::super::view::View;
    use crate::roles::snapshot::MAX_HANDLED;

    let work_queue = |i: usize| {
        let name = QueueName::parse(format!("jobs-{i:02}")).unwrap();
        let delays = crate::amqp::RetryDelays::new(vec![Duration::from_secs(1)]).unwrap();
        WorkQueue {
            dead_letter: Some(DeadLetter::for_queue(&name, None).unwrap()),
            retry: Some(crate::amqp::RetryLadder::for_queue(&name, &delays).unwrap()),
            ..WorkQueue::classic(name)
        }
        .topology()
    };
    let mut view = View::default();
    for round in 0..3 {
        for i in 0..20 {
            let queue = format!("jobs-{:02}", i % 10);
            let topology = work_queue(i % 10);
            let (role, consumes, published_to, handled) = if i == 0 {
                let published_to = (0..10)
                    .map(|q| PublishedTo {
                        exchange: String::new(),
                        queue: Some(format!("jobs-{q:02}")),
                        count: 1000 * round,
                    })
                    .collect();
                ("produce-server", vec![], published_to, vec![])
            } else {
                let text = "x".repeat(80);
                let handled = (0..MAX_HANDLED)
                    .map(|m| {
                        let mut h = handled(
                            &format!("{i}-{round}-{m}-{}", "0".repeat(30)),
                            "",
                            None,
                            Outcome::Acked,
                        );
                        h.trace.preview = text.clone();
                        h
                    })
                    .collect();
                ("consume", vec![queue], vec![], handled)
            };
            let shape = Shape {
                declared: described(&topology, ""),
                consumes,
                published_to,
            };
            // The producer is the messages' `app_id`, so no publisher is inferred.
            let name = if i == 0 {
                "hello-world".to_owned()
            } else {
                format!("instance-{i:02}")
            };
            view.ingest(snapshot(role, &name, shape, handled));
        }
    }
    // On a three-node cluster with --management-url: every queue names its leader and replicas,
    // under the long pod names the Kubernetes cluster overlay gives them.
    let pod = |n: usize| format!("rabbit@rabbitmq-server-{n}.rabbitmq-nodes.services");
    let homes = (0..10)
        .flat_map(|i| {
            let queue = format!("jobs-{i:02}");
            [
                queue.clone(),
                format!("{queue}.dead-letter"),
                format!("{queue}.retry.1s"),
            ]
        })
        .enumerate()
        .map(|(n, queue)| {
            let home = QueueHome {
                leader: pod(n % 3),
                members: (0..3).map(pod).collect(),
            };
            (queue, home)
        })
        .collect();
    view.record_homes(homes);
    let document = view.render(Duration::from_secs(1)).to_string();
    let topology = &serde_json::from_str::<Value>(&document).unwrap()["topology"];
    assert_eq!(topology["instances"].as_array().unwrap().len(), 20);
    let queues = topology["queues"].as_array().unwrap();
    assert_eq!(queues.len(), 30);
    assert!(
        queues.iter().all(|q| q["leader"].is_string()),
        "every queue shows its leader: {queues:?}"
    );
    let topology_bytes = topology.to_string().len();
    let part = |key: &str| topology[key].to_string().len();
    println!(
        "events document: {} bytes, of which topology {} bytes (20 instances, 30 queues): \
         instances {}, exchanges {}, queues {}, bindings {}, edges {}, moves {}, recent {}",
        document.len(),
        topology_bytes,
        part("instances"),
        part("exchanges"),
        part("queues"),
        part("bindings"),
        part("edges"),
        part("moves"),
        part("recent"),
    );
    assert!(document.len() < 96 * 1024, "{} bytes", document.len());
}
