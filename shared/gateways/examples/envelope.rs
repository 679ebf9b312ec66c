//! Prints the envelope a consumer receives for a notification body read from standard input:
//! `cargo run -q -p webhook-gateways --example envelope < shared/gateways/tests/fixtures/iugu/raw/invoice.status_changed.body`

use std::io::Read;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut body = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut body) {
        eprintln!("cannot read standard input: {e}");
        return ExitCode::FAILURE;
    }
    match webhook_iugu::parse(&body, time::OffsetDateTime::now_utc()) {
        Ok(envelope) => match serde_json::to_string_pretty(&envelope) {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("cannot serialise: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("refused ({}): {e}", e.code());
            ExitCode::FAILURE
        }
    }
}
