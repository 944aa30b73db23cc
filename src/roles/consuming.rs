//! What every consuming role (`consume`, `fanout-sub`, `topic-sub`) runs around its consumer:
//! the health endpoints (bound before anything touches the broker, so a port that cannot be used
//! declares nothing), the connection manager with the role's topology and prefetch, the console's
//! snapshots, and an orderly end — background tasks stopped and waited for before the connection
//! closes.

use std::future::Future;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::amqp::{AmqpOptions, ChannelSetup, ConnectionManager, InstanceName, Topology};
use crate::http::{server, spawn_probe_server, Health, Listen, Readiness};
use crate::identity;
use crate::metrics::Metrics;
use crate::roles::snapshot::{self, HandledLog, Identity};

/// What a consuming role declares, and how it shows itself.
pub struct Plan {
    /// `consume`, `fanout-sub`, `topic-sub`: in metrics, health and the connection name.
    pub role: &'static str,
    /// The instance's name, as `/health` reports it.
    pub name: InstanceName,
    /// The role's own queues, exchanges and bindings (the telemetry exchange is added here).
    pub topology: Topology,
    /// How many unacked messages the broker may push.
    pub prefetch: u16,
    /// Where `/health`, `/ready` and `/metrics` are served; `None` turns them off.
    pub health_listen: Option<Listen>,
    /// The console's card for it.
    pub identity: Identity,
}

/// A consuming role's running parts, from start to its orderly end.
pub struct ConsumingRole {
    /// The role's connection manager.
    pub manager: Arc<ConnectionManager>,
    /// The role's metrics, served at `/metrics`.
    pub metrics: Arc<Metrics>,
    /// What `/health` and `/ready` report; the consumer marks itself ready while consuming.
    pub health: Health,
    /// The messages handled since the last snapshot, for the console.
    pub handled: Arc<HandledLog>,
    background: CancellationToken,
    tasks: TaskTracker,
}

impl ConsumingRole {
    /// Binds the health port, starts the connection manager and the background tasks. Fails only
    /// when the health port cannot be used.
    pub async fn start(plan: Plan, amqp: &AmqpOptions) -> anyhow::Result<Self> {
        Self::start_with_channel(plan, amqp, ChannelSetup::default()).await
    }

    /// [`start`](Self::start), with more set up on the channel than the prefetch: confirm mode
    /// for a consumer that also publishes (a retry's copy into its delay queue).
    pub async fn start_with_channel(
        plan: Plan,
        amqp: &AmqpOptions,
        channel: ChannelSetup,
    ) -> anyhow::Result<Self> {
        let probe_listener = match plan.health_listen {
            Some(listen) => Some(server::bind(listen).await?),
            None => None,
        };
        let metrics = Arc::new(Metrics::new(plan.role));
        let mut topology = plan.topology;
        topology
            .exchanges
            .extend(amqp.snapshots.as_ref().map(snapshot::exchange_spec));
        let channel = ChannelSetup {
            prefetch: Some(plan.prefetch),
            ..channel
        };
        let name = identity::connection_name(plan.role);
        let manager = Arc::new(ConnectionManager::start(
            amqp.for_role(name, topology, channel),
            metrics.clone(),
        ));
        let state = manager.state();
        let health = Health::new(
            plan.role,
            plan.name.as_str(),
            state,
            Readiness::WhenTheRoleSaysSo,
        );
        let role = Self {
            handled: Arc::new(HandledLog::default()),
            background: CancellationToken::new(),
            tasks: TaskTracker::new(),
            manager,
            metrics,
            health,
        };
        if let Some(listener) = probe_listener {
            let (health, metrics) = (role.health.clone(), role.metrics.clone());
            spawn_probe_server(
                listener,
                health,
                metrics,
                role.background.clone(),
                &role.tasks,
            );
        }
        if let Some(settings) = amqp.snapshots.clone() {
            let source = snapshot::Source {
                manager: role.manager.clone(),
                handled: role.handled.clone(),
            };
            let stop = role.background.clone();
            snapshot::spawn(settings, plan.identity, source, stop, &role.tasks);
        }
        Ok(role)
    }

    /// Runs another background task (e.g. a summary line every so often) until the role ends;
    /// it gets the token that says so.
    pub fn spawn<F: Future<Output = ()> + Send + 'static>(
        &self,
        task: impl FnOnce(CancellationToken) -> F,
    ) {
        self.tasks.spawn(task(self.background.clone()));
    }

    /// The orderly end, once the consumer stopped: not ready, background tasks stopped and waited
    /// for, then the connection closed.
    pub async fn finish(self) {
        self.health.set_role_ready(false);
        self.background.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        self.manager.close().await;
    }
}
