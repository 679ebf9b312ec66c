//! The sweeper function: a Lambda that EventBridge invokes on a schedule (every minute by
//! default) and that runs one [`webhook_core::sweep::sweep`] per invocation, then writes its metric
//! line (`metrics`) and one log line. `functions/sweeper` is one call to [`serve`].
//!
//! Configuration (the template sets it): `EVENTS_TABLE`, `EVENTS_QUEUE_URL` (FIFO), as the
//! other functions; `SWEEP_GRACE` (`2m`: what is younger is left to the request path),
//! `SWEEP_MAX_FORWARDS` (1,000 messages a run), `RETENTION_DAYS` (90: how long its counts go
//! on), `SWEEP_PENDING_INDEX` (the previous version's index, `by_pending`, while the table has
//! it: docs/deploy.md, "Upgrading"), `METRICS_NAMESPACE`. A run stops starting new entities
//! when a quarter of its invocation time is left.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lambda_http::lambda_runtime::{self, service_fn, LambdaEvent};
use serde_json::{json, Value};

use crate::metrics::Metrics;
use webhook_aws::{sqs, DynamoStore, SqsForwarder};
use webhook_core::clock::{Clock, SystemClock};
use webhook_core::stored::Parsers;
use webhook_core::sweep::{sweep, SweepSettings};

/// The sweeper's configuration from its environment.
#[derive(Debug)]
pub struct SweeperConfig {
    pub table: String,
    pub queue_url: String,
    pub settings: SweepSettings,
    pub metrics_namespace: String,
    /// The previous version's sweeper index, while the table has it.
    pub legacy_pending_index: Option<String>,
}

impl SweeperConfig {
    pub fn from_env() -> Result<SweeperConfig, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let required = |name: &str| var(name).ok_or_else(|| format!("{name} is not set"));
        let queue_url = required("EVENTS_QUEUE_URL")?;
        if !sqs::is_fifo(&queue_url) {
            return Err(format!(
                "EVENTS_QUEUE_URL `{queue_url}` is not a FIFO queue (its name must end in .fifo)"
            ));
        }
        let mut settings = SweepSettings::default();
        if let Some(grace) = var("SWEEP_GRACE") {
            settings.grace = webhook_core::delivery::parse_duration(grace.trim())
                .map_err(|why| format!("SWEEP_GRACE `{grace}`: {why}"))?;
        }
        if let Some(max) = var("SWEEP_MAX_FORWARDS") {
            settings.max_forwards =
                max.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    format!("SWEEP_MAX_FORWARDS `{max}` is not a positive number")
                })?;
        }
        if let Some(days) = var("RETENTION_DAYS") {
            let days: i64 = days
                .trim()
                .parse()
                .ok()
                .filter(|d| *d > 0)
                .ok_or_else(|| format!("RETENTION_DAYS `{days}` is not a positive number"))?;
            settings.retention = time::Duration::days(days);
        }
        Ok(SweeperConfig {
            table: required("EVENTS_TABLE")?,
            queue_url,
            settings,
            metrics_namespace: var("METRICS_NAMESPACE")
                .unwrap_or_else(|| crate::metrics::DEFAULT_NAMESPACE.to_owned()),
            legacy_pending_index: var("SWEEP_PENDING_INDEX").map(|v| v.trim().to_owned()),
        })
    }
}

/// What the sweeper runs with.
pub struct Sweeper {
    pub store: DynamoStore,
    pub forwarder: SqsForwarder,
    pub settings: SweepSettings,
    pub metrics: Metrics,
    pub clock: Arc<dyn Clock>,
    /// The gateways whose stored notifications it rebuilds (every one the table holds).
    pub parsers: &'static dyn Parsers,
}

impl Sweeper {
    /// One run; `deadline` (epoch ms, 0 = unknown) bounds it to three quarters of what is left.
    pub async fn run(
        &self,
        deadline_ms: u64,
    ) -> Result<Value, webhook_core::ingest::DownstreamError> {
        let mut settings = self.settings;
        if deadline_ms > 0 {
            let now_ms = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
            settings.budget = settings.budget.min(left * 3 / 4);
        }
        let report = sweep(
            &self.store,
            &self.forwarder,
            self.parsers,
            self.clock.as_ref(),
            &settings,
        )
        .await?;
        self.metrics.sweep(&report);
        let oldest = report.oldest_waiting.map(|age| age.whole_seconds());
        tracing::info!(
            entities = report.entities,
            forwarded = report.forwarded,
            gaps = report.gaps,
            failed = report.failed,
            first_failure = report.first_failure.as_deref(),
            oldest_waiting_s = oldest,
            stopped_early = report.stopped_early,
            looked = report.looked,
            late = report.late,
            "sweep"
        );
        Ok(json!({
            "entities": report.entities,
            "forwarded": report.forwarded,
            "gaps": report.gaps,
            "failed": report.failed,
            "oldest_waiting_s": oldest,
            "stopped_early": report.stopped_early,
            "looked": report.looked,
            "late": report.late,
        }))
    }
}

/// Runs the sweeper until the Lambda runtime stops it.
/// `parsers`: every gateway whose notifications the table holds.
pub fn serve(parsers: &'static dyn Parsers) -> ExitCode {
    crate::runtime::run_function(async {
        let config = match SweeperConfig::from_env() {
            Ok(config) => config,
            Err(e) => {
                tracing::error!(error = %e, "configuration is incomplete");
                return ExitCode::FAILURE;
            }
        };
        let aws = webhook_aws::connect().await;
        let mut store = aws.store(config.table);
        if let Some(index) = config.legacy_pending_index {
            store = store.with_legacy_pending(index);
        }
        let sweeper = Arc::new(Sweeper {
            store,
            forwarder: aws.forwarder(config.queue_url),
            settings: config.settings,
            metrics: Metrics::stdout(config.metrics_namespace),
            clock: Arc::new(SystemClock),
            parsers,
        });
        let handler = service_fn(move |event: LambdaEvent<Value>| {
            let sweeper = Arc::clone(&sweeper);
            async move {
                sweeper.run(event.context.deadline).await.map_err(|e| {
                    tracing::error!(error = %e, "sweep failed");
                    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(e);
                    lambda_runtime::Diagnostic::from(boxed)
                })
            }
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
