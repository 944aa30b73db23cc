//! The broker, seen from the test: where it is, a test's own AMQP connection for looking into
//! queues, and guards that delete what a test declared even when it panics.

use amqprs::channel::{
    BasicGetArguments, BasicPublishArguments, Channel, ExchangeDeleteArguments,
    QueueDeclareArguments, QueueDeleteArguments,
};
use amqprs::connection::{Connection, OpenConnectionArguments};
use amqprs::BasicProperties;

use super::unique;

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

/// Runs `cleanup` against the broker on a thread of its own: guards run in `Drop`, possibly
/// inside a runtime that is shutting down after a panic, where nothing could be awaited.
fn clean_up_on_the_side<F, Fut>(cleanup: F)
where
    F: FnOnce(Broker) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let _ = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async { cleanup(Broker::connect().await).await });
    })
    .join();
}

/// A test's own telemetry exchange (deleted when dropped), so its console sees only its roles,
/// and the flags that point a role at it with snapshots every `interval`.
pub struct Telemetry {
    guard: ExchangeGuard,
    interval: &'static str,
}

impl Telemetry {
    pub fn new(interval: &'static str) -> Self {
        Self {
            guard: ExchangeGuard(vec![unique("telemetry")]),
            interval,
        }
    }

    /// `--telemetry INTERVAL --telemetry-exchange NAME`.
    pub fn flags(&self) -> [&str; 4] {
        [
            "--telemetry",
            self.interval,
            "--telemetry-exchange",
            self.guard.0[0].as_str(),
        ]
    }
}

/// Deletes exchanges when dropped, even when the test panicked.
pub struct ExchangeGuard(pub Vec<String>);

impl Drop for ExchangeGuard {
    fn drop(&mut self) {
        let exchanges = std::mem::take(&mut self.0);
        clean_up_on_the_side(|broker| async move {
            for exchange in &exchanges {
                broker.delete_exchange(exchange).await;
            }
        });
    }
}

/// Fresh names for the four lab exchanges (topic, direct, fanout, headers), deleted at the end
/// of the test, with the flags that point a publisher at them.
pub struct TestExchanges {
    pub topic: String,
    pub direct: String,
    pub fanout: String,
    pub headers: String,
    _guard: ExchangeGuard,
}

impl TestExchanges {
    pub fn new(prefix: &str) -> Self {
        let base = unique(prefix);
        let (topic, direct, fanout, headers) = (
            format!("{base}-topic"),
            format!("{base}-direct"),
            format!("{base}-fanout"),
            format!("{base}-headers"),
        );
        let guard = ExchangeGuard(vec![
            topic.clone(),
            direct.clone(),
            fanout.clone(),
            headers.clone(),
        ]);
        Self {
            topic,
            direct,
            fanout,
            headers,
            _guard: guard,
        }
    }

    /// `--topic-exchange … --direct-exchange … --fanout-exchange … --headers-exchange …`.
    pub fn flags(&self) -> Vec<&str> {
        vec![
            "--topic-exchange",
            &self.topic,
            "--direct-exchange",
            &self.direct,
            "--fanout-exchange",
            &self.fanout,
            "--headers-exchange",
            &self.headers,
        ]
    }
}

/// A fresh alternate exchange and its `<name>.unrouted` queue, both deleted at the end of the
/// test.
pub struct TestAlternate {
    pub exchange: String,
    pub queue: String,
    _exchange_guard: ExchangeGuard,
    _queue_guard: QueueGuard,
}

impl TestAlternate {
    pub fn new(prefix: &str) -> Self {
        let exchange = unique(prefix);
        let queue = format!("{exchange}.unrouted");
        Self {
            _exchange_guard: ExchangeGuard(vec![exchange.clone()]),
            _queue_guard: QueueGuard(queue.clone()),
            exchange,
            queue,
        }
    }

    /// `--alternate-exchange NAME`.
    pub fn flags(&self) -> Vec<&str> {
        vec!["--alternate-exchange", &self.exchange]
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
        clean_up_on_the_side(|broker| async move { broker.delete(&queue).await });
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
        clean_up_on_the_side(|broker| async move {
            for queue in &queues {
                broker.delete(queue).await;
            }
            broker.delete_exchange(&exchange).await;
        });
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

/// A fresh queue name that is deleted at the end of the test.
pub fn test_queue(prefix: &str) -> (String, QueueGuard) {
    let name = unique(prefix);
    (name.clone(), QueueGuard(name))
}
