//! The command line's contract: flags and env vars become the right settings, and bad ones are
//! refused before anything runs.

use clap::CommandFactory;

use super::*;
use crate::roles::send::{SendConfig, SendTarget};

fn parse(args: &[&str]) -> Result<Config, String> {
    Cli::try_parse_from(args)
        .map_err(|e| match parse_failure(e, None) {
            ParseFailure::Usage(line) => line,
            ParseFailure::Display(e) => e.to_string(),
        })
        .and_then(|cli| cli.into_config().map_err(|e| format!("{e:#}")))
}

#[test]
fn verify_cli() {
    Cli::command().debug_assert();
}

#[test]
fn common_flags_work_after_the_subcommand() {
    let config = parse(&[
        "playground",
        "consume",
        "--prefetch",
        "5",
        "--amqp-url",
        "amqp://u:p@h:1234/v",
        "--amqp-password",
        "s3cr@t",
    ])
    .unwrap();
    assert_eq!(config.amqp.endpoints.first().port, 1234);
    assert_eq!(config.amqp.endpoints.first().password.expose(), "s3cr@t");
    match config.role {
        Role::Consume(c) => assert_eq!(c.prefetch, 5),
        other => panic!("{other:?}"),
    }
}

#[test]
fn queue_shape_is_shared_and_validated() {
    let config = parse(&[
        "playground",
        "send",
        "--queue",
        "jobs",
        "--queue-type",
        "quorum",
        "--dead-letter",
    ])
    .unwrap();
    match config.role {
        Role::Send(SendConfig {
            target: SendTarget::Queue(queue),
            text,
            ..
        }) => {
            assert_eq!(queue.delivery_limit, Some(DEFAULT_DELIVERY_LIMIT));
            assert_eq!(
                queue.dead_letter.unwrap().queue.as_str(),
                "jobs.dead-letter"
            );
            assert_eq!(text, "Hello World!");
        }
        other => panic!("{other:?}"),
    }
    assert!(parse(&["playground", "consume", "--delivery-limit", "3"]).is_err());
    for rate in ["-0.1", "1.5", "x"] {
        assert!(parse(&["playground", "consume", "--fail-rate", rate]).is_err());
    }
}

#[test]
fn a_subscribers_named_queue_can_be_quorum_and_a_server_named_one_cannot() {
    let quorum = parse(&[
        "playground",
        "fanout-sub",
        "--queue",
        "logger-service",
        "--queue-type",
        "quorum",
    ]);
    match quorum.unwrap().role {
        Role::FanoutSub(config) => {
            assert_eq!(config.subscriber.queue_type.as_str(), "quorum");
        }
        other => panic!("{other:?}"),
    }
    let bad = parse(&["playground", "fanout-sub", "--queue-type", "quorum"]).unwrap_err();
    assert!(bad.contains("needs --queue / SUBSCRIBER_QUEUE"), "{bad}");
}

#[test]
fn subscriber_patterns_are_checked_at_start_up() {
    let ok = parse(&[
        "playground",
        "topic-sub",
        "--pattern",
        "*.error",
        "--pattern",
        "logs.#",
    ]);
    match ok.unwrap().role {
        Role::TopicSub(config) => {
            let patterns: Vec<&str> = config.patterns.iter().map(|p| p.as_str()).collect();
            assert_eq!(patterns, ["*.error", "logs.#"]);
            assert_eq!(config.exchange.as_str(), "logs-topic");
        }
        other => panic!("{other:?}"),
    }
    let direct = parse(&[
        "playground",
        "topic-sub",
        "--exchange-type",
        "direct",
        "--pattern",
        "error",
    ]);
    match direct.unwrap().role {
        Role::TopicSub(config) => assert_eq!(config.exchange.as_str(), "logs-direct"),
        other => panic!("{other:?}"),
    }
    let bad = parse(&["playground", "topic-sub", "--pattern", "log*"]).unwrap_err();
    assert!(bad.contains("whole words"), "{bad}");
    let missing = parse(&["playground", "topic-sub"]).unwrap_err();
    assert!(
        missing.contains("--pattern"),
        "a pattern is required: {missing}"
    );
    assert!(parse(&["playground", "send", "--exchange", "topic", "x"]).is_err());
    assert!(parse(&["playground", "send", "--exchange", "fanout", "x"]).is_ok());
}

#[test]
fn bad_queue_names_are_usage_errors() {
    let long = "q".repeat(256);
    for bad in ["", "amq.x", long.as_str()] {
        assert!(parse(&["playground", "consume", "--queue", bad]).is_err());
    }
}

#[test]
fn usage_errors_are_one_line_naming_the_flag_and_its_env_var() {
    let long = "n".repeat(256);
    let cases: [(&[&str], &[&str]); 4] = [
        (
            &["playground", "consume", "--name", &long],
            &["--name", "CONSUMER_NAME", "255"],
        ),
        (
            &["playground", "fanout-sub", "--name", &long],
            &["--name", "SERVICE_NAME"],
        ),
        (
            &["playground", "send", "--count", "0"],
            &["--count", "at least 1"],
        ),
        (
            &["playground", "consume", "--work", "100000000y"],
            &["--work", "WORK", "24h"],
        ),
    ];
    for (args, needed) in cases {
        let error = Cli::try_parse_from(args).unwrap_err();
        let sub = subcommand_in(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>());
        let ParseFailure::Usage(line) = parse_failure(error, sub.as_deref()) else {
            panic!("{args:?} is not a usage error");
        };
        assert!(
            line.starts_with("error: ") && !line.contains('\n'),
            "{line}"
        );
        for needed in needed {
            assert!(line.contains(needed), "{needed:?} missing from {line}");
        }
        assert!(!line.contains("18446744073709551615"), "{line}");
    }
}

#[test]
fn a_health_port_is_a_default_until_someone_chooses_it() {
    use crate::http::PortChoice;
    let listen = |args: &[&str]| match parse(args).unwrap().role {
        Role::Consume(c) => c.health_listen,
        other => panic!("{other:?}"),
    };
    let default = listen(&["playground", "consume"]).unwrap();
    assert_eq!(
        (default.addr.port(), default.choice),
        (8080, PortChoice::Default)
    );
    let chosen = listen(&["playground", "consume", "--health-port", "8080"]).unwrap();
    assert_eq!(chosen.choice, PortChoice::Explicit);
    assert!(listen(&["playground", "consume", "--health-port", "0"]).is_none());
}
