//! Per-request cost of our own code, with in-memory fakes in place of DynamoDB and SQS.
//!
//! Each timed request is what a function does between the Runtime API handing it an event and
//! handing back the answer: decode the API Gateway JSON, screen it, build the request, run the
//! handler (checks, parse, envelope, store, forward, mark, the JSON log line, written to a sink),
//! and serialise the response. The fakes answer at once, so the time is ours alone.
//!
//!   cargo run --release -p perf-bench --bin overhead -- [REQUESTS] [EVENTS_DIR]
//!
//! Prints one line: `overhead requests=N p50_us=.. p99_us=.. max_us=.. mean_us=.. cpu_p50_us=..
//! cpu_p99_us=..`: wall time, and the thread's CPU time (which leaves out the time the thread
//! was preempted by other processes, on a shared machine the bulk of the wall time's tail; the
//! two clock reads add about a microsecond to it).

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lambda_http::lambda_runtime::{Context, LambdaEvent};
use lambda_http::request::LambdaRequest;
use lambda_http::{service_fn, Adapter, Request, Service};
use webhook_core::ingest::{DownstreamError, Forwarder};
use webhook_core::memory::MemoryStore;
use webhook_core::Envelope;
use webhook_iugu::{Family, Iugu};
use webhook_lambda::auth::Token;
use webhook_lambda::http::{App, Delivery};

// The functions run on mimalloc (chosen in each function's binary); this runs what they run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TOKEN: &str = "local-dev-token-0123456789";
const WARM_UP: usize = 500;

/// The queue: counts messages; the body is serialised as SqsForwarder does, then dropped, so
/// that the timed loop does not keep 10,000 bodies alive (webhook_core::memory::MemoryQueue does).
#[derive(Default)]
struct MemoryQueue(Mutex<usize>);

impl Forwarder for MemoryQueue {
    async fn forward(&self, env: &Envelope) -> Result<(), DownstreamError> {
        let body = serde_json::to_string(env).map_err(|e| DownstreamError::new("send", e))?;
        std::hint::black_box(body);
        *self
            .0
            .lock()
            .map_err(|_| DownstreamError::new("send", "poisoned"))? += 1;
        Ok(())
    }
}

/// The invoice events of `events/iugu`, each with a fresh invoice id per request so that every
/// request is a new notification (the path with the most work).
fn events(dir: &PathBuf, count: usize) -> Result<Vec<String>, String> {
    let mut templates = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("invoice.") && name.ends_with(".json") {
            templates
                .push(std::fs::read_to_string(entry.path()).map_err(|e| format!("{name}: {e}"))?);
        }
    }
    templates.sort();
    let marker = "data%5Bid%5D=";
    if templates.is_empty() || !templates.iter().all(|t| t.contains(marker)) {
        return Err(format!(
            "no invoice event with {marker} in {}",
            dir.display()
        ));
    }
    Ok((0..count)
        .map(|i| {
            let t = &templates[i % templates.len()];
            // the id runs from the marker to the next `&` (or the closing quote of the body)
            let start = t.find(marker).map_or(0, |p| p + marker.len());
            let end = t[start..].find(['&', '"']).map_or(t.len(), |n| start + n);
            format!("{}B{i:031X}{}", &t[..start], &t[end..])
        })
        .collect())
}

/// CPU time of the calling thread.
#[allow(unsafe_code, reason = "clock_gettime, through libc")]
fn thread_cpu() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec; the clock id is a constant Linux supports.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_nanos() as f64 / 1000.0
}

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let requests: usize = args.next().map_or(Ok(10_000), |a| {
        a.parse().map_err(|e| format!("REQUESTS: {e}"))
    })?;
    let dir = args.next().map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events/iugu"),
        PathBuf::from,
    );
    let bodies = events(&dir, WARM_UP + requests)?;

    // The production log line, formatted but thrown away.
    tracing::subscriber::set_global_default(webhook_lambda::runtime::log_subscriber(std::io::sink))
        .map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let app = std::sync::Arc::new(App {
        gateway: std::sync::Arc::new(Iugu::family(Family::Invoices)),
        token: Token::new(Some(TOKEN)),
        allowed_sources: "54.207.210.151/32".parse()?,
        store: MemoryStore::default(),
        forwarder: MemoryQueue::default(),
        delivery: Delivery::default(),
        metrics: webhook_lambda::metrics::Metrics::to("bench", |_line| {}),
    });
    let handler = service_fn(move |request: Request| {
        let app = std::sync::Arc::clone(&app);
        async move { Ok::<_, std::convert::Infallible>(app.handle(request).await) }
    });
    let mut adapter = Adapter::from(handler);

    let mut times = Vec::with_capacity(requests);
    let mut cpu_times = Vec::with_capacity(requests);
    let mut ok = 0usize;
    runtime.block_on(async {
        for (i, body) in bodies.iter().enumerate() {
            let cpu_started = thread_cpu();
            let started = Instant::now();
            // As webhook_lambda::runtime::serve: decode, screen, adapt, handle, serialise the answer.
            let payload: LambdaRequest =
                serde_json::from_str(body).map_err(|e| format!("event {i}: {e}"))?;
            let mut event = LambdaEvent::new(payload, Context::default());
            webhook_lambda::screen::screen_event(&mut event);
            let response = adapter.call(event).await.map_err(|e| format!("{e:?}"))?;
            let out = serde_json::to_vec(&response).map_err(|e| e.to_string())?;
            let elapsed = started.elapsed();
            let cpu = thread_cpu().saturating_sub(cpu_started);
            if i >= WARM_UP {
                times.push(elapsed);
                cpu_times.push(cpu);
                // every answer must be a 200 "stored", or the figure would time a refusal
                if std::str::from_utf8(&out).is_ok_and(|s| s.contains("\\\"stored\\\"")) {
                    ok += 1;
                }
            }
        }
        Ok::<_, String>(())
    })?;
    if ok != requests {
        return Err(format!("only {ok} of {requests} answers were 200 stored"));
    }
    times.sort();
    cpu_times.sort();
    let mean = times.iter().sum::<Duration>().as_nanos() as f64 / times.len() as f64 / 1000.0;
    println!(
        "overhead requests={requests} p50_us={:.1} p99_us={:.1} max_us={:.1} mean_us={mean:.1} \
         cpu_p50_us={:.1} cpu_p99_us={:.1}",
        percentile(&times, 0.50),
        percentile(&times, 0.99),
        percentile(&times, 1.0),
        percentile(&cpu_times, 0.50),
        percentile(&cpu_times, 0.99),
    );
    Ok(())
}
