//! Who this process is, as the broker and the logs should see it.

/// The host name (the pod name in Kubernetes): it tells replicas apart in logs and in the
/// management UI.
pub fn host_name() -> String {
    let name = gethostname::gethostname().to_string_lossy().into_owned();
    if name.is_empty() {
        "unknown-host".to_owned()
    } else {
        name
    }
}

/// The client-provided connection name shown in RabbitMQ's management UI, e.g.
/// `playground consume @ message-consumer-7d9f-abcde`.
pub fn connection_name(role: &str) -> String {
    format!("playground {role} @ {}", host_name())
}
