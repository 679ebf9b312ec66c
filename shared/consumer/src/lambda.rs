//! The consumer function's start-up: configuration from the environment, the AWS clients and
//! the API credentials (read once), then Lambda's loop over SQS events. Its `main` is one call
//! to [`serve`] with the merchant's business code.
//!
//! | variable | what | default |
//! |---|---|---|
//! | `LEDGER_TABLE` | the ledger's table | required |
//! | `API_SECRET_ID` | the secret with the gateways' API credentials ([`crate::credentials`]) | none: confirmations fail |
//! | `IUGU_API_URL`, `IPAG_API_URL` | the gateways' APIs | `https://api.iugu.com`, `https://api.ipag.com.br` |
//! | `CONFIRMATION` | `on` or `off` | `on` |
//! | `CONFIRMATION_OFF_FOR` | events never confirmed, separated by commas | none |
//! | `METRICS_NAMESPACE` | the EMF lines' namespace | `WebhookConsumer` |
//! | `RUST_LOG` | the log level (`info`, `debug`, `webhook_consumer=debug`) | `info` |
//!
//! Logs are JSON lines with the event, entity key, sequence and outcome of each message, never
//! its data; the crates that see the raw event (the Lambda runtime) log at `info` and above
//! whatever `RUST_LOG` says, the others (the AWS SDK, hyper) at `debug` and above.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use aws_config::BehaviorVersion;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, LambdaEvent};
use webhook_core::clock::SystemClock;

use crate::api::{HttpGatewayApi, Retry, TokioPause, IPAG_API_URL, IUGU_API_URL};
use crate::business::Business;
use crate::confirm::Policy;
use crate::consumer::Consumer;
use crate::credentials::ApiCredentials;
use crate::dynamo::DynamoLedger;
use crate::metrics::{Metrics, DEFAULT_NAMESPACE};

/// What the function reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    pub ledger_table: String,
    pub api_secret_id: Option<String>,
    pub iugu_api_url: String,
    pub ipag_api_url: String,
    pub policy: Policy,
    pub metrics_namespace: String,
}

impl Config {
    pub fn from_env() -> Result<Config, String> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// From `var` (the environment in a function).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        Ok(Config {
            ledger_table: set("LEDGER_TABLE").ok_or("LEDGER_TABLE is not set")?,
            api_secret_id: set("API_SECRET_ID"),
            iugu_api_url: set("IUGU_API_URL").unwrap_or_else(|| IUGU_API_URL.to_owned()),
            ipag_api_url: set("IPAG_API_URL").unwrap_or_else(|| IPAG_API_URL.to_owned()),
            policy: Policy::from_values(
                var("CONFIRMATION").as_deref(),
                var("CONFIRMATION_OFF_FOR").as_deref(),
            )?,
            metrics_namespace: set("METRICS_NAMESPACE")
                .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()),
        })
    }
}

/// The consumer for `config`, with `business`: the ledger's client, the API credentials read
/// from their secret, the API client.
pub async fn consumer<B: Business>(
    sdk: &aws_config::SdkConfig,
    config: &Config,
    business: B,
) -> Result<Consumer<DynamoLedger, HttpGatewayApi, B>, String> {
    let credentials = match &config.api_secret_id {
        Some(id) => crate::credentials::load(sdk, id).await?,
        None => {
            tracing::warn!("API_SECRET_ID is not set: every confirmation will fail");
            ApiCredentials::default()
        }
    };
    let api = HttpGatewayApi::new(
        &credentials,
        &config.iugu_api_url,
        &config.ipag_api_url,
        Retry::default(),
        Arc::new(TokioPause),
    )?;
    let ledger = DynamoLedger::new(
        aws_sdk_dynamodb::Client::new(sdk),
        config.ledger_table.clone(),
    );
    let mut consumer = Consumer::new(ledger, api, business, Arc::new(SystemClock));
    consumer.policy = config.policy.clone();
    consumer.metrics = Metrics::stdout(config.metrics_namespace.clone());
    Ok(consumer)
}

/// The SDK settings the front door's functions use (timeouts, retries, rustls on ring, the
/// compiled-in roots), from the environment.
pub async fn sdk() -> aws_config::SdkConfig {
    webhook_aws::sdk::sdk_settings(aws_config::defaults(BehaviorVersion::latest()))
        .load()
        .await
}

/// Whether a log line of `target` at `level` may be written: our crates at every level, the
/// Lambda runtime (which sees the raw event: bodies with names and documents) at `info` and
/// above, every other crate at `debug` and above.
pub fn within_caps(target: &str, level: tracing::Level) -> bool {
    use tracing_subscriber::filter::LevelFilter;
    let krate = target.split("::").next().unwrap_or(target);
    let cap = if krate.starts_with("webhook_") {
        LevelFilter::TRACE
    } else if krate.starts_with("lambda_runtime") {
        LevelFilter::INFO
    } else {
        LevelFilter::DEBUG
    };
    level <= cap
}

/// JSON lines to `writer`, the level from `directives` (`RUST_LOG`: a level and
/// `target=level` pairs; `info` when absent or unreadable), within [`within_caps`].
pub fn log_subscriber<W>(
    directives: Option<&str>,
    writer: W,
) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::filter::{filter_fn, LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;
    let parsed = directives
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_default();
    let filter = match parsed.default_level() {
        Some(_) => parsed,
        None => parsed.with_default(LevelFilter::INFO),
    };
    tracing_subscriber::fmt()
        .json()
        .with_max_level(LevelFilter::TRACE)
        .with_current_span(false)
        .without_time()
        .with_writer(writer)
        .finish()
        .with(filter)
        .with(filter_fn(|m| within_caps(m.target(), *m.level())))
}

/// [`log_subscriber`] on standard output, from `RUST_LOG`, for the whole process.
pub fn init_logging() {
    let directives = std::env::var("RUST_LOG").ok();
    let _ = tracing::subscriber::set_global_default(log_subscriber(
        directives.as_deref(),
        std::io::stdout,
    ));
}

/// The invocation's deadline as an [`Instant`].
fn deadline_of(deadline: SystemTime) -> Instant {
    let left = deadline
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    Instant::now() + left
}

/// Runs the consumer function until the Lambda runtime stops it. `business` builds the
/// merchant's code from the SDK settings (its clients) once, at start-up.
pub fn serve<B, F>(business: F) -> ExitCode
where
    B: Business,
    F: AsyncFnOnce(&aws_config::SdkConfig) -> Result<B, String>,
{
    // A blank endpoint variable means AWS (as in the front door's functions): drop it before
    // the SDK reads it. One thread, nothing has read the environment yet.
    for (name, value) in std::env::vars_os() {
        let blank = value.to_str().is_some_and(|v| v.trim().is_empty());
        if blank
            && name
                .to_str()
                .is_some_and(|n| n.starts_with("AWS_ENDPOINT_URL"))
        {
            std::env::remove_var(name);
        }
    }
    init_logging();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let config = match Config::from_env() {
            Ok(config) => config,
            Err(e) => {
                tracing::error!(error = %e, "configuration is incomplete");
                return ExitCode::FAILURE;
            }
        };
        let sdk = sdk().await;
        let business = match business(&sdk).await {
            Ok(business) => business,
            Err(e) => {
                tracing::error!(error = %e, "cannot start the business code");
                return ExitCode::FAILURE;
            }
        };
        let consumer = match consumer(&sdk, &config, business).await {
            Ok(consumer) => consumer,
            Err(e) => {
                tracing::error!(error = %e, "cannot start the consumer");
                return ExitCode::FAILURE;
            }
        };
        let consumer = &consumer;
        let handler = service_fn(async |event: LambdaEvent<SqsEvent>| {
            let deadline = deadline_of(event.context.deadline());
            let (response, _) =
                crate::sqs::handle_event(consumer, &event.payload, Some(deadline)).await;
            Ok::<SqsBatchResponse, std::convert::Infallible>(response)
        });
        match lambda_runtime::run(handler).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "the Lambda runtime stopped");
                ExitCode::FAILURE
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_has_defaults_but_for_the_ledger() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert!(Config::from_lookup(vars(&[])).is_err());
        let config = Config::from_lookup(vars(&[
            ("LEDGER_TABLE", "ledger"),
            ("CONFIRMATION_OFF_FOR", "invoice.refund"),
        ]))
        .expect("valid");
        assert_eq!(config.iugu_api_url, "https://api.iugu.com");
        assert!(config.policy.enabled && config.policy.off_for.contains("invoice.refund"));
        assert!(Config::from_lookup(vars(&[
            ("LEDGER_TABLE", "ledger"),
            ("CONFIRMATION", "maybe")
        ]))
        .is_err());
    }

    #[test]
    fn only_our_crates_log_below_debug_and_the_runtime_not_below_info() {
        assert!(within_caps(
            "webhook_consumer::consumer",
            tracing::Level::TRACE
        ));
        assert!(!within_caps(
            "lambda_runtime::layers",
            tracing::Level::DEBUG
        ));
        assert!(within_caps("lambda_runtime", tracing::Level::INFO));
        assert!(!within_caps("aws_smithy_runtime", tracing::Level::TRACE));
    }
}
