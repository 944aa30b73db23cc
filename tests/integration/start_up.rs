//! Start-up as a newcomer meets it: several workers on one machine, ports someone else holds, and
//! what a panic does to a running role.

use std::time::Duration;

use crate::helpers::*;

/// The health port `consume` uses when none is given.
const DEFAULT_HEALTH_PORT: u16 = 8080;

#[tokio::test]
async fn a_second_worker_on_one_machine_serves_its_health_on_a_free_port() {
    // Someone holds the default port: this test, or whatever else already listens there.
    let _holder = std::net::TcpListener::bind(("0.0.0.0", DEFAULT_HEALTH_PORT));
    let (queue, _cleanup) = test_queue("second-worker");
    let mut worker = Running::spawn(
        &["consume", "--queue", &queue, "--amqp-url", &amqp_url()],
        &[],
    );
    let listening = worker
        .wait_log(
            "health endpoints listening",
            |v| v["port"].as_u64() != Some(u64::from(DEFAULT_HEALTH_PORT)),
            Duration::from_secs(10),
        )
        .await;
    let port = listening["port"].as_u64().expect("port");
    let warning = worker.logs_matching(|v| v["taken"] == DEFAULT_HEALTH_PORT);
    assert_eq!(warning.len(), 1, "one line says so: {}", worker.output());
    assert_eq!(warning[0]["level"], "WARN");
    worker
        .wait_log("consuming", |_| true, Duration::from_secs(10))
        .await;
    wait_status(
        &format!("http://127.0.0.1:{port}/ready"),
        200,
        Duration::from_secs(5),
    )
    .await;
    worker.sigterm();
    assert_eq!(worker.wait_exit(Duration::from_secs(10)).await, 0);
}

#[tokio::test]
async fn a_chosen_port_that_is_taken_is_exit_2_naming_its_flag_and_declares_nothing() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().expect("addr").port().to_string();
    let queue = unique("port-taken");
    let url = amqp_url();
    let runs: [(Vec<&str>, &str, &str); 2] = [
        (
            vec![
                "consume",
                "--queue",
                &queue,
                "--health-bind",
                "127.0.0.1",
                "--health-port",
                &port,
            ],
            "--health-port / HEALTH_PORT",
            "0 to turn the health endpoints off",
        ),
        (
            vec![
                "produce-server",
                "--queue",
                &queue,
                "--bind",
                "127.0.0.1",
                "--port",
                &port,
            ],
            "--port / PORT",
            "0 for any free port",
        ),
    ];
    for (mut args, flag, hint) in runs {
        args.extend(["--amqp-url", &url]);
        let (code, output) = run_to_end(&args, Duration::from_secs(10)).await;
        assert_eq!(code, 2, "{args:?}: {output}");
        let exit = output
            .lines()
            .find(|l| l.contains("\"exiting\""))
            .unwrap_or_else(|| panic!("no exit line: {output}"));
        for needed in [flag, hint, port.as_str()] {
            assert!(exit.contains(needed), "{needed:?} missing from {exit}");
        }
    }
    // Neither role got as far as the broker.
    let declared = Broker::connect()
        .await
        .channel()
        .queue_declare(
            amqprs::channel::QueueDeclareArguments::new(&queue)
                .passive(true)
                .finish(),
        )
        .await;
    assert!(declared.is_err(), "the queue was declared");
}

#[tokio::test]
async fn a_panic_in_a_task_stops_the_role_with_exit_70_instead_of_looking_healthy() {
    let (queue, _cleanup) = test_queue("panic");
    let port = free_port().to_string();
    let url = amqp_url();
    let args = [
        "consume",
        "--queue",
        &queue,
        "--amqp-url",
        &url,
        "--health-port",
        &port,
        "--health-bind",
        "127.0.0.1",
    ];
    let mut worker = Running::spawn(&args, &[("PLAYGROUND_TEST_PANIC_AFTER", "1500ms")]);
    let health = format!("http://127.0.0.1:{port}/health");
    wait_status(&health, 200, Duration::from_secs(10)).await;
    worker
        .wait_log(
            "a task panicked; shutting down",
            |_| true,
            Duration::from_secs(10),
        )
        .await;
    // From the panic on, /health never says healthy again.
    let (status, body) = get(&health).await;
    assert!(status != 200, "/health after the panic: {status} {body}");
    let code = worker.wait_exit(Duration::from_secs(15)).await;
    assert_eq!(code, 70, "{}", worker.output());
    let panic = worker.logs_matching(|v| v["message"] == "a task panicked; shutting down");
    assert!(
        panic[0]["panic"]
            .as_str()
            .is_some_and(|p| p.contains("PLAYGROUND_TEST_PANIC_AFTER")),
        "{panic:?}"
    );
}
