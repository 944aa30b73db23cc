//! Exchange types and the rules for routing keys and binding patterns, checked before anything
//! reaches the broker: amqprs panics on a routing key over 255 bytes, and a malformed topic pattern
//! is accepted by RabbitMQ but silently matches nothing a user meant.

use super::topology::ExchangeSpec;

/// The exchange types the lab teaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeKind {
    /// Routes by pattern: `*` is one word, `#` zero or more (`logs.*`, `#.error`).
    Topic,
    /// Routes by exact key.
    Direct,
    /// Copies every message to every bound queue; keys are ignored.
    Fanout,
}

impl ExchangeKind {
    /// The type name RabbitMQ uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ExchangeKind::Topic => "topic",
            ExchangeKind::Direct => "direct",
            ExchangeKind::Fanout => "fanout",
        }
    }

    /// Parses `topic`, `direct` or `fanout`.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "topic" => Some(ExchangeKind::Topic),
            "direct" => Some(ExchangeKind::Direct),
            "fanout" => Some(ExchangeKind::Fanout),
            _ => None,
        }
    }
}

/// The three exchanges of the pub/sub lessons, by type; publishers declare all three.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabExchanges {
    pub topic: String,
    pub direct: String,
    pub fanout: String,
}

impl LabExchanges {
    /// The exchange of type `kind`.
    pub fn name_of(&self, kind: ExchangeKind) -> &str {
        match kind {
            ExchangeKind::Topic => &self.topic,
            ExchangeKind::Direct => &self.direct,
            ExchangeKind::Fanout => &self.fanout,
        }
    }

    /// Durable declarations of all three.
    pub fn specs(&self) -> Vec<ExchangeSpec> {
        [
            ExchangeKind::Topic,
            ExchangeKind::Direct,
            ExchangeKind::Fanout,
        ]
        .into_iter()
        .map(|kind| ExchangeSpec {
            name: self.name_of(kind).to_owned(),
            kind: kind.as_str().to_owned(),
            durable: true,
        })
        .collect()
    }

    /// Added to the broker's refusal when one of them exists with another type.
    pub fn mismatch_hint(&self) -> String {
        format!(
            "An exchange keeps its type for good; this role declares {:?} as topic, {:?} as \
             direct and {:?} as fanout: use other names (--topic-exchange, --direct-exchange, \
             --fanout-exchange)",
            self.topic, self.direct, self.fanout
        )
    }
}

/// AMQP's limit for routing keys, binding keys and exchange names (a short string).
pub const MAX_KEY_BYTES: usize = 255;

/// A routing key fits AMQP's short string.
pub fn validate_routing_key(key: &str) -> Result<(), String> {
    if key.len() > MAX_KEY_BYTES {
        return Err(format!(
            "routing key is {} bytes; AMQP allows at most {MAX_KEY_BYTES}",
            key.len()
        ));
    }
    Ok(())
}

/// An exchange name the broker will let us declare.
pub fn validate_exchange_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty (that is the default exchange)".to_owned());
    }
    if name.len() > MAX_KEY_BYTES {
        return Err(format!(
            "is {} bytes; AMQP allows at most {MAX_KEY_BYTES}",
            name.len()
        ));
    }
    if name.starts_with("amq.") {
        return Err("names starting with \"amq.\" are reserved by RabbitMQ".to_owned());
    }
    Ok(())
}

/// A binding pattern for `kind`: for topic exchanges, dot-separated non-empty words where `*` and
/// `#` appear only as whole words; for direct exchanges, an exact key (where `*` and `#` would be
/// literal characters, almost certainly a mistake).
pub fn validate_binding_pattern(kind: ExchangeKind, pattern: &str) -> Result<(), String> {
    validate_routing_key(pattern).map_err(|e| format!("pattern {pattern:?}: {e}"))?;
    match kind {
        ExchangeKind::Fanout => Ok(()),
        ExchangeKind::Direct => {
            if pattern.contains(['*', '#']) {
                Err(format!(
                    "pattern {pattern:?}: a direct exchange matches keys exactly, so '*' and '#' \
                     are not wildcards there; use --exchange-type topic for patterns"
                ))
            } else {
                Ok(())
            }
        }
        ExchangeKind::Topic => {
            if pattern.is_empty() {
                return Err("empty pattern: use \"#\" to match every key".to_owned());
            }
            for word in pattern.split('.') {
                if word.is_empty() {
                    return Err(format!(
                        "pattern {pattern:?} has an empty word: words are separated by single \
                         dots, with none at the start or end"
                    ));
                }
                if word.contains(['*', '#']) && word != "*" && word != "#" {
                    return Err(format!(
                        "pattern {pattern:?}: {word:?} mixes a wildcard with other characters; \
                         '*' (exactly one word) and '#' (zero or more words) must be whole words, \
                         e.g. \"logs.*\" or \"#.error\""
                    ));
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_patterns_use_wildcards_as_whole_words() {
        for good in [
            "*.error",
            "logs.#",
            "#",
            "logs.error",
            "#.error",
            "a.*.c",
            "*",
        ] {
            assert!(
                validate_binding_pattern(ExchangeKind::Topic, good).is_ok(),
                "{good}"
            );
        }
        let long = "a".repeat(256);
        for bad in [
            "",
            "logs.",
            ".error",
            "a..b",
            "log*",
            "logs.#x",
            "*error",
            long.as_str(),
        ] {
            assert!(
                validate_binding_pattern(ExchangeKind::Topic, bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn direct_keys_are_exact() {
        assert!(validate_binding_pattern(ExchangeKind::Direct, "error").is_ok());
        assert!(validate_binding_pattern(ExchangeKind::Direct, "*.error").is_err());
    }

    #[test]
    fn routing_keys_and_exchange_names_fit_amqp() {
        assert!(validate_routing_key(&"k".repeat(255)).is_ok());
        assert!(validate_routing_key(&"k".repeat(256)).is_err());
        assert!(validate_exchange_name("logs-topic").is_ok());
        for bad in ["", "amq.topic"] {
            assert!(validate_exchange_name(bad).is_err());
        }
        assert_eq!(ExchangeKind::parse("fanout"), Some(ExchangeKind::Fanout));
        assert_eq!(ExchangeKind::parse("headers"), None);
    }
}
