//! The hot path of every function, on a typical `invoice.status_changed` body: parse the form,
//! type the event, compute the de-duplication key and build the envelope. Serialising it to
//! JSON (the message the forwarder sends) is timed on its own. Target: under 2 µs per body.
//!
//! `cargo bench -p webhook-gateways --bench parse`
#![allow(clippy::expect_used, clippy::panic, reason = "tests fail by panicking")]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use time::OffsetDateTime;
use webhook_core::Envelope;
use webhook_iugu::{form, Typed};

const BODY: &[u8] = include_bytes!("../tests/fixtures/iugu/raw/invoice.status_changed.body");

// The functions run on mimalloc (chosen in each function's binary); measure what they run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Parse + type + key + envelope of one body.
fn pipeline(body: &[u8], received_at: OffsetDateTime) -> Envelope {
    let envelope = webhook_iugu::parse(body, received_at).expect("the sample parses");
    black_box(envelope.typed());
    envelope
}

fn bench(c: &mut Criterion) {
    let received_at = OffsetDateTime::UNIX_EPOCH;
    let mut group = c.benchmark_group("invoice.status_changed");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse+type+key+envelope", |b| {
        b.iter(|| pipeline(black_box(BODY), received_at))
    });
    // The steps on their own, to see where the time goes.
    group.bench_function("parse_form", |b| {
        b.iter(|| form::parse_form(black_box(BODY)))
    });
    group.bench_function("from_iugu_form", |b| {
        b.iter(|| webhook_iugu::parse(black_box(BODY), received_at))
    });
    let envelope = webhook_iugu::parse(BODY, received_at).expect("the sample parses");
    group.bench_function("typed", |b| b.iter(|| black_box(&envelope).typed()));
    group.bench_function("to_json", |b| {
        b.iter(|| serde_json::to_vec(black_box(&envelope)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
