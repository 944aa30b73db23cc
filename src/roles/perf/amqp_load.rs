//! `perf` over AMQP: like RabbitMQ's PerfTest, every producer and consumer on its own
//! connection (its own connection manager), all connected and the queue declared before the
//! clock starts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::clients::{produce, queue_spec, receive};
use super::report::{print_summary, report_every_second};
use super::stats::Stats;
use super::{run_until, PerfConfig};
use crate::amqp::{
    consume_across_sessions, AmqpOptions, ChannelSetup, ConfirmedPublisher, ConnectionManager,
    ConsumerEvent, ConsumerTag, InstanceName, QueueName, Topology,
};
use crate::identity;
use crate::metrics::Metrics;

/// Runs producers and consumers over AMQP until `--time`, `--count` or `shutdown`; then lets the
/// consumers take what was published, deletes a scratch queue, and prints the summary.
pub async fn run(
    config: &PerfConfig,
    amqp: AmqpOptions,
    stats: Arc<Stats>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let queue = match config.queue.clone() {
        Some(queue) => queue,
        None => QueueName::parse(format!("perf-{}", uuid::Uuid::new_v4().simple()))?,
    };
    let topology = Topology {
        queues: vec![queue_spec(config, &queue)],
        ..Topology::default()
    };
    // perf measures the broker, not the console: no snapshots, no side channels.
    let amqp = AmqpOptions {
        snapshots: None,
        ..amqp
    };
    let metrics = Arc::new(Metrics::new("perf"));
    let app_id = InstanceName::parse("playground-perf")?;

    // Producers stop first; consumers keep taking what was published, then stop.
    let stop = CancellationToken::new();
    let stop_consumers = CancellationToken::new();
    let mut managers = Vec::new();
    let mut tasks = JoinSet::new();
    for i in 0..config.consumers {
        let manager = Arc::new(ConnectionManager::start(
            amqp.for_role(
                identity::connection_name(&format!("perf consumer {i}")),
                topology.clone(),
                ChannelSetup {
                    prefetch: Some(config.prefetch),
                    ..ChannelSetup::default()
                },
            ),
            metrics.clone(),
        ));
        managers.push(manager.clone());
        let (stats, stop, queue, work) = (
            stats.clone(),
            stop_consumers.clone(),
            queue.clone(),
            config.work,
        );
        tasks.spawn(async move {
            let tag = ConsumerTag::for_instance(&format!("perf-consumer-{i}"), std::process::id());
            let _ = consume_across_sessions(
                &manager,
                &tag,
                &stop,
                |_| Some(queue.clone()),
                |_: ConsumerEvent<'_>| {},
                |delivery| receive(&stats, work, delivery),
            )
            .await;
        });
    }
    let mut producer_managers = Vec::new();
    for i in 0..config.producers {
        producer_managers.push(Arc::new(ConnectionManager::start(
            amqp.for_role(
                identity::connection_name(&format!("perf producer {i}")),
                topology.clone(),
                ChannelSetup {
                    confirms: config.confirm > 0,
                    ..ChannelSetup::default()
                },
            ),
            metrics.clone(),
        )));
    }
    // Everyone connected (and the queue declared) before the clock starts.
    for manager in managers.iter().chain(&producer_managers) {
        manager.first_session(Duration::from_secs(30)).await?;
    }
    eprintln!(
        "perf: {} producer(s), {} consumer(s), queue {queue}, {} B messages, confirm {}, \
         prefetch {}, rate {}",
        config.producers,
        config.consumers,
        config.size,
        config.confirm,
        config.prefetch,
        if config.rate > 0.0 {
            format!("{}/s per producer", config.rate)
        } else {
            "unlimited".to_owned()
        }
    );

    let started = Instant::now();
    let mut producers = JoinSet::new();
    for manager in &producer_managers {
        let publisher = ConfirmedPublisher::new(manager, Duration::from_secs(10), app_id.clone());
        producers.spawn(produce(
            config.clone(),
            queue.clone(),
            publisher,
            stats.clone(),
            stop.clone(),
        ));
    }
    managers.extend(producer_managers);
    let reporter = tokio::spawn(report_every_second(
        stats.clone(),
        stop_consumers.clone(),
        started,
        false,
    ));

    // Run until the time is up, every producer is done (or, consumers only, `--count` arrived),
    // or Ctrl-C.
    let finished = async {
        if config.producers == 0 {
            let Some(count) = config.count else {
                return std::future::pending().await;
            };
            while stats.counters().received < count {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        } else if config.count.is_some() {
            while producers.join_next().await.is_some() {}
        } else {
            std::future::pending::<()>().await;
        }
    };
    run_until(config.time, finished, &shutdown).await;
    let publishing_stopped = started.elapsed();
    stop.cancel();
    while producers.join_next().await.is_some() {}
    // Let consumers take what was published (bounded: stop once they make no progress).
    if config.consumers > 0 {
        let target = {
            let c = stats.counters();
            if config.confirm > 0 {
                c.confirmed
            } else {
                c.sent
            }
        };
        let mut last = (stats.counters().received, Instant::now());
        while stats.counters().received < target && !shutdown.is_cancelled() {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let received = stats.counters().received;
            if received != last.0 {
                last = (received, Instant::now());
            } else if last.1.elapsed() > Duration::from_secs(3) {
                break;
            }
        }
    }
    let elapsed = started.elapsed();
    stop_consumers.cancel();
    let _ = reporter.await;
    while tasks.join_next().await.is_some() {}
    if config.queue.is_none() {
        if let Some(session) = managers.first().and_then(|m| m.current()) {
            let _ = session.delete_queue(&queue).await;
        }
    }
    for manager in &managers {
        manager.close().await;
    }
    print_summary(
        config,
        &stats,
        stats.counters(),
        publishing_stopped,
        elapsed,
    );
    Ok(())
}
