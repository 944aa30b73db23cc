//! `perf --http URL`: drives `produce-server`'s `POST /send-message` with `--concurrency`
//! keep-alive connections, so the HTTP path is measured with the same tool and histograms as raw
//! AMQP. A request counts as confirmed when it is a 200 (the server answers after the broker's
//! confirm); anything else counts as failed.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::CONTENT_TYPE;
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::report::{print_summary, report_every_second};
use super::stats::Stats;
use super::{run_until, PerfConfig};

/// `http://host:port` or a full `…/send-message` URL, as the `POST /send-message` URI.
pub fn send_message_uri(url: &str) -> Result<Uri, String> {
    let trimmed = url.trim_end_matches('/');
    let full = if trimmed.ends_with("/send-message") {
        trimmed.to_owned()
    } else {
        format!("{trimmed}/send-message")
    };
    let shape = || format!("{url:?} is not a URL like http://127.0.0.1:3000");
    let uri = full.parse::<Uri>().map_err(|_| shape())?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http"), Some(_)) => Ok(uri),
        (Some("https"), Some(_)) => Err(format!(
            "{url:?}: https is not supported by perf --http; use http://"
        )),
        _ => Err(shape()),
    }
}

/// Drives `POST /send-message` until `--time`, `--count` or `shutdown`, then prints the summary.
pub async fn run(
    config: &PerfConfig,
    uri: Uri,
    stats: Arc<Stats>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let concurrency = config.concurrency.max(1);
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(concurrency)
        .build_http::<Full<Bytes>>();
    let body = Bytes::from_static(br#"{"message":"perf"}"#);
    eprintln!("perf: POST {uri} with {concurrency} keep-alive connection(s)");

    let stop = CancellationToken::new();
    let started = Instant::now();
    let reporter = tokio::spawn(report_every_second(
        stats.clone(),
        stop.clone(),
        started,
        true,
    ));
    let per_client = config.count.map(|count| count.div_ceil(concurrency as u64));
    let mut clients = JoinSet::new();
    for _ in 0..concurrency {
        let (client, uri, body, stats, stop) = (
            client.clone(),
            uri.clone(),
            body.clone(),
            stats.clone(),
            stop.clone(),
        );
        clients.spawn(async move {
            let mut done = 0u64;
            while !stop.is_cancelled() && per_client.is_none_or(|n| done < n) {
                let request = Request::builder()
                    .method(Method::POST)
                    .uri(uri.clone())
                    .header(CONTENT_TYPE, "application/json")
                    .body(Full::new(body.clone()));
                let Ok(request) = request else { return };
                let sent = Instant::now();
                stats.sent.fetch_add(1, Ordering::Relaxed);
                let ok = match client.request(request).await {
                    // The body must be read for the connection to be reused.
                    Ok(response) => {
                        let status = response.status();
                        let _ = response.into_body().collect().await;
                        status.is_success()
                    }
                    Err(_) => false,
                };
                stats.record(sent.elapsed());
                let counter = if ok { &stats.confirmed } else { &stats.failed };
                counter.fetch_add(1, Ordering::Relaxed);
                if !ok {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                done += 1;
            }
        });
    }
    let finished = async {
        if config.count.is_some() {
            while clients.join_next().await.is_some() {}
        } else {
            std::future::pending::<()>().await;
        }
    };
    run_until(config.time, finished, &shutdown).await;
    let elapsed = started.elapsed();
    stop.cancel();
    while clients.join_next().await.is_some() {}
    let _ = reporter.await;
    print_summary(config, &stats, stats.counters(), elapsed, elapsed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_are_load_targets() {
        assert_eq!(
            send_message_uri("http://127.0.0.1:3000/")
                .unwrap()
                .to_string(),
            "http://127.0.0.1:3000/send-message"
        );
        for bad in ["aaaa", "ftp://h/", "https://h/", "", "http://"] {
            assert!(send_message_uri(bad).is_err(), "{bad}");
        }
    }
}
