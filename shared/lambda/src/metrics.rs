//! Metrics as CloudWatch Embedded Metric Format (EMF) lines: one JSON object per request (and
//! one per sweep) on standard output, which CloudWatch Logs turns into metrics. No API call on
//! the request path.
//!
//! Format: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
//! (read 2026-11-28): an `_aws` member with `Timestamp` (epoch ms) and `CloudWatchMetrics`
//! (namespace, dimension sets, metric names and units), the dimension and metric values as
//! top-level members.
//!
//! Written here rather than with a crate: `metrics_cloudwatch_embedded` is a backend for the
//! `metrics` facade (a process-wide recorder, flushed per invocation through its own Lambda
//! run wrappers, which would replace our screened adapter; its API is declared unstable), and
//! `metrique` (awslabs) is a pre-1.0 framework for wide events. One fixed-shape line per
//! request is a few lines of `serde_json`, with nothing global and a writer the tests can read.
//!
//! | metric | unit | dimension sets | one per |
//! |---|---|---|---|
//! | `Notifications` | Count | `[Outcome]`, `[Outcome, Code]`, `[Provider, Family, Outcome]` | request |
//! | `Latency` | Milliseconds | the same | request (the handler's own time) |
//! | `SweepForwarded`, `SweepEntities`, `SweepFailures` | Count | `[]` (none) | sweeper run |
//! | `OldestUnforwardedAge` | Seconds | `[]` | sweeper run (0 when nothing waits) |
//!
//! `Outcome` is `stored`, `repeat`, `retry`, `resend`, `quarantined` (refused, and kept:
//! `recover quarantine`), `refused` or `failed`; `Code` is the answer's error code (`unauthorized`,
//! `missing_entity_id`, `store_failed`, ...) or the outcome again.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

/// The namespace when `METRICS_NAMESPACE` is not set.
pub const DEFAULT_NAMESPACE: &str = "WebhookFrontDoor";

type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// Where EMF lines go.
#[derive(Clone)]
pub struct Metrics {
    namespace: String,
    sink: Option<Sink>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("namespace", &self.namespace)
            .field("on", &self.sink.is_some())
            .finish()
    }
}

/// No metrics (tests and tools that do not ask for them).
impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            namespace: DEFAULT_NAMESPACE.to_owned(),
            sink: None,
        }
    }
}

/// What one request was, for its metric line.
#[derive(Debug, Clone, Copy)]
pub struct RequestMetric<'a> {
    pub provider: &'a str,
    pub family: &'a str,
    pub outcome: &'a str,
    pub code: &'a str,
    pub latency: Duration,
}

impl Metrics {
    /// Lines to standard output, one `write` each (a Lambda's log line).
    pub fn stdout(namespace: impl Into<String>) -> Metrics {
        Metrics::to(namespace, |line| {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
        })
    }

    /// Lines to `sink`.
    pub fn to(
        namespace: impl Into<String>,
        sink: impl Fn(&str) + Send + Sync + 'static,
    ) -> Metrics {
        Metrics {
            namespace: namespace.into(),
            sink: Some(Arc::new(sink)),
        }
    }

    /// Lines kept in memory, for tests: the metrics and the lines written.
    pub fn captured(namespace: impl Into<String>) -> (Metrics, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&lines);
        let metrics = Metrics::to(namespace, move |line| {
            if let Ok(mut lines) = kept.lock() {
                lines.push(line.to_owned());
            }
        });
        (metrics, lines)
    }

    fn emit(&self, document: Value) {
        if let Some(sink) = &self.sink {
            sink(&document.to_string());
        }
    }

    fn envelope(&self, dimensions: Value, metrics: Value) -> Value {
        let timestamp = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        json!({
            "Timestamp": timestamp,
            "CloudWatchMetrics": [{
                "Namespace": self.namespace,
                "Dimensions": dimensions,
                "Metrics": metrics,
            }]
        })
    }

    /// One request's line.
    pub fn request(&self, m: RequestMetric<'_>) {
        if self.sink.is_none() {
            return;
        }
        let aws = self.envelope(
            json!([
                ["Outcome"],
                ["Outcome", "Code"],
                ["Provider", "Family", "Outcome"]
            ]),
            json!([
                {"Name": "Notifications", "Unit": "Count"},
                {"Name": "Latency", "Unit": "Milliseconds"}
            ]),
        );
        self.emit(json!({
            "_aws": aws,
            "Provider": m.provider,
            "Family": m.family,
            "Outcome": m.outcome,
            "Code": m.code,
            "Notifications": 1,
            "Latency": m.latency.as_secs_f64() * 1000.0,
        }));
    }

    /// One sweeper run's line.
    pub fn sweep(&self, report: &webhook_core::sweep::SweepReport) {
        if self.sink.is_none() {
            return;
        }
        let aws = self.envelope(
            json!([[]]),
            json!([
                {"Name": "SweepForwarded", "Unit": "Count"},
                {"Name": "SweepEntities", "Unit": "Count"},
                {"Name": "SweepFailures", "Unit": "Count"},
                {"Name": "GapRecords", "Unit": "Count"},
                {"Name": "OldestUnforwardedAge", "Unit": "Seconds"}
            ]),
        );
        let oldest = report
            .oldest_waiting
            .map_or(0, |age| age.whole_seconds().max(0));
        self.emit(json!({
            "_aws": aws,
            "SweepForwarded": report.forwarded,
            "SweepEntities": report.entities,
            "SweepFailures": report.failed,
            "GapRecords": report.gaps,
            "OldestUnforwardedAge": oldest,
        }));
    }

    /// Gap records a request sent in place of notifications that could not be forwarded as
    /// stored (`GapRecordsAlarm` fires on any).
    pub fn gaps(&self, count: usize) {
        if self.sink.is_none() || count == 0 {
            return;
        }
        let aws = self.envelope(
            json!([[]]),
            json!([{"Name": "GapRecords", "Unit": "Count"}]),
        );
        self.emit(json!({ "_aws": aws, "GapRecords": count }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_line_is_one_emf_document() {
        let (metrics, lines) = Metrics::captured("NS");
        metrics.request(RequestMetric {
            provider: "iugu",
            family: "invoices",
            outcome: "stored",
            code: "stored",
            latency: Duration::from_micros(1500),
        });
        let lines = lines.lock().expect("lock");
        let doc: Value = serde_json::from_str(&lines[0]).expect("JSON");
        let cw = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], "NS");
        assert_eq!(
            cw["Metrics"][1],
            json!({"Name": "Latency", "Unit": "Milliseconds"})
        );
        assert!(doc["_aws"]["Timestamp"]
            .as_u64()
            .is_some_and(|t| t > 1_700_000_000_000));
        assert_eq!(doc["Latency"], 1.5);
        assert_eq!(doc["Notifications"], 1);
        // Every dimension named in a set is a member of the document.
        for set in cw["Dimensions"].as_array().expect("sets") {
            for name in set.as_array().expect("a set") {
                assert!(doc[name.as_str().expect("a name")].is_string(), "{name}");
            }
        }
    }

    #[test]
    fn off_by_default() {
        let metrics = Metrics::default();
        metrics.request(RequestMetric {
            provider: "iugu",
            family: "invoices",
            outcome: "stored",
            code: "stored",
            latency: Duration::ZERO,
        });
        assert!(format!("{metrics:?}").contains("on: false"));
    }
}
