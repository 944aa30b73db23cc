//! The bodies of `produce-server`'s POST endpoints: deserialised by serde into structs, then
//! validated into requests that cannot be wrong (a text that is not empty, a count in range, a
//! routing key AMQP can carry). Every refusal is a 400 that says what to send instead; nothing is
//! published for any of them.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::amqp::{ExchangeKind, Headers, RoutingKey};
use crate::http::ApiError;

/// A `message` field: a string with something in it besides whitespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageText(pub String);

impl<'de> Deserialize<'de> for MessageText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)
            .map_err(|e| de::Error::custom(format!(r#"field "message" must be a string ({e})"#)))?;
        if text.trim().is_empty() {
            return Err(de::Error::custom(r#"field "message" must not be empty"#));
        }
        Ok(Self(text))
    }
}

/// `POST /send-message {"message": "hello"}`.
#[derive(Debug, Deserialize)]
pub struct SendMessageBody {
    message: Option<MessageText>,
}

impl SendMessageBody {
    /// The text to publish.
    pub fn validate(self) -> Result<String, ApiError> {
        self.message.map(|m| m.0).ok_or_else(|| {
            ApiError::BadRequest(r#"missing field "message": send {"message":"hello"}"#.to_owned())
        })
    }
}

/// A validated `/send-burst` request.
#[derive(Debug, PartialEq, Eq)]
pub struct Burst {
    pub count: u64,
    pub text: String,
}

/// The text of burst messages when the request names none.
pub const DEFAULT_BURST_TEXT: &str = "Task";

/// `POST /send-burst {"count": 30, "message": "Task..."}`.
#[derive(Debug, Deserialize)]
pub struct SendBurstBody {
    count: Option<BurstCount>,
    message: Option<MessageText>,
}

/// A `count` field: a whole, positive JSON number (its upper bound is the server's
/// `--max-burst`, checked in [`SendBurstBody::validate`]).
#[derive(Debug, Clone, Copy)]
struct BurstCount(u64);

impl<'de> Deserialize<'de> for BurstCount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Count;
        impl Visitor<'_> for Count {
            type Value = BurstCount;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"field "count" to be a whole number"#)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<BurstCount, E> {
                Ok(BurstCount(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<BurstCount, E> {
                u64::try_from(v)
                    .map(BurstCount)
                    .map_err(|_| E::custom(r#"field "count" must be at least 1"#))
            }
        }
        deserializer.deserialize_u64(Count)
    }
}

impl SendBurstBody {
    /// `count` in `1..=max`; the text defaults to "Task".
    pub fn validate(self, max: u64) -> Result<Burst, ApiError> {
        let count = self.count.ok_or_else(|| {
            ApiError::BadRequest(format!(
                r#"missing field "count": send {{"count":30,"message":"Task..."}} (1 to {max})"#
            ))
        })?;
        if !(1..=max).contains(&count.0) {
            return Err(ApiError::BadRequest(format!(
                r#"field "count" must be a whole number from 1 to {max} (--max-burst); nothing was published"#
            )));
        }
        let text = self
            .message
            .map_or_else(|| DEFAULT_BURST_TEXT.to_owned(), |m| m.0);
        Ok(Burst {
            count: count.0,
            text,
        })
    }
}

/// A validated `/publish` request.
#[derive(Debug, PartialEq, Eq)]
pub struct PublishRequest {
    pub kind: ExchangeKind,
    pub routing_key: RoutingKey,
    pub text: String,
    /// Message headers (what a headers exchange routes on); empty: none are sent.
    pub headers: Headers,
}

/// `POST /publish {"routing_key":"logs.error","message":"disk full","exchange":"topic"}`, or
/// `{"exchange":"headers","headers":{"level":"error"},"message":"disk full"}`.
#[derive(Debug, Deserialize)]
pub struct PublishBody {
    exchange: Option<ExchangeField>,
    routing_key: Option<RoutingKeyField>,
    message: Option<MessageText>,
    headers: Option<HeadersField>,
}

/// An `exchange` field: `"topic"`, `"direct"`, `"fanout"` or `"headers"`.
#[derive(Debug, Clone, Copy)]
struct ExchangeField(ExchangeKind);

impl<'de> Deserialize<'de> for ExchangeField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer).map_err(|e| {
            de::Error::custom(format!(
                r#"field "exchange" must be "topic", "direct", "fanout" or "headers" ({e})"#
            ))
        })?;
        ExchangeKind::parse(&name).map(Self).ok_or_else(|| {
            de::Error::custom(format!(
                r#"unknown exchange {name:?}: use "topic", "direct", "fanout" or "headers""#
            ))
        })
    }
}

/// A `headers` field: an object of string values (`{"level":"error"}`). Only strings: a headers
/// exchange compares types too, so a number 5 would never match a subscriber's `level=5`.
#[derive(Debug, Clone)]
struct HeadersField(Headers);

impl<'de> Deserialize<'de> for HeadersField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let object =
            serde_json::Map::<String, serde_json::Value>::deserialize(deserializer).map_err(
                |e| {
                    de::Error::custom(format!(
                        r#"field "headers" must be an object of strings, e.g. {{"level":"error"}} ({e})"#
                    ))
                },
            )?;
        let mut pairs = Vec::with_capacity(object.len());
        for (key, value) in object {
            let serde_json::Value::String(value) = value else {
                return Err(de::Error::custom(format!(
                    r#"field "headers": {key:?} must be a string, not {value}; a headers exchange compares types too, so send "{}" as a string to match a subscriber's --header"#,
                    value.to_string().trim_matches('"')
                )));
            };
            pairs.push((key, value));
        }
        Headers::from_pairs(pairs)
            .map(Self)
            .map_err(|e| de::Error::custom(format!(r#"field "headers": {e}"#)))
    }
}

/// A `routing_key` field: a string AMQP can carry (at most 255 bytes).
#[derive(Debug, Clone)]
struct RoutingKeyField(RoutingKey);

impl<'de> Deserialize<'de> for RoutingKeyField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let key = String::deserialize(deserializer).map_err(|e| {
            de::Error::custom(format!(r#"field "routing_key" must be a string ({e})"#))
        })?;
        RoutingKey::parse(key)
            .map(Self)
            .map_err(|e| de::Error::custom(format!(r#"field "routing_key" {e}"#)))
    }
}

impl PublishBody {
    /// The exchange defaults to topic; a fanout or headers publish needs no key, the others do.
    pub fn validate(self) -> Result<PublishRequest, ApiError> {
        let kind = self.exchange.map_or(ExchangeKind::Topic, |e| e.0);
        let routing_key = match (self.routing_key, kind) {
            (Some(key), _) => key.0,
            (None, kind) if kind.ignores_key() => RoutingKey::empty(),
            (None, _) => {
                return Err(ApiError::BadRequest(format!(
                    r#"missing field "routing_key": a {} exchange routes by it (e.g. "logs.error")"#,
                    kind.as_str()
                )))
            }
        };
        let text = self.message.map(|m| m.0).ok_or_else(|| {
            ApiError::BadRequest(
                r#"missing field "message": send {"routing_key":"logs.error","message":"disk full"}"#
                    .to_owned(),
            )
        })?;
        Ok(PublishRequest {
            kind,
            routing_key,
            text,
            headers: self.headers.map(|h| h.0).unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::http::json_body::parse;

    fn send_message(body: &[u8]) -> Result<String, ApiError> {
        parse::<SendMessageBody>(body)?.validate()
    }

    fn send_burst(body: &[u8], max: u64) -> Result<Burst, ApiError> {
        parse::<SendBurstBody>(body)?.validate(max)
    }

    fn publish(body: &[u8]) -> Result<PublishRequest, ApiError> {
        parse::<PublishBody>(body)?.validate()
    }

    #[test]
    fn message_must_be_a_non_empty_string_in_an_object() {
        assert_eq!(send_message(br#"{"message":"hi"}"#).unwrap(), "hi");
        for bad in [
            &br#"{"message":""}"#[..],
            br#"{"message":"   "}"#,
            br#"{"message":5}"#,
            br#"{"message":null}"#,
            br#"{"msg":"x"}"#,
            br#"["message"]"#,
            br#"{"message":"x""#,
            b"",
        ] {
            assert!(
                matches!(send_message(bad), Err(ApiError::BadRequest(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn publish_requests_name_a_known_exchange_and_a_valid_key() {
        assert_eq!(
            publish(br#"{"routing_key":"logs.error","message":"disk full"}"#).unwrap(),
            PublishRequest {
                kind: ExchangeKind::Topic,
                routing_key: RoutingKey::parse("logs.error").unwrap(),
                text: "disk full".to_owned(),
                headers: Headers::default(),
            }
        );
        let headers =
            publish(br#"{"exchange":"headers","headers":{"level":"error"},"message":"m"}"#)
                .unwrap();
        assert_eq!(
            (headers.kind, headers.routing_key.as_str()),
            (ExchangeKind::Headers, "")
        );
        assert_eq!(headers.headers.to_string(), "{level=error}");
        let fanout = publish(br#"{"message":"hi","exchange":"fanout"}"#).unwrap();
        assert_eq!(
            (fanout.kind, fanout.routing_key.as_str()),
            (ExchangeKind::Fanout, "")
        );
        let long_key = format!(r#"{{"routing_key":"{}","message":"x"}}"#, "k".repeat(256));
        for bad in [
            &br#"{"message":"no key"}"#[..],
            br#"{"routing_key":"a","message":"x","exchange":"match"}"#,
            br#"{"exchange":"headers","message":"x","headers":{"level":5}}"#,
            br#"{"exchange":"headers","message":"x","headers":{"on":true}}"#,
            br#"{"exchange":"headers","message":"x","headers":{"x-match":"any"}}"#,
            br#"{"exchange":"headers","message":"x","headers":{"":"v"}}"#,
            br#"{"exchange":"headers","message":"x","headers":["level"]}"#,
            br#"{"routing_key":"a","message":"x","exchange":5}"#,
            br#"{"routing_key":7,"message":"x"}"#,
            br#"{"routing_key":"a"}"#,
            br#"{"routing_key":"a","message":""}"#,
            long_key.as_bytes(),
            b"\xff\xfe",
        ] {
            assert!(
                matches!(publish(bad), Err(ApiError::BadRequest(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn burst_count_must_be_a_whole_number_in_range() {
        assert_eq!(
            send_burst(br#"{"count":3}"#, 10).unwrap(),
            Burst {
                count: 3,
                text: DEFAULT_BURST_TEXT.to_owned()
            }
        );
        assert_eq!(
            send_burst(br#"{"count":10,"message":"Task..."}"#, 10)
                .unwrap()
                .text,
            "Task..."
        );
        for bad in [
            &br#"{"count":0}"#[..],
            br#"{"count":-1}"#,
            br#"{"count":11}"#,
            br#"{"count":1.5}"#,
            br#"{"count":"5"}"#,
            br#"{"message":"x"}"#,
            br#"{"count":5,"message":""}"#,
            br#"{"count":5,"message":7}"#,
            br#"[5]"#,
            b"{",
        ] {
            assert!(
                matches!(send_burst(bad, 10), Err(ApiError::BadRequest(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Whatever bytes arrive, parsing answers Ok or a 400, never panics.
            #[test]
            fn parsers_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
                for result in [
                    send_message(&body).map(drop),
                    send_burst(&body, 100).map(drop),
                    publish(&body).map(drop),
                ] {
                    prop_assert!(matches!(result, Ok(()) | Err(ApiError::BadRequest(_))));
                }
            }

            /// A publish request is accepted exactly when every field is valid.
            #[test]
            fn publish_accepts_exactly_the_valid_requests(
                key in "[a-z.*#]{0,300}",
                text in ".{0,20}",
                exchange in prop_oneof![
                    Just("topic"), Just("direct"), Just("fanout"), Just("headers"), Just("")
                ],
            ) {
                let body = json!({"routing_key": key, "message": text, "exchange": exchange});
                let valid = key.len() <= 255
                    && !text.trim().is_empty()
                    && ExchangeKind::parse(exchange).is_some();
                let result = publish(body.to_string().as_bytes());
                prop_assert_eq!(result.is_ok(), valid, "{} → {:?}", body, result);
            }

            /// A burst count is accepted exactly when it is a whole number in 1..=max.
            #[test]
            fn burst_counts_are_checked(count in any::<i64>(), fraction in any::<bool>()) {
                let body = if fraction {
                    format!(r#"{{"count":{count}.5}}"#)
                } else {
                    format!(r#"{{"count":{count}}}"#)
                };
                let valid = !fraction && (1..=1000).contains(&count);
                prop_assert_eq!(send_burst(body.as_bytes(), 1000).is_ok(), valid);
            }
        }
    }
}
