//! Configuration errors are one clear line with the right exit code, and the password never
//! shows: not in logs, errors, `--help` or HTTP responses.

use std::time::Duration;

use amqprs::channel::QueueDeclareArguments;

use crate::helpers::*;

const SECRET: &str = "Sup3r-S3cret-PW";

#[tokio::test]
async fn a_malformed_url_is_one_line_and_exit_code_2_without_the_password() {
    for url in [
        format!("http://bob:{SECRET}@host/"),
        format!("amqp://bob:{SECRET}@/"),
        format!("amqp://bob:{SECRET}@host:99999/"),
        format!("not a url {SECRET}"),
    ] {
        let mut process =
            Running::spawn(&["consume", "--amqp-url", &url, "--health-port", "0"], &[]);
        assert_eq!(process.wait_exit(Duration::from_secs(5)).await, 2, "{url}");
        let output = process.output();
        assert!(!output.contains(SECRET), "{output}");
        let lines: Vec<_> = output.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "one line: {output}");
        assert!(lines[0].starts_with("error: "), "{output}");
    }
    // amqps:// parses (and then simply fails to connect to a port with no TLS listener).
    let mut process = Running::spawn(
        &[
            "consume",
            "--amqp-url",
            "amqps://u:p@127.0.0.1:1/",
            "--health-port",
            "0",
        ],
        &[],
    );
    process
        .wait_log(
            "could not connect to RabbitMQ",
            |_| true,
            Duration::from_secs(5),
        )
        .await;
    process.sigterm();
    assert_eq!(process.wait_exit(Duration::from_secs(5)).await, 0);
}

#[tokio::test]
async fn the_password_never_appears_in_help_logs_or_responses() {
    // --help with the secrets in the environment.
    let output = std::process::Command::new(BIN)
        .args(["consume", "--help"])
        .env("RABBITMQ_PASS", SECRET)
        .env("RABBITMQ_URL", format!("amqp://bob:{SECRET}@host/%2f"))
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(
        help.contains("RABBITMQ_PASS") && help.contains("RABBITMQ_URL"),
        "{help}"
    );
    assert!(!help.contains(SECRET), "{help}");

    // A produce-server that cannot log in logs every failed attempt, never the password, and its
    // health endpoint does not reveal it either.
    let proxy = Proxy::start().await;
    proxy.cut();
    let (queue, _cleanup) = test_queue("secret");
    let url = format!("amqp://bob:{SECRET}@127.0.0.1:{}/%2f", proxy.port);
    let server = ProduceServer::start(&url, &queue, &["--amqp-password", SECRET]).await;
    server
        .process
        .wait_log(
            "could not connect to RabbitMQ",
            |_| true,
            Duration::from_secs(5),
        )
        .await;
    let (status, health) = get(&server.url("/health")).await;
    assert_eq!(status, 200);
    assert!(!health.to_string().contains(SECRET), "{health}");
    let (status, body) = server.send(&reqwest::Client::new(), "x").await;
    assert_eq!(status, 503);
    assert!(!body.to_string().contains(SECRET));
    let output = server.process.output();
    assert!(output.contains("bob:****@"), "{output}");
    assert!(!output.contains(SECRET), "{output}");
}

#[tokio::test]
async fn credentials_from_user_and_password_flags_replace_the_urls() {
    let (queue, _cleanup) = test_queue("creds");
    // The URL's credentials are wrong; the separate ones (as a Kubernetes Secret gives them) win.
    let url = format!(
        "amqp://nobody:wrong@{}:{}/%2f",
        broker_host(),
        broker_port()
    );
    let mut process = Running::spawn(
        &[
            "consume",
            "--queue",
            &queue,
            "--amqp-url",
            &url,
            "--health-port",
            "0",
        ],
        &[("RABBITMQ_USER", "guest"), ("RABBITMQ_PASS", "guest")],
    );
    process
        .wait_log("consuming", |_| true, Duration::from_secs(10))
        .await;
    process.sigterm();
    assert_eq!(process.wait_exit(Duration::from_secs(10)).await, 0);
}

#[tokio::test]
async fn a_queue_that_exists_with_other_arguments_is_a_clear_error_not_a_loop() {
    let (queue, _cleanup) = test_queue("inequivalent");
    let broker = Broker::connect().await;
    // Someone declared it non-durable first.
    broker
        .channel()
        .queue_declare(QueueDeclareArguments::new(&queue))
        .await
        .unwrap();
    let mut process = Running::spawn(
        &[
            "consume",
            "--queue",
            &queue,
            "--amqp-url",
            &amqp_url(),
            "--health-port",
            "0",
        ],
        &[],
    );
    // A settings mismatch is a configuration error: exit code 2.
    assert_eq!(process.wait_exit(Duration::from_secs(10)).await, 2);
    let output = process.output();
    assert!(output.contains("PRECONDITION_FAILED"), "{output}");
    assert!(output.contains(&queue), "names the queue: {output}");
    assert!(output.contains("delete it"), "says what to do: {output}");
    assert_eq!(
        process
            .logs_matching(|v| v["message"] == "could not connect to RabbitMQ")
            .len(),
        0,
        "no retry loop"
    );
}

/// Runs `consume` as `user`/`password` against `vhost` with fast retries and its health port.
fn consume_as(user: &str, password: &str, vhost: &str, queue: &str, port: u16) -> Running {
    let url = format!("amqp://{}:{}/{vhost}", broker_host(), broker_port());
    let port = port.to_string();
    Running::spawn(
        &[
            "consume",
            "--queue",
            queue,
            "--amqp-url",
            &url,
            "--health-port",
            &port,
            "--health-bind",
            "127.0.0.1",
            "--reconnect-min",
            "50ms",
            "--reconnect-max",
            "500ms",
        ],
        &[("RABBITMQ_USER", user), ("RABBITMQ_PASS", password)],
    )
}

#[tokio::test]
async fn wrong_credentials_are_named_retried_and_recover_once_fixed() {
    let user = unique("user");
    let port = free_port();
    let (queue, _cleanup) = test_queue("creds-retry");
    let mut process = consume_as(&user, SECRET, "%2f", &queue, port);
    // Two refusals in a row, each naming the user, and the role is still running.
    for attempt in [1, 2] {
        process
            .wait_log(
                "RabbitMQ refused the connection; retrying",
                |v| {
                    v["attempt"].as_u64() >= Some(attempt)
                        && v["error"].as_str().is_some_and(|e| e.contains(&user))
                },
                Duration::from_secs(30),
            )
            .await;
    }
    let (status, ready) = get(&format!("http://127.0.0.1:{port}/ready")).await;
    assert_eq!(status, 503);
    assert!(
        ready["last_error"].as_str().unwrap().contains(&user),
        "{ready}"
    );
    assert!(
        ready["last_error"]
            .as_str()
            .unwrap()
            .contains("RABBITMQ_PASS"),
        "{ready}"
    );

    // An operator creates the user while the pod runs: it connects without a restart.
    if let Some(_user) = BrokerUser::create(&user, SECRET) {
        process
            .wait_log("consuming", |_| true, Duration::from_secs(30))
            .await;
        wait_status(
            &format!("http://127.0.0.1:{port}/ready"),
            200,
            Duration::from_secs(5),
        )
        .await;
    }
    process.sigterm();
    assert_eq!(process.wait_exit(Duration::from_secs(10)).await, 0);
    let output = process.output();
    assert!(!output.contains(SECRET), "{output}");
    assert!(!ready.to_string().contains(SECRET));
}

#[tokio::test]
async fn an_unknown_vhost_is_named_retried_and_recovers_once_created() {
    let vhost = unique("vhost");
    let port = free_port();
    // The queue lives in the new vhost, which is deleted with everything in it.
    let mut process = consume_as("guest", "guest", &vhost, "vhost-test-queue", port);
    process
        .wait_log(
            "RabbitMQ refused the connection; retrying",
            |v| v["error"].as_str().is_some_and(|e| e.contains(&vhost)),
            Duration::from_secs(30),
        )
        .await;
    let (status, ready) = get(&format!("http://127.0.0.1:{port}/ready")).await;
    assert_eq!(status, 503);
    assert!(
        ready["last_error"].as_str().unwrap().contains(&vhost),
        "{ready}"
    );
    if let Some(_vhost) = BrokerVhost::create(&vhost, "guest") {
        process
            .wait_log("consuming", |_| true, Duration::from_secs(30))
            .await;
    }
    process.sigterm();
    assert_eq!(process.wait_exit(Duration::from_secs(10)).await, 0);
}

#[tokio::test]
async fn check_config_validates_and_describes_without_connecting() {
    // A broker address where nothing listens: --check-config must not try it.
    let url = "amqp://guest:sekrit@127.0.0.1:1/%2f";
    let (code, output) = run_to_end(
        &[
            "topic-sub",
            "--pattern",
            "*.error",
            "--queue",
            "error-handler-service",
            "--amqp-url",
            url,
            "--check-config",
        ],
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(code, 0, "{output}");
    let description: serde_json::Value = serde_json::from_str(output.trim()).unwrap();
    assert_eq!(description["role"], "topic-sub");
    assert_eq!(description["port"], 8080);
    assert_eq!(
        description["paths"],
        serde_json::json!(["/health", "/ready", "/metrics"])
    );
    assert!(!output.contains("sekrit"), "{output}");
    let (code, output) = run_to_end(
        &[
            "topic-sub",
            "--pattern",
            "a..b",
            "--amqp-url",
            url,
            "--check-config",
        ],
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(code, 2, "{output}");
}
