//! Start-up of a function: configuration from the environment, its AWS clients
//! (`webhook_aws::connect`), the Lambda loop.
//! A function's `main` is one call to [`serve`].

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use lambda_http::{service_fn, Adapter, Request};

use crate::http::{App, Delivery};
use crate::secrets::SecretError;
use crate::source_ip::SourceAllowList;
use webhook_aws::{sqs, DynamoStore, SqsForwarder};
use webhook_core::delivery::DeliverySettings;
use webhook_core::gateway::Gateway;

/// The configuration a function reads from its environment (the names are a contract). The
/// token and iPag's signing key are not here: they are read from the gateway's secret
/// (`secrets`, named by `IUGU_SECRET_ID` / `IPAG_SECRET_ID`) when the function starts.
#[derive(Debug)]
pub struct Config {
    pub table: String,
    pub queue_url: String,
    pub allowed_sources: SourceAllowList,
    /// `DEDUP_WINDOW` and `RETENTION_DAYS` (see `delivery`).
    pub delivery: DeliverySettings,
    /// `WARM_UP_MS`: how long init may spend opening the DynamoDB and SQS connections
    /// (`warm`); zero turns the warm-up off.
    pub warm_up: Duration,
    /// `METRICS_NAMESPACE`: the CloudWatch namespace of the metric lines (`metrics`).
    pub metrics_namespace: String,
}

impl Config {
    pub fn from_env() -> Result<Config, String> {
        let required = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| format!("{name} is not set"))
        };
        let queue_url = required("EVENTS_QUEUE_URL")?;
        if !sqs::is_fifo(&queue_url) {
            return Err(format!(
                "EVENTS_QUEUE_URL `{queue_url}` is not a FIFO queue (its name must end in .fifo): \
                 per-entity order and de-duplication depend on one"
            ));
        }
        let optional = |name: &str| std::env::var(name).ok();
        Ok(Config {
            table: required("EVENTS_TABLE")?,
            queue_url,
            allowed_sources: std::env::var("ALLOWED_SOURCE_IPS")
                .unwrap_or_default()
                .parse()?,
            delivery: DeliverySettings::from_values(
                optional("DEDUP_WINDOW").as_deref(),
                optional("RETENTION_DAYS").as_deref(),
            )?,
            warm_up: crate::warm::budget(optional(crate::warm::BUDGET_VARIABLE).as_deref())?,
            metrics_namespace: optional("METRICS_NAMESPACE")
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| crate::metrics::DEFAULT_NAMESPACE.to_owned()),
        })
    }
}

/// Builds the function's AWS clients (`webhook_aws::connect`), reads `gateway`'s secret, once
/// (`secrets`), and meanwhile opens the DynamoDB and SQS connections within `config.warm_up`
/// (`warm`: bounded, and never an error). `AWS_ENDPOINT_URL` (read by the SDK itself;
/// `AWS_ENDPOINT_URL_DYNAMODB` and the like per service) points them at a local server; blank,
/// it means AWS ([`run_function`] removes it).
pub async fn app(
    mut gateway: impl Gateway + 'static,
    config: Config,
) -> Result<App<DynamoStore, SqsForwarder>, SecretError> {
    let aws = webhook_aws::connect().await;
    let secrets = aws.secrets();
    // Both at once; a secret that cannot be read stops the start-up at once, without waiting
    // for the warm-up (the function exits: its connections would be of no use).
    let (credentials, warm_up) =
        tokio::try_join!(crate::secrets::load(&gateway, &secrets), async {
            Ok(aws
                .warm_up(&config.table, &config.queue_url, config.warm_up)
                .await)
        },)?;
    crate::warm::log(&warm_up);
    credentials.sign(&mut gateway)?;
    Ok(App {
        gateway: Arc::new(gateway),
        token: credentials.token,
        allowed_sources: config.allowed_sources,
        store: aws.store(config.table),
        forwarder: aws.forwarder(config.queue_url),
        delivery: Delivery {
            settings: config.delivery,
            ..Delivery::default()
        },
        metrics: crate::metrics::Metrics::stdout(config.metrics_namespace),
    })
}

/// The log format every function uses: JSON, one object per line, level from `RUST_LOG`
/// (default `info`), written to `writer`. The request line (see `http`) carries the event,
/// family, pk, de-duplication key, outcome and latency, never the body, the token or
/// personal data; `tests/tests/logs.rs` checks that, at `trace`.
///
/// `RUST_LOG` takes a level and `target=level` directives (`warn,aws_smithy_runtime=debug`);
/// targets it does not name log at `info` unless it gives a level, and a value it cannot read
/// means `info`. That is `tracing_subscriber`'s `Targets` filter, not
/// `EnvFilter`: EnvFilter's span and field directives need a regex engine, which cost the
/// arm64 binary about 0.5 MB (bench/README.md).
///
/// Whatever `RUST_LOG` says, other crates are capped ([`within_caps`]): at `trace` the Lambda
/// runtime logs the raw event (query string with `?token=`, `Authorization`, the body with
/// CPF and names), and the AWS SDK every request and response it handles (headers, with
/// `Authorization` redacted, and bodies when they are in memory).
pub fn log_subscriber<W>(writer: W) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    log_subscriber_at(std::env::var("RUST_LOG").ok().as_deref(), writer)
}

/// [`log_subscriber`] with `directives` read in place of `RUST_LOG`.
pub fn log_subscriber_at<W>(
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
    // Targets a directive does not name log at its default level, `info` unless it gives one.
    let filter = match parsed.default_level() {
        Some(_) => parsed,
        None => parsed.with_default(LevelFilter::INFO),
    };
    tracing_subscriber::fmt()
        .json()
        // The filters below decide; the builder's own default would stop everything below info.
        .with_max_level(LevelFilter::TRACE)
        .with_current_span(false)
        .without_time()
        .with_writer(writer)
        .finish()
        .with(filter)
        .with(filter_fn(|metadata| {
            within_caps(metadata.target(), *metadata.level())
        }))
}

/// Crates that see a whole request (the raw Lambda event, with the token and the body): never
/// below `info`, whatever `RUST_LOG` says.
const RAW_EVENT_CRATES: [&str; 3] = ["lambda_runtime", "lambda_runtime_api_client", "lambda_http"];

/// Our crates' names begin so (`webhook_core`, `webhook_iugu`, `webhook_lambda`, ...).
const OUR_CRATES: &str = "webhook_";

/// Whether a log line or span of `target` at `level` may be written at all: only our crates
/// ([`OUR_CRATES`]) log at every level; the crates that see the raw event at `info` and above;
/// every other crate (the AWS SDK, whose `trace` lines hold the requests it signs and sends,
/// hyper, rustls...) at `debug` and above. The line about a request is ours (`webhook_lambda`)
/// and carries none of that.
pub fn within_caps(target: &str, level: tracing::Level) -> bool {
    use tracing_subscriber::filter::LevelFilter;
    // A target is its crate's name, then `::` and the module path.
    let krate = target.split("::").next().unwrap_or(target);
    let cap = if krate.len() > OUR_CRATES.len() && krate.starts_with(OUR_CRATES) {
        LevelFilter::TRACE
    } else if RAW_EVENT_CRATES.contains(&krate) {
        LevelFilter::INFO
    } else {
        LevelFilter::DEBUG
    };
    level <= cap
}

/// Installs [`log_subscriber`] on standard output for the whole process.
pub fn init_logging() {
    // A second initialisation is harmless: keep the first.
    let _ = tracing::subscriber::set_global_default(log_subscriber(std::io::stdout));
}

/// The variables that point the AWS SDK at another endpoint: `AWS_ENDPOINT_URL` and the
/// per-service `AWS_ENDPOINT_URL_<SERVICE>` (`_DYNAMODB`, `_SQS`, `_SECRETS_MANAGER`).
const ENDPOINT_VARIABLES: &str = "AWS_ENDPOINT_URL";

/// Of `vars` (the process environment), the endpoint variables ([`ENDPOINT_VARIABLES`]) whose
/// value is blank. template.yaml declares `AWS_ENDPOINT_URL` empty, because `sam local invoke
/// --env-vars` overrides only variables the template declares (docs/deploy.md, "Run one
/// function with sam local"); empty means AWS. The SDK does not read it so: a blank global
/// value is an invalid URL to it (a warning at every start), and a client takes the blank
/// value as its endpoint when no per-service variable is set.
pub fn blank_endpoint_variables(
    vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> Vec<std::ffi::OsString> {
    vars.into_iter()
        .filter(|(name, value)| {
            name.to_str()
                .is_some_and(|name| name.starts_with(ENDPOINT_VARIABLES))
                && value.to_str().is_some_and(|value| value.trim().is_empty())
        })
        .map(|(name, _)| name)
        .collect()
}

/// Removes the blank endpoint variables ([`blank_endpoint_variables`]) from the environment,
/// so that the SDK sees them unset and uses AWS's endpoints. Called first thing in
/// [`run_function`], while the process has one thread and nothing has read the environment.
fn unset_blank_endpoint_variables() {
    for name in blank_endpoint_variables(std::env::vars_os()) {
        std::env::remove_var(name);
    }
}

/// What every function's `main` does: blank endpoint variables removed (so that they mean
/// AWS), logging on standard output, then `function` on a single-threaded async runtime (a
/// Lambda instance serves one request at a time).
pub fn run_function(function: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    unset_blank_endpoint_variables();
    init_logging();
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(function),
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            ExitCode::FAILURE
        }
    }
}

/// Runs a function that serves `gateway` (on its route) until the Lambda runtime stops it.
pub fn serve(gateway: impl Gateway + 'static) -> ExitCode {
    run_function(async {
        let config = match Config::from_env() {
            Ok(config) => config,
            Err(e) => {
                tracing::error!(error = %e, "configuration is incomplete");
                return ExitCode::FAILURE;
            }
        };
        // Fail closed: without its secret a function serves nothing. Exiting here, before the
        // runtime loop asks for the first event, makes Lambda report an init error (and API
        // Gateway answer 5xx, which the gateways retry) rather than 401 every delivery.
        // The shutdown hook's registration (an extension registers during init) beside the
        // rest of init: the secret read and the warm-up.
        let (app, shutdown_hook) = tokio::join!(app(gateway, config), crate::shutdown::register());
        let app = match app {
            Ok(app) => Arc::new(app),
            Err(e) => {
                tracing::error!(error = %e, "cannot start without the webhook secret");
                return ExitCode::FAILURE;
            }
        };
        if let Some(hook) = shutdown_hook {
            hook.flush_on_terminate(app.metrics.clone());
        }
        let handler = service_fn(move |request: Request| {
            let app = Arc::clone(&app);
            async move { Ok::<_, std::convert::Infallible>(app.handle(request).await) }
        });
        // `lambda_http::run(handler)`, with the event screened before lambda_http decodes it.
        let mut adapter = Adapter::from(handler);
        let screened = lambda_http::tower::service_fn(move |mut event| {
            crate::screen::screen_event(&mut event);
            lambda_http::Service::call(&mut adapter, event)
        });
        match lambda_http::lambda_runtime::run(screened).await {
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
    use super::{blank_endpoint_variables, within_caps};
    use std::ffi::OsString;
    use tracing::Level;

    #[test]
    fn only_blank_endpoint_variables_are_dropped() {
        let vars = [
            ("AWS_ENDPOINT_URL", ""),
            ("AWS_ENDPOINT_URL_DYNAMODB", "  "),
            ("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:5000"),
            ("AWS_REGION", ""),
            ("EVENTS_TABLE", ""),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        assert_eq!(
            blank_endpoint_variables(vars),
            vec![
                OsString::from("AWS_ENDPOINT_URL"),
                OsString::from("AWS_ENDPOINT_URL_DYNAMODB")
            ]
        );
        let set = [("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")]
            .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        assert!(blank_endpoint_variables(set).is_empty());
    }

    #[test]
    fn only_our_crate_logs_below_debug_and_the_runtime_not_below_info() {
        assert!(within_caps("webhook_lambda::http", Level::TRACE));
        assert!(within_caps("webhook_lambda", Level::TRACE));
        assert!(within_caps("webhook_ipag::gateway", Level::TRACE));
        for runtime in [
            "lambda_runtime::layers::api_response",
            "lambda_runtime",
            "lambda_runtime_api_client",
            "lambda_http::request",
        ] {
            assert!(!within_caps(runtime, Level::TRACE), "{runtime}");
            assert!(!within_caps(runtime, Level::DEBUG), "{runtime}");
            assert!(within_caps(runtime, Level::INFO), "{runtime}");
            assert!(within_caps(runtime, Level::ERROR), "{runtime}");
        }
        for sdk in [
            "aws_smithy_runtime::client::orchestrator",
            "aws_sigv4::http_request::sign",
            "h2",
        ] {
            assert!(!within_caps(sdk, Level::TRACE), "{sdk}");
            assert!(within_caps(sdk, Level::DEBUG), "{sdk}");
        }
        // A crate whose name merely starts like ours is not ours.
        assert!(!within_caps("shared", Level::TRACE));
        assert!(!within_caps("webhook_", Level::TRACE));
        assert!(!within_caps("webhook", Level::TRACE));
        assert!(!within_caps("lambda_http_extra", Level::TRACE));
        assert!(within_caps("lambda_http_extra", Level::DEBUG));
    }
}
