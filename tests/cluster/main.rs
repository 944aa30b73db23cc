//! The roles on a real three-node RabbitMQ cluster (`scripts/cluster.sh`), under node failures:
//! a clean stop, a crash, a frozen node, lost quorum; and the console's queue leaders. One cluster serves every scenario, so this
//! binary has its own `main` instead of libtest's: it starts the cluster once, runs the chosen
//! scenarios one after another (they stop and kill nodes, so they cannot overlap) and always
//! stops it at the end. The cluster is private to the test run (nodes `t1..t3@localhost` on
//! 127.0.0.1:5691-5693, data under target/), so a cluster a developer started is never touched.
//!
//! Without `rabbitmq-server` installed it says SKIPPED loudly and passes; CI installs it.
//! `cargo test --test cluster -- NAME` runs the scenarios whose name contains NAME;
//! `CLUSTER_MESSAGES` and `CLUSTER_ROUNDS` scale the node-loss scenario (`make chaos-cluster`).

// A failed unwrap, expect or assert is how a scenario (or its helper) fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../integration/helpers/mod.rs"]
#[allow(dead_code, unused_imports)]
mod helpers;

mod frozen_node;
mod load;
mod local_cluster;
mod lost_quorum;
mod node_loss;
mod queue_leaders;
mod subscribers;

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::time::Instant;

use local_cluster::LocalCluster;

type Scenario = fn(&'static LocalCluster) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Every scenario, in the order they run.
const SCENARIOS: [(&str, Scenario); 5] = [
    ("node_loss_under_load", |c| Box::pin(node_loss::run(c))),
    ("a_frozen_node", |c| Box::pin(frozen_node::run(c))),
    ("lost_quorum", |c| Box::pin(lost_quorum::run(c))),
    ("subscribers_on_different_nodes", |c| {
        Box::pin(subscribers::run(c))
    }),
    ("queue_leaders_in_the_diagram", |c| {
        Box::pin(queue_leaders::run(c))
    }),
];

fn main() -> ExitCode {
    let options = Options::from_args();
    let chosen: Vec<_> = SCENARIOS
        .iter()
        .filter(|(name, _)| options.selects(name))
        .collect();
    if options.list {
        for (name, _) in &chosen {
            println!("{name}: test");
        }
        return ExitCode::SUCCESS;
    }
    println!("\nrunning {} cluster scenarios", chosen.len());
    if chosen.is_empty() {
        return ExitCode::SUCCESS;
    }
    if !LocalCluster::installed() {
        eprintln!(
            "\n*** SKIPPED: the cluster scenarios need rabbitmq-server ({}); install the \
             rabbitmq-server package (.ci/run does) ***\n",
            local_cluster::SERVER
        );
        return ExitCode::SUCCESS;
    }
    let started = Instant::now();
    // Leaked on purpose: scenarios borrow it for the whole run; `down` runs in its guard.
    let cluster: &'static LocalCluster = Box::leak(Box::new(LocalCluster::up()));
    eprintln!(
        "cluster: up in {:.1} s: {}",
        started.elapsed().as_secs_f64(),
        cluster.urls()
    );
    let mut failed = Vec::new();
    for (name, scenario) in chosen {
        let began = Instant::now();
        cluster.heal();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let outcome = runtime.block_on(async { tokio::spawn(scenario(cluster)).await });
        runtime.shutdown_timeout(std::time::Duration::from_secs(5));
        let secs = began.elapsed().as_secs_f64();
        match outcome {
            Ok(()) => println!("test {name} ... ok ({secs:.1} s)"),
            Err(error) => {
                println!("test {name} ... FAILED ({secs:.1} s): {error}");
                failed.push(*name);
            }
        }
    }
    cluster.down();
    println!(
        "\ncluster test result: {}. {} failed in {:.1} s{}",
        if failed.is_empty() { "ok" } else { "FAILED" },
        failed.len(),
        started.elapsed().as_secs_f64(),
        if failed.is_empty() {
            String::new()
        } else {
            format!(": {}", failed.join(", "))
        }
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The libtest arguments this runner understands: name filters, `--exact`, `--skip NAME`,
/// `--list`; the rest (`--nocapture`, `--test-threads N`, …) is accepted and ignored.
struct Options {
    filters: Vec<String>,
    skip: Vec<String>,
    exact: bool,
    list: bool,
}

impl Options {
    fn from_args() -> Self {
        let mut options = Options {
            filters: Vec::new(),
            skip: Vec::new(),
            exact: false,
            list: false,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--exact" => options.exact = true,
                "--list" => options.list = true,
                "--skip" => options.skip.extend(args.next()),
                // Options with a value that is not a filter.
                "--test-threads" | "--format" | "--color" | "-Z" | "--logfile" => {
                    args.next();
                }
                flag if flag.starts_with('-') => {}
                filter => options.filters.push(filter.to_owned()),
            }
        }
        options
    }

    /// Whether scenario `name` (also matched as `cluster::name`) runs.
    fn selects(&self, name: &str) -> bool {
        let full = format!("cluster::{name}");
        let matches = |filter: &String| {
            if self.exact {
                filter == name || *filter == full
            } else {
                full.contains(filter.as_str())
            }
        };
        (self.filters.is_empty() || self.filters.iter().any(matches))
            && !self.skip.iter().any(|s| full.contains(s.as_str()))
    }
}
