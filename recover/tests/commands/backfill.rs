//! `recover backfill-retention` against the local server: the notifications stored before
//! sequences (legacy items, in the layout `webhook_aws::table` documents) get `expires_at` =
//! `received_at` + the retention, nothing else changes, a second run finds nothing to do; and
//! once the old `by_received_day` index is dropped, `replay --since` still works.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteGlobalSecondaryIndexAction, GlobalSecondaryIndexUpdate,
};
use pipeline_tests::{answer, form_post, text as attr_text, Local};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use webhook_aws::table;
use webhook_iugu::{Family, Iugu};

use crate::stand_ins::{recover, text};

/// A notification as the version before sequences stored it.
async fn put_legacy(local: &Local, pk: &str, received_at: &str) {
    let dedup = format!("{:0>64}", pk.len());
    let item: HashMap<String, AttributeValue> = [
        ("pk", pk.to_owned()),
        ("sk", format!("{received_at}#{dedup}")),
        ("kind", "event".to_owned()),
        ("provider", "iugu".to_owned()),
        ("event", "invoice.status_changed".to_owned()),
        ("received_at", received_at.to_owned()),
        (
            "received_day",
            received_at.get(..10).unwrap_or_default().to_owned(),
        ),
        ("forwarded_at", received_at.to_owned()),
        ("dedup_key", dedup),
        (
            "raw_body",
            format!("event=invoice.status_changed&data%5Bid%5D={pk}&data%5Bstatus%5D=paid"),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), AttributeValue::S(v)))
    .collect();
    local
        .dynamo
        .put_item()
        .table_name(&local.table)
        .set_item(Some(item))
        .send()
        .await
        .expect("put a legacy item");
}

fn expiry(item: &HashMap<String, AttributeValue>) -> Option<i64> {
    match item.get("expires_at") {
        Some(AttributeValue::N(n)) => n.parse().ok(),
        _ => None,
    }
}

async fn item(local: &Local, pk: &str) -> HashMap<String, AttributeValue> {
    local
        .events()
        .await
        .into_iter()
        .find(|i| attr_text(i, "pk") == pk)
        .unwrap_or_else(|| panic!("no item {pk}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn legacy_notifications_get_the_expiry_new_ones_get() {
    let local = Local::new().await;
    let now = OffsetDateTime::now_utc();
    let recent = table::format_time(now - Duration::days(10));
    put_legacy(&local, "invoice#LEGACY1", "2025-01-10T12:00:00.000000Z").await;
    put_legacy(&local, "invoice#LEGACY2", &recent).await;
    put_legacy(&local, "invoice#LEGACY3", "not-a-time-at-all").await;
    let (status, json) = answer(
        &local
            .app(Iugu::family(Family::Invoices))
            .handle(form_post(
                "event=invoice.status_changed&data%5Bid%5D=NEW1&data%5Bstatus%5D=paid",
            ))
            .await,
    );
    assert_eq!(status, 200, "{json}");
    let new_expiry = expiry(&item(&local, "invoice#NEW1").await);
    assert!(new_expiry.is_some());
    let env = vec![("EVENTS_TABLE", local.table.clone())];

    let dry = recover(&["backfill-retention", "--dry-run"], &env).await;
    let stdout = text(&dry.stdout);
    assert!(dry.status.success(), "{}{stdout}", text(&dry.stderr));
    assert!(
        stdout.contains("found without expires_at") && stdout.contains("  3\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("no readable received_at: invoice#LEGACY3"),
        "{stdout}"
    );
    assert_eq!(
        expiry(&item(&local, "invoice#LEGACY1").await),
        None,
        "a dry run changed it"
    );

    let run = recover(&["backfill-retention", "--retention-days", "90"], &env).await;
    let stdout = text(&run.stdout);
    assert!(run.status.success(), "{}{stdout}", text(&run.stderr));
    let days = |at: &str| {
        (OffsetDateTime::parse(at, &Rfc3339).expect("a time") + Duration::days(90)).unix_timestamp()
    };
    assert_eq!(
        expiry(&item(&local, "invoice#LEGACY1").await),
        Some(days("2025-01-10T12:00:00Z"))
    );
    assert_eq!(
        expiry(&item(&local, "invoice#LEGACY2").await),
        Some(days(&recent))
    );
    assert_eq!(expiry(&item(&local, "invoice#LEGACY3").await), None);
    assert_eq!(
        expiry(&item(&local, "invoice#NEW1").await),
        new_expiry,
        "a new item changed"
    );
    assert!(stdout.contains("already past it"), "{stdout}");

    // Again: only the unreadable one is left, and nothing changes.
    let again = recover(&["backfill-retention"], &env).await;
    let stdout = text(&again.stdout);
    assert!(again.status.success(), "{stdout}");
    assert!(
        stdout.contains("found without expires_at") && stdout.contains("  1\n"),
        "{stdout}"
    );
}

/// Once the back-fill has run, TableIndexes `without-legacy` drops `by_received_day`;
/// `replay --since` then finds the period's notifications through `by_arrival` alone.
#[tokio::test(flavor = "multi_thread")]
async fn replay_by_period_works_without_the_legacy_index() {
    let local = Local::new().await;
    local
        .dynamo
        .update_table()
        .table_name(&local.table)
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder()
                .delete(
                    DeleteGlobalSecondaryIndexAction::builder()
                        .index_name(table::LEGACY_DAY_INDEX)
                        .build()
                        .expect("a delete"),
                )
                .build(),
        )
        .send()
        .await
        .expect("drop the legacy index");
    let (status, json) = answer(
        &local
            .app(Iugu::family(Family::Invoices))
            .handle(form_post(
                "event=invoice.status_changed&data%5Bid%5D=NEW2&data%5Bstatus%5D=paid",
            ))
            .await,
    );
    assert_eq!(status, 200, "{json}");
    let since = table::format_time(OffsetDateTime::now_utc() - Duration::hours(1));
    let env = vec![
        ("EVENTS_TABLE", local.table.clone()),
        ("EVENTS_QUEUE_URL", local.queue_url.clone()),
    ];
    let out = recover(&["replay", "--since", &since, "--all", "--dry-run"], &env).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}{stdout}", text(&out.stderr));
    assert!(stdout.contains("invoice#NEW2"), "{stdout}");
}
