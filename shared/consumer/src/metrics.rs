//! One CloudWatch Embedded Metric Format (EMF) line per message, on standard output in a
//! function: CloudWatch Logs turns it into metrics, with no API call
//! (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
//!
//! | metric | unit | dimensions | one per |
//! |---|---|---|---|
//! | `Messages` | Count | `[Outcome]` | message |
//! | `ProcessingTime` | Milliseconds | `[Outcome]` | message |
//!
//! `Outcome` is `booked`, `booked_late`, `gap`, `copy` (the ledger had it), `api_copy` (the
//! gateway's API showed it to be a copy of an earlier state), `contradicted` (the API
//! contradicts it: `ContradictionsAlarm` in consumer/template.yaml), `skipped` (`smoke.test`)
//! or `failed` (with `Reason`: `api`, `ledger`, `business`, `busy`, `unreadable`, `deadline`).
//! Beside them, as plain fields: the event, the entity key and the sequence (no personal data).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use time::OffsetDateTime;

type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// Where the lines go.
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

/// The namespace when `METRICS_NAMESPACE` is not set.
pub const DEFAULT_NAMESPACE: &str = "WebhookConsumer";

/// No metrics.
impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            namespace: DEFAULT_NAMESPACE.to_owned(),
            sink: None,
        }
    }
}

/// One message, for its line.
#[derive(Debug, Clone, Copy)]
pub struct MessageMetric<'a> {
    pub outcome: &'a str,
    /// Why it failed (`failed` only).
    pub reason: Option<&'a str>,
    pub event: &'a str,
    pub entity_key: &'a str,
    pub sequence: Option<u64>,
    pub took: Duration,
}

impl Metrics {
    /// Lines to standard output, one `write` each.
    pub fn stdout(namespace: impl Into<String>) -> Metrics {
        Metrics::to(namespace, |line| {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
        })
    }

    pub fn to(
        namespace: impl Into<String>,
        sink: impl Fn(&str) + Send + Sync + 'static,
    ) -> Metrics {
        Metrics {
            namespace: namespace.into(),
            sink: Some(Arc::new(sink)),
        }
    }

    /// Lines kept in memory, for tests.
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

    /// The line for one message, at `now`.
    pub fn message(&self, now: OffsetDateTime, m: &MessageMetric<'_>) {
        let Some(sink) = &self.sink else { return };
        let millis = now.unix_timestamp_nanos() / 1_000_000;
        let mut doc = json!({
            "_aws": {
                "Timestamp": millis,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [["Outcome"]],
                    "Metrics": [
                        {"Name": "Messages", "Unit": "Count"},
                        {"Name": "ProcessingTime", "Unit": "Milliseconds"}
                    ]
                }]
            },
            "Outcome": m.outcome,
            "Messages": 1,
            "ProcessingTime": m.took.as_secs_f64() * 1000.0,
            "event": m.event,
            "entity_key": m.entity_key,
        });
        if let Some(n) = m.sequence {
            doc["sequence"] = Value::from(n);
        }
        if let Some(reason) = m.reason {
            doc["Reason"] = Value::from(reason);
        }
        sink(&doc.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_emf_with_the_outcome_as_its_dimension() {
        let (metrics, lines) = Metrics::captured("Test");
        metrics.message(
            time::macros::datetime!(2026-11-20 13:00 UTC),
            &MessageMetric {
                outcome: "contradicted",
                reason: None,
                event: "invoice.status_changed",
                entity_key: "invoice#F1",
                sequence: Some(3),
                took: Duration::from_millis(2),
            },
        );
        let lines = lines.lock().expect("lines");
        let doc: Value = serde_json::from_str(&lines[0]).expect("json");
        assert_eq!(doc["Outcome"], "contradicted");
        assert_eq!(doc["Messages"], 1);
        assert_eq!(doc["_aws"]["Timestamp"], 1_795_179_600_000i64);
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Outcome"]])
        );
    }
}
