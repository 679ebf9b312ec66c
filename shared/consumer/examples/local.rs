//! The consumer, run locally by `scripts/local.sh` against the local server: what Lambda's SQS
//! event source does (receive up to 10 messages, invoke, delete what did not fail), in one
//! process, with a stand-in for the gateways' APIs that answers from the samples.
//!
//!     cargo run -p webhook-consumer --features lambda,stand-in --example local
//!
//! Environment: `AWS_ENDPOINT_URL` (the local server) and test credentials, as local.sh sets
//! them; `EVENTS_QUEUE_URL` and `EVENTS_QUEUE_ARN` (the front door's queue); optional
//! `LEDGER_TABLE` (default `consumer-ledger`), `BOOKINGS_TABLE` (`consumer-bookings`),
//! `STAND_IN_ADDRESS` (`127.0.0.1:0`), `FIXTURES` (`shared/gateways/tests/fixtures`),
//! `CONSUMER_STATE` (where to write what it started, `.local/consumer.json`). It creates the
//! two tables as consumer/template.yaml defines them, and the API secret (dummy credentials,
//! read back once as in AWS), then polls until stopped.

use std::path::PathBuf;
use std::sync::Arc;

use webhook_consumer::api::{HttpGatewayApi, Retry, TokioPause};
use webhook_consumer::bookings::{self, Bookings};
use webhook_consumer::dynamo::{self, DynamoLedger};
use webhook_consumer::metrics::Metrics;
use webhook_consumer::sqs::Poller;
use webhook_consumer::stand_in::StandIn;
use webhook_consumer::Consumer;
use webhook_core::clock::SystemClock;

/// The local API secret: dummy credentials the stand-in accepts (it checks only that they
/// are sent).
const LOCAL_SECRET: &str = r#"{"iugu_api_token": "local-iugu-api-token", "ipag_api_id": "local", "ipag_api_key": "local-ipag-api-key"}"#;
const SECRET_NAME: &str = "consumer-api-credentials";

fn var(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

fn main() -> std::process::ExitCode {
    webhook_consumer::lambda::init_logging();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("local consumer: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("local consumer: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let queue_url = std::env::var("EVENTS_QUEUE_URL").map_err(|_| "EVENTS_QUEUE_URL is not set")?;
    let queue_arn = var(
        "EVENTS_QUEUE_ARN",
        "arn:aws:sqs:us-east-1:123456789012:EventsQueue.fifo",
    );
    let ledger_table = var("LEDGER_TABLE", "consumer-ledger");
    let bookings_table = var("BOOKINGS_TABLE", "consumer-bookings");
    let fixtures = std::env::var_os("FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("shared/gateways/tests/fixtures"));
    let state_file = std::env::var_os("CONSUMER_STATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".local/consumer.json"));

    let sdk = webhook_consumer::lambda::sdk().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    dynamo::create_table(&dynamodb, &ledger_table).await?;
    bookings::create_table(&dynamodb, &bookings_table).await?;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let created = secrets
        .create_secret()
        .name(SECRET_NAME)
        .secret_string(LOCAL_SECRET)
        .send()
        .await;
    if let Err(e) = created {
        if !e
            .as_service_error()
            .is_some_and(|e| e.is_resource_exists_exception())
        {
            return Err(webhook_aws::error_text(&e));
        }
    }
    let credentials = webhook_consumer::credentials::load(&sdk, SECRET_NAME).await?;

    let stand_in = StandIn::start(&var("STAND_IN_ADDRESS", "127.0.0.1:0"))
        .await
        .map_err(|e| format!("the API stand-in: {e}"))?;
    let known = stand_in
        .seed_from_fixtures(&fixtures)
        .map_err(|e| format!("the samples: {e}"))?;
    let api = HttpGatewayApi::new(
        &credentials,
        &stand_in.url,
        &stand_in.url,
        Retry::default(),
        Arc::new(TokioPause),
    )?;
    let clock = Arc::new(SystemClock);
    let mut consumer = Consumer::new(
        DynamoLedger::new(dynamodb.clone(), &ledger_table),
        api,
        Bookings::new(dynamodb, &bookings_table, clock.clone()),
        clock,
    );
    consumer.metrics = Metrics::stdout(var("METRICS_NAMESPACE", "WebhookConsumer"));
    let state = serde_json::json!({
        "ledger_table": ledger_table,
        "bookings_table": bookings_table,
        "api_stand_in": stand_in.url,
        "api_secret": SECRET_NAME,
        "queue_url": queue_url,
    });
    if let Some(dir) = state_file.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    std::fs::write(&state_file, format!("{state:#}\n")).map_err(|e| e.to_string())?;
    eprintln!(
        "local consumer: polling {queue_url}; ledger {ledger_table}, bookings {bookings_table}; \
         API stand-in {} ({known} entities from the samples)",
        stand_in.url
    );

    let poller = Poller {
        sqs: aws_sdk_sqs::Client::new(&sdk),
        queue_url,
        queue_arn,
        release_failed: false,
    };
    loop {
        if let Err(e) = poller.poll(&consumer, 1).await {
            eprintln!("local consumer: receive failed: {e}");
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }
}
