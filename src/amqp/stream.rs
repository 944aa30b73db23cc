//! RabbitMQ streams over AMQP 0-9-1: where a reader starts (`x-stream-offset`), how long the
//! stream keeps what it was given (`x-max-age`, `x-max-length-bytes`), and the queue declaration
//! that says "stream".
//!
//! A stream is an append-only log: reading does not remove anything, every reader chooses where
//! to start, and each delivery carries its position (header `x-stream-offset`). The broker checks
//! the offset argument's *type*: a number must be a signed 64-bit integer ('l'), a point in time
//! a timestamp ('T', whole seconds), and the words `first`, `last` and `next` strings. A value it
//! does not understand is silently read as `next`, so every spec is validated here first.

use std::str::FromStr;
use std::time::{Duration, SystemTime};

use amqprs::{FieldTable, FieldValue, ShortStr};

use super::names::QueueName;
use super::topology::QueueSpec;

/// Where a stream reader starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamOffset {
    /// Everything the stream still holds, again for every reader.
    First,
    /// The last chunk the broker wrote (a batch of recent messages, not exactly one).
    Last,
    /// Only what is published from now on.
    Next,
    /// From this offset on (past the end: nothing until it is reached).
    Offset(i64),
    /// From the first chunk written at or after this time (1 s resolution).
    At(SystemTime),
    /// From this long before the reader starts; resolved to [`StreamOffset::At`] once, at start,
    /// so a reconnect before the first message does not move the window.
    Ago(Duration),
}

/// Why an offset, age or size was refused; the text names what would be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StreamValueError(String);

impl StreamOffset {
    /// [`StreamOffset::Ago`] made absolute against `now`; every other spec as it is.
    pub fn resolve(self, now: SystemTime) -> Self {
        match self {
            StreamOffset::Ago(ago) => {
                StreamOffset::At(now.checked_sub(ago).unwrap_or(SystemTime::UNIX_EPOCH))
            }
            other => other,
        }
    }

    /// The value of the consume argument `x-stream-offset`, typed as RabbitMQ expects it.
    pub fn argument(self) -> FieldValue {
        match self.resolve(SystemTime::now()) {
            StreamOffset::First => FieldValue::from("first"),
            StreamOffset::Last => FieldValue::from("last"),
            StreamOffset::Next => FieldValue::from("next"),
            StreamOffset::Offset(offset) => FieldValue::l(offset),
            StreamOffset::At(at) => FieldValue::T(
                at.duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
            ),
            // Resolved above.
            StreamOffset::Ago(_) => FieldValue::from("next"),
        }
    }

    /// How `--check-config` and the logs show it.
    pub fn describe(self) -> String {
        match self {
            StreamOffset::First => "first".to_owned(),
            StreamOffset::Last => "last".to_owned(),
            StreamOffset::Next => "next".to_owned(),
            StreamOffset::Offset(offset) => offset.to_string(),
            StreamOffset::At(at) => humantime::format_rfc3339_seconds(at).to_string(),
            StreamOffset::Ago(ago) => format!("{} ago", humantime::format_duration(ago)),
        }
    }
}

impl FromStr for StreamOffset {
    type Err = StreamValueError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let value = value.trim();
        match value {
            "first" => return Ok(StreamOffset::First),
            "last" => return Ok(StreamOffset::Last),
            "next" => return Ok(StreamOffset::Next),
            _ => {}
        }
        if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
            return value.parse().map(StreamOffset::Offset).map_err(|_| {
                StreamValueError(format!("offset {value:?} is larger than a stream can be"))
            });
        }
        if let Some(at) = rfc3339(value) {
            return Ok(StreamOffset::At(at));
        }
        match humantime::parse_duration(value) {
            Ok(ago) if !ago.is_zero() => Ok(StreamOffset::Ago(ago)),
            _ => Err(StreamValueError(format!(
                "{value:?} is not a stream offset: use first, last, next, an offset (0, 1234), \
                 an RFC 3339 time (2024-05-01T12:00:00Z) or a duration ago (10m, 2h, 7days)"
            ))),
        }
    }
}

/// An RFC 3339 time, with `Z` or a numeric UTC offset (`+02:00`).
fn rfc3339(value: &str) -> Option<SystemTime> {
    if !value.contains(['T', 't', ' ']) || value.len() < 20 {
        return None;
    }
    if value.ends_with(['Z', 'z']) {
        return humantime::parse_rfc3339_weak(value).ok();
    }
    let (local, offset) = value.split_at(value.len() - 6);
    let sign = match offset.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hours, minutes) = offset[1..].split_once(':')?;
    let (hours, minutes): (u64, u64) = (hours.parse().ok()?, minutes.parse().ok()?);
    if hours > 23 || minutes > 59 {
        return None;
    }
    let shift = Duration::from_secs(hours * 3600 + minutes * 60);
    let as_utc = humantime::parse_rfc3339_weak(&format!("{local}Z")).ok()?;
    // 12:00+02:00 is 10:00Z.
    if sign > 0 {
        as_utc.checked_sub(shift)
    } else {
        as_utc.checked_add(shift)
    }
}

/// How long a stream keeps messages, in RabbitMQ's `x-max-age` syntax: a positive number and one
/// unit, `Y` `M` `D` `h` `m` `s` (`7D`, `1h`). The broker refuses anything else, but only when
/// the stream is declared, as a connection-level error; checked here so it is a usage error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaxAge(String);

impl MaxAge {
    /// As given (`7D`).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for MaxAge {
    type Err = StreamValueError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let bad = || {
            StreamValueError(format!(
                "{value:?} is not a stream max age: a positive number and one unit of Y \
                 (years), M (months), D (days), h, m or s, e.g. 7D or 1h"
            ))
        };
        let unit = value.chars().last().ok_or_else(bad)?;
        let number = &value[..value.len() - unit.len_utf8()];
        if !"YMDhms".contains(unit) || number.is_empty() || number.len() > 9 {
            return Err(bad());
        }
        match number.parse::<u32>() {
            Ok(n) if n > 0 && number.bytes().all(|b| b.is_ascii_digit()) => {
                Ok(MaxAge(value.to_owned()))
            }
            _ => Err(bad()),
        }
    }
}

/// A stream's size limit in bytes (`x-max-length-bytes`): plain bytes or with a unit (`kB`,
/// `MB`, `GB`, `TB`, or `KiB`…`TiB`). The broker removes whole segments (500 MB by default)
/// beyond it, so a stream may hold somewhat more.
pub fn max_length_bytes(value: &str) -> Result<i64, StreamValueError> {
    const UNITS: [(&str, u64); 9] = [
        ("KiB", 1 << 10),
        ("MiB", 1 << 20),
        ("GiB", 1 << 30),
        ("TiB", 1 << 40),
        ("kB", 1_000),
        ("MB", 1_000_000),
        ("GB", 1_000_000_000),
        ("TB", 1_000_000_000_000),
        ("B", 1),
    ];
    let bad = || {
        StreamValueError(format!(
            "{value:?} is not a size: a positive number of bytes, optionally with a unit (kB, \
             MB, GB, TB, KiB, MiB, GiB, TiB), e.g. 20GB"
        ))
    };
    let (number, scale) = UNITS
        .iter()
        .find_map(|(unit, scale)| value.strip_suffix(unit).map(|n| (n, *scale)))
        .unwrap_or((value, 1));
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let bytes = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .and_then(|n| i64::try_from(n).ok())
        .ok_or_else(bad)?;
    if bytes == 0 {
        return Err(bad());
    }
    Ok(bytes)
}

/// What a stream keeps; `None` leaves the broker's default (everything, for ever).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamRetention {
    /// `x-max-age`.
    pub max_age: Option<MaxAge>,
    /// `x-max-length-bytes`.
    pub max_length_bytes: Option<i64>,
}

/// The declaration of a stream: durable (streams must be), shared, with `x-queue-type: stream`
/// and the retention arguments. Every reader declares it the same way, as the broker insists.
pub fn stream_queue(name: QueueName, retention: &StreamRetention) -> QueueSpec {
    let mut arguments = FieldTable::new();
    insert(&mut arguments, "x-queue-type", FieldValue::from("stream"));
    if let Some(age) = &retention.max_age {
        insert(
            &mut arguments,
            "x-max-age",
            FieldValue::from(age.as_str().to_owned()),
        );
    }
    if let Some(bytes) = retention.max_length_bytes {
        insert(&mut arguments, "x-max-length-bytes", FieldValue::l(bytes));
    }
    QueueSpec {
        arguments,
        ..QueueSpec::durable(name)
    }
}

/// The `basic.consume` arguments that start a stream reader at `offset`.
pub fn consume_arguments(offset: StreamOffset) -> FieldTable {
    let mut arguments = FieldTable::new();
    insert(&mut arguments, "x-stream-offset", offset.argument());
    arguments
}

fn insert(table: &mut FieldTable, key: &'static str, value: FieldValue) {
    // Every key here is a short constant, well under ShortStr's 255 bytes.
    if let Ok(key) = ShortStr::try_from(key) {
        table.insert(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_parse_every_documented_form() {
        assert_eq!("first".parse(), Ok(StreamOffset::First));
        assert_eq!("last".parse(), Ok(StreamOffset::Last));
        assert_eq!("next".parse(), Ok(StreamOffset::Next));
        assert_eq!("1234".parse(), Ok(StreamOffset::Offset(1234)));
        assert_eq!(
            "10m".parse(),
            Ok(StreamOffset::Ago(Duration::from_secs(600)))
        );
        let utc: StreamOffset = "2024-05-01T12:00:00Z".parse().unwrap();
        let shifted: StreamOffset = "2024-05-01T14:00:00+02:00".parse().unwrap();
        assert_eq!(utc, shifted);
        assert_eq!(utc.describe(), "2024-05-01T12:00:00Z");
        match utc.argument() {
            FieldValue::T(seconds) => assert_eq!(seconds, 1_714_564_800),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            StreamOffset::Offset(7).argument(),
            FieldValue::l(7)
        ));
        for bad in [
            "",
            "-1",
            "firstly",
            "0s",
            "2024-13-01T00:00:00Z",
            "99999999999999999999",
        ] {
            assert!(bad.parse::<StreamOffset>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ago_is_made_absolute_once() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        assert_eq!(
            StreamOffset::Ago(Duration::from_secs(10)).resolve(now),
            StreamOffset::At(SystemTime::UNIX_EPOCH + Duration::from_secs(990))
        );
    }

    #[test]
    fn max_age_follows_rabbitmq_syntax() {
        for good in ["7D", "1h", "30m", "10s", "1Y", "6M"] {
            assert!(good.parse::<MaxAge>().is_ok(), "{good}");
        }
        for bad in [
            "",
            "7",
            "D",
            "0D",
            "7d",
            "1.5h",
            "7 D",
            "-1D",
            "1h30m",
            "1234567890s",
        ] {
            assert!(bad.parse::<MaxAge>().is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_accept_units() {
        assert_eq!(max_length_bytes("1000"), Ok(1000));
        assert_eq!(max_length_bytes("20GB"), Ok(20_000_000_000));
        assert_eq!(max_length_bytes("1MiB"), Ok(1 << 20));
        for bad in ["", "0", "GB", "-5", "1.5GB", "99999999999TB"] {
            assert!(max_length_bytes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_declaration_says_stream() {
        let name = QueueName::parse("s").unwrap();
        let spec = stream_queue(
            name,
            &StreamRetention {
                max_age: Some("7D".parse().unwrap()),
                max_length_bytes: Some(1000),
            },
        );
        assert!(spec.durable && !spec.exclusive && !spec.auto_delete);
        let text = format!("{}", spec.arguments);
        for needed in ["stream", "7D", "1000"] {
            assert!(text.contains(needed), "{text}");
        }
    }
}
