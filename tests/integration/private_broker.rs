//! A private RabbitMQ node for tests that restart a broker or raise its alarms, so the shared
//! node the other tests use is never disturbed. `rabbitmq-server` runs a second node beside the
//! first with its own name, ports, data and log directories, and no plugins (the management
//! listener would clash with the shared node's).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{free_port, unique};

/// A running private node, stopped and removed when dropped.
pub struct PrivateBroker {
    pub node: String,
    pub port: u16,
    dir: PathBuf,
}

impl PrivateBroker {
    /// Starts a node (≈6 s). `None`, with a loud line, where `rabbitmq-server` is not installed
    /// or cannot run as its `rabbitmq` user: the calling test then skips itself.
    pub async fn start() -> Option<Self> {
        tokio::task::spawn_blocking(Self::start_blocking)
            .await
            .expect("start task")
    }

    fn start_blocking() -> Option<Self> {
        if !command_exists("rabbitmq-server") || !command_exists("rabbitmqctl") {
            eprintln!(
                "\n*** SKIPPED: rabbitmq-server is not installed, so this test cannot start a \
                 private RabbitMQ node (install the rabbitmq-server package to run it) ***\n"
            );
            return None;
        }
        let name = unique("node");
        let node = format!("{name}@localhost");
        let port = free_port();
        let dist_port = free_port();
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(dir.join("mnesia")).expect("node dir");
        std::fs::create_dir_all(dir.join("log")).expect("node dir");
        std::fs::write(dir.join("enabled_plugins"), "[].\n").expect("plugins file");
        // The system's rabbitmq.conf may pin the shared node's listener; ours names its own.
        std::fs::write(
            dir.join("rabbitmq.conf"),
            format!("listeners.tcp.local = 127.0.0.1:{port}\n"),
        )
        .expect("config file");
        // As root, rabbitmq-server switches to the rabbitmq user, which must own the node's files.
        if is_root() {
            let owned = Command::new("chown")
                .args(["-R", "rabbitmq:rabbitmq"])
                .arg(&dir)
                .status()
                .is_ok_and(|s| s.success());
            if !owned {
                eprintln!("\n*** SKIPPED: cannot give the private node's files to the rabbitmq user ***\n");
                return None;
            }
        }
        let started = Command::new("rabbitmq-server")
            .arg("-detached")
            .env("RABBITMQ_NODENAME", &node)
            .env("RABBITMQ_NODE_PORT", port.to_string())
            .env("RABBITMQ_DIST_PORT", dist_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", dir.join("log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("enabled_plugins"))
            .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let broker = Self { node, port, dir };
        assert!(
            started,
            "rabbitmq-server -detached failed for {}",
            broker.node
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        while !broker.ctl(&["await_startup", "--timeout", "5"]) {
            assert!(
                Instant::now() < deadline,
                "private node {} did not start within 60 s; see {}",
                broker.node,
                broker.dir.join("log").display()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        Some(broker)
    }

    /// `amqp://guest:guest@127.0.0.1:PORT/%2f`.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// `rabbitmqctl -n NODE -q ARGS`; whether it succeeded.
    pub fn ctl(&self, args: &[&str]) -> bool {
        Command::new("rabbitmqctl")
            .args(["-n", &self.node, "-q"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Stops the RabbitMQ application (connections are closed, the port stops answering); the
    /// Erlang node and the data stay.
    pub async fn stop_app(&self) {
        self.run(&["stop_app"]).await;
    }

    pub async fn start_app(&self) {
        self.run(&["start_app"]).await;
        self.run(&["await_startup", "--timeout", "60"]).await;
    }

    /// Raises (`true`) or lifts (`false`) a memory alarm, which blocks every publisher.
    pub async fn memory_alarm(&self, on: bool) {
        let watermark = if on { "0" } else { "0.4" };
        self.run(&["set_vm_memory_high_watermark", watermark]).await;
    }

    async fn run(&self, args: &[&str]) {
        let node = self.node.clone();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let shown = args.join(" ");
        let ok = tokio::task::spawn_blocking(move || {
            Command::new("rabbitmqctl")
                .args(["-n", &node, "-q"])
                .args(&args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .await
        .expect("rabbitmqctl task");
        assert!(ok, "rabbitmqctl {shown} on {} failed", self.node);
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        self.ctl(&["stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn command_exists(name: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
