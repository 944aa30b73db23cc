//! Is a real AMQP broker answering at this address?
//!
//! Used to tell a refused login from a network fault. Both reach us as the socket being closed
//! during `Connection::open` (see `manager::classify_open_error`). A broker that answers a fresh
//! protocol header with `connection.start` is up and speaking AMQP, so a reset after our login
//! was the broker refusing it; a proxy or load balancer with nothing behind it closes at once.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The AMQP 0-9-1 protocol header a client sends first.
const PROTOCOL_HEADER: &[u8; 8] = b"AMQP\x00\x00\x09\x01";

/// `true` if `host:port` answers the protocol header with a `connection.start` method frame
/// within `within`. Plain TCP only (a TLS listener cannot be probed this way).
pub async fn answers_amqp(host: &str, port: u16, within: Duration) -> bool {
    tokio::time::timeout(within, probe(host, port))
        .await
        .unwrap_or(false)
}

async fn probe(host: &str, port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect((host, port)).await else {
        return false;
    };
    if stream.write_all(PROTOCOL_HEADER).await.is_err() {
        return false;
    }
    // Frame header (type 1 = method, channel 0, size) then class 10 / method 10 = connection.start.
    let mut head = [0u8; 11];
    if stream.read_exact(&mut head).await.is_err() {
        return false;
    }
    head[0] == 1 && head[1..3] == [0, 0] && head[7..11] == [0, 10, 0, 10]
}
