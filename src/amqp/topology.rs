//! The exchanges, queues and bindings a role needs, written down as data.
//!
//! The connection manager declares the whole topology after every (re)connect, before the role
//! resumes, so a broker that restarted without its definitions (or a deleted queue) is repaired by
//! the reconnect itself. Declaring as data, in one place, also means every role that shares a queue
//! declares it with the same arguments, which the broker insists on.

use amqprs::channel::{
    Channel, ExchangeDeclareArguments, QueueBindArguments, QueueDeclareArguments,
};
use amqprs::FieldTable;

use super::alternate::AlternateExchange;
use super::names::{ExchangeName, QueueName, RoutingKey};
use super::routing::ExchangeKind;

/// One queue to declare.
#[derive(Debug, Clone)]
pub struct QueueSpec {
    /// `None`: the broker names it (`amq.gen-…`).
    pub name: Option<QueueName>,
    /// Survives a broker restart (with persistent messages, so do they).
    pub durable: bool,
    /// Usable only by the declaring connection, and deleted when that connection closes.
    pub exclusive: bool,
    /// Deleted by the broker once its last consumer is gone.
    pub auto_delete: bool,
    /// `x-…` arguments; they must be equal wherever the queue is declared.
    pub arguments: FieldTable,
}

impl QueueSpec {
    /// A durable, shared, plain classic queue: what the Node services declared, so both fleets can
    /// use `hello-world-queue` side by side.
    pub fn durable(name: QueueName) -> Self {
        Self {
            name: Some(name),
            durable: true,
            exclusive: false,
            auto_delete: false,
            arguments: FieldTable::new(),
        }
    }

    /// A queue the broker names (`amq.gen-…`), private to this connection and deleted with it:
    /// every subscriber gets its own copy of each message. Gone after a reconnect, so it is
    /// declared (and bound) afresh with the rest of the topology.
    pub fn server_named() -> Self {
        Self {
            name: None,
            durable: false,
            exclusive: true,
            auto_delete: true,
            arguments: FieldTable::new(),
        }
    }

    /// Whether the broker chooses the name.
    pub fn is_server_named(&self) -> bool {
        self.name.is_none()
    }
}

/// One exchange to declare.
#[derive(Debug, Clone)]
pub struct ExchangeSpec {
    /// Declared if missing; an existing one must have the same `kind` and `durable`.
    pub name: ExchangeName,
    /// How it routes; an exchange keeps its type for good, so every declarer must agree.
    pub kind: ExchangeKind,
    /// Survives a broker restart; the lab's exchanges do, the console's telemetry does not.
    pub durable: bool,
    /// Declaration arguments (`alternate-exchange`); like the type, every declarer must agree.
    pub arguments: FieldTable,
}

impl ExchangeSpec {
    /// A durable exchange of `kind`, without arguments.
    pub fn durable(name: ExchangeName, kind: ExchangeKind) -> Self {
        Self {
            name,
            kind,
            durable: true,
            arguments: FieldTable::new(),
        }
    }

    /// The same exchange handing what no binding matches to `alternate` (unchanged for `None`,
    /// so exchanges declared before the option existed stay equivalent).
    pub fn with_alternate(mut self, alternate: Option<&AlternateExchange>) -> Self {
        if let Some(alternate) = alternate {
            self.arguments = alternate.argument();
        }
        self
    }
}

/// The queue a binding binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoundQueue {
    /// A queue known by name before it is declared (a durable, shared one).
    Named(QueueName),
    /// The queue declared last before the binding: a server-named queue's name is only known
    /// once the broker answered.
    LastDeclared,
}

/// One binding of a declared queue to a declared exchange.
#[derive(Debug, Clone)]
pub struct BindingSpec {
    /// The queue that receives what matches.
    pub queue: BoundQueue,
    /// The exchange whose messages are matched against `routing_key`.
    pub exchange: ExchangeName,
    /// The binding key: a pattern for topic, an exact key for direct, empty (ignored) for fanout
    /// and headers.
    pub routing_key: RoutingKey,
    /// Binding arguments: a headers binding's `x-match` and headers; empty for the others.
    pub arguments: FieldTable,
}

/// Everything one role declares, in order: exchanges, queues, bindings.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    /// Declared first, so the bindings can refer to them.
    pub exchanges: Vec<ExchangeSpec>,
    /// Declared in order; the last one is what [`BoundQueue::LastDeclared`] binds.
    pub queues: Vec<QueueSpec>,
    /// Declared last, once every queue has its name.
    pub bindings: Vec<BindingSpec>,
    /// Added to the broker's refusal of a queue that exists with other arguments: which options
    /// must match.
    pub queue_mismatch_hint: Option<String>,
    /// Added to the broker's refusal of an exchange that exists with another type.
    pub exchange_mismatch_hint: Option<String>,
}

/// What the broker answered for one declared queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredQueue {
    /// The queue's name (the broker's choice for a server-named queue).
    pub name: QueueName,
    /// Messages ready in it when declared (0 if the broker did not say): those that waited.
    pub messages: u32,
    /// Consumers already on it when declared (0 if the broker did not say).
    pub consumers: u32,
}

/// The result of declaring a topology, kept with the session it belongs to.
#[derive(Debug, Clone, Default)]
pub struct DeclaredTopology {
    /// One per declared queue, in declaration order.
    pub queues: Vec<DeclaredQueue>,
}

impl DeclaredTopology {
    /// The name of the queue declared last: where a role that declares a server-named queue
    /// after its others consumes (the name changes with every session).
    pub fn last_queue_name(&self) -> Option<&QueueName> {
        self.queues.last().map(|queue| &queue.name)
    }
}

/// What was being declared when the broker refused; names it in the error.
#[derive(Debug, Clone)]
pub enum Declaration {
    /// Declaring this exchange (one that exists with another type, say).
    Exchange(ExchangeName),
    /// `None`: a server-named queue.
    Queue(Option<QueueName>),
    /// Binding `queue` to `exchange` (a missing exchange or permission, say).
    Binding {
        /// The queue being bound (the broker's name for a server-named one).
        queue: QueueName,
        /// The exchange it was being bound to.
        exchange: ExchangeName,
    },
}

impl Declaration {
    /// How an operator removes the thing, so it can be declared afresh.
    pub fn how_to_delete(&self) -> String {
        match self {
            Declaration::Queue(Some(name)) => format!("rabbitmqctl delete_queue {name}"),
            Declaration::Queue(None) => "nothing to delete: the broker names it".to_owned(),
            Declaration::Exchange(name) => {
                format!("rabbitmqadmin delete exchange name={name}, or the management UI")
            }
            Declaration::Binding { .. } => "the management UI".to_owned(),
        }
    }
}

impl std::fmt::Display for Declaration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Declaration::Exchange(name) => write!(f, "exchange {:?}", name.as_str()),
            Declaration::Queue(Some(name)) => write!(f, "queue {:?}", name.as_str()),
            Declaration::Queue(None) => f.write_str("a server-named queue"),
            Declaration::Binding { queue, exchange } => {
                write!(
                    f,
                    "binding of queue {:?} to exchange {:?}",
                    queue.as_str(),
                    exchange.as_str()
                )
            }
        }
    }
}

impl Topology {
    /// Declares everything on `channel`. On failure, returns what was being declared and amqprs'
    /// error; the reason the broker gave arrives through the channel callback.
    pub async fn declare(
        &self,
        channel: &Channel,
    ) -> Result<DeclaredTopology, (Declaration, amqprs::error::Error)> {
        for exchange in &self.exchanges {
            let args =
                ExchangeDeclareArguments::new(exchange.name.as_str(), exchange.kind.as_str())
                    .durable(exchange.durable)
                    .arguments(exchange.arguments.clone())
                    .finish();
            channel
                .exchange_declare(args)
                .await
                .map_err(|e| (Declaration::Exchange(exchange.name.clone()), e))?;
        }
        let mut declared = DeclaredTopology::default();
        for queue in &self.queues {
            let name = queue.name.as_ref().map_or("", QueueName::as_str);
            let args = QueueDeclareArguments::new(name)
                .durable(queue.durable)
                .exclusive(queue.exclusive)
                .auto_delete(queue.auto_delete)
                .arguments(queue.arguments.clone())
                .finish();
            let answer = channel
                .queue_declare(args)
                .await
                .map_err(|e| (Declaration::Queue(queue.name.clone()), e))?;
            let (name, messages, consumers) = answer.unwrap_or_else(|| (name.to_owned(), 0, 0));
            declared.queues.push(DeclaredQueue {
                name: QueueName::from_broker(name),
                messages,
                consumers,
            });
        }
        for binding in &self.bindings {
            let queue = match (&binding.queue, declared.last_queue_name()) {
                (BoundQueue::Named(name), _) => name.clone(),
                (BoundQueue::LastDeclared, Some(last)) => last.clone(),
                (BoundQueue::LastDeclared, None) => continue,
            };
            let mut args = QueueBindArguments::new(
                queue.as_str(),
                binding.exchange.as_str(),
                binding.routing_key.as_str(),
            );
            args.arguments = binding.arguments.clone();
            channel.queue_bind(args).await.map_err(|e| {
                (
                    Declaration::Binding {
                        queue: queue.clone(),
                        exchange: binding.exchange.clone(),
                    },
                    e,
                )
            })?;
        }
        Ok(declared)
    }
}
