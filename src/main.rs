//! Entry point: parse → validate → logging → run the chosen role → exit code.
//! Exit codes: 0 clean shutdown, 1 runtime failure, 2 usage or configuration error (including a
//! queue or exchange that exists on the broker with other settings), 3 `consume --crash-after`.

use std::process::ExitCode;

use clap::Parser;
use playground::{cli::Cli, roles, shutdown, telemetry};

fn main() -> ExitCode {
    let config = match Cli::parse().into_config() {
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
        let shutdown = shutdown::on_signal();
        roles::run(config.role, config.amqp, shutdown).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Already formatted for people and pipelines by the subscriber.
            tracing::error!(error = %format!("{error:#}"), "exiting");
            let mismatch = error
                .downcast_ref::<playground::amqp::Refusal>()
                .is_some_and(|refusal| refusal.settings_mismatch);
            if mismatch {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
