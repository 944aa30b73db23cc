//! The brokers a role may connect to: one URL, or every node of a cluster as a comma-separated
//! list (`amqp://h1:5672/%2f,amqp://h2:5672/%2f`), so that a role whose node goes away moves to
//! another one instead of waiting for it to come back.

use std::fmt;

use anyhow::bail;

use super::settings::AmqpSettings;

/// One or more brokers (a cluster's nodes) sharing a vhost; never empty.
#[derive(Clone, Debug)]
pub struct Endpoints(Vec<AmqpSettings>);

impl Endpoints {
    /// Parses a comma-separated list of AMQP URLs; one URL is the common case and means exactly
    /// what it always did. `user` and `password`, when given, replace every URL's credentials.
    ///
    /// Every URL is checked, and an error names the bad one by its position (password hidden).
    /// All must name the same vhost: queues live in a vhost, so a list spanning two would make a
    /// failover silently switch to other queues.
    pub fn parse(list: &str, user: Option<&str>, password: Option<&str>) -> anyhow::Result<Self> {
        let urls: Vec<&str> = list.split(',').map(str::trim).collect();
        let count = urls.len();
        let mut endpoints = Vec::with_capacity(count);
        for (index, url) in urls.iter().enumerate() {
            let which = if count == 1 {
                String::new()
            } else {
                format!("URL {} of {count}: ", index + 1)
            };
            if url.is_empty() {
                bail!("{which}empty (a stray comma?)");
            }
            let settings = AmqpSettings::parse(url, user, password)
                .map_err(|e| anyhow::anyhow!("{which}{e:#}"))?;
            endpoints.push(settings);
        }
        let Some(first) = endpoints.first() else {
            bail!("no AMQP URL given");
        };
        if let Some((index, other)) = endpoints
            .iter()
            .enumerate()
            .find(|(_, other)| other.vhost != first.vhost)
        {
            bail!(
                "URL {} of {count} names vhost {:?} but URL 1 names {:?}: every node of one \
                 cluster must be reached on the same vhost",
                index + 1,
                other.vhost.as_str(),
                first.vhost.as_str()
            );
        }
        Ok(Self(endpoints))
    }

    /// Sets the heartbeat on every endpoint: it is a property of the role, not of a node.
    pub fn set_heartbeat_secs(&mut self, secs: u16) {
        for endpoint in &mut self.0 {
            endpoint.heartbeat_secs = secs;
        }
    }

    /// How many endpoints there are (at least one).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always `false`; here because clippy expects it next to `len`.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Endpoint `index`, wrapping around, so a rotating counter can index it directly.
    pub fn get(&self, index: usize) -> &AmqpSettings {
        &self.0[index % self.0.len()]
    }

    /// The first endpoint: the one whose vhost and user every endpoint shares.
    pub fn first(&self) -> &AmqpSettings {
        &self.0[0]
    }

    /// Every endpoint, in the order given.
    pub fn iter(&self) -> impl Iterator<Item = &AmqpSettings> {
        self.0.iter()
    }

    /// The list as it is safe to log: passwords replaced by `****`.
    pub fn redacted(&self) -> String {
        self.0
            .iter()
            .map(AmqpSettings::redacted)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Which endpoint to try next. Replicas given the same list start at different places, so they
/// spread over a cluster; a lost session or a failed attempt moves on to the next endpoint at
/// once, and only a full round of failures calls for the reconnect backoff, so a dead node costs
/// its neighbours no delay.
#[derive(Debug)]
pub struct Rotation {
    count: usize,
    next: usize,
    failed_in_round: usize,
}

impl Rotation {
    /// Starts at a random endpoint (per process).
    pub fn random(endpoints: &Endpoints) -> Self {
        Self::starting_at(endpoints, fastrand::usize(..endpoints.len()))
    }

    /// Starts at endpoint `start`.
    pub fn starting_at(endpoints: &Endpoints, start: usize) -> Self {
        Self {
            count: endpoints.len(),
            next: start % endpoints.len(),
            failed_in_round: 0,
        }
    }

    /// The index of the endpoint to try now.
    pub fn current(&self) -> usize {
        self.next
    }

    /// A connect succeeded: a new round of failures starts from zero.
    pub fn connected(&mut self) {
        self.failed_in_round = 0;
    }

    /// The session ended, for whatever reason: its node may be going away, so try the next.
    pub fn session_ended(&mut self) {
        self.next = (self.next + 1) % self.count;
    }

    /// An attempt failed: move on, and say whether every endpoint failed in turn (`true`: wait
    /// for the backoff before the next round).
    pub fn attempt_failed(&mut self) -> bool {
        self.next = (self.next + 1) % self.count;
        self.failed_in_round += 1;
        if self.failed_in_round >= self.count {
            self.failed_in_round = 0;
            true
        } else {
            false
        }
    }
}

impl fmt::Display for Endpoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_url_is_one_endpoint_as_before() {
        let endpoints = Endpoints::parse("amqp://u:p@h:5673/v", None, None).unwrap();
        assert_eq!(endpoints.len(), 1);
        assert_eq!(endpoints.first().node(), "h:5673");
        assert_eq!(endpoints.redacted(), "amqp://u:****@h:5673/v");
        assert_eq!(
            endpoints.get(7).node(),
            "h:5673",
            "any index is the one endpoint"
        );
    }

    #[test]
    fn a_list_keeps_its_order_and_the_overrides_apply_to_all() {
        let list = "amqp://a:x@127.0.0.1:5681/%2f, amqp://127.0.0.1:5682 ,amqp://b:y@[::1]:5683/";
        let endpoints = Endpoints::parse(list, Some("svc"), Some("hunter2")).unwrap();
        let nodes: Vec<String> = endpoints.iter().map(AmqpSettings::node).collect();
        assert_eq!(nodes, ["127.0.0.1:5681", "127.0.0.1:5682", "[::1]:5683"]);
        assert!(endpoints
            .iter()
            .all(|e| e.user.as_str() == "svc" && e.password.expose() == "hunter2"));
        assert_eq!(endpoints.get(4).node(), "127.0.0.1:5682", "wraps around");
        assert!(!endpoints.to_string().contains("hunter2"));
        let mut endpoints = endpoints;
        endpoints.set_heartbeat_secs(3);
        assert!(endpoints.iter().all(|e| e.heartbeat_secs == 3));
    }

    #[test]
    fn the_backoff_waits_between_rounds_not_between_nodes() {
        let three = Endpoints::parse("amqp://a/,amqp://b/,amqp://c/", None, None).unwrap();
        let mut rotation = Rotation::starting_at(&three, 1);
        assert_eq!(rotation.current(), 1);
        let rounds: Vec<(usize, bool)> = (0..6)
            .map(|_| (rotation.current(), rotation.attempt_failed()))
            .collect();
        assert_eq!(
            rounds,
            [
                (1, false),
                (2, false),
                (0, true),
                (1, false),
                (2, false),
                (0, true)
            ]
        );
        // A success restarts the count; a lost session moves on without counting as a failure.
        rotation.attempt_failed();
        rotation.connected();
        rotation.session_ended();
        assert_eq!(rotation.current(), 0);
        assert!(!rotation.attempt_failed() && !rotation.attempt_failed());
        assert!(rotation.attempt_failed());

        let one = Endpoints::parse("amqp://a/", None, None).unwrap();
        let mut single = Rotation::random(&one);
        assert!(
            single.attempt_failed(),
            "one endpoint: back off after every failure, as before"
        );
        single.session_ended();
        assert_eq!(single.current(), 0);
    }

    #[test]
    fn the_bad_url_is_named_by_its_place_without_its_password() {
        for (list, expected) in [
            (
                "amqp://h1/,http://u:hunter2@h2/",
                "URL 2 of 2: invalid AMQP URL",
            ),
            ("amqp://h1/,,amqp://h3/", "URL 2 of 3: empty"),
            ("amqp://h1/,", "URL 2 of 2: empty"),
            (
                "amqp://u:hunter2@h1/a,amqp://h2/b",
                "URL 2 of 2 names vhost \"b\"",
            ),
            ("", "empty"),
        ] {
            let error = format!("{:#}", Endpoints::parse(list, None, None).unwrap_err());
            assert!(error.contains(expected), "{list}: {error}");
            assert!(!error.contains("hunter2"), "{error}");
        }
        let single = format!("{:#}", Endpoints::parse("amqp://", None, None).unwrap_err());
        assert!(!single.contains("URL 1 of 1"), "{single}");
    }
}
