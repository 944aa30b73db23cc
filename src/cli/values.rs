//! Value parsers for the flags clap cannot check by type alone. Each bound exists because a value
//! beyond it would panic deep inside the runtime (an `Instant` overflow, a semaphore's maximum) or
//! make no sense, and each error says the bound in a person's words, so a bad flag or env var is
//! one line and exit code 2, never a panic.

use std::time::Duration;

/// The longest duration any flag accepts: long enough for any lab, short enough that adding it
/// to "now" can never overflow a clock.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

/// `250ms`, `5s`, `1m`… up to [`MAX_DURATION`].
pub fn duration(value: &str) -> Result<Duration, String> {
    let duration =
        humantime::parse_duration(value).map_err(|e| format!("{e} (examples: 250ms, 5s, 1m)"))?;
    if duration > MAX_DURATION {
        return Err("must be at most 24h".to_owned());
    }
    Ok(duration)
}

/// A [`duration`] that is not zero (a zero publish timeout would fail every publish).
pub fn positive_duration(value: &str) -> Result<Duration, String> {
    let parsed = duration(value)?;
    if parsed.is_zero() {
        return Err("must be more than 0 (e.g. 5s)".to_owned());
    }
    Ok(parsed)
}

/// Heartbeats under 2 s make amqprs' writer spin, and 0 does not disable them (the broker's
/// 60 s apply); AMQP carries the interval in 16 bits of seconds.
pub fn heartbeat(value: &str) -> Result<Duration, String> {
    let parsed =
        humantime::parse_duration(value).map_err(|e| format!("{e} (examples: 5s, 10s, 1m)"))?;
    if parsed < Duration::from_secs(2) || parsed > Duration::from_secs(u64::from(u16::MAX)) {
        return Err("must be between 2s and 65535s".to_owned());
    }
    Ok(parsed)
}

/// `--telemetry`: an interval, or `None` for off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelemetryInterval(pub Option<Duration>);

/// A snapshot interval from 100 ms to [`MAX_DURATION`], or `off`/`0`.
pub fn telemetry(value: &str) -> Result<TelemetryInterval, String> {
    if matches!(value, "off" | "0" | "false") {
        return Ok(TelemetryInterval(None));
    }
    let interval = duration(value)?;
    if interval < Duration::from_millis(100) {
        return Err("must be at least 100ms, or off".to_owned());
    }
    Ok(TelemetryInterval(Some(interval)))
}

/// A whole number of at least 1 (clap's own range check would print the type's maximum).
pub fn at_least_one(value: &str) -> Result<u64, String> {
    match value.parse::<u64>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{value:?} is not a whole number of at least 1")),
    }
}

/// [`at_least_one`], for a 32-bit setting (the quorum queue's delivery limit).
pub fn at_least_one_u32(value: &str) -> Result<u32, String> {
    let n = at_least_one(value)?;
    u32::try_from(n).map_err(|_| format!("must be at most {}", u32::MAX))
}

/// A whole number from `min` to `max`, said in those words.
fn within(value: &str, min: u64, max: u64) -> Result<u64, String> {
    let n = value
        .parse::<u64>()
        .map_err(|_| format!("{value:?} is not a whole number from {min} to {max}"))?;
    if !(min..=max).contains(&n) {
        return Err(format!("must be a whole number from {min} to {max}"));
    }
    Ok(n)
}

/// The most connections (producers, consumers, HTTP clients) one `perf` run opens.
pub const MAX_PERF_CONNECTIONS: u64 = 1000;

/// `perf --producers` / `--consumers`: 0 to [`MAX_PERF_CONNECTIONS`].
pub fn perf_connections(value: &str) -> Result<usize, String> {
    within(value, 0, MAX_PERF_CONNECTIONS).map(|n| n as usize)
}

/// `perf --concurrency`: 1 to [`MAX_PERF_CONNECTIONS`].
pub fn perf_concurrency(value: &str) -> Result<usize, String> {
    within(value, 1, MAX_PERF_CONNECTIONS).map(|n| n as usize)
}

/// The largest request body `produce-server` may be told to accept (64 MiB): RabbitMQ's own
/// message limit is 128 MiB, and a body is held in memory whole.
pub const MAX_BODY_LIMIT: u64 = 64 * 1024 * 1024;

/// `--max-body`: 1 byte to [`MAX_BODY_LIMIT`].
pub fn body_limit(value: &str) -> Result<usize, String> {
    within(value, 1, MAX_BODY_LIMIT).map(|n| n as usize)
}

/// `perf --rate`: 0 (as fast as possible) or 0.01 to 1,000,000 messages per second.
pub fn rate(value: &str) -> Result<f64, String> {
    let rate: f64 = value
        .parse()
        .map_err(|_| format!("{value:?} is not a number (examples: 0, 100, 2.5)"))?;
    if rate == 0.0 || (0.01..=1_000_000.0).contains(&rate) {
        return Ok(rate);
    }
    Err("must be 0 (as fast as possible) or from 0.01 to 1000000 messages per second".to_owned())
}

/// A share between 0 and 1.
pub fn share(value: &str) -> Result<f64, String> {
    let share: f64 = value
        .parse()
        .map_err(|_| format!("{value:?} is not a number (examples: 0, 0.1, 1.0)"))?;
    if !(0.0..=1.0).contains(&share) {
        return Err("must be between 0.0 and 1.0".to_owned());
    }
    Ok(share)
}

/// `--retry-delays`: a comma-separated list of [`duration`]s, checked as a
/// [`RetryDelays`](crate::amqp::RetryDelays) (1 to 10 delays, whole milliseconds, at least 1ms).
pub fn retry_delays(value: &str) -> Result<crate::amqp::RetryDelays, String> {
    let delays = value
        .split(',')
        .map(str::trim)
        .enumerate()
        .map(|(i, item)| {
            if item.is_empty() {
                return Err(format!("item {} is empty (example: 1s,10s,1m)", i + 1));
            }
            duration(item).map_err(|e| format!("{item:?}: {e}"))
        })
        .collect::<Result<Vec<_>, String>>()?;
    crate::amqp::RetryDelays::new(delays)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_are_a_bounded_list() {
        let delays = retry_delays("200ms, 1s,1m").unwrap();
        assert_eq!(delays.as_slice()[2], Duration::from_secs(60));
        for bad in [
            "",
            "1s,",
            "1s,,2s",
            "0s",
            "x",
            "25h",
            "1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s",
        ] {
            assert!(retry_delays(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_are_bounded() {
        assert_eq!(duration("24h"), Ok(MAX_DURATION));
        for bad in ["25h", "100000000y", "x", "-1s"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
        assert!(positive_duration("0s").is_err());
        assert!(heartbeat("1s").is_err() && heartbeat("65536s").is_err());
        assert_eq!(telemetry("off"), Ok(TelemetryInterval(None)));
        assert!(telemetry("50ms").is_err() && telemetry("25h").is_err());
    }

    #[test]
    fn numbers_say_their_bounds_in_words() {
        assert_eq!(at_least_one("0").unwrap_err(), "must be at least 1");
        assert_eq!(at_least_one("18446744073709551615"), Ok(u64::MAX));
        assert!(!at_least_one("-1")
            .unwrap_err()
            .contains("18446744073709551615"));
        assert!(at_least_one_u32("4294967296").is_err());
        assert_eq!(perf_connections("1000"), Ok(1000));
        assert!(perf_connections("1001").is_err() && perf_concurrency("0").is_err());
        assert!(body_limit("0").is_err() && body_limit("67108865").is_err());
        for ok in ["0", "0.01", "1000000"] {
            assert!(rate(ok).is_ok(), "{ok}");
        }
        for bad in ["1e-300", "0.001", "-1", "NaN", "inf", "1000001"] {
            assert!(rate(bad).is_err(), "{bad}");
        }
        for bad in ["-0.1", "1.5", "NaN"] {
            assert!(share(bad).is_err(), "{bad}");
        }
    }
}
