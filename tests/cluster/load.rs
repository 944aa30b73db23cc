//! Load and observation for the scenarios: clients POSTing messages while a driver breaks nodes
//! at chosen points, what each request was answered, and how long each role was not ready.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::task::JoinHandle;

/// What the clients got back.
#[derive(Default, Debug)]
pub struct Outcomes {
    /// The `data.id` of every request answered 200: the broker confirmed these.
    pub confirmed: Vec<String>,
    /// How many requests got each status (0: no answer at all, a transport error).
    pub statuses: BTreeMap<u16, u64>,
    /// The longest any request took to be answered.
    pub slowest: Duration,
}

impl Outcomes {
    pub fn sent(&self) -> u64 {
        self.statuses.values().sum()
    }

    /// `200: 19873, 503: 101, 504: 26`.
    pub fn statuses_line(&self) -> String {
        self.statuses
            .iter()
            .map(|(status, n)| format!("{status}: {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Every status other than 200 must be one of `allowed`.
    pub fn assert_failures_only(&self, allowed: &[u16]) {
        for status in self.statuses.keys() {
            assert!(
                *status == 200 || allowed.contains(status),
                "unexpected status {status}: {}",
                self.statuses_line()
            );
        }
    }
}

/// Hands out request numbers and holds clients back at the next milestone until the driver lets
/// them past, so each fault happens at a known point of the run, with clients still sending.
pub struct Gate {
    total: u64,
    next: AtomicU64,
    done: AtomicU64,
    open_until: AtomicU64,
}

impl Gate {
    pub fn new(total: u64, first_stop: u64) -> Arc<Self> {
        Arc::new(Self {
            total,
            next: AtomicU64::new(0),
            done: AtomicU64::new(0),
            open_until: AtomicU64::new(first_stop),
        })
    }

    /// Waits until every request below `milestone` was answered.
    pub async fn reached(&self, milestone: u64) {
        while self.done.load(Ordering::SeqCst) < milestone.min(self.total) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Lets clients send up to request `until`.
    pub fn open(&self, until: u64) {
        self.open_until.store(until, Ordering::SeqCst);
    }

    /// No new requests after the ones under way: for loads that run until told.
    pub fn stop(&self) {
        self.next.store(self.total, Ordering::SeqCst);
    }

    pub fn done(&self) -> u64 {
        self.done.load(Ordering::SeqCst)
    }
}

/// `clients` concurrent keep-alive clients POSTing `/send-message` until the gate's total is
/// sent, each pausing `pace` between requests; each request is answered or abandoned after
/// `deadline`.
pub fn post_messages(
    base: &str,
    clients: usize,
    gate: Arc<Gate>,
    deadline: Duration,
    pace: Duration,
) -> JoinHandle<Outcomes> {
    let url = format!("{base}/send-message");
    tokio::spawn(async move {
        let outcomes = Arc::new(Mutex::new(Outcomes::default()));
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let (url, gate, outcomes) = (url.clone(), gate.clone(), outcomes.clone());
            tasks.push(tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .timeout(deadline)
                    .build()
                    .expect("HTTP client");
                loop {
                    let n = gate.next.fetch_add(1, Ordering::SeqCst);
                    if n >= gate.total {
                        return;
                    }
                    while gate.open_until.load(Ordering::SeqCst) <= n {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    let started = Instant::now();
                    let answer = client
                        .post(&url)
                        .json(&json!({ "message": format!("message {n}") }))
                        .send()
                        .await;
                    let (status, id) = match answer {
                        Ok(response) => {
                            let status = response.status().as_u16();
                            let body: serde_json::Value = response.json().await.unwrap_or_default();
                            (status, body["data"]["id"].as_str().map(str::to_owned))
                        }
                        Err(_) => (0, None),
                    };
                    let took = started.elapsed();
                    {
                        let mut o = outcomes.lock().unwrap();
                        *o.statuses.entry(status).or_default() += 1;
                        o.slowest = o.slowest.max(took);
                        if status == 200 {
                            o.confirmed.push(id.expect("a 200 names its message"));
                        }
                    }
                    gate.done.fetch_add(1, Ordering::SeqCst);
                    if status != 200 {
                        // What a well-behaved client does with a 503's retry-after: pause
                        // instead of hammering a server that said it cannot publish now.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    } else if !pace.is_zero() {
                        tokio::time::sleep(pace).await;
                    }
                }
            }));
        }
        for task in tasks {
            task.await.expect("client task");
        }
        let taken = std::mem::take(&mut *outcomes.lock().unwrap());
        taken
    })
}

/// Polls a role's `/ready` and keeps the longest stretch it was not 200.
pub struct ReadyWatch {
    state: Arc<Mutex<WatchState>>,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct WatchState {
    down_since: Option<Instant>,
    longest: Duration,
    nodes: Vec<String>,
}

impl ReadyWatch {
    pub fn start(ready_url: String) -> Self {
        let state = Arc::new(Mutex::new(WatchState::default()));
        let task = {
            let state = state.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(2))
                    .build()
                    .expect("HTTP client");
                loop {
                    let answer = client.get(&ready_url).send().await;
                    let (ok, node) = match answer {
                        Ok(r) => {
                            let ok = r.status().as_u16() == 200;
                            let body: serde_json::Value = r.json().await.unwrap_or_default();
                            (ok, body["node"].as_str().map(str::to_owned))
                        }
                        Err(_) => (false, None),
                    };
                    {
                        let mut s = state.lock().unwrap();
                        let now = Instant::now();
                        match (ok, s.down_since) {
                            (true, Some(since)) => {
                                s.longest = s.longest.max(now - since);
                                s.down_since = None;
                            }
                            (false, None) => s.down_since = Some(now),
                            _ => {}
                        }
                        if let Some(node) = node {
                            if s.nodes.last() != Some(&node) {
                                s.nodes.push(node);
                            }
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
        };
        Self { state, task }
    }

    /// The longest time `/ready` was not 200 (a stretch still open counts up to now), and the
    /// nodes the role was seen on, in order.
    pub fn finish(self) -> (Duration, Vec<String>) {
        self.task.abort();
        let s = self.state.lock().unwrap();
        let open = s
            .down_since
            .map(|since| since.elapsed())
            .unwrap_or_default();
        (s.longest.max(open), s.nodes.clone())
    }
}

impl ReadyWatch {
    /// Stops every watch: `name 1.23 s (nodes a → b), …`, for a summary line.
    pub fn finish_all<'a>(watches: impl IntoIterator<Item = (&'a str, ReadyWatch)>) -> String {
        watches
            .into_iter()
            .map(|(name, watch)| {
                let (longest, nodes) = watch.finish();
                format!("{name} {} (nodes {})", secs(longest), nodes.join(" → "))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// How often each id occurs in `acked` beyond the first, summed; and the ids of `confirmed`
/// missing from it.
pub fn lost_and_duplicated(confirmed: &[String], acked: &[String]) -> (Vec<String>, u64) {
    let mut seen: HashMap<&str, u64> = HashMap::new();
    for id in acked {
        *seen.entry(id.as_str()).or_default() += 1;
    }
    let duplicated = seen.values().map(|n| n - 1).sum();
    let lost = confirmed
        .iter()
        .filter(|id| !seen.contains_key(id.as_str()))
        .cloned()
        .collect();
    (lost, duplicated)
}

/// `1.23 s`
pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}
