//! Where each queue lives in a cluster — its leader node and, for a quorum queue, its members —
//! from RabbitMQ's management HTTP API. AMQP 0-9-1 cannot ask (a passive declare answers with
//! counts only), so produce-server's console shows a queue's node only when it is given
//! `--management-url`; one `GET /api/queues/{vhost}?columns=…` per interval answers for every
//! queue at once, and the nodes are tried in order so one node down does not blind it.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::header::{ACCEPT, AUTHORIZATION};
use hyper::{Request, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Deserialize;
use serde_json::Value;

use crate::amqp::{AmqpSettings, Secret};

/// The largest answer read: a lab's queue list is a few KiB; a broker with a great many queues is
/// refused here rather than held in memory whole.
const MAX_ANSWER_BYTES: usize = 4 << 20;

/// One `--management-url`: where a node's management API listens, its credentials kept apart so
/// that printing it can never show the password.
#[derive(Clone, Debug)]
pub struct ManagementUrl {
    /// `http://host:port[/prefix]`, without credentials or a trailing slash: safe to log.
    base: String,
    /// The URL's own credentials, when it has them; else the AMQP URL's are used.
    login: Option<(String, Secret)>,
}

impl ManagementUrl {
    /// Parses `http://[user[:password]@]host[:port][/prefix]` (a prefix for an API behind a
    /// path-routing proxy). Only `http`: the API is reached inside the cluster, where RabbitMQ
    /// serves it without TLS unless configured otherwise.
    pub fn parse(value: &str) -> Result<Self, String> {
        let shown = crate::amqp::redact_url(value);
        let url = url::Url::parse(value.trim())
            .map_err(|e| format!("{shown} is not a URL like http://rabbitmq:15672 ({e})"))?;
        match url.scheme() {
            "http" => {}
            "https" => {
                return Err(format!(
                    "{shown}: https is not supported for the management API; use its http port \
                     inside the cluster (15672)"
                ))
            }
            other => {
                return Err(format!(
                    "{shown}: expected an http:// URL of the management API, not {other}://"
                ))
            }
        }
        let Some(host) = url.host_str() else {
            return Err(format!("{shown}: no host"));
        };
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "{shown}: no query or fragment, only http://host:port[/prefix]"
            ));
        }
        let decode = |part: &str| {
            percent_encoding::percent_decode_str(part)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| format!("{shown}: the credentials are not UTF-8"))
        };
        let login = if url.username().is_empty() {
            None
        } else {
            let password = decode(url.password().unwrap_or(""))?;
            Some((decode(url.username())?, Secret::new(password)))
        };
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        let base = format!("http://{host}{port}{}", url.path().trim_end_matches('/'));
        Ok(Self { base, login })
    }
}

/// `--management-url`'s value: one URL, or one per cluster node, tried in order.
#[derive(Clone, Debug)]
pub struct ManagementUrls(Vec<ManagementUrl>);

impl ManagementUrls {
    /// A comma-separated list of [`ManagementUrl`]s.
    pub fn parse(list: &str) -> Result<Self, String> {
        let urls = list
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(ManagementUrl::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if urls.is_empty() {
            return Err("no URL given; leave the option out to not ask the management API".into());
        }
        Ok(Self(urls))
    }
}

impl fmt::Display for ManagementUrls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&shown.join(","))
    }
}

impl fmt::Display for ManagementUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base)
    }
}

/// Where a queue lives: the node leading it (a classic queue's or a stream's home node), and the
/// nodes holding its replicas (a quorum queue's members; empty when the broker does not list them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueHome {
    /// An Erlang node name such as `rabbit@rabbitmq-server-0.rabbitmq-nodes.services`.
    pub leader: String,
    /// Node names; the leader is one of them.
    pub members: Vec<String>,
}

/// A client of the management API of one vhost, for [`QueueHome`]s.
pub struct ManagementApi {
    urls: Vec<ManagementUrl>,
    /// Used where a URL carries no credentials: the AMQP URL's (the same users log in to both).
    login: (String, Secret),
    /// The vhost as a path segment (`/` is `%2F`).
    vhost: String,
    client: Client<HttpConnector, Empty<Bytes>>,
    /// The URL that answered last, asked first next time.
    preferred: AtomicUsize,
}

impl ManagementApi {
    /// Asks `urls` about the vhost of `amqp`, logging in as its user unless a URL says otherwise.
    pub fn new(urls: ManagementUrls, amqp: &AmqpSettings) -> Self {
        Self {
            urls: urls.0,
            login: (amqp.user.as_str().to_owned(), amqp.password.clone()),
            vhost: utf8_percent_encode(amqp.vhost.as_str(), NON_ALPHANUMERIC).to_string(),
            client: Client::builder(TokioExecutor::new()).build_http(),
            preferred: AtomicUsize::new(0),
        }
    }

    /// Every queue of the vhost → where it lives, from the first URL that answers within
    /// `within` (each); the error names every URL tried and what went wrong with it.
    pub async fn queue_homes(
        &self,
        within: Duration,
    ) -> anyhow::Result<HashMap<String, QueueHome>> {
        let first = self.preferred.load(Ordering::Relaxed);
        let mut failures = Vec::new();
        for offset in 0..self.urls.len() {
            let index = (first + offset) % self.urls.len();
            let url = &self.urls[index];
            match tokio::time::timeout(within, self.ask(url)).await {
                Ok(Ok(homes)) => {
                    self.preferred.store(index, Ordering::Relaxed);
                    return Ok(homes);
                }
                Ok(Err(error)) => failures.push(format!("{url}: {error:#}")),
                Err(_) => failures.push(format!(
                    "{url}: no answer within {}",
                    humantime::format_duration(within)
                )),
            }
        }
        bail!("{}", failures.join("; "))
    }

    async fn ask(&self, url: &ManagementUrl) -> anyhow::Result<HashMap<String, QueueHome>> {
        let uri: Uri = format!(
            "{}/api/queues/{}?columns=name,node,leader,members",
            url.base, self.vhost
        )
        .parse()
        .context("building the request URL")?;
        let (user, password) = url.login.as_ref().unwrap_or(&self.login);
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{user}:{}", password.expose()));
        let request = Request::get(uri)
            .header(AUTHORIZATION, format!("Basic {token}"))
            .header(ACCEPT, "application/json")
            .body(Empty::new())
            .context("building the request")?;
        let response = self.client.request(request).await.context("no answer")?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| anyhow!("reading the answer: {e}"))?
            .to_bytes();
        match status {
            StatusCode::OK => parse_queue_homes(&body),
            StatusCode::UNAUTHORIZED => bail!(
                "401: user {user} may not use the management API (it needs the monitoring, \
                 management or administrator tag)"
            ),
            StatusCode::NOT_FOUND => bail!("404: no such vhost, or not the management API"),
            other => bail!("answered {other}"),
        }
    }
}

/// The answer of `GET /api/queues/{vhost}?columns=name,node,leader,members`: quorum queues name
/// their `leader` and `members`, classic queues and streams their `node`.
fn parse_queue_homes(body: &[u8]) -> anyhow::Result<HashMap<String, QueueHome>> {
    #[derive(Deserialize)]
    struct Listed {
        name: String,
        #[serde(default)]
        leader: Option<String>,
        #[serde(default)]
        node: Option<String>,
        #[serde(default)]
        members: Value,
    }
    let listed: Vec<Listed> =
        serde_json::from_slice(body).context("the answer is not a list of queues")?;
    Ok(listed
        .into_iter()
        .filter_map(|queue| {
            let leader = queue.leader.or(queue.node).filter(|n| !n.is_empty())?;
            let members = queue
                .members
                .as_array()
                .map(|nodes| {
                    nodes
                        .iter()
                        .filter_map(|n| n.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            Some((queue.name, QueueHome { leader, members }))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_their_credentials_out_of_sight() {
        let url = ManagementUrl::parse("http://ops:s%40cret@rabbit-0:15672/mgmt/").unwrap();
        assert_eq!(url.to_string(), "http://rabbit-0:15672/mgmt");
        assert!(!format!("{url:?}").contains("s@cret"));
        let (user, password) = url.login.unwrap();
        assert_eq!((user.as_str(), password.expose()), ("ops", "s@cret"));
        assert!(ManagementUrl::parse("http://h:15672")
            .unwrap()
            .login
            .is_none());
    }

    #[test]
    fn only_plain_http_urls_are_taken() {
        let https = ManagementUrl::parse("https://u:hunter2@h:15671").unwrap_err();
        assert!(https.contains("https is not supported"), "{https}");
        assert!(!https.contains("hunter2"), "{https}");
        assert!(ManagementUrl::parse("amqp://h:5672").is_err());
        assert!(ManagementUrl::parse("h:15672").is_err());
        assert!(ManagementUrl::parse("http://h:15672/?x=1").is_err());
        assert!(ManagementUrls::parse(" , ").is_err());
        let list = ManagementUrls::parse("http://a:15681, http://u:p@b:15682").unwrap();
        assert_eq!(list.to_string(), "http://a:15681,http://b:15682");
    }

    #[test]
    fn reads_where_each_kind_of_queue_lives() {
        // As RabbitMQ 3.10.8 answers on a three-node cluster.
        let body = br#"[{"name":"cq1","node":"c2@localhost","type":"classic"},
            {"leader":"c1@localhost","members":["c1@localhost","c3@localhost","c2@localhost"],
             "name":"qq1","type":"quorum"},
            {"name":"sq1","node":"c3@localhost","type":"stream"},
            {"name":"odd","members":""}]"#;
        let homes = parse_queue_homes(body).unwrap();
        assert_eq!(homes.len(), 3, "a queue without a node is left out");
        assert_eq!(homes["qq1"].leader, "c1@localhost");
        assert_eq!(homes["qq1"].members.len(), 3);
        assert_eq!(homes["cq1"].leader, "c2@localhost");
        assert!(homes["cq1"].members.is_empty());
        assert_eq!(homes["sq1"].leader, "c3@localhost");
        assert!(parse_queue_homes(b"{\"error\":\"x\"}").is_err());
    }
}
