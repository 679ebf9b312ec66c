//! The size of the event item each fixture body makes, and what writing it costs, for
//! bench/README.md ("Items under the next 1 KB step"):
//!
//!     cargo run -p perf-bench --example item_sizes
//!
//! Every body under shared/gateways/tests/fixtures (iugu's raw, repaired and constructed samples,
//! iPag's JSON samples) is parsed by its gateway, as the function parses it, and turned into
//! the item the store writes (`webhook_aws::table::event_item`, sequence 1). Its size and units
//! follow DynamoDB's published rules (`perf_bench::capacity`): 1 write unit per started KiB,
//! twice that in a transaction (the store's). No local server is needed: nothing is written.
#![allow(clippy::expect_used, clippy::panic, reason = "tests fail by panicking")]

use std::path::Path;

use perf_bench::capacity::{item_size, write_units};
use pipeline_tests::workspace;
use time::macros::datetime;
use time::Duration;
use webhook_core::envelope::Envelope;
use webhook_core::stored::Parsers;

struct Row {
    fixture: String,
    body: usize,
    item: usize,
}

fn envelope(provider: &str, event: &str, body: &[u8]) -> Option<Envelope> {
    let now = datetime!(2026-11-28 12:00 UTC);
    let mut envelope = webhook_gateways::ALL
        .parse_stored(provider, event, body, now)?
        .ok()?;
    envelope.sequence = Some(1);
    Some(envelope)
}

fn rows(dir: &Path, provider: &str, extension: &str) -> Vec<Row> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    files
        .into_iter()
        .filter_map(|path| {
            let body = std::fs::read(&path).expect("a fixture");
            // iPag names the event in a header: its samples are named after it.
            let event = path.file_stem()?.to_str()?.to_owned();
            let envelope = envelope(provider, &event, &body)?;
            let raw = std::str::from_utf8(&body).ok()?;
            let expires_at = envelope.received_at + Duration::days(30);
            let item = webhook_aws::table::event_item(&envelope, raw, expires_at);
            let fixture = path
                .strip_prefix(workspace())
                .unwrap_or(&path)
                .display()
                .to_string();
            Some(Row {
                fixture,
                body: body.len(),
                item: item_size(&item),
            })
        })
        .collect()
}

fn main() {
    let fixtures = workspace().join("shared/gateways/tests/fixtures");
    let mut all = Vec::new();
    for kind in ["raw", "repaired", "constructed"] {
        all.extend(rows(&fixtures.join("iugu").join(kind), "iugu", "body"));
    }
    all.extend(rows(&fixtures.join("ipag"), "ipag", "json"));
    assert!(all.len() > 30, "the fixtures moved: {} bodies", all.len());

    println!("`cargo run -p perf-bench --example item_sizes`\n");
    println!(
        "| fixture | body (bytes) | event item (bytes) | write units in the store's transaction |"
    );
    println!("|---|---|---|---|");
    for row in &all {
        println!(
            "| {} | {} | {} | {} |",
            row.fixture,
            row.body,
            row.item,
            2 * write_units(row.item)
        );
    }
    let units: Vec<usize> = all.iter().map(|r| 2 * write_units(r.item)).collect();
    let over_1k = all.iter().filter(|r| r.item > 1024).count();
    let mut sorted = units.clone();
    sorted.sort_unstable();
    println!(
        "\n{} bodies: event items over 1 KiB {}; the event item's write units in the \
         transaction: total {}, median {}, largest {}",
        all.len(),
        over_1k,
        units.iter().sum::<usize>(),
        sorted[sorted.len() / 2],
        sorted[sorted.len() - 1],
    );
}
