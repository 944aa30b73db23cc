//! Which binding a message went through: RabbitMQ's matching rules, so the diagram counts a
//! message on the one binding that routed it rather than on every binding of its queue.

/// Whether a message published with `key` to an exchange of type `kind` matches a binding with
/// `pattern`. Fanout and headers bindings match whatever the key (a headers binding's real test
/// is on headers, which the console does not see; a subscriber has one such binding).
pub fn binding_matches(kind: &str, pattern: &str, key: &str) -> bool {
    match kind {
        "topic" => topic_matches(
            &pattern.split('.').collect::<Vec<_>>(),
            &key.split('.').collect::<Vec<_>>(),
        ),
        "fanout" | "headers" => true,
        _ => pattern == key,
    }
}

/// AMQP topic matching: words are separated by dots, `*` is exactly one word, `#` zero or more.
fn topic_matches(pattern: &[&str], key: &[&str]) -> bool {
    match (pattern.first(), key.first()) {
        (None, None) => true,
        (Some(&"#"), _) => {
            topic_matches(&pattern[1..], key)
                || (!key.is_empty() && topic_matches(pattern, &key[1..]))
        }
        (Some(&"*"), Some(_)) => topic_matches(&pattern[1..], &key[1..]),
        (Some(word), Some(first)) if word == first => topic_matches(&pattern[1..], &key[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_patterns_match_like_rabbitmq() {
        let cases = [
            ("*.error", "app.error", true),
            ("*.error", "app.info", false),
            ("*.error", "error", false),
            ("*.error", "a.b.error", false),
            ("app.#", "app", true),
            ("app.#", "app.x.y", true),
            ("#", "", true),
            ("#.error", "a.b.error", true),
            ("audit.*.login", "audit.eu.login", true),
            ("audit.*.login", "audit.login", false),
        ];
        for (pattern, key, expected) in cases {
            assert_eq!(
                binding_matches("topic", pattern, key),
                expected,
                "{pattern} ~ {key}"
            );
        }
        assert!(binding_matches("direct", "error", "error"));
        assert!(!binding_matches("direct", "error", "info"));
        assert!(binding_matches("fanout", "", "anything"));
    }
}
