//! Where the broker is and how to log in, parsed once at start-up.
//!
//! We parse AMQP URLs ourselves instead of using amqprs' `urispec`: it does not percent-decode the
//! user, password or vhost (so the usual `%2f` vhost and passwords with `@` or `:` break) and it
//! panics on a query parameter without `=`.

use std::fmt;

use amqprs::connection::OpenConnectionArguments;
use anyhow::{bail, Context};
use percent_encoding::percent_decode_str;

use super::names::{UserName, Vhost};

/// A password that cannot end up in a log line by accident: `Debug` and `Display` print `****`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a password.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The real value; call only where the broker needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

/// Everything needed to open a connection, with the password kept out of `Debug`/`Display`.
#[derive(Clone, Debug)]
pub struct AmqpSettings {
    /// `true` for `amqps://`: TLS with the webpki root certificates.
    pub tls: bool,
    /// A name or IP address; an IPv6 address without the URL's brackets.
    pub host: String,
    /// 5672, or 5671 for `amqps://`, unless the URL gives one.
    pub port: u16,
    /// Percent-decoded: the URL's `%2f` (or no path at all) is the default vhost `/`.
    pub vhost: Vhost,
    /// `--amqp-user` if given, else the URL's, else `guest`.
    pub user: UserName,
    /// Any length: it travels in the login's long string, not a short string.
    pub password: Secret,
    /// Heartbeat interval negotiated with the broker; missed heartbeats are how a silent peer
    /// (a dead node, a dropped NAT entry) is noticed.
    pub heartbeat_secs: u16,
}

impl AmqpSettings {
    /// Parses `amqp[s]://[user[:password]@]host[:port][/vhost]`, percent-decoding each part.
    ///
    /// `user` and `password`, when given, replace the URL's credentials, so a Kubernetes Secret's raw
    /// values work without URL-encoding. Errors never contain the password.
    pub fn parse(url: &str, user: Option<&str>, password: Option<&str>) -> anyhow::Result<Self> {
        let parsed = url::Url::parse(url)
            .map_err(|e| anyhow::anyhow!("invalid AMQP URL {}: {e}", redact_url(url)))?;
        let tls = match parsed.scheme() {
            "amqp" => false,
            "amqps" => true,
            other => bail!(
                "invalid AMQP URL {}: scheme must be amqp or amqps, not {other:?}",
                redact_url(url)
            ),
        };
        let host = match parsed.host_str() {
            Some(h) if !h.is_empty() => h.trim_start_matches('[').trim_end_matches(']'),
            _ => bail!("invalid AMQP URL {}: no host", redact_url(url)),
        };
        let port = parsed.port().unwrap_or(if tls { 5671 } else { 5672 });
        let decode = |part: &str, what: &str| -> anyhow::Result<String> {
            percent_decode_str(part)
                .decode_utf8()
                .map(|s| s.into_owned())
                .with_context(|| {
                    format!("invalid AMQP URL {}: {what} is not UTF-8", redact_url(url))
                })
        };
        // The AMQP URI spec says the vhost is the path without its leading slash; RabbitMQ's
        // default vhost "/" is therefore written `%2f`. An empty path means the default vhost.
        let raw_path = parsed.path().strip_prefix('/').unwrap_or(parsed.path());
        if raw_path.contains('/') {
            bail!(
                "invalid AMQP URL {}: the vhost must be one path segment (write \"/\" as %2f)",
                redact_url(url)
            );
        }
        let vhost = if raw_path.is_empty() {
            "/".to_owned()
        } else {
            decode(raw_path, "the vhost")?
        };
        let url_user = if parsed.username().is_empty() {
            "guest".to_owned()
        } else {
            decode(parsed.username(), "the user name")?
        };
        let url_password = match parsed.password() {
            Some(p) => decode(p, "the password")?,
            None => "guest".to_owned(),
        };
        let vhost = Vhost::parse(vhost)
            .map_err(|e| anyhow::anyhow!("invalid AMQP URL {}: the vhost {e}", redact_url(url)))?;
        let user = match user {
            Some(user) => {
                UserName::parse(user).map_err(|e| anyhow::anyhow!("the user name {e}"))?
            }
            None => UserName::parse(url_user).map_err(|e| {
                anyhow::anyhow!("invalid AMQP URL {}: the user name {e}", redact_url(url))
            })?,
        };
        Ok(Self {
            tls,
            host: host.to_owned(),
            port,
            vhost,
            user,
            password: Secret::new(password.map_or(url_password, str::to_owned)),
            heartbeat_secs: 10,
        })
    }

    /// The URL as it is safe to log: the password replaced by `****`.
    pub fn redacted(&self) -> String {
        let scheme = if self.tls { "amqps" } else { "amqp" };
        let vhost: String = percent_encoding::utf8_percent_encode(
            self.vhost.as_str(),
            percent_encoding::NON_ALPHANUMERIC,
        )
        .collect();
        format!("{scheme}://{}:****@{}/{vhost}", self.user, self.node())
    }

    /// `host:port` (an IPv6 address in brackets): how logs, health endpoints, metrics and the
    /// console name the node a role is connected to, which is what matters in a cluster.
    pub fn node(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// amqprs' connection arguments, named so the connection is recognisable in the management UI.
    pub fn open_arguments(&self, connection_name: &str) -> anyhow::Result<OpenConnectionArguments> {
        let mut args = OpenConnectionArguments::new(
            &self.host,
            self.port,
            self.user.as_str(),
            self.password.expose(),
        );
        args.virtual_host(self.vhost.as_str())
            .connection_name(connection_name)
            .heartbeat(self.heartbeat_secs);
        if self.tls {
            install_crypto_provider();
            let adaptor = amqprs::tls::TlsAdaptor::without_client_auth(None, self.host.clone())
                .context("setting up TLS for amqps://")?;
            args.scheme("amqps").tls_adaptor(adaptor);
        } else {
            args.scheme("amqp");
        }
        Ok(args.finish())
    }
}

impl fmt::Display for AmqpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// rustls needs one process-wide crypto provider; amqprs does not pick one.
fn install_crypto_provider() {
    // Err only means another provider is installed already, which is just as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Hides the password in a URL we could not parse, for error messages: everything between the
/// first `:` after `//` and the last `@` before the host is replaced.
pub fn redact_url(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return "<unparseable URL>".to_owned();
    };
    let rest = &url[start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:****{}", &url[..start], &url[start + at..])
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_url_means_guest_on_the_default_vhost() {
        let s = AmqpSettings::parse("amqp://guest:guest@127.0.0.1:5672/%2f", None, None).unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.vhost.as_str(), s.user.as_str()),
            ("127.0.0.1", 5672, "/", "guest")
        );
        let long = "v".repeat(256);
        for url in [format!("amqp://h/{long}"), format!("amqp://{long}:p@h/%2f")] {
            let error = format!("{:#}", AmqpSettings::parse(&url, None, None).unwrap_err());
            assert!(error.contains("at most 255"), "{error}");
        }
        assert!(AmqpSettings::parse("amqp://h/", Some(long.as_str()), None).is_err());
        assert!(AmqpSettings::parse("amqp://h/", None, Some(long.as_str())).is_ok());
        assert_eq!(s.password.expose(), "guest");
        assert!(!s.tls);
    }

    #[test]
    fn percent_encoded_credentials_and_vhost_are_decoded() {
        let s =
            AmqpSettings::parse("amqp://al%40ice:p%3Ass%2Fw@rabbit/my%2Fvh", None, None).unwrap();
        assert_eq!(s.user.as_str(), "al@ice");
        assert_eq!(s.password.expose(), "p:ss/w");
        assert_eq!(s.vhost.as_str(), "my/vh");
        assert_eq!(s.port, 5672);
    }

    #[test]
    fn amqps_defaults_to_port_5671() {
        let s = AmqpSettings::parse("amqps://u:p@broker.example.com", None, None).unwrap();
        assert!(s.tls);
        assert_eq!(s.port, 5671);
        assert_eq!(s.vhost.as_str(), "/");
        assert!(s.open_arguments("t").is_ok());
    }

    #[test]
    fn explicit_credentials_replace_the_urls() {
        let s = AmqpSettings::parse("amqp://a:b@h/%2f", Some("svc"), Some("p@ss:w/rd%")).unwrap();
        assert_eq!(s.user.as_str(), "svc");
        assert_eq!(s.password.expose(), "p@ss:w/rd%");
    }

    #[test]
    fn malformed_urls_are_errors_without_the_password() {
        for bad in [
            "http://u:hunter2@h/",
            "amqp://u:hunter2@/",
            "not a url hunter2",
            "amqp://u:hunter2@h:99999/",
            "amqp://u:hunter2@h/a/b",
        ] {
            let err = format!("{:#}", AmqpSettings::parse(bad, None, None).unwrap_err());
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn redaction_hides_only_the_password() {
        let s = AmqpSettings::parse("amqp://bob:hunter2@h:5673/v", None, None).unwrap();
        assert_eq!(s.redacted(), "amqp://bob:****@h:5673/v");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(redact_url("amqp://bob:hun@ter2@h/x"), "amqp://bob:****@h/x");
        assert_eq!(redact_url("amqp://h/x"), "amqp://h/x");
    }
}
