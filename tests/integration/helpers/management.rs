//! A queue as the broker describes it (declared arguments, type, durability): what AMQP does not
//! show. From the management HTTP API (port 15672, guest/guest) when the plugin is on, else from
//! `rabbitmqctl list_queues` (the shared test broker runs without the plugin); both read only.

use serde_json::{json, Map, Value};

use super::broker::broker_host;

/// `{"name", "type", "durable", "arguments": {key: value}}` of queue `name` on vhost `/`.
/// Panics when neither the management API nor rabbitmqctl can say.
pub async fn management_queue(name: &str) -> Value {
    let url = format!("http://{}:15672/api/queues/%2F/{name}", broker_host());
    let answer = reqwest::Client::new()
        .get(&url)
        .basic_auth("guest", Some("guest"))
        .send()
        .await;
    if let Ok(response) = answer {
        if response.status().is_success() {
            return response.json().await.expect("management API JSON");
        }
    }
    from_rabbitmqctl(name)
}

fn from_rabbitmqctl(name: &str) -> Value {
    let output = std::process::Command::new("rabbitmqctl")
        .args([
            "-q",
            "list_queues",
            "name",
            "type",
            "durable",
            "arguments",
            "--formatter",
            "json",
        ])
        .output()
        .expect("neither the management API nor rabbitmqctl can be used here");
    let queues: Vec<Value> =
        serde_json::from_slice(&output.stdout).expect("rabbitmqctl list_queues JSON");
    let queue = queues
        .into_iter()
        .find(|q| q["name"] == name)
        .unwrap_or_else(|| panic!("no queue {name} on the broker"));
    // rabbitmqctl lists arguments as [key, type, value] triples.
    let arguments: Map<String, Value> = queue["arguments"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|triple| Some((triple[0].as_str()?.to_owned(), triple[2].clone())))
        .collect();
    json!({
        "name": queue["name"],
        "type": queue["type"],
        "durable": queue["durable"],
        "arguments": arguments,
    })
}
