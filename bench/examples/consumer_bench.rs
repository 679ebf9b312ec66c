//! The consumer kit's cost, for bench/README.md: CPU and round trips per message, and the
//! function's cold start.
//!
//!     cargo build --release -p consumer
//!     cargo run --release -p perf-bench --example consumer_bench -- [MESSAGES] [COLD_RUNS]
//!
//! Per message: the real consumer (the DynamoDB ledger, the example bookings table, the HTTP
//! client of the gateways' APIs, all with the functions' SDK settings) against the local server
//! (moto) and the API stand-in, one message per invocation, on one thread as in a function.
//! The CPU is the thread's own (`/proc/thread-self/schedstat`: time on a CPU, so neither the
//! local server's time nor time spent waiting behind other processes), which includes the SDK,
//! hyper and the JSON work; the stand-in runs on a thread of its own and is not counted. The
//! round trips are the SDK calls an interceptor saw (`pipeline_tests::recorder`) and the
//! stand-in's calls.
//!
//! Cold start: `target/release/consumer` (or `CONSUMER_BIN`) started under a stand-in Lambda
//! Runtime API, from `spawn` to its first `GET /next` (init done: configuration, the API secret
//! read from the local Secrets Manager, the SDK and HTTP clients), and the process's CPU time by
//! then (`/proc/<pid>/task/*/schedstat`). Linux only.
#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark fails by panicking"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use pipeline_tests::recorder::Recorder;
use pipeline_tests::runtime_api::RuntimeApi;
use pipeline_tests::{moto, workspace};
use serde_json::json;
use webhook_consumer::api::{HttpGatewayApi, Retry, TokioPause};
use webhook_consumer::bookings::Bookings;
use webhook_consumer::credentials::ApiCredentials;
use webhook_consumer::dynamo::DynamoLedger;
use webhook_consumer::message::Record;
use webhook_consumer::stand_in::StandIn;
use webhook_consumer::Consumer;
use webhook_core::clock::SystemClock;

// The function runs on mimalloc; so does this.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Nanoseconds this thread has spent on a CPU.
fn thread_cpu() -> Duration {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat");
    let ns: u64 = text
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a number");
    Duration::from_nanos(ns)
}

/// Nanoseconds process `pid` has spent on a CPU, all its threads.
fn process_cpu(pid: u32) -> Duration {
    let mut total = 0u64;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) {
                total += text
                    .split_whitespace()
                    .next()
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
    }
    Duration::from_nanos(total)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn envelope(event: &str, entity_type: &str, id: &str, n: u64, status: Option<&str>) -> String {
    let mut data = json!({"id": id, "account_id": "A1", "payer_cpf_cnpj": "66535209008",
                          "paid_cents": "1000", "total_cents": "1000"});
    if let Some(s) = status {
        data["status"] = s.into();
    }
    json!({
        "schema_version": 2, "provider": "iugu", "event": event, "family": "f",
        "entity_type": entity_type, "entity_id": id, "entity_key": format!("{entity_type}#{id}"),
        "status": status, "dedup_key": format!("{event}-{id}-{n}"), "sequence": n,
        "received_at": "2026-11-20T13:00:00.123456Z", "data": data
    })
    .to_string()
}

struct Scenario {
    name: &'static str,
    cpu_us: Vec<f64>,
    wall_us: Vec<f64>,
    calls: String,
    api_calls: usize,
}

async fn measure<L, A, B>(
    consumer: &Consumer<L, A, B>,
    recorder: &Recorder,
    stand_in: &StandIn,
    name: &'static str,
    bodies: &[String],
    want: &str,
) -> Scenario
where
    L: webhook_consumer::Ledger,
    A: webhook_consumer::GatewayApi,
    B: webhook_consumer::Business,
{
    let mut cpu_us = Vec::with_capacity(bodies.len());
    let mut wall_us = Vec::with_capacity(bodies.len());
    let mut calls = None;
    let api_before = stand_in.calls().len();
    recorder.take();
    for (i, body) in bodies.iter().enumerate() {
        let record = Record {
            message_id: format!("m{i}"),
            group: None,
            body: body.clone(),
        };
        let (cpu0, wall0) = (thread_cpu(), Instant::now());
        let fates = consumer
            .handle_batch(std::slice::from_ref(&record), None)
            .await;
        let (cpu, wall) = (thread_cpu() - cpu0, wall0.elapsed());
        match &fates[0] {
            webhook_consumer::batch::Fate::Done(o) if o.as_str() == want => {}
            other => panic!("{name}: message {i}: {other:?}, expected {want}"),
        }
        let (made, _) = recorder.take();
        let ops: Vec<String> = made.iter().map(|c| c.op.clone()).collect();
        let ops = ops.join(" → ");
        match &calls {
            None => calls = Some(ops),
            Some(first) => assert_eq!(first, &ops, "{name}: the same calls for every message"),
        }
        cpu_us.push(cpu.as_secs_f64() * 1e6);
        wall_us.push(wall.as_secs_f64() * 1e6);
    }
    cpu_us.sort_by(f64::total_cmp);
    wall_us.sort_by(f64::total_cmp);
    Scenario {
        name,
        cpu_us,
        wall_us,
        calls: calls.unwrap_or_default(),
        api_calls: (stand_in.calls().len() - api_before) / bodies.len().max(1),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let cold_runs: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(20);
    let load_before = load_average();
    let endpoint = moto().endpoint.clone();

    // The stand-in on a thread and a runtime of its own: its CPU is not the consumer's.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let stand_in = StandIn::start("127.0.0.1:0").await.expect("stand-in");
            tx.send(stand_in).expect("sent");
            std::future::pending::<()>().await;
        });
    });
    let stand_in = rx.recv().expect("the stand-in");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (scenarios, tables) = runtime.block_on(async {
        let sdk = pipeline_tests::production_sdk_config(&endpoint).await;
        let recorder = Recorder::default();
        let dynamo = recorder.dynamodb(&sdk);
        let suffix = std::process::id();
        let (ledger, bookings) = (
            format!("bench-ledger-{suffix}"),
            format!("bench-bookings-{suffix}"),
        );
        webhook_consumer::dynamo::create_table(&dynamo, &ledger)
            .await
            .expect("ledger");
        webhook_consumer::bookings::create_table(&dynamo, &bookings)
            .await
            .expect("bookings");
        let api = HttpGatewayApi::new(
            &ApiCredentials::new(Some("bench"), None),
            &stand_in.url,
            &stand_in.url,
            Retry::default(),
            Arc::new(TokioPause),
        )
        .expect("API client");
        let clock = Arc::new(SystemClock);
        let consumer = Consumer::new(
            DynamoLedger::new(dynamo.clone(), &ledger),
            api,
            Bookings::new(dynamo.clone(), &bookings, clock.clone()),
            clock,
        );
        // Warm-up: connections open, as in a warm function.
        let warm: Vec<String> = (1..=20)
            .map(|i| envelope("subscription.activated", "subscription", "W", i, None))
            .collect();
        measure(&consumer, &recorder, &stand_in, "warm-up", &warm, "booked").await;

        let entities = 10u64;
        let in_order: Vec<String> = (0..n as u64)
            .map(|i| {
                let id = format!("S{}", i % entities);
                envelope(
                    "subscription.activated",
                    "subscription",
                    &id,
                    i / entities + 1,
                    None,
                )
            })
            .collect();
        for i in 0..n {
            stand_in.invoice(&format!("P{i}"), "paid");
        }
        let payments: Vec<String> = (0..n)
            .map(|i| {
                envelope(
                    "invoice.status_changed",
                    "invoice",
                    &format!("P{i}"),
                    1,
                    Some("paid"),
                )
            })
            .collect();
        let lates: Vec<String> = (0..n)
            .map(|i| {
                envelope(
                    "subscription.suspended",
                    "subscription",
                    &format!("L{i}"),
                    1,
                    None,
                )
            })
            .collect();
        let later: Vec<String> = (0..n)
            .map(|i| {
                envelope(
                    "subscription.activated",
                    "subscription",
                    &format!("L{i}"),
                    2,
                    None,
                )
            })
            .collect();
        let mut out = Vec::new();
        out.push(
            measure(
                &consumer,
                &recorder,
                &stand_in,
                "new, in order, no confirmation",
                &in_order,
                "booked",
            )
            .await,
        );
        out.push(
            measure(
                &consumer,
                &recorder,
                &stand_in,
                "new payment, confirmed with the API",
                &payments,
                "booked",
            )
            .await,
        );
        out.push(
            measure(
                &consumer,
                &recorder,
                &stand_in,
                "copy (a replay; known from the head)",
                &in_order,
                "copy",
            )
            .await,
        );
        measure(
            &consumer,
            &recorder,
            &stand_in,
            "(the later ones)",
            &later,
            "booked",
        )
        .await;
        out.push(
            measure(
                &consumer,
                &recorder,
                &stand_in,
                "late (a redrive; the one after it booked)",
                &lates,
                "booked_late",
            )
            .await,
        );
        (out, (ledger, bookings))
    });

    // Cold starts of the release binary.
    let binary = std::env::var_os("CONSUMER_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/release/consumer"));
    let mut cold = Vec::new();
    let mut cold_cpu = Vec::new();
    if binary.exists() {
        let secret = format!("bench-consumer-api-{}", std::process::id());
        runtime.block_on(async {
            let sdk = pipeline_tests::sdk_config(&endpoint).await;
            aws_sdk_secretsmanager::Client::new(&sdk)
                .create_secret()
                .name(&secret)
                .secret_string(r#"{"iugu_api_token": "bench"}"#)
                .send()
                .await
                .expect("secret");
        });
        for _ in 0..cold_runs {
            let api = RuntimeApi::start(Vec::new());
            let started = Instant::now();
            let mut child = std::process::Command::new(&binary)
                .env("AWS_LAMBDA_RUNTIME_API", &api.address)
                .env("AWS_LAMBDA_FUNCTION_NAME", "consumer")
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
                .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
                .env("AWS_ACCESS_KEY_ID", "test")
                .env("AWS_SECRET_ACCESS_KEY", "test")
                .env("AWS_REGION", "us-east-1")
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .env("AWS_ENDPOINT_URL", &endpoint)
                .env("LEDGER_TABLE", &tables.0)
                .env("BOOKINGS_TABLE", &tables.1)
                .env("API_SECRET_ID", &secret)
                .env("IUGU_API_URL", &stand_in.url)
                .env("IPAG_API_URL", &stand_in.url)
                .env("RUST_LOG", "warn")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("start the consumer");
            let seen = api.wait_for_next_calls(1, Duration::from_secs(20));
            let elapsed = started.elapsed();
            let cpu = process_cpu(child.id());
            let _ = child.kill();
            let _ = child.wait();
            assert_eq!(seen, 1, "the consumer did not reach its first GET /next");
            cold.push(elapsed.as_secs_f64() * 1e3);
            cold_cpu.push(cpu.as_secs_f64() * 1e3);
        }
        cold.sort_by(f64::total_cmp);
        cold_cpu.sort_by(f64::total_cmp);
    }
    let load_after = load_average();

    println!(
        "Command: cargo run --release -p perf-bench --example consumer_bench -- {n} {cold_runs}"
    );
    println!("Load average (1, 5, 15 min): before {load_before}; after {load_after}");
    println!();
    println!("| message ({n} each, one per invocation) | round trips: DynamoDB calls | gateway API calls | CPU p50 / p99 (µs) | wall p50 / p99 (µs) |");
    println!("|---|---|---|---|---|");
    for s in &scenarios {
        let calls = s.calls.split(" → ").filter(|c| !c.is_empty()).count();
        println!(
            "| {} | {} ({}) | {} | {:.0} / {:.0} | {:.0} / {:.0} |",
            s.name,
            calls,
            s.calls,
            s.api_calls,
            percentile(&s.cpu_us, 50.0),
            percentile(&s.cpu_us, 99.0),
            percentile(&s.wall_us, 50.0),
            percentile(&s.wall_us, 99.0),
        );
    }
    println!();
    if cold.is_empty() {
        println!(
            "cold start: no {} (cargo build --release -p consumer)",
            binary.display()
        );
    } else {
        println!(
            "| cold start ({} runs, {}) | median (ms) | fastest (ms) | CPU by then, median (ms) |",
            cold.len(),
            binary.display()
        );
        println!("|---|---|---|---|");
        println!(
            "| spawn → first GET /next | {:.1} | {:.1} | {:.1} |",
            percentile(&cold, 50.0),
            cold[0],
            percentile(&cold_cpu, 50.0)
        );
    }
}
