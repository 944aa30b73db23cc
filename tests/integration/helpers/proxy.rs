//! Fault injection: a TCP proxy between a role and the broker that a test can cut, freeze and
//! restore, instead of stopping the shared broker.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use super::broker::{amqp_url_via, broker_host, broker_port};

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
