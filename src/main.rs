//! Entry point: parse → validate → logging → run the chosen role → exit code.
//! Exit codes: 0 clean shutdown, 1 runtime failure, 2 usage or configuration error (including a
//! queue or exchange that exists on the broker with other settings, and a port that cannot be
//! listened on), 3 `consume --crash-after`,
//! 70 a panic (a bug: the process stopped itself rather than run on broken).

use std::process::ExitCode;

use clap::Parser;
use playground::cli::{self, Cli, ParseFailure};
use playground::{roles, shutdown, telemetry};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(error) => {
            let role = cli::subcommand_in(&args);
            return match cli::parse_failure(error, role.as_deref()) {
                ParseFailure::Display(display) => {
                    let _ = display.print();
                    ExitCode::from(u8::try_from(display.exit_code()).unwrap_or(2))
                }
                ParseFailure::Usage(line) => {
                    eprintln!("{line}");
                    ExitCode::from(2)
                }
            };
        }
    };
    // Completions, the man page, the reference pages: printed, no broker, no validation.
    if let Some(output) = cli::tools::output(&cli.command) {
        return match cli::tools::print(&output) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: cannot write to stdout: {error}");
                ExitCode::FAILURE
            }
        };
    }
    let config = match cli.into_config() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::from(2);
        }
    };
    if config.check_only {
        println!("{}", roles::describe(&config.role, &config.amqp));
        return ExitCode::SUCCESS;
    }
    telemetry::init(config.log_format, config.logs_to_stderr);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let shutdown = shutdown::on_signal_or_panic();
        #[cfg(debug_assertions)]
        shutdown::inject_test_panic();
        // On a worker thread, not this one (`block_on` polls its future here): a consumer's loop
        // on this thread made every delivery wake it from a worker, and every ack wake a worker
        // back — a thread hand-off each way per message.
        match tokio::spawn(roles::run(config.role, config.amqp, shutdown)).await {
            Ok(result) => result,
            Err(ended) => Err(anyhow::anyhow!("the role's task ended abnormally: {ended}")),
        }
    });
    // Tasks still running (a stuck amqprs worker after a panic, say) must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    if shutdown::panicked().is_some() {
        tracing::error!("exiting after a panic");
        return ExitCode::from(shutdown::PANIC_EXIT_CODE);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Already formatted for people and pipelines by the subscriber.
            tracing::error!(error = %format!("{error:#}"), "exiting");
            let mismatch = playground::amqp::refusal_in(&error)
                .is_some_and(|refusal| refusal.settings_mismatch);
            let unusable_port = error.is::<playground::http::server::ListenError>();
            if mismatch || unusable_port {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
