//! Hostile command-line values. Every option that takes a value is read from `ROLE --help`, then
//! given what an AMQP short string cannot hold (256 bytes), garbage, and numbers and durations
//! beyond their bounds, as a flag and separately through its env var. Invalid: exit code 2 and
//! one `error: ` line on stderr naming the flag and its env var, no panic. Valid (checked with
//! `--check-config`): exit 0. Group F runs the longest valid names against the real broker.
//!
//! Cases that must fail run against a dead broker (port 1; group B against a vhost or user the
//! broker refuses): a role that wrongly gets past validation declares nothing anywhere.
//!
//! - [`discover`]: the options, read from `--help`, and the cases made of them;
//! - [`runner`]: running a case and judging its output; [`live`]: group F.

mod discover;
mod live;
mod runner;

use std::sync::LazyLock;

use tokio::sync::Semaphore;

use discover::{cases, long, options, Case};
use runner::check;

/// Processes at once, across every group of this file.
static SLOTS: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(8));
const DEAD_BROKER: &str = "--amqp-url=amqp://guest:guest@127.0.0.1:1/%2f";
#[rustfmt::skip]
const ROLES: [&str; 9] = ["produce-server", "consume", "send", "fanout-sub", "topic-sub", "perf",
    "stream-sub", "rpc-server", "call"];
#[rustfmt::skip]
const GLOBALS: [&str; 9] = ["--amqp-url", "--amqp-user", "--amqp-password", "--log-format",
    "--reconnect-min", "--reconnect-max", "--telemetry", "--telemetry-exchange", "--heartbeat"];
/// Options whose value is, or becomes part of, an AMQP short string (group A).
#[rustfmt::skip]
const SHORT_STRINGS: [&str; 18] = ["--queue", "--dead-letter-queue", "--exchange",
    "--topic-exchange", "--direct-exchange", "--fanout-exchange", "--telemetry-exchange",
    "--routing-key", "--pattern", "--name", "--service-name", "--amqp-user",
    "--headers-exchange", "--alternate-exchange", "--unrouted-queue", "--rpc-queue", "--stream",
    "--bind-exchange"];

/// What a run must do. A usage error must also say the first words and never the second.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Want {
    Usage(&'static [&'static str], &'static [&'static str]),
    Valid,
}
const USAGE: Want = Want::Usage(&[], &[]);
const U64_MAX: &str = "18446744073709551615";

/// Values accepted at the bounds, values rejected beyond them, and what a rejection must say.
pub(crate) struct Bounds(&'static [&'static str], &'static [&'static str], Want);
#[rustfmt::skip]
const AT_LEAST_1: Bounds = Bounds(&["1"], &["0"], Want::Usage(&["at least 1"], &[U64_MAX, "4294967295"]));
const U16: Bounds = Bounds(&["65535"], &["65536", "-1"], USAGE);
const UP_TO_1000: Bounds = Bounds(&["1000"], &["1001"], USAGE);
const DURATIONS: Bounds = Bounds(&["24h"], &["25h", "100000000y"], USAGE);
/// (role, "" for every role; flag; bounds). Other options whose value is a DURATION: DURATIONS.
#[rustfmt::skip]
const BOUNDS: &[(&str, &str, Bounds)] = &[
    ("", "--heartbeat", Bounds(&["2s", "65535s"], &["1s", "65536s", "25h", "100000000y"], USAGE)),
    ("", "--telemetry", Bounds(&["off", "100ms", "24h"], &["99ms", "25h", "100000000y"], USAGE)),
    ("", "--publish-timeout", Bounds(&["24h"], &["0s", "25h", "100000000y"], USAGE)),
    ("rpc-server", "--prefetch", Bounds(&["1", "65535"], &["0", "65536"], USAGE)),
    ("stream-sub", "--prefetch", Bounds(&["1", "65535"], &["0", "65536"], USAGE)),
    ("call", "--concurrency", Bounds(&["1", "10000"], &["0", "10001"], USAGE)),
    ("call", "--timeout", Bounds(&["1ms", "5m"], &["0s", "301s", "100000000y"], USAGE)),
    ("call", "--count", Bounds(&[U64_MAX], &["0"], Want::Usage(&["at least 1"], &[U64_MAX]))),
    ("stream-sub", "--offset", Bounds(&["first", "next", "0", "10m", "100000000y",
        "2026-01-01T00:00:00Z"], &["-1", "bogus", "9999999999999999999"], USAGE)),
    ("stream-sub", "--max-age", Bounds(&["7D", "1h"], &["0s", "7X"], USAGE)),
    ("stream-sub", "--max-length-bytes", Bounds(&["1", "1GB"], &["0", "99999999TB", "-1"], USAGE)),
    ("", "--prefetch", U16), ("", "--port", U16), ("", "--health-port", U16),
    ("send", "--count", Bounds(&[U64_MAX], &["0"], Want::Usage(&["at least 1"], &[U64_MAX]))),
    ("perf", "--count", AT_LEAST_1),
    ("", "--max-burst", AT_LEAST_1), ("", "--crash-after", AT_LEAST_1),
    ("", "--delivery-limit", AT_LEAST_1),
    ("perf", "--rate", Bounds(&["0", "0.01", "1000000"], &["1e-300", "0.001", "-1", "NaN", "inf"], USAGE)),
    ("perf", "--confirm", Bounds(&["0", "65535"], &["65536", U64_MAX], USAGE)),
    ("perf", "--producers", UP_TO_1000), ("perf", "--consumers", UP_TO_1000),
    ("perf", "--concurrency", UP_TO_1000),
    ("perf", "--size", Bounds(&["8", "16777216"], &["7", "16777217"], USAGE)),
    ("", "--max-body", Bounds(&["1", "67108864"], &["0", "67108865"], USAGE)),
    ("", "--fail-rate", Bounds(&["0", "1"], &["1.5", "-0.1", "NaN"], USAGE)),
    ("", "--retry-delays", Bounds(&["1ms", "24h", "1s,2s,3s,4s,5s,6s,7s,8s,9s,10s"],
        &["0s", "25h", "1s,,2s", "1s,2s,3s,4s,5s,6s,7s,8s,9s,10s,11s"], USAGE)),
    ("", "--header", Bounds(&["level=error", "empty=", "expr=a=b"],
        &["level", "=error", "x-match=all"], USAGE)),
    ("", "--management-url", Bounds(&["http://127.0.0.1:15672", "http://u:p@a:1/x,http://b:2"],
        &["https://ops:hunter2@h:15671", "amqp://h:5672", "http://h:1/?x=1", ","],
        Want::Usage(&["management"], &["hunter2"]))),
];

/// An option of one role as `--help` shows it (`value: None`: a switch with an env var).

#[tokio::test]
async fn a_names_and_keys_over_255_bytes_are_usage_errors() {
    let mut all = Vec::new();
    for o in options().iter().filter(|o| o.short_string()) {
        all.extend(cases(o, &long('a', 256), USAGE));
        all.extend(cases(o, &long('a', 255), Want::Valid));
    }
    check("A", all, 130, vec![]).await;
}

#[tokio::test]
async fn b_an_amqp_url_with_a_256_byte_vhost_or_user_is_a_usage_error() {
    let mut all = Vec::new();
    for o in options().iter().filter(|o| o.flag == "--amqp-url") {
        for (n, want) in [(256, USAGE), (255, Want::Valid)] {
            let a = long('a', n);
            let vhost = format!("amqp://guest:guest@127.0.0.1:5672/{a}");
            let user = format!("amqp://{a}:guest@127.0.0.1:5672/%2f");
            all.extend(cases(o, &vhost, want));
            all.extend(cases(o, &user, want));
        }
    }
    check("B", all, 48, vec![]).await;
}

#[tokio::test]
async fn c_garbage_durations_addresses_choices_booleans_and_urls_are_usage_errors() {
    let mut all = Vec::new();
    for o in options() {
        all.extend(o.garbage().map_or(vec![], |value| cases(o, &value, USAGE)));
    }
    check("C", all, 90, vec![]).await;
}

#[tokio::test]
async fn d_long_passwords_and_messages_are_valid() {
    let mut all = Vec::new();
    for o in options().iter().filter(|o| o.flag == "--amqp-password") {
        all.extend(cases(o, &long('a', 256), Want::Valid));
    }
    let args = vec!["send".into(), "--check-config".into(), long('m', 256)];
    let label = "send --check-config <256×m>".to_owned();
    all.push(Case(label, args, vec![], vec![], Want::Valid));
    check("D", all, 13, vec![]).await;
}

#[tokio::test]
async fn e_numbers_and_durations_beyond_their_bounds_are_usage_errors() {
    let (mut all, mut unclassified) = (Vec::new(), Vec::new());
    for o in options() {
        if let Some(Bounds(ok, bad, want)) = o.bounds() {
            all.extend(ok.iter().flat_map(|value| cases(o, value, Want::Valid)));
            all.extend(bad.iter().flat_map(|value| cases(o, value, *want)));
        } else if !o.classified() {
            let (role, flag, value) = (o.role, &o.flag, o.value.as_deref().unwrap_or(""));
            unclassified.push(format!("{role} {flag} <{value}>: unclassified, no bounds"));
        }
    }
    check("E", all, 362, unclassified).await;
}
