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
//! | `QuarantinedItems`, `QuarantinedBytes`, `QuarantineOverCap` | Count, Bytes, Count | `[]` (a second directive of the request's line) | request offered to the quarantine: a new item and its body's bytes, or one not kept (the day's cap) |
//!
//! `Outcome` is `stored`, `repeat`, `retry`, `resend`, `quarantined` (refused, and kept:
//! `recover quarantine`), `refused` or `failed`; `Code` is the answer's error code (`unauthorized`,
//! `missing_entity_id`, `store_failed`, ...) or the outcome again.
//!
//! **A refusal before authentication** (405, 404, 403, 401, 400 `invalid_uri`: what a flood
//! is made of) writes one line at most ([`Metrics::refusal`]): its metric line, which also
//! carries what its request line would (`message` `request`, `route`, `outcome`, `status`,
//! `reason`), and no other. Under a flood the lines are sampled: per code, at most one line
//! per [`REFUSAL_WINDOW`]; the refusals in between are counted and their count rides on the
//! code's next line (`Notifications` = the refusals that line stands for, `refusals` the same
//! in the log's words), or on a count-only line when the window has passed and any request
//! comes. Every refusal is counted once. What an instance counted after its last line is
//! written by its next request, or, when Lambda retires the instance first, on the SIGTERM
//! Lambda sends before it does ([`crate::shutdown`]).

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

/// The namespace when `METRICS_NAMESPACE` is not set.
pub const DEFAULT_NAMESPACE: &str = "WebhookFrontDoor";

type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// How often, at most, each refusal code writes a line (see the module documentation).
pub const REFUSAL_WINDOW: Duration = Duration::from_secs(1);

/// The refusals of one code since its last line.
#[derive(Debug)]
struct Folded {
    code: &'static str,
    provider: &'static str,
    family: &'static str,
    last_line: Instant,
    pending: u64,
}

/// Where EMF lines go.
#[derive(Clone)]
pub struct Metrics {
    namespace: String,
    sink: Option<Sink>,
    window: Duration,
    folded: Arc<Mutex<Vec<Folded>>>,
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
            window: REFUSAL_WINDOW,
            folded: Arc::default(),
        }
    }
}

/// A request refused before authentication, for its one line ([`Metrics::refusal`]).
#[derive(Debug, Clone, Copy)]
pub struct RefusalMetric<'a> {
    pub provider: &'static str,
    pub family: &'static str,
    /// The answer's error code (`unauthorized`, `forbidden`, ...).
    pub code: &'static str,
    pub route: &'a str,
    pub status: u16,
    /// Why, in a few words that never hold what was sent (`AuthError::message`).
    pub reason: Option<&'static str>,
}

/// What one request was, for its metric line.
#[derive(Debug, Clone, Copy)]
pub struct RequestMetric<'a> {
    pub provider: &'a str,
    pub family: &'a str,
    pub outcome: &'a str,
    pub code: &'a str,
    pub latency: Duration,
    /// What the quarantine made of it, if it was offered there, and the bytes of its body as
    /// kept: the line then carries `QuarantinedItems`, `QuarantinedBytes` and
    /// `QuarantineOverCap` too, without dimensions (a second directive of the same document).
    pub quarantine: Option<(webhook_core::quarantine::Kept, usize)>,
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
            window: REFUSAL_WINDOW,
            folded: Arc::default(),
        }
    }

    /// The same, with `window` in place of [`REFUSAL_WINDOW`] (tests: `Duration::ZERO` writes
    /// every refusal's line, a long one folds them all until [`Metrics::flush_refusals`]).
    pub fn with_refusal_window(mut self, window: Duration) -> Metrics {
        self.window = window;
        self
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
        let mut doc = json!({
            "_aws": aws,
            "Provider": m.provider,
            "Family": m.family,
            "Outcome": m.outcome,
            "Code": m.code,
            "Notifications": 1,
            "Latency": m.latency.as_secs_f64() * 1000.0,
        });
        if let Some((kept, bytes)) = m.quarantine {
            use webhook_core::quarantine::Kept;
            let (items, bytes, over) = match kept {
                Kept::New => (1, bytes, 0),
                Kept::Again => (0, 0, 0),
                Kept::OverCap => (0, 0, 1),
            };
            if let Some(directives) = doc["_aws"]["CloudWatchMetrics"].as_array_mut() {
                directives.push(json!({
                    "Namespace": self.namespace,
                    "Dimensions": [[]],
                    "Metrics": [
                        {"Name": "QuarantinedItems", "Unit": "Count"},
                        {"Name": "QuarantinedBytes", "Unit": "Bytes"},
                        {"Name": "QuarantineOverCap", "Unit": "Count"}
                    ],
                }));
            }
            doc["QuarantinedItems"] = json!(items);
            doc["QuarantinedBytes"] = json!(bytes);
            doc["QuarantineOverCap"] = json!(over);
        }
        self.emit(doc);
    }

    /// A refusal before authentication: its line, or its count folded into a later one (see
    /// the module documentation). `false` when metrics are off: the caller logs it as any
    /// request.
    pub fn refusal(&self, r: RefusalMetric<'_>) -> bool {
        if self.sink.is_none() {
            return false;
        }
        let now = Instant::now();
        let stands_for = {
            let Ok(mut folded) = self.folded.lock() else {
                // Never lose a count: without the state, every refusal writes its line.
                self.refusal_line(&r, 1);
                return true;
            };
            let due = self.take_due(&mut folded, now, Some(r.code));
            let line = match folded.iter_mut().find(|f| f.code == r.code) {
                Some(f) if now.duration_since(f.last_line) < self.window => {
                    f.pending += 1;
                    None
                }
                Some(f) => {
                    let stands_for = f.pending + 1;
                    f.pending = 0;
                    f.last_line = now;
                    Some(stands_for)
                }
                None => {
                    folded.push(Folded {
                        code: r.code,
                        provider: r.provider,
                        family: r.family,
                        last_line: now,
                        pending: 0,
                    });
                    Some(1)
                }
            };
            drop(folded);
            self.count_lines(due);
            line
        };
        if let Some(n) = stands_for {
            self.refusal_line(&r, n);
        }
        true
    }

    /// Writes the counts of every code folded for longer than the window (any request calls
    /// it: the counts of a flood that ended are written by the next request).
    pub fn flush_due_refusals(&self) {
        if self.sink.is_none() {
            return;
        }
        let due = match self.folded.lock() {
            Ok(mut folded) => self.take_due(&mut folded, Instant::now(), None),
            Err(_) => Vec::new(),
        };
        self.count_lines(due);
    }

    /// Writes every count folded so far, due or not.
    pub fn flush_refusals(&self) {
        let due = match self.folded.lock() {
            Ok(mut folded) => folded
                .iter_mut()
                .filter(|f| f.pending > 0)
                .map(|f| {
                    let n = std::mem::take(&mut f.pending);
                    (f.code, f.provider, f.family, n)
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        self.count_lines(due);
    }

    /// The counts folded for longer than the window, but `except`'s; taken out of `folded`.
    fn take_due(
        &self,
        folded: &mut [Folded],
        now: Instant,
        except: Option<&str>,
    ) -> Vec<(&'static str, &'static str, &'static str, u64)> {
        folded
            .iter_mut()
            .filter(|f| f.pending > 0 && Some(f.code) != except)
            .filter(|f| now.duration_since(f.last_line) >= self.window)
            .map(|f| {
                f.last_line = now;
                let n = std::mem::take(&mut f.pending);
                (f.code, f.provider, f.family, n)
            })
            .collect()
    }

    fn count_lines(&self, due: Vec<(&'static str, &'static str, &'static str, u64)>) {
        for (code, provider, family, n) in due {
            self.emit(json!({
                "_aws": self.refusal_envelope(),
                "Provider": provider,
                "Family": family,
                "Outcome": "refused",
                "Code": code,
                "Notifications": n,
                "message": "refused requests counted since the last line",
                "refusals": n,
            }));
        }
    }

    fn refusal_envelope(&self) -> Value {
        self.envelope(
            json!([
                ["Outcome"],
                ["Outcome", "Code"],
                ["Provider", "Family", "Outcome"]
            ]),
            json!([{"Name": "Notifications", "Unit": "Count"}]),
        )
    }

    /// One refusal's line, standing for `n` (itself and those folded since the last line).
    fn refusal_line(&self, r: &RefusalMetric<'_>, n: u64) {
        let mut line = json!({
            "_aws": self.refusal_envelope(),
            "Provider": r.provider,
            "Family": r.family,
            "Outcome": "refused",
            "Code": r.code,
            "Notifications": n,
            "message": "request",
            "route": r.route,
            "status": r.status,
            "refusals": n,
        });
        if let Some(reason) = r.reason {
            line["reason"] = json!(reason);
        }
        self.emit(line);
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
            quarantine: None,
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
            quarantine: None,
        });
        assert!(format!("{metrics:?}").contains("on: false"));
    }
}
