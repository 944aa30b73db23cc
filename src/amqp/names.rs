//! AMQP short strings as types that cannot hold an invalid value.
//!
//! Queue and exchange names, routing keys, consumer tags, the `app_id` property, the vhost and
//! the user travel as AMQP "short strings": at most 255 bytes. amqprs converts them with
//! `unwrap()`, so an over-long value does not fail a call, it panics inside amqprs — on the main
//! thread for a consumer tag, in a connection worker (and every later publish just hangs) for an
//! `app_id`. Every such value is therefore checked once, where it enters the program (a flag, an
//! env var, an HTTP body), and carried as one of these types from then on; the rest of the code
//! cannot build one that amqprs would choke on.

use std::fmt;

/// AMQP 0-9-1's limit for a short string, in bytes.
pub const MAX_SHORT_STR: usize = 255;

/// Why a value is not a valid name; the text completes "… is not valid: ".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NameError(String);

fn fits_short_str(value: &str) -> Result<(), NameError> {
    if value.len() > MAX_SHORT_STR {
        return Err(NameError(format!(
            "is {} bytes; AMQP allows at most {MAX_SHORT_STR}",
            value.len()
        )));
    }
    Ok(())
}

fn not_empty(value: &str, empty_means: &str) -> Result<(), NameError> {
    if value.is_empty() {
        return Err(NameError(format!("must not be empty ({empty_means})")));
    }
    Ok(())
}

/// `amq.` names belong to the broker: declaring one is refused with 403 ACCESS_REFUSED.
fn not_reserved(value: &str) -> Result<(), NameError> {
    if value.starts_with("amq.") {
        return Err(NameError(
            "names starting with \"amq.\" are reserved by RabbitMQ".to_owned(),
        ));
    }
    Ok(())
}

/// Declares a newtype over `String` with a validating constructor, `as_str`, `Display` and
/// `AsRef<str>`, so every kind of short string reads the same and none can skip its check.
macro_rules! short_string {
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Checks `value`; the error says what is wrong with it.
            pub fn parse(value: impl Into<String>) -> Result<Self, NameError> {
                let value = value.into();
                let check: fn(&str) -> Result<(), NameError> = $check;
                check(&value)?;
                Ok(Self(value))
            }

            /// The value, for amqprs and for logs.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = NameError;

            fn from_str(value: &str) -> Result<Self, NameError> {
                Self::parse(value)
            }
        }
    };
}

short_string!(
    /// A queue this program declares by name: not empty, not `amq.…`, at most 255 bytes. (A
    /// server-named queue has no `QueueName` until the broker answers; see [`QueueName::from_broker`].)
    QueueName,
    |v| {
        not_empty(v, "give the queue a name")?;
        not_reserved(v)?;
        fits_short_str(v)
    }
);

short_string!(
    /// An exchange this program declares or publishes to: not empty (that is the default
    /// exchange, which cannot be declared), not `amq.…`, at most 255 bytes.
    ExchangeName,
    |v| {
        not_empty(v, "that is the default exchange")?;
        not_reserved(v)?;
        fits_short_str(v)
    }
);

short_string!(
    /// A routing key or binding key: any text up to 255 bytes (empty is a valid key).
    RoutingKey,
    fits_short_str
);

short_string!(
    /// A role instance's name (`--name`, `--service-name`): shown in logs, stamped into messages
    /// as their `app_id`, and the start of the consumer tag. At most 255 bytes, not empty.
    InstanceName,
    |v| {
        not_empty(v, "it names this instance in logs and messages")?;
        fits_short_str(v)
    }
);

short_string!(
    /// The consumer tag a role registers with; built from its [`InstanceName`] by
    /// [`ConsumerTag::for_instance`], which keeps it within the limit.
    ConsumerTag,
    |v| {
        not_empty(v, "the broker would choose one we could not cancel by name")?;
        fits_short_str(v)
    }
);

short_string!(
    /// A virtual host name (from the URL's path): at most 255 bytes.
    Vhost,
    |v| {
        not_empty(v, "the default vhost is \"/\", written %2f in a URL")?;
        fits_short_str(v)
    }
);

short_string!(
    /// A broker user name: at most 255 bytes, not empty.
    UserName,
    |v| {
        not_empty(v, "RabbitMQ's default user is guest")?;
        fits_short_str(v)
    }
);

impl QueueName {
    /// A name the broker chose (`amq.gen-…`) or reported: it is within the limit by the protocol,
    /// and the `amq.` prefix is the broker's to use.
    pub fn from_broker(name: String) -> Self {
        Self(name)
    }

    /// `<prefix>.<uuid>`: a private queue no other process will ever name (the prefix is a
    /// short constant, so it always fits).
    pub fn unique(prefix: &'static str) -> Self {
        Self(format!("{prefix}.{}", uuid::Uuid::new_v4()))
    }

    /// `<queue><suffix>` (a dead-letter queue named after its work queue), checked like any name.
    pub fn with_suffix(&self, suffix: &str) -> Result<Self, NameError> {
        Self::parse(format!("{}{suffix}", self.0))
    }
}

impl ExchangeName {
    /// `<queue><suffix>`: an exchange named after a queue (its dead-letter exchange).
    pub fn for_queue(queue: &QueueName, suffix: &str) -> Result<Self, NameError> {
        Self::parse(format!("{queue}{suffix}"))
    }
}

impl RoutingKey {
    /// The empty key: what fanout exchanges ignore anyway.
    pub fn empty() -> Self {
        Self(String::new())
    }

    /// A queue's name as the key that routes to it through the default exchange.
    pub fn to_queue(queue: &QueueName) -> Self {
        Self(queue.0.clone())
    }
}

impl ConsumerTag {
    /// `<instance>.<pid>`: unique per process (two workers may share a name) and recognisable in
    /// the management UI. A long instance name is shortened (at a character boundary) so the tag
    /// fits in 255 bytes; the pid, which makes it unique, is always kept.
    pub fn for_instance(instance: &str, pid: u32) -> Self {
        let suffix = format!(".{pid}");
        let room = MAX_SHORT_STR - suffix.len();
        let mut end = instance.len().min(room);
        while !instance.is_char_boundary(end) {
            end -= 1;
        }
        Self(format!("{}{suffix}", &instance[..end]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_longer_than_a_short_string_are_refused() {
        let max = "q".repeat(MAX_SHORT_STR);
        let over = "q".repeat(MAX_SHORT_STR + 1);
        assert!(QueueName::parse(max.as_str()).is_ok());
        assert!(QueueName::parse(over.as_str()).is_err());
        assert!(ExchangeName::parse(over.as_str()).is_err());
        assert!(RoutingKey::parse(over.as_str()).is_err());
        assert!(InstanceName::parse(over.as_str()).is_err());
        assert!(Vhost::parse(over.as_str()).is_err());
        assert!(UserName::parse(over.as_str()).is_err());
        // Multi-byte characters count in bytes, as on the wire.
        assert!(RoutingKey::parse("é".repeat(128)).is_err());
    }

    #[test]
    fn reserved_and_empty_names_are_refused_where_the_broker_would() {
        for bad in ["", "amq.gen-x"] {
            assert!(QueueName::parse(bad).is_err(), "{bad}");
            assert!(ExchangeName::parse(bad).is_err(), "{bad}");
        }
        assert!(RoutingKey::parse("").is_ok());
        assert_eq!(
            QueueName::from_broker("amq.gen-abc".to_owned()).as_str(),
            "amq.gen-abc"
        );
    }

    #[test]
    fn a_consumer_tag_from_a_long_name_fits_and_keeps_the_pid() {
        let tag = ConsumerTag::for_instance(&"n".repeat(MAX_SHORT_STR), 4_194_304);
        assert_eq!(tag.as_str().len(), MAX_SHORT_STR);
        assert!(tag.as_str().ends_with(".4194304"));
        let tag = ConsumerTag::for_instance(&"é".repeat(200), 7);
        assert!(tag.as_str().len() <= MAX_SHORT_STR && tag.as_str().ends_with(".7"));
        assert_eq!(
            ConsumerTag::for_instance("worker", 42).as_str(),
            "worker.42"
        );
    }

    #[test]
    fn derived_names_are_checked_too() {
        let queue = QueueName::parse("q".repeat(250)).unwrap();
        assert!(queue.with_suffix(".dead-letter").is_err());
        assert!(ExchangeName::for_queue(&queue, ".dlx").is_ok());
    }
}
