//! End-to-end tests: the real `playground` binary against the real RabbitMQ (127.0.0.1:5672 by
//! default; PLAYGROUND_TEST_AMQP_HOST / _PORT override). Every test uses its own queue and deletes
//! it. Set TEST_LOG=1 to see the processes' logs.

// A failed unwrap, expect or assert is how a test (or its helper) fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bad_input;
mod config;
mod confirms;
mod console;
mod consume;
mod docs;
mod failover;
mod fault_suite;
mod faults;
mod helpers;
mod hostile_flags;
mod manifests;
mod perf;
mod private_broker;
mod produce_server;
mod pubsub;
mod retry;
mod rpc;
mod start_up;
mod streams;
mod topology;
mod work_queue;
