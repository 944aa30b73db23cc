//! Exchange types and the rules for binding patterns, checked before anything reaches the
//! broker: a malformed topic pattern is accepted by RabbitMQ but silently matches nothing a user
//! meant. (The length limit every key shares is [`RoutingKey`]'s.)

use super::alternate::AlternateExchange;
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
    /// Routes by the message's headers (`x-match` all or any); keys are ignored.
    Headers,
}

impl ExchangeKind {
    /// The type name RabbitMQ uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ExchangeKind::Topic => "topic",
            ExchangeKind::Direct => "direct",
            ExchangeKind::Fanout => "fanout",
            ExchangeKind::Headers => "headers",
        }
    }

    /// Whether the routing key plays no part (fanout and headers).
    pub fn ignores_key(self) -> bool {
        matches!(self, ExchangeKind::Fanout | ExchangeKind::Headers)
    }

    /// Parses `topic`, `direct`, `fanout` or `headers`.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "topic" => Some(ExchangeKind::Topic),
            "direct" => Some(ExchangeKind::Direct),
            "fanout" => Some(ExchangeKind::Fanout),
            "headers" => Some(ExchangeKind::Headers),
            _ => None,
        }
    }
}

/// The four exchanges of the pub/sub lessons, by type; publishers declare all four.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabExchanges {
    /// Routes by pattern (`--topic-exchange`; `"exchange":"topic"` in POST /publish).
    pub topic: ExchangeName,
    /// Routes by exact key (`--direct-exchange`).
    pub direct: ExchangeName,
    /// Copies every message to every bound queue (`--fanout-exchange`).
    pub fanout: ExchangeName,
    /// Routes by headers (`--headers-exchange`; `"exchange":"headers"` in POST /publish).
    pub headers: ExchangeName,
    /// Where messages no binding matched go (`--alternate-exchange`); `None`: they are dropped,
    /// and the four are declared exactly as before the option existed.
    pub alternate: Option<AlternateExchange>,
}

impl LabExchanges {
    /// The exchange of type `kind`.
    pub fn name_of(&self, kind: ExchangeKind) -> &ExchangeName {
        match kind {
            ExchangeKind::Topic => &self.topic,
            ExchangeKind::Direct => &self.direct,
            ExchangeKind::Fanout => &self.fanout,
            ExchangeKind::Headers => &self.headers,
        }
    }

    /// Durable declarations of all four, each with the alternate exchange if there is one (the
    /// alternate exchange itself is declared by [`AlternateExchange::add_to`]).
    pub fn specs(&self) -> Vec<ExchangeSpec> {
        [
            ExchangeKind::Topic,
            ExchangeKind::Direct,
            ExchangeKind::Fanout,
            ExchangeKind::Headers,
        ]
        .into_iter()
        .map(|kind| {
            ExchangeSpec::durable(self.name_of(kind).clone(), kind)
                .with_alternate(self.alternate.as_ref())
        })
        .collect()
    }

    /// Added to the broker's refusal when one of them exists with another type (or another
    /// alternate exchange).
    pub fn mismatch_hint(&self) -> String {
        format!(
            "An exchange keeps its type and arguments for good; this role declares {:?} as \
             topic, {:?} as direct, {:?} as fanout and {:?} as headers, {}: use other names \
             (--topic-exchange, --direct-exchange, --fanout-exchange, --headers-exchange) or \
             the same --alternate-exchange / ALTERNATE_EXCHANGE as every other declarer",
            self.topic.as_str(),
            self.direct.as_str(),
            self.fanout.as_str(),
            self.headers.as_str(),
            AlternateExchange::describe(self.alternate.as_ref())
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
        ExchangeKind::Fanout | ExchangeKind::Headers => Ok(()),
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
        assert_eq!(ExchangeKind::parse("headers"), Some(ExchangeKind::Headers));
        assert_eq!(ExchangeKind::parse("match"), None);
    }
}
