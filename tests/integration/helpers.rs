//! Test harness: spawn the real `playground` binary, talk HTTP and AMQP to it, cut its broker
//! connection with a TCP proxy, and clean up every queue a test declared.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use amqprs::channel::{
    BasicGetArguments, BasicPublishArguments, Channel, ExchangeDeleteArguments,
    QueueDeclareArguments, QueueDeleteArguments,
};
use amqprs::connection::{Connection, OpenConnectionArguments};
use amqprs::BasicProperties;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::Notify;
use tokio::task::AbortHandle;

pub const BIN: &str = env!("CARGO_BIN_EXE_playground");

/// The shared broker the tests run against.
pub fn broker_host() -> String {
    std::env::var("PLAYGROUND_TEST_AMQP_HOST").unwrap_or_else(|_| "127.0.0.1".to_owned())
}

pub fn broker_port() -> u16 {
    std::env::var("PLAYGROUND_TEST_AMQP_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(5672)
}

/// The broker URL (guest/guest, default vhost), optionally through a proxy on `port`.
pub fn amqp_url_via(port: u16) -> String {
    format!("amqp://guest:guest@127.0.0.1:{port}/%2f")
}

pub fn amqp_url() -> String {
    format!("amqp://guest:guest@{}:{}/%2f", broker_host(), broker_port())
}

/// A name no other test (or run) uses.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "pgtest-{prefix}-{}-{}-{:04x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        fastrand::u16(..)
    )
}

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The real binary

/// A running `playground` process with its JSON log lines collected.
pub struct Running {
    child: Child,
    pid: u32,
    logs: Arc<Mutex<Vec<Value>>>,
    raw: Arc<Mutex<String>>,
    new_line: Arc<Notify>,
}

impl Running {
    /// Starts `playground ARGS` with JSON logs and a clean environment plus `envs`.
    pub fn spawn(args: &[&str], envs: &[(&str, &str)]) -> Self {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .arg("--log-format")
            .arg("json")
            .env_clear()
            .env("RUST_LOG", "info")
            // Snapshots for the lab console would declare the shared telemetry exchange; the
            // console tests turn them on with their own exchange.
            .env("TELEMETRY", "off")
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("spawn playground");
        let pid = child.id().expect("pid");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let raw = Arc::new(Mutex::new(String::new()));
        let new_line = Arc::new(Notify::new());
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        {
            let (logs, raw, new_line) = (logs.clone(), raw.clone(), new_line.clone());
            tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if std::env::var_os("TEST_LOG").is_some() {
                        eprintln!("[{pid}] {line}");
                    }
                    raw.lock().unwrap().push_str(&line);
                    raw.lock().unwrap().push('\n');
                    if let Ok(value) = serde_json::from_str::<Value>(&line) {
                        logs.lock().unwrap().push(value);
                    }
                    new_line.notify_waiters();
                }
            });
        }
        {
            let raw = raw.clone();
            tokio::spawn(async move {
                let mut text = String::new();
                let _ = BufReader::new(stderr).read_to_string(&mut text).await;
                raw.lock().unwrap().push_str(&text);
            });
        }
        Self {
            child,
            pid,
            logs,
            raw,
            new_line,
        }
    }

    /// Everything the process wrote so far (stdout and stderr).
    pub fn output(&self) -> String {
        self.raw.lock().unwrap().clone()
    }

    /// The JSON log lines so far that satisfy `pred`.
    pub fn logs_matching(&self, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .filter(|v| pred(v))
            .cloned()
            .collect()
    }

    /// Waits for a log line whose `message` is `message` and that satisfies `pred`.
    pub async fn wait_log(
        &self,
        message: &str,
        pred: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.new_line.notified();
            if let Some(found) = self
                .logs_matching(|v| v["message"] == message && pred(v))
                .into_iter()
                .next()
            {
                return found;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no log line {message:?} within {timeout:?}; output:\n{}",
                self.output()
            );
            let _ = tokio::time::timeout(left.min(Duration::from_millis(200)), notified).await;
        }
    }

    /// Sends SIGTERM, as Kubernetes does.
    pub fn sigterm(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Sends SIGKILL: the process dies at once, as an OOM-killed or evicted pod.
    pub fn kill(&self) {
        let status = std::process::Command::new("kill")
            .args(["-KILL", &self.pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits for the exit code.
    pub async fn wait_exit(&mut self, timeout: Duration) -> i32 {
        let status = tokio::time::timeout(timeout, self.child.wait())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "process did not exit within {timeout:?}:\n{}",
                    self.output()
                )
            })
            .expect("wait");
        // Let the reader tasks collect the last lines.
        tokio::time::sleep(Duration::from_millis(100)).await;
        status.code().unwrap_or(-1)
    }
}

/// A free TCP port on loopback (bound then released: another process could take it, but the
/// kernel does not hand out recently used ephemeral ports soon).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Standard reconnect settings for tests: quick to notice, quick to come back.
pub const FAST_RECONNECT: [&str; 4] = ["--reconnect-min", "100ms", "--reconnect-max", "1s"];

/// `produce-server` on a free port; returns once it listens. Unless `extra` names them, its three
/// exchanges get fresh names that are deleted with it, so tests never leave `logs-*` behind.
pub struct ProduceServer {
    pub process: Running,
    pub base: String,
    _exchanges: Option<TestExchanges>,
}

impl ProduceServer {
    pub async fn start(amqp_url: &str, queue: &str, extra: &[&str]) -> Self {
        let exchanges =
            (!extra.contains(&"--topic-exchange")).then(|| TestExchanges::new("producer"));
        let mut args = vec![
            "produce-server",
            "--port",
            "0",
            "--bind",
            "127.0.0.1",
            "--queue",
            queue,
            "--amqp-url",
            amqp_url,
        ];
        args.extend_from_slice(&FAST_RECONNECT);
        if let Some(exchanges) = &exchanges {
            args.extend(exchanges.flags());
        }
        args.extend_from_slice(extra);
        let process = Running::spawn(&args, &[]);
        let listening = process
            .wait_log(
                "produce-server listening",
                |_| true,
                Duration::from_secs(10),
            )
            .await;
        let port = listening["port"].as_u64().expect("port in log");
        Self {
            process,
            base: format!("http://127.0.0.1:{port}"),
            _exchanges: exchanges,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Waits until `/ready` answers `status`.
    pub async fn wait_ready(&self, status: u16, timeout: Duration) {
        wait_status(&self.url("/ready"), status, timeout).await;
    }

    /// POSTs `{"message": text}`; returns the status and JSON body.
    pub async fn send(&self, client: &reqwest::Client, text: &str) -> (u16, Value) {
        post_json(
            client,
            &self.url("/send-message"),
            &serde_json::json!({ "message": text }),
        )
        .await
    }
}

/// Starts `role ARGS` with fast reconnects and its health endpoints on a free loopback port;
/// returns once it logged `ready_line`, with the health base URL.
async fn start_with_health(
    role: &str,
    amqp_url: &str,
    args: &[&str],
    ready_line: &str,
) -> (Running, String) {
    let port = free_port().to_string();
    let mut all = vec![
        role,
        "--amqp-url",
        amqp_url,
        "--health-port",
        &port,
        "--health-bind",
        "127.0.0.1",
    ];
    all.extend_from_slice(&FAST_RECONNECT);
    all.extend_from_slice(args);
    let process = Running::spawn(&all, &[]);
    process
        .wait_log(ready_line, |_| true, Duration::from_secs(10))
        .await;
    (process, format!("http://127.0.0.1:{port}"))
}

/// `consume` with health endpoints on a free port; returns once it consumes.
pub struct Consumer {
    pub process: Running,
    pub health: String,
}

impl Consumer {
    pub async fn start(amqp_url: &str, queue: &str, extra: &[&str]) -> Self {
        let mut args = vec!["--queue", queue];
        args.extend_from_slice(extra);
        let (process, health) = start_with_health("consume", amqp_url, &args, "consuming").await;
        Self { process, health }
    }

    /// The ids of the messages this consumer logged as received.
    pub fn received_ids(&self) -> Vec<String> {
        self.process
            .logs_matching(|v| v["message"] == "received message")
            .iter()
            .map(|v| v["message_id"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The ids this consumer acked.
    pub fn acked_ids(&self) -> Vec<String> {
        self.process
            .logs_matching(|v| v["message"] == "acked")
            .iter()
            .map(|v| v["message_id"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

pub async fn get(url: &str) -> (u16, Value) {
    match reqwest::get(url).await {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

pub async fn post_json(client: &reqwest::Client, url: &str, body: &Value) -> (u16, Value) {
    post_raw(
        client,
        url,
        body.to_string().into_bytes(),
        "application/json",
    )
    .await
}

pub async fn post_raw(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    content_type: &str,
) -> (u16, Value) {
    let response = client
        .post(url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("HTTP request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub async fn wait_status(url: &str, status: u16, timeout: Duration) {
    eventually(timeout, &format!("{url} to answer {status}"), || async {
        (get(url).await.0 == status).then_some(())
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// The broker, seen from the test

/// A test's own AMQP connection, for looking into and cleaning up its queues.
/// The value of one Prometheus series (`name{labels}` exactly as rendered) from `GET url`, or 0
/// when the series is absent.
pub async fn metric(url: &str, series: &str) -> f64 {
    let text = reqwest::get(url)
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics body");
    text.lines()
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse::<f64>().ok())?
        })
        .unwrap_or(0.0)
}

/// `fanout-sub` or `topic-sub` with health endpoints on a free port; returns once it consumes.
pub struct Subscriber {
    pub process: Running,
    pub health: String,
}

impl Subscriber {
    /// Starts `role` (`fanout-sub`/`topic-sub`) with `args`, named `name` in its logs.
    pub async fn start(role: &str, amqp_url: &str, name: &str, args: &[&str]) -> Self {
        let mut all = vec!["--name", name];
        all.extend_from_slice(args);
        let (process, health) = start_with_health(role, amqp_url, &all, "subscribed").await;
        Self { process, health }
    }

    /// `(routing key, envelope text)` of every message received so far, in order.
    pub fn received(&self) -> Vec<(String, String)> {
        self.process
            .logs_matching(|v| v["message"] == "received message")
            .iter()
            .map(|v| {
                let body: Value = serde_json::from_str(v["body"].as_str().unwrap_or_default())
                    .unwrap_or_default();
                (
                    v["routing_key"].as_str().unwrap_or_default().to_owned(),
                    body["message"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// The routing keys received so far, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.received().into_iter().map(|(k, _)| k).collect();
        keys.sort();
        keys
    }
}

/// Deletes exchanges when dropped, even when the test panicked.
pub struct ExchangeGuard(pub Vec<String>);

impl Drop for ExchangeGuard {
    fn drop(&mut self) {
        let exchanges = std::mem::take(&mut self.0);
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let broker = Broker::connect().await;
                for exchange in &exchanges {
                    broker.delete_exchange(exchange).await;
                }
            });
        })
        .join();
    }
}

/// Fresh names for the three lab exchanges (topic, direct, fanout), deleted at the end of the
/// test, with the flags that point a publisher at them.
pub struct TestExchanges {
    pub topic: String,
    pub direct: String,
    pub fanout: String,
    _guard: ExchangeGuard,
}

impl TestExchanges {
    pub fn new(prefix: &str) -> Self {
        let base = unique(prefix);
        let (topic, direct, fanout) = (
            format!("{base}-topic"),
            format!("{base}-direct"),
            format!("{base}-fanout"),
        );
        let guard = ExchangeGuard(vec![topic.clone(), direct.clone(), fanout.clone()]);
        Self {
            topic,
            direct,
            fanout,
            _guard: guard,
        }
    }

    /// `--topic-exchange … --direct-exchange … --fanout-exchange …`.
    pub fn flags(&self) -> Vec<&str> {
        vec![
            "--topic-exchange",
            &self.topic,
            "--direct-exchange",
            &self.direct,
            "--fanout-exchange",
            &self.fanout,
        ]
    }
}

pub struct Broker {
    _connection: Connection,
    channel: Channel,
}

impl Broker {
    pub async fn connect() -> Self {
        let args = OpenConnectionArguments::new(&broker_host(), broker_port(), "guest", "guest")
            .connection_name("playground integration test")
            .finish();
        let connection = Connection::open(&args)
            .await
            .expect("test connection to RabbitMQ");
        let channel = connection.open_channel(None).await.expect("test channel");
        Self {
            _connection: connection,
            channel,
        }
    }

    /// Declares `queue` durable (as the roles do) and returns its message count.
    pub async fn depth(&self, queue: &str) -> u32 {
        let (_, messages, _) = self
            .channel
            .queue_declare(QueueDeclareArguments::durable_client_named(queue))
            .await
            .expect("declare")
            .expect("declare-ok");
        messages
    }

    /// The number of ready messages in an existing queue of any type (a passive declare, so it
    /// does not care about the queue's arguments).
    pub async fn count(&self, queue: &str) -> u32 {
        let (_, messages, _) = self
            .channel
            .queue_declare(QueueDeclareArguments::new(queue).passive(true).finish())
            .await
            .expect("passive declare (does the queue exist?)")
            .expect("declare-ok");
        messages
    }

    /// Takes every message off `queue` (acking it) and returns their `message_id`s and bodies.
    pub async fn drain(&self, queue: &str) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some((_, properties, body)) = self
            .channel
            .basic_get(BasicGetArguments::new(queue).no_ack(true).finish())
            .await
            .expect("basic.get")
        {
            out.push((properties.message_id().cloned().unwrap_or_default(), body));
        }
        out
    }

    /// Takes one message (acked) with its properties.
    pub async fn get_one(&self, queue: &str) -> Option<(BasicProperties, Vec<u8>)> {
        self.channel
            .basic_get(BasicGetArguments::new(queue).no_ack(true).finish())
            .await
            .expect("basic.get")
            .map(|(_, properties, body)| (properties, body))
    }

    /// Publishes raw bytes to `queue` through the default exchange (no confirm needed: the
    /// test reads the queue depth afterwards).
    pub async fn publish_raw(&self, queue: &str, body: Vec<u8>, message_id: &str) {
        let properties = BasicProperties::default()
            .with_message_id(message_id)
            .finish();
        self.channel
            .basic_publish(properties, body, BasicPublishArguments::new("", queue))
            .await
            .expect("publish");
    }

    /// Deletes `queue` (messages and all), as an operator would.
    pub async fn delete(&self, queue: &str) {
        self.channel
            .queue_delete(QueueDeleteArguments::new(queue))
            .await
            .expect("queue.delete");
    }

    /// Deletes `exchange`, as an operator would.
    pub async fn delete_exchange(&self, exchange: &str) {
        self.channel
            .exchange_delete(ExchangeDeleteArguments::new(exchange))
            .await
            .expect("exchange.delete");
    }

    pub fn channel(&self) -> &Channel {
        &self.channel
    }
}

/// Deletes a queue when dropped, even when the test panicked.
pub struct QueueGuard(pub String);

impl Drop for QueueGuard {
    fn drop(&mut self) {
        let queue = self.0.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                Broker::connect().await.delete(&queue).await;
            });
        })
        .join();
    }
}

/// A work queue with dead letters: the queue, `<queue>.dead-letter` and the `<queue>.dlx`
/// exchange are all deleted when dropped, even when the test panicked.
pub struct WorkQueueGuard {
    pub queue: String,
    pub dead_letter_queue: String,
}

impl Drop for WorkQueueGuard {
    fn drop(&mut self) {
        let queues = [self.queue.clone(), self.dead_letter_queue.clone()];
        let exchange = format!("{}.dlx", self.queue);
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let broker = Broker::connect().await;
                for queue in &queues {
                    broker.delete(queue).await;
                }
                broker.delete_exchange(&exchange).await;
            });
        })
        .join();
    }
}

/// A fresh work queue name whose dead-letter queue and exchange are deleted with it.
pub fn test_work_queue(prefix: &str) -> (String, WorkQueueGuard) {
    let name = unique(prefix);
    let guard = WorkQueueGuard {
        queue: name.clone(),
        dead_letter_queue: format!("{name}.dead-letter"),
    };
    (name, guard)
}

/// Runs `playground ARGS` to its end; returns the exit code and everything it printed.
pub async fn run_to_end(args: &[&str], timeout: Duration) -> (i32, String) {
    let mut process = Running::spawn(args, &[]);
    let code = process.wait_exit(timeout).await;
    (code, process.output())
}

/// Runs `rabbitmqctl -q ARGS` against the shared node; `false` when it is missing or fails (a
/// broker in Docker, say), so tests that need it can say so and skip that part.
pub fn rabbitmqctl(args: &[&str]) -> bool {
    std::process::Command::new("rabbitmqctl")
        .arg("-q")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A broker user that exists until dropped.
pub struct BrokerUser(String);

impl BrokerUser {
    /// Creates `name` with `password` and full rights on `/`; `None` (and a loud line) when
    /// rabbitmqctl cannot be used here.
    pub fn create(name: &str, password: &str) -> Option<Self> {
        if !rabbitmqctl(&["add_user", name, password]) {
            eprintln!("SKIPPED PART: rabbitmqctl cannot add users on this machine");
            return None;
        }
        assert!(rabbitmqctl(&[
            "set_permissions",
            "-p",
            "/",
            name,
            ".*",
            ".*",
            ".*"
        ]));
        Some(Self(name.to_owned()))
    }
}

impl Drop for BrokerUser {
    fn drop(&mut self) {
        rabbitmqctl(&["delete_user", &self.0]);
    }
}

/// A vhost that exists until dropped.
pub struct BrokerVhost(String);

impl BrokerVhost {
    /// Creates `name` and gives `user` full rights on it; `None` (and a loud line) when
    /// rabbitmqctl cannot be used here.
    pub fn create(name: &str, user: &str) -> Option<Self> {
        if !rabbitmqctl(&["add_vhost", name]) {
            eprintln!("SKIPPED PART: rabbitmqctl cannot add vhosts on this machine");
            return None;
        }
        assert!(rabbitmqctl(&[
            "set_permissions",
            "-p",
            name,
            user,
            ".*",
            ".*",
            ".*"
        ]));
        Some(Self(name.to_owned()))
    }
}

impl Drop for BrokerVhost {
    fn drop(&mut self) {
        rabbitmqctl(&["delete_vhost", &self.0]);
    }
}

/// A fresh queue name that is deleted at the end of the test.
pub fn test_queue(prefix: &str) -> (String, QueueGuard) {
    let name = unique(prefix);
    (name.clone(), QueueGuard(name))
}

// ---------------------------------------------------------------------------------------------
// Fault injection

/// A TCP proxy in front of the broker that a test can cut and restore. While cut, open
/// connections are torn down and new ones are accepted and closed at once, like a broker whose
/// node went away behind a load balancer.
pub struct Proxy {
    pub port: u16,
    up: Arc<AtomicBool>,
    /// While set, bytes are held back in both directions but sockets stay open: a broker that
    /// went silent (hung node, dropped packets), noticed only through missed heartbeats.
    frozen: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
}

impl Proxy {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let target: SocketAddr = format!("{}:{}", broker_host(), broker_port())
            .parse()
            .expect("broker address");
        let up = Arc::new(AtomicBool::new(true));
        let frozen = Arc::new(AtomicBool::new(false));
        let connections: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let accept = {
            let (up, frozen, connections) = (up.clone(), frozen.clone(), connections.clone());
            tokio::spawn(async move {
                loop {
                    let Ok((client, _)) = listener.accept().await else {
                        continue;
                    };
                    if !up.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let frozen = frozen.clone();
                    let task = tokio::spawn(async move {
                        if let Ok(server) = TcpStream::connect(target).await {
                            let (client_read, client_write) = client.into_split();
                            let (server_read, server_write) = server.into_split();
                            tokio::select! {
                                _ = pump(client_read, server_write, frozen.clone()) => {}
                                _ = pump(server_read, client_write, frozen) => {}
                            }
                        }
                    });
                    connections.lock().unwrap().push(task.abort_handle());
                }
            })
            .abort_handle()
        };
        Self {
            port,
            up,
            frozen,
            connections,
            accept,
        }
    }

    /// Holds all traffic back without closing anything.
    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }

    pub fn url(&self) -> String {
        amqp_url_via(self.port)
    }

    /// Drops every proxied connection and refuses new ones until `restore`.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    pub fn restore(&self) {
        self.frozen.store(false, Ordering::SeqCst);
        self.up.store(true, Ordering::SeqCst);
    }
}

/// Copies one direction, holding bytes back while `frozen`.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: Arc<AtomicBool>,
) {
    use tokio::io::AsyncWriteExt;
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while frozen.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}
