//! The command line: every option is a flag with an environment variable (flag wins over env,
//! env over default), so the same image is configured by `args:` or by `env:` in Kubernetes.
//! The `///` comments are the `--help` text. This is the only module that knows clap; it turns
//! flags into a validated [`Config`] before any work starts, and every value that reaches the
//! broker is checked here (see [`values`] and `amqp::names`), so bad input is one line and exit
//! code 2.
//!
//! One file per role's options ([`produce_server`], [`consume`], [`send`], [`subscribers`],
//! [`perf`]), each next to its `into_config`; shared ones in [`common`], [`queue`], [`listen`].

pub mod common;
pub mod consume;
pub mod listen;
pub mod perf;
pub mod produce_server;
pub mod queue;
pub mod reference;
pub mod rpc;
pub mod send;
pub mod stream_sub;
pub mod subscribers;
pub mod tools;
pub mod values;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, Parser, Subcommand};

use crate::amqp::AmqpOptions;
use crate::roles::body::BodyStyle;
use crate::roles::Role;
use crate::telemetry::LogFormat;

pub use common::DEFAULT_AMQP_URL;
pub use queue::DEFAULT_DELIVERY_LIMIT;

/// A hands-on RabbitMQ lab: one binary, every messaging role.
#[derive(Debug, Parser)]
#[command(name = "playground", version, propagate_version = true)]
pub struct Cli {
    /// The broker and logging options every role shares (global flags).
    #[command(flatten)]
    pub common: common::CommonArgs,
    /// The role to run, with its own options.
    #[command(subcommand)]
    pub command: Command,
}

/// The roles.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// HTTP service: POST /send-message and /send-burst publish confirmed messages to the queue,
    /// POST /publish to an exchange (replaces the Node hello-world service).
    ProduceServer(produce_server::ProduceServerArgs),
    /// Worker: logs and acks every message of the queue (replaces the Node message-consumer);
    /// can simulate work, failures and crashes.
    Consume(consume::ConsumeArgs),
    /// Publishes MESSAGE to the queue over AMQP, COUNT times, each confirmed (the tutorial's
    /// new_task): `playground send --count 30 "Task..."`.
    Send(send::SendArgs),
    /// Subscriber: every message of a fanout exchange (the logger-service).
    FanoutSub(subscribers::FanoutSubArgs),
    /// Subscriber: messages whose routing key matches --pattern on a topic (or direct) exchange
    /// (the error-handler and audit services), or whose headers match --header on a headers
    /// exchange.
    TopicSub(subscribers::TopicSubArgs),
    /// Load tool in the spirit of RabbitMQ's PerfTest: producers and consumers over AMQP (or
    /// --http against produce-server), a line per second and a summary.
    Perf(perf::PerfArgs),
    /// Request/reply server: answers requests from --queue (default rpc-queue) on their
    /// reply_to, with the same simulated work, failures and crash as `consume`.
    RpcServer(rpc::RpcServerArgs),
    /// Calls an rpc-server COUNT times (C at once) and prints each reply with its round trip,
    /// then p50/p99 and calls/s: `playground call --count 100 --concurrency 10 ping`.
    Call(rpc::CallArgs),
    /// Stream reader: replays a RabbitMQ stream from --offset (first, a number, a time, 10m ago,
    /// next) and resumes after the last message it handled on reconnect (the audit log).
    StreamSub(stream_sub::StreamSubArgs),
    /// Prints the completion script for SHELL on stdout (generated from these definitions).
    ///
    /// Install it where your shell looks, e.g. for bash
    /// `playground completions bash > ~/.local/share/bash-completion/completions/playground`,
    /// for zsh `playground completions zsh > ~/.zfunc/_playground` (with `fpath+=~/.zfunc` before
    /// `compinit`), for fish `playground completions fish > ~/.config/fish/completions/playground.fish`.
    /// Needs no broker.
    Completions(tools::CompletionsArgs),
    /// Prints the man page of the whole command line (roff) on stdout.
    ///
    /// Read it with `playground man | man -l -`, or install it with
    /// `playground man > ~/.local/share/man/man1/playground.1`. Generated from these definitions;
    /// needs no broker.
    Man,
    /// Prints a page of the book's reference as Markdown (docs/src/reference/), generated from
    /// these definitions and the metrics registry; `make docs-reference` writes them all.
    #[command(hide = true)]
    Reference(tools::ReferenceArgs),
}

/// Everything a run needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// `--check-config`: validate and describe, do not run.
    pub check_only: bool,
    /// Pretty lines for terminals or JSON for log pipelines; also picks how bodies are logged.
    pub log_format: LogFormat,
    /// Log to stderr instead of stdout (for `send` and `perf`, whose stdout is their output).
    pub logs_to_stderr: bool,
    /// The broker options every role shares, validated.
    pub amqp: AmqpOptions,
    /// The chosen subcommand's validated settings.
    pub role: Role,
}

impl Cli {
    /// Validates what clap cannot (the broker URL, derived names, patterns) and builds the run's
    /// configuration. An error here is a usage error: exit code 2, one line, no password in it.
    pub fn into_config(self) -> anyhow::Result<Config> {
        let log_format = self.common.log_format();
        let check_only = self.common.check_config;
        let amqp = self.common.into_amqp_options()?;
        let style = match log_format {
            LogFormat::Pretty => BodyStyle::Pretty,
            LogFormat::Json => BodyStyle::Compact,
        };
        let role = match self.command {
            Command::ProduceServer(args) => Role::ProduceServer(args.into_config()?),
            Command::Consume(args) => Role::Consume(args.into_config(style)?),
            Command::Send(args) => Role::Send(args.into_config()?),
            Command::FanoutSub(args) => Role::FanoutSub(args.into_config(style)?),
            Command::TopicSub(args) => Role::TopicSub(args.into_config(style)?),
            Command::Perf(args) => Role::Perf(args.into_config()),
            Command::RpcServer(args) => Role::RpcServer(args.into_config(style)?),
            Command::Call(args) => Role::Call(args.into_config()),
            Command::StreamSub(args) => Role::StreamSub(args.into_config(style)?),
            Command::Completions(_) | Command::Man | Command::Reference(_) => {
                anyhow::bail!("not a role: run it through cli::tools::output")
            }
        };
        // `send`, `perf` and `call` print their results on stdout; their logs must not mix with them.
        let logs_to_stderr = matches!(role, Role::Send(_) | Role::Perf(_) | Role::Call(_));
        Ok(Config {
            check_only,
            log_format,
            logs_to_stderr,
            amqp,
            role,
        })
    }
}

/// What to do with a clap error: help and version are printed as clap prints them; a usage error
/// becomes one line naming the flag and its env var (clap's own text spreads over several lines,
/// with a usage block meant for terminals, and only names the flag).
pub enum ParseFailure {
    /// `--help`, `--version`: print it, exit with its code.
    Display(clap::Error),
    /// A bad flag or env var: print this line, exit 2.
    Usage(String),
}

/// Sorts a clap error into [`ParseFailure`]; `subcommand` (the role on the command line, if one
/// was recognised) tells whose env var to name.
pub fn parse_failure(error: clap::Error, subcommand: Option<&str>) -> ParseFailure {
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        return ParseFailure::Display(error);
    }
    let rendered = error.render().to_string();
    let mut paragraphs = rendered.split("\n\n").map(|p| {
        p.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    });
    let mut line = paragraphs.next().unwrap_or_default();
    for tip in paragraphs.filter(|p| p.starts_with("tip:")) {
        line.push_str("; ");
        line.push_str(&tip);
    }
    if let Some(env) = env_of_invalid_arg(&error, subcommand) {
        line.push_str(&format!(" [env: {env}]"));
    }
    ParseFailure::Usage(line)
}

/// The first argument that names a role, for [`parse_failure`].
pub fn subcommand_in(args: &[String]) -> Option<String> {
    let command = Cli::command();
    args.iter()
        .skip(1)
        .find(|arg| command.find_subcommand(arg.as_str()).is_some())
        .cloned()
}

/// The env var of the argument a clap error is about, when it has one (the same flag may read
/// different env vars in different roles: `--name` is CONSUMER_NAME or SERVICE_NAME).
fn env_of_invalid_arg(error: &clap::Error, subcommand: Option<&str>) -> Option<String> {
    let Some(ContextValue::String(arg)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    let long = arg.split_whitespace().next()?.trim_start_matches("--");
    let command = Cli::command();
    let role_args = subcommand
        .and_then(|name| command.find_subcommand(name))
        .into_iter()
        .flat_map(|sub| sub.get_arguments());
    let env = role_args
        .chain(command.get_arguments())
        .find(|a| a.get_long() == Some(long))?
        .get_env()?
        .to_string_lossy()
        .into_owned();
    Some(env)
}

#[cfg(test)]
mod tests;
