//! Group F: the longest valid names and a day of work, against the real broker.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::discover::long;
use super::runner::shorten;
use crate::helpers::{amqp_url, post_json, test_queue, ProduceServer, Running, TestExchanges};

/// The first line of `text`, and the panic (two lines from `panicked`), for a report.
fn gist(text: &str) -> String {
    let first = shorten(text.lines().next().unwrap_or(""));
    let panic = text.lines().skip_while(|l| !l.contains("panicked")).take(2);
    let panic: Vec<String> = panic.map(shorten).collect();
    format!("{first} | {}", panic.join(" "))
}

/// SIGTERM, then exit 0 within 10 s and no panic anywhere in the output.
async fn stop_cleanly(mut process: Running) {
    process.sigterm();
    let code = process.wait_exit(Duration::from_secs(10)).await;
    let output = process.output();
    let clean = code == 0 && !output.contains("panicked");
    assert!(clean, "after SIGTERM: exit {code}; {}", gist(&output));
}

/// `ROLE --amqp-url … --telemetry 1s --telemetry-exchange <unique> ARGS` (words separated by
/// spaces), once it logged `ready` (at once for `None`).
async fn start(role: &str, args: &str, tel: &TestExchanges, ready: Option<&str>) -> Running {
    let (url, exchange) = (amqp_url(), &tel.fanout);
    let all = format!("{role} --amqp-url {url} --telemetry 1s --telemetry-exchange {exchange}");
    let process = Running::spawn(&format!("{all} {args}").split(' ').collect::<Vec<_>>(), &[]);
    if let Some(ready) = ready {
        let timeout = Duration::from_secs(10);
        process.wait_log(ready, |_| true, timeout).await;
    }
    process
}

/// produce-server with a 255-byte service name answers POST /send-message.
async fn f1(tel: Arc<TestExchanges>) {
    let (queue, _queue) = test_queue("hostile-f1");
    let name = long('s', 255);
    let args = ["--service-name", &name, "--telemetry", "1s"];
    let args = [&args[..], &["--telemetry-exchange", &tel.fanout]].concat();
    let server = ProduceServer::start(&amqp_url(), &queue, &args).await;
    server.wait_ready(200, Duration::from_secs(10)).await;
    let (client, url) = (reqwest::Client::new(), server.url("/send-message"));
    let body = json!({"message": "x"});
    let post = post_json(&client, &url, &body);
    let status = tokio::time::timeout(Duration::from_secs(5), post).await;
    let status = status.map_or("no answer within 5 s".to_owned(), |(s, _)| s.to_string());
    let output = gist(&server.process.output());
    assert!(status == "200", "POST /send-message: {status}; {output}");
    stop_cleanly(server.process).await;
}

/// consume with a 255-byte name (its consumer tag adds the pid) consumes.
async fn f2(tel: Arc<TestExchanges>) {
    let (queue, _queue) = test_queue("hostile-f2");
    let args = format!("--queue {queue} --name {} --health-port 0", long('c', 255));
    stop_cleanly(start("consume", &args, &tel, Some("consuming")).await).await;
}

/// topic-sub with a 255-byte name (its consumer tag adds the pid) subscribes.
async fn f3(tel: Arc<TestExchanges>) {
    let name = long('t', 255);
    let args = format!("--name {name} --pattern # --exchange {}", tel.topic);
    let args = format!("{args} --health-port 0");
    stop_cleanly(start("topic-sub", &args, &tel, Some("subscribed")).await).await;
}

/// consume --work 24h takes a message, and stops on SIGTERM after its grace.
async fn f4(tel: Arc<TestExchanges>) {
    let (queue, _queue) = test_queue("hostile-f4");
    let mut send = start("send", &format!("--queue {queue} --count 1 x"), &tel, None).await;
    let code = send.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(code, 0, "send: {}", gist(&send.output()));
    let args = format!("--queue {queue} --work 24h --shutdown-grace 1s --health-port 0");
    stop_cleanly(start("consume", &args, &tel, Some("received message")).await).await;
}

/// Runs a scenario as a task: its panic message, if it panicked.
async fn scenario(
    label: &str,
    run: impl std::future::Future<Output = ()> + Send + 'static,
) -> Option<String> {
    let panic = tokio::spawn(run).await.err()?.into_panic();
    let text = panic.downcast_ref::<String>().cloned();
    let text = text.or(panic.downcast_ref::<&str>().map(|s| s.to_string()));
    Some(format!("{label}: {}", gist(&text.unwrap_or_default())))
}

#[tokio::test]
async fn f_the_longest_valid_names_and_a_day_of_work_run_against_the_broker() {
    // Its fanout is every role's telemetry exchange, its topic topic-sub's; deleted at the end.
    let tel = Arc::new(TestExchanges::new("hostile"));
    let (f1, f2, f3, f4) = tokio::join!(
        scenario("F1 produce-server --service-name <255×s>", f1(tel.clone())),
        scenario("F2 consume --name <255×c>", f2(tel.clone())),
        scenario("F3 topic-sub --name <255×t>", f3(tel.clone())),
        scenario("F4 consume --work 24h", f4(tel.clone())),
    );
    let failures: Vec<String> = [f1, f2, f3, f4].into_iter().flatten().collect();
    let (n, list) = (failures.len(), failures.join("\n"));
    assert!(n == 0, "F: {n} of 4 scenarios failed:\n{list}");
}
