//! `recover resend | replay | reconcile`: see `recover --help` and docs/operations.md.

use std::process::ExitCode;

use clap::Parser;
use recover::cli::Cli;
use recover::ProcessEnv;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("recover: cannot start: {e}");
            return ExitCode::from(recover::EXIT_FAILED);
        }
    };
    runtime.block_on(recover::run(
        cli.command,
        &ProcessEnv,
        time::OffsetDateTime::now_utc(),
    ))
}
