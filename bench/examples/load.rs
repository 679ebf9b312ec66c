//! The load run: `cargo run --release -p perf-bench --example load -- [DELIVERIES] [CONCURRENCY]`
//! (defaults 10000 and 16): 10% gateway retries, real repeats (one delivery in 23 starts one: the
//! changed content, then the first again), 5% of
//! first attempts refused by the queue. Prints throughput, handler latency, the load average,
//! and the counts: lost, flagged repeats, unflagged doubles; exits non-zero if anything was lost
//! or doubled without a flag.

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
        repeat_every: 23,
        fault_every: 20,
        concurrency,
        max_retries: 3,
    };
    let load = || std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("`cargo run --release -p perf-bench --example load -- {deliveries} {concurrency}`");
    println!("load average before: {}", load().trim());
    let local = Local::new().await;
    let report = run(&local, plan).await;
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    println!("| deliveries | sent by the gateway (real repeats) | in flight | elapsed | throughput | p50 | p99 | max | stored | forwarded | lost | flagged repeats | flagged copies | unflagged doubles | received twice |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} ({}) | {} | {:.1} s | {:.0} req/s | {:.2} ms | {:.2} ms | {:.2} ms | {} | {} | {} | {} | {} | {} | {} |",
        plan.deliveries,
        report.distinct,
        report.real_repeats,
        plan.concurrency,
        report.elapsed.as_secs_f64(),
        report.throughput(),
        ms(report.percentile(50.0)),
        ms(report.percentile(99.0)),
        ms(report.percentile(100.0)),
        report.stored,
        report.forwarded,
        report.lost,
        report.flagged_repeats,
        report.flagged_copies,
        report.unflagged,
        report.received_twice,
    );
    println!("load average after: {}", load().trim());
    let mut answers: Vec<_> = report.answers.iter().collect();
    answers.sort();
    println!(
        "answers: {answers:?}; gave up after retries: {}",
        report.gave_up
    );
    if report.lost == 0
        && report.unflagged == 0
        && report.received_twice == 0
        && report.gave_up == 0
    {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
