//! Exchange types and the rules for binding patterns, checked before anything reaches the
//! broker: a malformed topic pattern is accepted by RabbitMQ but silently matches nothing a user
//! meant. (The length limit every key shares is [`RoutingKey`]'s.)

use super::names::{ExchangeName, RoutingKey};
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
    /// Routes by pattern (`--topic-exchange`; `"exchange":"topic"` in POST /publish).
    pub topic: ExchangeName,
    /// Routes by exact key (`--direct-exchange`).
    pub direct: ExchangeName,
    /// Copies every message to every bound queue (`--fanout-exchange`).
    pub fanout: ExchangeName,
}

impl LabExchanges {
    /// The exchange of type `kind`.
    pub fn name_of(&self, kind: ExchangeKind) -> &ExchangeName {
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
        .map(|kind| ExchangeSpec::durable(self.name_of(kind).clone(), kind))
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

/// A binding pattern for `kind`: for topic exchanges, dot-separated non-empty words where `*` and
/// `#` appear only as whole words; for direct exchanges, an exact key (where `*` and `#` would be
/// literal characters, almost certainly a mistake).
pub fn binding_pattern(kind: ExchangeKind, pattern: &str) -> Result<RoutingKey, String> {
    let key = RoutingKey::parse(pattern).map_err(|e| format!("pattern {pattern:?} {e}"))?;
    check_pattern(kind, pattern)?;
    Ok(key)
}

fn check_pattern(kind: ExchangeKind, pattern: &str) -> Result<(), String> {
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
            assert!(binding_pattern(ExchangeKind::Topic, good).is_ok(), "{good}");
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
            assert!(binding_pattern(ExchangeKind::Topic, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn direct_keys_are_exact() {
        assert!(binding_pattern(ExchangeKind::Direct, "error").is_ok());
        assert!(binding_pattern(ExchangeKind::Direct, "*.error").is_err());
    }

    #[test]
    fn exchange_kinds_parse_by_their_broker_names() {
        assert_eq!(ExchangeKind::parse("fanout"), Some(ExchangeKind::Fanout));
        assert_eq!(ExchangeKind::parse("headers"), None);
    }
}
