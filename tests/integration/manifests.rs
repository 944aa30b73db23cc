//! The Kubernetes manifests and the binary cannot drift apart: every overlay is rendered, and every
//! Deployment must run the one image, with args (and env) the current CLI accepts, and probes that
//! point at a port and paths its role really serves (asked of the binary with `--check-config`).

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use serde::Deserialize;
use serde_json::Value;

use crate::helpers::BIN;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every overlay under deploy/overlays.
fn overlays() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("deploy/overlays"))
        .expect("deploy/overlays")
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no overlays");
    names
}

/// The rendered documents of `overlay`, as JSON values.
fn render(overlay: &str) -> Vec<Value> {
    let output = Command::new("bash")
        .arg(root().join("scripts/render-manifests.sh"))
        .arg(overlay)
        .output()
        .expect("run scripts/render-manifests.sh");
    assert!(
        output.status.success(),
        "rendering {overlay} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("UTF-8 manifests");
    serde_norway::Deserializer::from_str(&text)
        .map(|document| {
            let value = serde_norway::Value::deserialize(document).expect("YAML document");
            serde_json::to_value(value).expect("YAML as JSON")
        })
        .filter(|value| !value.is_null())
        .collect()
}

/// `kind/namespace/name` → document.
fn index(documents: &[Value]) -> HashMap<String, &Value> {
    documents
        .iter()
        .map(|d| {
            let key = format!(
                "{}/{}/{}",
                d["kind"].as_str().unwrap_or_default(),
                d["metadata"]["namespace"].as_str().unwrap_or_default(),
                d["metadata"]["name"].as_str().unwrap_or_default()
            );
            (key, d)
        })
        .collect()
}

/// The environment the container would get, with Secret values replaced by placeholders (the
/// CLI only needs them to be present). ConfigMaps come from the rendered documents; a Secret an
/// operator creates at run time is not rendered, which is fine for placeholders.
fn container_env(
    container: &Value,
    namespace: &str,
    all: &HashMap<String, &Value>,
) -> Vec<(String, String)> {
    let mut env = Vec::new();
    for source in container["envFrom"].as_array().into_iter().flatten() {
        if let Some(name) = source["configMapRef"]["name"].as_str() {
            let map = all
                .get(&format!("ConfigMap/{namespace}/{name}"))
                .unwrap_or_else(|| panic!("envFrom ConfigMap {name} is not in the manifests"));
            for (key, value) in map["data"].as_object().into_iter().flatten() {
                env.push((key.clone(), value.as_str().unwrap_or_default().to_owned()));
            }
        }
        if source["secretRef"]["name"].is_string() {
            // Keys unknown without the Secret; the credentials below are what the CLI reads.
            env.push(("RABBITMQ_USER".into(), "placeholder".into()));
            env.push(("RABBITMQ_PASS".into(), "placeholder".into()));
        }
    }
    for variable in container["env"].as_array().into_iter().flatten() {
        let name = variable["name"].as_str().unwrap().to_owned();
        let value = match variable["value"].as_str() {
            Some(value) => value.to_owned(),
            None if variable["valueFrom"]["configMapKeyRef"].is_object() => {
                let reference = &variable["valueFrom"]["configMapKeyRef"];
                let map = all
                    .get(&format!(
                        "ConfigMap/{namespace}/{}",
                        reference["name"].as_str().unwrap()
                    ))
                    .expect("referenced ConfigMap");
                map["data"][reference["key"].as_str().unwrap()]
                    .as_str()
                    .expect("referenced key")
                    .to_owned()
            }
            None => "placeholder".to_owned(),
        };
        env.push((name, value));
    }
    env
}

/// A probe's port as a number (named ports resolved through the container's ports).
fn probe_port(probe: &Value, container: &Value) -> u64 {
    let port = &probe["httpGet"]["port"];
    if let Some(number) = port.as_u64() {
        return number;
    }
    let name = port.as_str().expect("probe port");
    container["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == name)
        .and_then(|p| p["containerPort"].as_u64())
        .unwrap_or_else(|| panic!("probe port {name:?} is not a container port"))
}

/// What the binary makes of a container's args and environment (`--check-config`), or its
/// one-line error.
fn check_config(
    container: &Value,
    namespace: &str,
    all: &HashMap<String, &Value>,
) -> Result<Value, String> {
    let args: Vec<&str> = container["args"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let env = container_env(container, namespace, all);
    let output = Command::new(BIN)
        .args(&args)
        .arg("--check-config")
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run playground --check-config");
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    Ok(serde_json::from_slice(&output.stdout).expect("JSON"))
}

#[test]
fn the_cluster_overlay_gives_every_role_every_node_and_quorum_queues() {
    let documents = render("cluster");
    let all = index(&documents);
    let cluster = documents
        .iter()
        .find(|d| d["kind"] == "RabbitmqCluster")
        .expect("a RabbitmqCluster");
    let (name, namespace) = (
        cluster["metadata"]["name"].as_str().unwrap(),
        cluster["metadata"]["namespace"].as_str().unwrap(),
    );
    let replicas = cluster["spec"]["replicas"].as_u64().unwrap();
    assert_eq!(
        replicas, 3,
        "three nodes: a quorum survives the loss of one"
    );
    // The operator's StatefulSet is NAME-server behind the headless Service NAME-nodes.
    let nodes: Vec<String> = (0..replicas)
        .map(|i| format!("{name}-server-{i}.{name}-nodes.{namespace}.svc.cluster.local:5672"))
        .collect();
    for deployment in documents.iter().filter(|d| d["kind"] == "Deployment") {
        let what = deployment["metadata"]["name"].as_str().unwrap();
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        let pod_namespace = deployment["metadata"]["namespace"].as_str().unwrap();
        let description =
            check_config(container, pod_namespace, &all).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(
            description["amqp_nodes"],
            serde_json::json!(nodes),
            "{what}: every node of the cluster, so it can move when its node goes"
        );
        if let Some(shape) = description["queue_shape"].as_str() {
            assert!(shape.starts_with("quorum"), "{what}: {shape}");
        }
        if description["queue"].is_string() && description["queue_type"].is_string() {
            assert_eq!(description["queue_type"], "quorum", "{what}: {description}");
        }
    }
}

#[test]
fn every_deployment_runs_the_one_image_with_args_and_probes_the_binary_accepts() {
    for overlay in overlays() {
        let documents = render(&overlay);
        let all = index(&documents);
        let deployments: Vec<&Value> = documents
            .iter()
            .filter(|d| d["kind"] == "Deployment")
            .collect();
        assert!(
            deployments.len() >= 5,
            "{overlay}: only {} deployments",
            deployments.len()
        );
        let mut images = Vec::new();
        for deployment in deployments {
            let name = deployment["metadata"]["name"].as_str().unwrap();
            let namespace = deployment["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default");
            let what = format!("{overlay}/{name}");
            let containers = deployment["spec"]["template"]["spec"]["containers"]
                .as_array()
                .unwrap();
            assert_eq!(containers.len(), 1, "{what}: one container");
            let container = &containers[0];
            images.push(container["image"].as_str().unwrap().to_owned());

            let args: Vec<String> = container["args"]
                .as_array()
                .unwrap_or_else(|| panic!("{what}: no args"))
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
                .collect();
            let description = check_config(container, namespace, &all)
                .unwrap_or_else(|e| panic!("{what}: the binary refuses args {args:?}: {e}"));
            let paths: Vec<&str> = description["paths"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap())
                .collect();
            for (probe, path) in [("readinessProbe", "/ready"), ("livenessProbe", "/health")] {
                let probe_spec = &container[probe];
                assert_eq!(
                    probe_spec["httpGet"]["path"], path,
                    "{what}: {probe} should ask {path}"
                );
                assert!(
                    paths.contains(&path),
                    "{what}: the role does not serve {path}"
                );
                assert_eq!(
                    Some(probe_port(probe_spec, container)),
                    description["port"].as_u64(),
                    "{what}: {probe} port is not the port the role listens on"
                );
            }
            // Container settings win over the pod's; either level may carry them.
            let pod_security = &deployment["spec"]["template"]["spec"]["securityContext"];
            let security = &container["securityContext"];
            let setting = |key: &str| {
                if security[key].is_null() {
                    pod_security[key].clone()
                } else {
                    security[key].clone()
                }
            };
            assert_eq!(setting("runAsNonRoot"), true, "{what}: runAsNonRoot");
            assert_eq!(setting("readOnlyRootFilesystem"), true, "{what}");
            assert_eq!(setting("allowPrivilegeEscalation"), false, "{what}");
            assert_eq!(
                setting("seccompProfile")["type"],
                "RuntimeDefault",
                "{what}"
            );
            assert_eq!(security["capabilities"]["drop"][0], "ALL", "{what}");
            assert!(
                deployment["spec"]["template"]["spec"]["nodeSelector"].is_null(),
                "{what}: no arch nodeSelector"
            );
        }
        images.dedup();
        assert_eq!(
            images.len(),
            1,
            "{overlay}: one image for every role: {images:?}"
        );
        assert!(!images[0].contains("rabbitmq"), "{images:?}");

        // Every Service of the apps reaches a port its pods really open.
        for service in documents
            .iter()
            .filter(|d| d["kind"] == "Service" && d["metadata"]["namespace"] == "services")
        {
            let selector = service["spec"]["selector"].as_object().unwrap();
            let pods: Vec<&Value> = documents
                .iter()
                .filter(|d| d["kind"] == "Deployment")
                .filter(|d| {
                    selector
                        .iter()
                        .all(|(k, v)| d["spec"]["template"]["metadata"]["labels"][k.as_str()] == *v)
                })
                .collect();
            let name = service["metadata"]["name"].as_str().unwrap();
            if pods.is_empty() {
                // The cluster overlay's broker is made by the operator, not a Deployment.
                continue;
            }
            for port in service["spec"]["ports"].as_array().unwrap() {
                let target = &port["targetPort"];
                let container = &pods[0]["spec"]["template"]["spec"]["containers"][0];
                let open = container["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|p| p["name"] == *target || p["containerPort"] == *target);
                assert!(
                    open,
                    "{overlay}: service {name} targets {target}, which no pod opens"
                );
            }
        }
    }
}

#[test]
fn every_overlay_has_an_audit_replay_that_reads_the_topic_stream_from_first() {
    for overlay in overlays() {
        let documents = render(&overlay);
        let all = index(&documents);
        let deployment = documents
            .iter()
            .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == "audit-replay")
            .unwrap_or_else(|| panic!("{overlay}: no audit-replay Deployment"));
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        let namespace = deployment["metadata"]["namespace"].as_str().unwrap();
        let description = check_config(container, namespace, &all)
            .unwrap_or_else(|e| panic!("{overlay}/audit-replay: {e}"));
        assert_eq!(description["role"], "stream-sub", "{description}");
        assert_eq!(description["offset"], "first", "replays on every start");
        assert_eq!(description["exchange"], "logs-topic", "{description}");
        assert_eq!(description["patterns"], serde_json::json!(["#"]));
        assert!(
            description["max_age"].is_string(),
            "a retention, or the stream grows for ever: {description}"
        );
    }
}
