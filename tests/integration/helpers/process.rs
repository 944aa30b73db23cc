//! The real binary as a child process: its JSON log lines collected, signals, exit codes.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Notify;

use super::broker::ExchangeGuard;
use super::{unique, BIN};

/// A running `playground` process with its JSON log lines collected.
pub struct Running {
    child: Child,
    pid: u32,
    logs: Arc<Mutex<Vec<Value>>>,
    raw: Arc<Mutex<String>>,
    new_line: Arc<Notify>,
    /// Declared after `child`, so the process is killed before its exchange is deleted.
    _telemetry: Option<ExchangeGuard>,
}

impl Running {
    /// Starts `playground ARGS` with JSON logs and a clean environment plus `envs`, in its
    /// default configuration: snapshots for the lab console on, each process on its own
    /// telemetry exchange (deleted with it) unless the test names one, so tests never share one.
    pub fn spawn(args: &[&str], envs: &[(&str, &str)]) -> Self {
        let names_its_own = args.contains(&"--telemetry-exchange")
            || envs.iter().any(|(name, _)| *name == "TELEMETRY_EXCHANGE");
        let telemetry = (!names_its_own).then(|| ExchangeGuard(vec![unique("telemetry")]));
        let mut command = Command::new(BIN);
        command
            .args(args)
            .arg("--log-format")
            .arg("json")
            .env_clear()
            .env("RUST_LOG", "info");
        if let Some(ExchangeGuard(names)) = &telemetry {
            command.env("TELEMETRY_EXCHANGE", &names[0]);
        }
        command
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
            _telemetry: telemetry,
        }
    }

    /// Resident memory now, in KiB (`VmRSS` in /proc/PID/status); `None` off Linux.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
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

/// Runs `playground ARGS` to its end; returns the exit code and everything it printed.
pub async fn run_to_end(args: &[&str], timeout: Duration) -> (i32, String) {
    let mut process = Running::spawn(args, &[]);
    let code = process.wait_exit(timeout).await;
    (code, process.output())
}
