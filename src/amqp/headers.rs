//! Message headers as a headers exchange reads them: the `KEY=VALUE` pairs a subscriber binds with
//! (`x-match` all or any), and the ones a publisher stamps on a message.
//!
//! Only string values: RabbitMQ's headers exchange compares a header's *type* as well as its
//! value, so a message carrying the number `5` never matches a binding on the string `"5"` — a
//! mistake nobody can see. Every value the lab binds or publishes is therefore a string, and a
//! publisher cannot send anything else. Keys starting with `x-` are the broker's (`x-match`,
//! `x-death`, …) and are never matched, so they are refused too.

use std::collections::BTreeMap;
use std::fmt;

use amqprs::{FieldTable, FieldValue, ShortStr};

use super::names::MAX_SHORT_STR;

/// The most headers one binding or one message may carry: a handful is what routing needs, and
/// a bound keeps the message properties well inside one frame.
pub const MAX_HEADERS: usize = 32;

/// How a headers binding combines its headers (`x-match`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchMode {
    /// Every header of the binding must be on the message, with the same value.
    All,
    /// At least one header of the binding must be on the message, with the same value.
    Any,
}

impl MatchMode {
    /// The value of `x-match`.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchMode::All => "all",
            MatchMode::Any => "any",
        }
    }
}

/// A validated set of string headers, in key order (so logs and the console read the same every
/// time).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(BTreeMap<String, String>);

impl Headers {
    /// Checks one header: the key non-empty, at most 255 bytes (AMQP's field names are short
    /// strings) and not starting with `x-`; the value at most 255 bytes.
    pub fn check(key: &str, value: &str) -> Result<(), String> {
        if key.is_empty() {
            return Err(format!(
                "header {key:?}={value:?}: the key must not be empty"
            ));
        }
        if key.len() > MAX_SHORT_STR {
            return Err(format!(
                "header key of {} bytes: AMQP allows at most {MAX_SHORT_STR}",
                key.len()
            ));
        }
        if key.to_ascii_lowercase().starts_with("x-") {
            return Err(format!(
                "header {key:?}: keys starting with \"x-\" belong to RabbitMQ (x-match, x-death, \
                 …) and are never matched; choose another key"
            ));
        }
        if value.len() > MAX_SHORT_STR {
            return Err(format!(
                "header {key:?}: the value is {} bytes; the lab allows at most {MAX_SHORT_STR}",
                value.len()
            ));
        }
        Ok(())
    }

    /// Builds the set from pairs, each [`check`](Self::check)ed; a key given twice or more than
    /// [`MAX_HEADERS`] pairs is an error.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Result<Self, String> {
        let mut headers = BTreeMap::new();
        for (key, value) in pairs {
            Self::check(&key, &value)?;
            if headers.contains_key(&key) {
                return Err(format!("header {key:?} is given twice"));
            }
            headers.insert(key, value);
            if headers.len() > MAX_HEADERS {
                return Err(format!("more than {MAX_HEADERS} headers"));
            }
        }
        Ok(Self(headers))
    }

    /// Parses `KEY=VALUE` (the first `=` separates them; the value may be empty).
    pub fn parse_pair(pair: &str) -> Result<(String, String), String> {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("{pair:?} is not KEY=VALUE (e.g. level=error)"))?;
        Self::check(key, value)?;
        Ok((key.to_owned(), value.to_owned()))
    }

    /// No headers at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The pairs, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The message property: every pair as a long string.
    pub fn to_field_table(&self) -> FieldTable {
        let mut table = FieldTable::new();
        for (key, value) in &self.0 {
            // Checked at construction: every key fits a short string.
            if let Ok(key) = ShortStr::try_from(key.as_str()) {
                table.insert(key, FieldValue::from(value.clone()));
            }
        }
        table
    }

    /// The string headers of a delivered message (other types and `x-` keys left out), for logs
    /// and the console.
    pub fn of_message(table: Option<&FieldTable>) -> Self {
        let Some(table) = table else {
            return Self::default();
        };
        let strings = table
            .as_ref()
            .iter()
            .filter(|(key, _)| !key.as_ref().starts_with("x-"))
            .filter_map(|(key, value)| match value {
                FieldValue::S(text) => Some((key.to_string(), text.to_string())),
                _ => None,
            })
            .collect();
        Self(strings)
    }
}

impl fmt::Display for Headers {
    /// `{app=db, level=error}`; `{}` when there are none.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pairs: Vec<String> = self.iter().map(|(k, v)| format!("{k}={v}")).collect();
        write!(f, "{{{}}}", pairs.join(", "))
    }
}

/// What a headers subscriber binds with: the mode and at least one header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderMatch {
    /// `x-match`: all or any.
    pub mode: MatchMode,
    /// The headers to match, never empty.
    pub headers: Headers,
}

impl HeaderMatch {
    /// The binding's arguments: `x-match` plus every header.
    pub fn binding_arguments(&self) -> FieldTable {
        let mut table = self.headers.to_field_table();
        if let Ok(key) = ShortStr::try_from("x-match") {
            table.insert(key, FieldValue::from(self.mode.as_str().to_owned()));
        }
        table
    }
}

impl fmt::Display for HeaderMatch {
    /// `all of {app=db, level=error}` / `any of {…}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} of {}", self.mode.as_str(), self.headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_key_equals_value_with_checked_keys() {
        assert_eq!(
            Headers::parse_pair("level=error").unwrap(),
            ("level".to_owned(), "error".to_owned())
        );
        assert_eq!(
            Headers::parse_pair("expr=a=b").unwrap(),
            ("expr".to_owned(), "a=b".to_owned())
        );
        assert_eq!(Headers::parse_pair("empty=").unwrap().1, "");
        let long = format!("{}=v", "k".repeat(256));
        let long_value = format!("k={}", "v".repeat(256));
        for bad in [
            "level",
            "=error",
            "x-match=all",
            "X-Death=1",
            &long,
            &long_value,
        ] {
            assert!(Headers::parse_pair(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_key_given_twice_or_too_many_headers_is_refused() {
        let twice = [("a", "1"), ("a", "2")].map(|(k, v)| (k.to_owned(), v.to_owned()));
        assert!(Headers::from_pairs(twice).is_err());
        let many = (0..=MAX_HEADERS).map(|i| (format!("k{i}"), "v".to_owned()));
        assert!(Headers::from_pairs(many).is_err());
    }

    #[test]
    fn binding_arguments_carry_x_match_and_every_header_as_strings() {
        let headers = Headers::from_pairs([
            ("level".to_owned(), "error".to_owned()),
            ("app".to_owned(), "db".to_owned()),
        ])
        .unwrap();
        let matching = HeaderMatch {
            mode: MatchMode::Any,
            headers: headers.clone(),
        };
        let table = matching.binding_arguments();
        let key = |k: &str| ShortStr::try_from(k).unwrap();
        assert_eq!(table.get(&key("x-match")), Some(&FieldValue::from("any")));
        assert_eq!(table.get(&key("level")), Some(&FieldValue::from("error")));
        assert_eq!(matching.to_string(), "any of {app=db, level=error}");
        assert_eq!(Headers::of_message(Some(&table)), headers);
    }
}
