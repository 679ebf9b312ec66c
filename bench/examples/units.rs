//! Round trips and DynamoDB capacity units per outcome, for bench/README.md:
//!
//!     cargo run -p perf-bench --example units
//!
//! Each outcome is one delivery through the real handler and the real adapters against the
//! local server (moto). An SDK interceptor on the functions' DynamoDB and SQS clients records
//! every request as it goes on the wire: that is the round trip count. The units are computed
//! from the items those requests read (as returned) or wrote (as they are in the table right
//! after), with DynamoDB's published rules (`perf_bench::metering` and `capacity`; the
//! local server does not report real consumed capacity). `--example cost` prices the same
//! calls in USD. "Before" applies the same rules to the previous version's layout
//! and calls (two transactions per new notification, raw_body in the day index), built from
//! the same notification.
#![allow(clippy::expect_used, clippy::panic, reason = "tests fail by panicking")]

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use common::Metered;
use perf_bench::capacity::{index_entry_size, item_size, write_units, Item};
use perf_bench::metering::{tally, Tally};
use pipeline_tests::{answer, form_post, text, workspace};
use time::macros::datetime;
use time::Duration;
use webhook_aws::table::{self, attr};
use webhook_core::clock::ManualClock;

// The functions run on mimalloc (chosen in each function's binary); this runs what they run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The previous version's items for the same notification: the event item with `sk =
/// <received_at>#<dedup_key>`, `received_day` and (once marked) `forwarded_at`, no sequence or
/// expiry; its marker; and what the previous calls wrote of them.
fn before(event: &Item) -> (usize, usize) {
    let mut legacy = event.clone();
    for name in [attr::SEQUENCE, attr::EXPIRES_AT, attr::ARRIVAL_DAY] {
        legacy.remove(name);
    }
    let received_at = text(event, attr::RECEIVED_AT);
    let dedup_key = text(event, attr::DEDUP_KEY);
    let s = |v: &str| AttributeValue::S(v.to_owned());
    legacy.insert(
        attr::SK.to_owned(),
        s(&format!("{received_at}#{dedup_key}")),
    );
    legacy.insert(attr::RECEIVED_DAY.to_owned(), s(&received_at[..10]));
    let marker = Item::from([
        (attr::PK.to_owned(), s(&table::marker_pk(&dedup_key))),
        (attr::SK.to_owned(), s(table::MARKER_SK)),
        (attr::KIND.to_owned(), s("dedup")),
        (attr::EVENT_PK.to_owned(), s(&text(event, attr::PK))),
        (attr::EVENT_SK.to_owned(), s(&text(&legacy, attr::SK))),
        (attr::RECEIVED_AT.to_owned(), s(&received_at)),
    ]);
    let legacy_entry: Vec<&str> = [attr::PK, attr::SK, attr::RECEIVED_DAY]
        .into_iter()
        .chain(table::LEGACY_DAY_INDEX_ATTRIBUTES)
        .collect();
    // New: claim (2 puts in a transaction, plus the day index entry with raw_body), then
    // mark (2 updates in a transaction, each adding `forwarded_at`).
    let claim = 2 * (write_units(item_size(&legacy)) + write_units(item_size(&marker)))
        + write_units(index_entry_size(&legacy, &legacy_entry));
    let mut marked = legacy.clone();
    marked.insert(attr::FORWARDED_AT.to_owned(), s(&received_at));
    let mut marker_marked = marker.clone();
    marker_marked.insert(attr::FORWARDED_AT.to_owned(), s(&received_at));
    let mark = 2 * (write_units(item_size(&marked)) + write_units(item_size(&marker_marked)));
    // A duplicate: the claim transaction fails its condition, and is charged all the same.
    let duplicate = 2 * (write_units(item_size(&marked)) + write_units(item_size(&marker_marked)));
    (claim + mark, duplicate)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let metered = Metered::start().await;
    let Metered { local, .. } = &metered;
    let ours = metered.events_table();
    let t0 = datetime!(2026-11-20 13:00 UTC);
    let clock = ManualClock::at(t0);
    let up = metered.invoices(&clock, false);
    let down = metered.invoices(&clock, true);

    let paid = std::fs::read_to_string(
        workspace().join("shared/gateways/tests/fixtures/iugu/raw/invoice.status_changed.body"),
    )
    .expect("fixture")
    .trim()
    .to_owned();
    let pending = paid.replace("paid", "pending");
    let other_invoice = paid.replacen("data%5Bid%5D=", "data%5Bid%5D=B", 1);
    assert_ne!(paid, pending, "the fixture has a status to change");

    let paid_pk = local_pk(&paid);
    let mut rows = Vec::new();
    let steps = [
        ("new notification", &up, &paid, t0, true),
        (
            "retry of a forwarded one",
            &up,
            &paid,
            t0 + Duration::minutes(1),
            true,
        ),
        (
            "(another change)",
            &up,
            &pending,
            t0 + Duration::minutes(2),
            false,
        ),
        (
            "new occurrence (repeat_of)",
            &up,
            &paid,
            t0 + Duration::minutes(3),
            true,
        ),
        (
            "(stored, the queue down: 503)",
            &down,
            &other_invoice,
            t0 + Duration::minutes(4),
            false,
        ),
        (
            "retry of one never forwarded",
            &up,
            &other_invoice,
            t0 + Duration::minutes(5),
            true,
        ),
    ];
    for (name, app, body, at, measured) in steps {
        clock.set(at);
        metered.take();
        let (status, json) = answer(&app.handle(form_post(body)).await);
        let (recorded, _) = metered.take();
        if measured {
            let u: Tally = tally(&ours, &recorded).await;
            rows.push((
                name,
                status,
                json["status"].as_str().unwrap_or("?").to_owned(),
                u,
            ));
        }
    }
    let event = local
        .events()
        .await
        .into_iter()
        .find(|e| text(e, attr::PK) == paid_pk && table::number(e, attr::SEQUENCE) == Some(1))
        .expect("the first notification's item");
    let (before_new, before_duplicate) = before(&event);

    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    println!(
        "`cargo run -p perf-bench --example units`, load average {}",
        load.join(" ")
    );
    println!(
        "body: shared/gateways/tests/fixtures/iugu/raw/invoice.status_changed.body ({} bytes); its event item {} bytes\n",
        paid.len(),
        item_size(&event)
    );
    println!("| outcome | answer | round trips | calls | read units | write units |");
    println!("|---|---|---|---|---|---|");
    for (name, status, answered, u) in &rows {
        println!(
            "| {name} | {status} {answered} | {} | {} | {} | {} |",
            u.calls.len(),
            u.calls.join(", "),
            u.read_units,
            u.write_units
        );
    }
    println!(
        "\nBefore (the previous version, same notification, same rules): new notification 3 round \
         trips (TransactWriteItems, SendMessage, TransactWriteItems), 0 read units, {before_new} \
         write units; retry of a forwarded one 1 round trip (its failed TransactWriteItems), 0 \
         read units, {before_duplicate} write units."
    );
}

/// The entity key of an iugu body.
fn local_pk(body: &str) -> String {
    webhook_iugu::parse(body.as_bytes(), time::OffsetDateTime::UNIX_EPOCH)
        .expect("parses")
        .entity_key
}
