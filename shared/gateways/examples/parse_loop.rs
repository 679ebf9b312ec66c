//! Times the hot path (parse + type + key + envelope) over N iterations and prints
//! `ns/body` on the last line, for `bench/parse_vs_python.sh`. Criterion (`benches/parse.rs`)
//! is the precise measure; this is a plain loop so the script needs no output parsing.
//!
//! `cargo run --release -p webhook-gateways --example parse_loop -- [BODY_FILE] [ITERATIONS]`
#![allow(clippy::expect_used, clippy::panic, reason = "tests fail by panicking")]

use std::hint::black_box;
use std::time::Instant;

use webhook_core::Envelope;
use webhook_iugu::Typed;

// The functions run on mimalloc (chosen in each function's binary); measure what they run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use time::OffsetDateTime;

const SAMPLE: &[u8] = include_bytes!("../tests/fixtures/iugu/raw/invoice.status_changed.body");

fn pipeline(body: &[u8], received_at: OffsetDateTime) -> Envelope {
    let envelope = webhook_iugu::parse(body, received_at).expect("the body parses");
    black_box(envelope.typed());
    envelope
}

fn main() {
    let mut args = std::env::args().skip(1);
    let body = match args.next() {
        Some(path) => std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}")),
        None => SAMPLE.to_vec(),
    };
    let iterations: u32 = args
        .next()
        .map(|n| n.parse().expect("ITERATIONS is a positive integer"))
        .unwrap_or(500_000);
    assert!(iterations > 0, "ITERATIONS is a positive integer");
    let received_at = OffsetDateTime::UNIX_EPOCH;

    // Warm up caches, the allocator and the branch predictor.
    for _ in 0..iterations / 10 {
        black_box(pipeline(black_box(&body), received_at));
    }
    // Best of 5 rounds, like Python's timeit advice: the minimum is the least disturbed.
    let best = (0..5)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iterations {
                black_box(pipeline(black_box(&body), received_at));
            }
            start.elapsed().as_nanos() as f64 / f64::from(iterations)
        })
        .fold(f64::INFINITY, f64::min);
    println!("iterations={iterations} rounds=5 (best)");
    println!("ns/body {best:.1}");
}
