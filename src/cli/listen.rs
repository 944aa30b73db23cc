//! Where roles listen for HTTP: produce-server's port, and the health port of the roles without
//! one. A health port left at its default may be taken by a second worker on the same machine
//! (the work-queue tutorial starts several), which must not stop the worker; a port someone chose
//! is theirs to fix.

use std::net::{IpAddr, SocketAddr};

use clap::Args;

use crate::http::{Listen, PortChoice};

/// The health port when none is given.
pub const DEFAULT_HEALTH_PORT: u16 = 8080;

/// Health endpoints for roles without an HTTP port of their own.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Port for GET /health, /ready and /metrics; 0 disables them [default: 8080; if 8080 is
    /// taken, a free port is used and logged].
    #[arg(long, env = "HEALTH_PORT", value_name = "PORT")]
    pub health_port: Option<u16>,

    /// Address the health endpoints listen on.
    #[arg(
        long = "health-bind",
        env = "HEALTH_BIND_ADDRESS",
        default_value = "0.0.0.0",
        value_name = "IP"
    )]
    pub health_bind: IpAddr,
}

impl HealthArgs {
    /// Where to serve them; `None` when turned off with port 0.
    pub fn listen(&self) -> Option<Listen> {
        let (port, choice) = match self.health_port {
            None => (DEFAULT_HEALTH_PORT, PortChoice::Default),
            Some(0) => return None,
            Some(port) => (port, PortChoice::Explicit),
        };
        Some(Listen {
            addr: SocketAddr::new(self.health_bind, port),
            choice,
            flag: "--health-port / HEALTH_PORT",
        })
    }
}

/// produce-server's listening address: its port is its job, so a taken one is always an error
/// (port 0 picks a free one).
pub fn server_listen(bind: IpAddr, port: u16) -> Listen {
    Listen {
        addr: SocketAddr::new(bind, port),
        choice: PortChoice::Explicit,
        flag: "--port / PORT",
    }
}
