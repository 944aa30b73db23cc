//! The test run's own three-node cluster, driven through `scripts/cluster.sh` (the same script a
//! developer uses), with node names, ports and data of its own.

use std::process::Command;
use std::time::Duration;

use amqprs::channel::BasicGetArguments;
use amqprs::connection::{Connection, OpenConnectionArguments};

/// The server the script needs; without it the scenarios are skipped.
pub const SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";

/// Node names `t1..t3@localhost`, AMQP ports 5691-5693: apart from `make cluster`'s c1..c3.
const PREFIX: &str = "t";
const PORT_BASE: u16 = 5690;

/// The three nodes, 1-based as the script numbers them.
pub const NODES: [u8; 3] = [1, 2, 3];

pub struct LocalCluster {
    dir: String,
}

impl LocalCluster {
    pub fn installed() -> bool {
        std::path::Path::new(SERVER).exists()
    }

    /// Starts (or reuses, if an earlier run was interrupted) the test cluster.
    pub fn up() -> Self {
        let dir = format!("{}/target/test-cluster", env!("CARGO_MANIFEST_DIR"));
        let cluster = Self { dir };
        if let Err(output) = cluster.script(&["up"]) {
            cluster.down();
            panic!("the test cluster did not start: {output}");
        }
        cluster
    }

    /// Stops every node and deletes the data.
    pub fn down(&self) {
        if let Err(output) = self.script(&["down"]) {
            eprintln!("cluster: down failed: {output}");
        }
    }

    /// The comma-separated URL list, as a role gets it.
    pub fn urls(&self) -> String {
        NODES
            .iter()
            .map(|n| self.url(*n))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The nodes' management API URLs (the HTTP port is the AMQP port + 10000), as
    /// `--management-url` takes them.
    pub fn management_urls(&self) -> String {
        NODES
            .iter()
            .map(|n| format!("http://127.0.0.1:{}", 10_000 + port(*n)))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Node `node`'s Erlang name, as the management API names a queue's leader.
    pub fn node_name(&self, node: u8) -> String {
        format!("{PREFIX}{node}@localhost")
    }

    /// One node's URL.
    pub fn url(&self, node: u8) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", port(node))
    }

    /// The node number of `host:port` as the roles report it in /health.
    pub fn node_of(&self, reported: &str) -> u8 {
        let port: u16 = reported
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("not host:port: {reported}"));
        NODES
            .into_iter()
            .find(|n| self::port(*n) == port)
            .unwrap_or_else(|| panic!("{reported} is not a node of the test cluster"))
    }

    /// A clean stop (SIGTERM), as when a node is shut down for maintenance.
    pub fn stop(&self, node: u8) {
        self.must(&["stop", &node.to_string()]);
    }

    /// SIGKILL: a crash.
    pub fn kill(&self, node: u8) {
        self.must(&["kill", &node.to_string()]);
    }

    /// SIGSTOP: a hung node, the way a stuck VM looks.
    pub fn freeze(&self, node: u8) {
        self.must(&["freeze", &node.to_string()]);
    }

    pub fn thaw(&self, node: u8) {
        self.must(&["thaw", &node.to_string()]);
    }

    /// Starts a stopped node and waits until it booted; it rejoins by itself.
    pub fn start(&self, node: u8) {
        self.must(&["start", &node.to_string()]);
    }

    /// Runs `step` (stop, start, …) on every node of `nodes` at once, off the runtime's threads,
    /// and waits for all of them.
    pub async fn on_each(&'static self, nodes: &[u8], step: fn(&LocalCluster, u8)) {
        let running: Vec<_> = nodes
            .iter()
            .map(|&node| tokio::task::spawn_blocking(move || step(self, node)))
            .collect();
        for one in running {
            one.await.expect("cluster step");
        }
    }

    /// The node leading quorum queue `queue`, as the cluster says.
    pub fn leader(&self, queue: &str) -> u8 {
        let output = self
            .script(&["leader", queue])
            .unwrap_or_else(|e| panic!("{e}"));
        output
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("leader of {queue}: {output}"))
    }

    /// The nodes the cluster says are running, as a sorted list of numbers.
    pub fn running_members(&self) -> Vec<u8> {
        let status = self.script(&["status"]).unwrap_or_default();
        let members = status
            .lines()
            .find(|l| l.starts_with("running members"))
            .unwrap_or_default();
        NODES
            .into_iter()
            .filter(|n| members.contains(&format!("{PREFIX}{n}@localhost")))
            .collect()
    }

    /// Before a scenario: every node thawed and running, all three members again.
    pub fn heal(&self) {
        for node in NODES {
            let _ = self.script(&["thaw", &node.to_string()]);
            self.start(node);
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        while self.running_members() != NODES {
            assert!(
                std::time::Instant::now() < deadline,
                "the test cluster did not heal: {:?}",
                self.running_members()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// The `message_id`s in `queue`, taken off it (acked) through node `node`.
    pub async fn drain_ids(&self, node: u8, queue: &str) -> Vec<String> {
        let args = OpenConnectionArguments::new("127.0.0.1", port(node), "guest", "guest")
            .connection_name("playground cluster test")
            .finish();
        let connection = Connection::open(&args).await.expect("test connection");
        let channel = connection.open_channel(None).await.expect("channel");
        let mut ids = Vec::new();
        while let Some((_, properties, _)) = channel
            .basic_get(BasicGetArguments::new(queue).finish())
            .await
            .expect("basic.get")
        {
            ids.push(properties.message_id().cloned().unwrap_or_default());
        }
        // Acked in one go: a quorum queue's basic.get with no_ack would be as good, but this way
        // nothing is lost if the connection breaks half-way.
        channel
            .basic_ack(amqprs::channel::BasicAckArguments::new(0, true))
            .await
            .expect("ack");
        let _ = channel
            .queue_delete(amqprs::channel::QueueDeleteArguments::new(queue))
            .await;
        // Channel first: amqprs' dispatcher panics (in its own task) if the connection goes
        // while the channel is still open.
        let _ = channel.close().await;
        let _ = connection.close().await;
        ids
    }

    /// Which node hosts classic queue `queue` (from its process id), asked through `via`.
    pub fn home_of(&self, via: u8, queue: &str) -> Option<u8> {
        let output = self
            .script(&["ctl", &via.to_string(), "-q", "list_queues", "name", "pid"])
            .ok()?;
        let line = output
            .lines()
            .find(|l| l.split_whitespace().next() == Some(queue))?;
        NODES
            .into_iter()
            .find(|n| line.contains(&format!("<{PREFIX}{n}@localhost")))
    }

    fn must(&self, args: &[&str]) {
        if let Err(output) = self.script(args) {
            panic!("cluster.sh {}: {output}", args.join(" "));
        }
    }

    /// Runs `scripts/cluster.sh ARGS` for the test cluster: its output, or an error with both
    /// streams.
    fn script(&self, args: &[&str]) -> Result<String, String> {
        let output = Command::new("bash")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/cluster.sh"))
            .args(args)
            .env("CLUSTER_DIR", &self.dir)
            .env("CLUSTER_NODE_PREFIX", PREFIX)
            .env("CLUSTER_PORT_BASE", PORT_BASE.to_string())
            .output()
            .map_err(|e| format!("running cluster.sh: {e}"))?;
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.status.success() {
            Ok(text)
        } else {
            Err(format!("{text}{}", String::from_utf8_lossy(&output.stderr)))
        }
    }
}

fn port(node: u8) -> u16 {
    PORT_BASE + u16::from(node)
}
