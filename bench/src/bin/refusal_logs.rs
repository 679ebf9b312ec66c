//! Log bytes per refused request (issue 24, item 3): what a function writes to standard output
//! (its JSON log lines and its metric lines, which Lambda sends to CloudWatch Logs and keeps)
//! for requests refused before authentication, through the whole request path (event JSON,
//! screen, conversion, handler), at the production log level (`info`).
//!
//!   cargo run -p perf-bench --bin refusal_logs [REQUESTS]
//!
//! Lambda's own lines per invocation (`START`, `END`, `REPORT`) come on top and are not ours.
//! After each run the counts still folded are written (`Metrics::flush_refusals`: what the
//! instance's next request would write), so the table holds every line the refusals cost.
//! Prints a Markdown table, with the command and the load average; and checks that the
//! `Notifications` metric counts every refused request exactly once.

use std::io::Write;
use std::sync::{Arc, Mutex};

use lambda_http::request::LambdaRequest;
use webhook_core::memory::{MemoryQueue, MemoryStore};
use webhook_iugu::{Family, Iugu};
use webhook_lambda::auth::Token;
use webhook_lambda::http::{App, Delivery};
use webhook_lambda::metrics::Metrics;

const TOKEN: &str = "local-dev-token-0123456789";

#[derive(Clone, Default)]
struct Out(Arc<Mutex<Vec<u8>>>);

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut out) = self.0.lock() {
            out.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Out {
    fn take(&self) -> String {
        self.0
            .lock()
            .map(|mut out| String::from_utf8_lossy(&std::mem::take(&mut *out)).into_owned())
            .unwrap_or_default()
    }
}

fn event(token: Option<&str>, source: &str) -> String {
    serde_json::json!({
        "resource": "/iugu/invoices",
        "path": "/iugu/invoices",
        "httpMethod": "POST",
        "headers": { "Content-Type": "application/x-www-form-urlencoded" },
        "multiValueHeaders": { "Content-Type": ["application/x-www-form-urlencoded"] },
        "queryStringParameters": token.map(|t| serde_json::json!({ "token": t })),
        "multiValueQueryStringParameters": token.map(|t| serde_json::json!({ "token": [t] })),
        "requestContext": { "identity": { "sourceIp": source }, "httpMethod": "POST" },
        "body": "event=invoice.status_changed&data%5Bid%5D=H1",
        "isBase64Encoded": false
    })
    .to_string()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// The refused requests' `Notifications`, summed over the metric lines in `text`.
fn counted(text: &str) -> u64 {
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["Outcome"] == "refused")
        .filter_map(|l| l["Notifications"].as_u64())
        .sum()
}

fn main() -> Result<(), String> {
    let requests: usize = std::env::args().nth(1).map_or(Ok(1_000), |a| {
        a.parse().map_err(|e| format!("REQUESTS: {e}"))
    })?;
    let out = Out::default();
    let writer = out.clone();
    tracing::subscriber::set_global_default(webhook_lambda::runtime::log_subscriber_at(
        Some("info"),
        move || writer.clone(),
    ))
    .map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let scenarios = [
        (
            "a wrong token (401)",
            event(Some("wrong-token-000000000000"), "54.207.210.151"),
        ),
        ("no token (401)", event(None, "54.207.210.151")),
        (
            "a source not allowed (403)",
            event(Some(TOKEN), "203.0.113.9"),
        ),
    ];
    let load_before = load_average();
    let mut rows = Vec::new();
    for (name, json) in &scenarios {
        for (label, n) in [("one alone", 1), ("a flood", requests)] {
            // A new instance for each row.
            let sink = out.clone();
            let metrics = Metrics::to("WebhookFrontDoor", move |line| {
                let mut sink = sink.clone();
                let _ = writeln!(sink, "{line}");
            });
            let app = App {
                gateway: Arc::new(Iugu::family(Family::Invoices)),
                token: Token::new(Some(TOKEN)),
                allowed_sources: "54.207.210.151/32".parse()?,
                store: MemoryStore::default(),
                forwarder: MemoryQueue::default(),
                delivery: Delivery::default(),
                metrics,
            };
            out.take();
            let started = std::time::Instant::now();
            runtime.block_on(async {
                for _ in 0..n {
                    let mut payload: LambdaRequest =
                        serde_json::from_str(json).map_err(|e| e.to_string())?;
                    webhook_lambda::screen::screen(&mut payload);
                    let response = app.handle(payload.into()).await;
                    if !matches!(response.status().as_u16(), 401 | 403) {
                        return Err(format!("{name}: answered {}", response.status()));
                    }
                }
                Ok::<_, String>(())
            })?;
            let elapsed = started.elapsed();
            // What the instance's next request would write: the counts folded since its last
            // line (in the table; a flood's tail).
            app.metrics.flush_refusals();
            let text = out.take();
            let lines = text.lines().count();
            let total = counted(&text);
            if total != n as u64 {
                return Err(format!(
                    "{name}, {label}: the metric counted {total} of {n}"
                ));
            }
            rows.push(format!(
                "| {name}, {label} | {n} in {:.0} ms | {lines} | {} | {:.1} | {total} |",
                elapsed.as_secs_f64() * 1000.0,
                text.len(),
                text.len() as f64 / n as f64
            ));
        }
    }
    println!("Command: `cargo run -p perf-bench --bin refusal_logs {requests}`");
    println!(
        "Load average (1, 5, 15 min): before {load_before}; after {}",
        load_average()
    );
    println!();
    println!("| refused requests | requests | lines | bytes | bytes per request | metric count |");
    println!("|---|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
    Ok(())
}
