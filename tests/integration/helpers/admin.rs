//! `rabbitmqctl` against the shared node, for tests that create users and vhosts.

use std::process::Stdio;

/// Runs `rabbitmqctl -q ARGS` against the shared node; `false` when it is missing or fails (a
/// broker in Docker, say), so tests that need it can say so and skip that part.
pub fn rabbitmqctl(args: &[&str]) -> bool {
    std::process::Command::new("rabbitmqctl")
        .arg("-q")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A broker user that exists until dropped.
pub struct BrokerUser(String);

impl BrokerUser {
    /// Creates `name` with `password` and full rights on `/`; `None` (and a loud line) when
    /// rabbitmqctl cannot be used here.
    pub fn create(name: &str, password: &str) -> Option<Self> {
        if !rabbitmqctl(&["add_user", name, password]) {
            eprintln!("SKIPPED PART: rabbitmqctl cannot add users on this machine");
            return None;
        }
        assert!(rabbitmqctl(&[
            "set_permissions",
            "-p",
            "/",
            name,
            ".*",
            ".*",
            ".*"
        ]));
        Some(Self(name.to_owned()))
    }
}

impl Drop for BrokerUser {
    fn drop(&mut self) {
        rabbitmqctl(&["delete_user", &self.0]);
    }
}

/// A vhost that exists until dropped.
pub struct BrokerVhost(String);

impl BrokerVhost {
    /// Creates `name` and gives `user` full rights on it; `None` (and a loud line) when
    /// rabbitmqctl cannot be used here.
    pub fn create(name: &str, user: &str) -> Option<Self> {
        if !rabbitmqctl(&["add_vhost", name]) {
            eprintln!("SKIPPED PART: rabbitmqctl cannot add vhosts on this machine");
            return None;
        }
        assert!(rabbitmqctl(&[
            "set_permissions",
            "-p",
            name,
            user,
            ".*",
            ".*",
            ".*"
        ]));
        Some(Self(name.to_owned()))
    }
}

impl Drop for BrokerVhost {
    fn drop(&mut self) {
        rabbitmqctl(&["delete_vhost", &self.0]);
    }
}
