//! `playground call MESSAGE`: the command-line caller of request/reply, over the same
//! [`RpcClient`] as produce-server's `POST /rpc`. Prints one line per reply with its round trip,
//! then a summary (calls, replies, p50/p99 round trip, calls per second); exit code 1 unless
//! every call was answered.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::amqp::{
    AmqpOptions, ChannelSetup, ConnectionManager, InstanceName, QueueName, RpcClient, RpcRequest,
    Topology,
};
use crate::identity;
use crate::message::{numbered_text, Envelope};
use crate::metrics::Metrics;
use crate::roles::rpc_reply::ReplyBody;

/// Settings of `call`, built from its flags.
#[derive(Debug, Clone)]
pub struct CallConfig {
    /// The request's text (numbered per call when `count` is over 1).
    pub text: String,
    /// Calls to make.
    pub count: u64,
    /// Calls in flight at once.
    pub concurrency: u64,
    /// The queue the rpc-servers consume.
    pub queue: QueueName,
    /// How long each call waits for its reply.
    pub timeout: Duration,
    /// How long to wait for the first connection.
    pub connect_wait: Duration,
    /// The caller's name, as the requests' `app_id`.
    pub name: InstanceName,
    /// Only the summary line, not one per reply (for benchmarks).
    pub quiet: bool,
}

/// What the calls came to. Round trips go into a histogram (1 µs to 5 min, 3 significant
/// digits): fixed memory however many calls `--count` asks for.
#[derive(Debug)]
struct Results {
    replied: AtomicU64,
    error_replies: AtomicU64,
    failed: AtomicU64,
    round_trips: Mutex<Histogram<u64>>,
}

impl Results {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            replied: AtomicU64::new(0),
            error_replies: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            round_trips: Mutex::new(
                Histogram::new_with_bounds(1, 300_000_000, 3)
                    .context("creating the round-trip histogram")?,
            ),
        })
    }
}

/// Connects, makes the calls, prints the replies and a summary, closes.
pub async fn run(
    config: CallConfig,
    amqp: AmqpOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let manager = Arc::new(ConnectionManager::start(
        amqp.for_role(
            identity::connection_name("call"),
            Topology::default(),
            ChannelSetup {
                confirms: true,
                direct_reply: true,
                ..ChannelSetup::default()
            },
        ),
        Arc::new(Metrics::new("call")),
    ));
    let result = call_all(&config, &manager, &shutdown).await;
    manager.close().await;
    result
}

async fn call_all(
    config: &CallConfig,
    manager: &ConnectionManager,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    tokio::select! {
        session = manager.first_session(config.connect_wait) => { session?; }
        _ = shutdown.cancelled() => anyhow::bail!("interrupted before connecting; no call was made"),
    }
    info!(queue = %config.queue, count = config.count, concurrency = config.concurrency, "calling");
    let client = Arc::new(RpcClient::new(manager, config.name.clone()));
    let stop = CancellationToken::new();
    let router = tokio::spawn(client.route_replies(stop.clone()));
    let results = Arc::new(Results::new()?);
    let next = Arc::new(AtomicU64::new(1));
    let started = Instant::now();
    let mut callers = JoinSet::new();
    for _ in 0..config.concurrency.min(config.count) {
        let (client, results, next) = (client.clone(), results.clone(), next.clone());
        let (config, shutdown) = (config.clone(), shutdown.clone());
        callers.spawn(async move {
            loop {
                let seq = next.fetch_add(1, Ordering::Relaxed);
                if seq > config.count || shutdown.is_cancelled() {
                    return;
                }
                call_one(&client, &config, seq, &results).await;
            }
        });
    }
    while let Some(joined) = callers.join_next().await {
        joined.context("a caller task failed")?;
    }
    let elapsed = started.elapsed();
    stop.cancel();
    let _ = router.await;
    summarise(config, &results, elapsed)
}

async fn call_one(client: &RpcClient, config: &CallConfig, seq: u64, results: &Results) {
    let envelope = Envelope {
        seq: (config.count > 1).then_some(seq),
        ..Envelope::new(
            numbered_text(&config.text, seq, config.count),
            config.name.as_str(),
        )
    };
    let request = RpcRequest {
        queue: config.queue.clone(),
        body: envelope.to_json(),
        message_id: envelope.id.clone(),
        timeout: config.timeout,
    };
    match client.call(request).await {
        Ok(reply) => {
            let ms = reply.round_trip.as_secs_f64() * 1000.0;
            let body: Option<ReplyBody> = serde_json::from_slice(&reply.body).ok();
            let server = reply.server.unwrap_or_default();
            let ok = body.as_ref().is_some_and(|b| b.ok);
            let counter = if ok {
                &results.replied
            } else {
                &results.error_replies
            };
            counter.fetch_add(1, Ordering::Relaxed);
            results
                .round_trips
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .saturating_record(u64::try_from(reply.round_trip.as_micros()).unwrap_or(u64::MAX));
            if !config.quiet {
                let answer = match &body {
                    Some(ReplyBody {
                        ok: true, reply, ..
                    }) => reply.clone().unwrap_or_default(),
                    Some(ReplyBody { error, .. }) => {
                        format!("ERROR {}", error.as_deref().unwrap_or("(no reason)"))
                    }
                    None => format!("(not a reply: {} bytes)", reply.body.len()),
                };
                println!(
                    "reply {seq}/{} from {server} in {ms:.2} ms: {answer}",
                    config.count
                );
            }
        }
        Err(error) => {
            results.failed.fetch_add(1, Ordering::Relaxed);
            warn!(seq, message_id = %envelope.id, %error, "call failed");
            if !config.quiet {
                println!("call {seq}/{} failed: {error}", config.count);
            }
        }
    }
}

/// Prints the summary; fails unless every call was answered.
fn summarise(config: &CallConfig, results: &Results, elapsed: Duration) -> anyhow::Result<()> {
    let trips = results
        .round_trips
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let percentile = |p: f64| match trips.is_empty() {
        true => 0.0,
        false => trips.value_at_quantile(p) as f64 / 1000.0,
    };
    let replied = results.replied.load(Ordering::Relaxed);
    let error_replies = results.error_replies.load(Ordering::Relaxed);
    let failed = results.failed.load(Ordering::Relaxed);
    let answered = replied + error_replies;
    let rate = answered as f64 / elapsed.as_secs_f64().max(1e-9);
    println!(
        "calls={} replied={replied} error_replies={error_replies} failed={failed} \
         p50_ms={:.2} p99_ms={:.2} calls_per_s={rate:.0} concurrency={}",
        config.count,
        percentile(0.50),
        percentile(0.99),
        config.concurrency
    );
    if answered < config.count {
        anyhow::bail!(
            "{} of {} calls got no reply (see the lines above)",
            config.count - answered,
            config.count
        );
    }
    Ok(())
}
