//! The load run: `cargo run --release -p pipeline-tests --example load -- [DELIVERIES] [CONCURRENCY]`
//! (defaults 10000 and 16). Prints throughput, handler latency and the 0-lost / 0-doubled check;
//! exits non-zero if anything was lost or doubled.

use std::process::ExitCode;

use pipeline_tests::load::{run, Plan};
use pipeline_tests::Local;

// The functions run on mimalloc (chosen in each function's binary); this runs what they run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let deliveries = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let concurrency = args.next().and_then(|a| a.parse().ok()).unwrap_or(16);
    let plan = Plan {
        deliveries,
        duplicate_every: 10,
        concurrency,
        max_retries: 3,
    };
    let local = Local::new().await;
    let report = run(&local, plan).await;
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    println!("| deliveries | distinct | in flight | elapsed | throughput | p50 | p99 | max | stored | forwarded | lost | doubled |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {:.1} s | {:.0} req/s | {:.2} ms | {:.2} ms | {:.2} ms | {} | {} | {} | {} |",
        plan.deliveries,
        report.distinct,
        plan.concurrency,
        report.elapsed.as_secs_f64(),
        report.throughput(),
        ms(report.percentile(50.0)),
        ms(report.percentile(99.0)),
        ms(report.percentile(100.0)),
        report.stored,
        report.forwarded,
        report.lost,
        report.doubled,
    );
    let mut answers: Vec<_> = report.answers.iter().collect();
    answers.sort();
    println!(
        "answers: {answers:?}; gave up after retries: {}",
        report.gave_up
    );
    if report.lost == 0 && report.doubled == 0 && report.gave_up == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
