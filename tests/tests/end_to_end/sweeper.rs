//! The sweeper end to end: the real handler stores while SQS refuses (longer than every retry
//! of the gateway), then the sweeper, against the local server, forwards what waits, once, in
//! order; a sweep racing a late retry sends one message; and the metric lines the functions and
//! the sweeper write are CloudWatch EMF with the documented names, dimensions and units.

use std::sync::Arc;

use pipeline_tests::{answer, form_post, post, Local, TOKEN};
use serde_json::Value;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use webhook_aws::{DynamoStore, SqsForwarder};
use webhook_core::clock::ManualClock;
use webhook_core::sweep::{SweepSettings, SweepStore};
use webhook_core::Envelope;
use webhook_iugu::{Family, Iugu};
use webhook_lambda::auth::Token;
use webhook_lambda::http::{App, Delivery};
use webhook_lambda::metrics::Metrics;
use webhook_lambda::sweeper::Sweeper;

const T0: OffsetDateTime = datetime!(2026-11-20 13:00 UTC);
const INVOICES: Iugu = Iugu::family(Family::Invoices);

fn body(invoice: &str, status: &str) -> String {
    format!("event=invoice.status_changed&data%5Bid%5D={invoice}&data%5Bstatus%5D={status}")
}

/// The function with its clock, its queue URL and its metrics.
fn app(
    local: &Local,
    clock: &ManualClock,
    queue_url: &str,
    metrics: Metrics,
) -> App<DynamoStore, SqsForwarder> {
    App {
        delivery: Delivery {
            clock: Arc::new(clock.clone()),
            ..Delivery::default()
        },
        metrics,
        ..local.app_with(INVOICES, Token::new(Some(TOKEN)), queue_url)
    }
}

fn sweeper(local: &Local, clock: &ManualClock, metrics: Metrics) -> Sweeper {
    Sweeper {
        store: DynamoStore::new(local.dynamo.clone(), &local.table),
        forwarder: SqsForwarder::new(local.sqs.clone(), &local.queue_url),
        settings: SweepSettings::default(),
        metrics,
        clock: Arc::new(clock.clone()),
        parsers: &webhook_gateways::ALL,
    }
}

async fn sent(local: &Local) -> Vec<(String, Option<String>, Option<u64>)> {
    local
        .drain()
        .await
        .iter()
        .map(|m| {
            let e: Envelope = serde_json::from_str(m.body().unwrap_or_default()).expect("envelope");
            (e.entity_id, e.status, e.sequence)
        })
        .collect()
}

#[tokio::test]
async fn what_sqs_refused_for_longer_than_every_retry_is_swept_once_in_order() {
    let local = Local::new().await;
    let clock = ManualClock::at(T0);
    let down = app(
        &local,
        &clock,
        &local.missing_queue_url(),
        Metrics::default(),
    );
    // Three attempts each, as iPag makes them (at once, +5 min, +15 min more), all refused.
    for (invoice, status) in [("A", "pending"), ("B", "pending"), ("A", "paid")] {
        for retry in [0, 5, 20] {
            clock.set(T0 + Duration::minutes(retry));
            let (code, body) = answer(&down.handle(form_post(&body(invoice, status))).await);
            assert_eq!(
                (code, body["error"].as_str()),
                (503, Some("forward_failed"))
            );
        }
    }
    assert_eq!(local.events().await.len(), 3, "stored once each");
    assert!(local.drain().await.is_empty());

    // SQS is back; the gateway has given up. The sweeper runs every minute.
    clock.set(T0 + Duration::minutes(30));
    let run = sweeper(&local, &clock, Metrics::default())
        .run(0)
        .await
        .expect("swept");
    assert_eq!(
        (run["entities"].as_u64(), run["forwarded"].as_u64()),
        (Some(2), Some(3))
    );
    assert_eq!(run["oldest_waiting_s"], Value::Null);
    // In the order sent (oldest pending entity first, each in sequence order), and each
    // entity's in that order off the queue (FIFO within its group).
    let row = |id: &str, s: &str, n| (id.to_owned(), Some(s.to_owned()), Some(n));
    let sends: Vec<_> = local
        .sends()
        .iter()
        .map(|s| {
            let e = s.envelope();
            (e.entity_id, e.status, e.sequence)
        })
        .collect();
    assert_eq!(
        sends,
        [
            row("A", "pending", 1),
            row("A", "paid", 2),
            row("B", "pending", 1)
        ]
    );
    let received = sent(&local).await;
    let of = |id: &str| -> Vec<_> { received.iter().filter(|r| r.0 == id).cloned().collect() };
    assert_eq!(of("A"), [row("A", "pending", 1), row("A", "paid", 2)]);
    assert_eq!(of("B"), [row("B", "pending", 1)]);
    for pk in ["invoice#A", "invoice#B"] {
        let head = local.head(pk).await;
        assert_eq!(head.forwarded_sequence, head.last_sequence, "{pk}");
    }
    // Nothing waits any more: the sweeper lists nothing, and the next run sends nothing.
    let state = DynamoStore::new(local.dynamo.clone(), &local.table)
        .sweep_state()
        .await
        .expect("read")
        .expect("kept");
    assert!(state.waiting.is_empty(), "{:?}", state.waiting);
    let again = sweeper(&local, &clock, Metrics::default())
        .run(0)
        .await
        .expect("swept");
    assert_eq!(again["forwarded"].as_u64(), Some(0));
    assert!(local.drain().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sweep_racing_a_late_retry_sends_one_message() {
    let local = Local::new().await;
    let clock = ManualClock::at(T0);
    let down = app(
        &local,
        &clock,
        &local.missing_queue_url(),
        Metrics::default(),
    );
    let x = body("R", "paid");
    assert_eq!(answer(&down.handle(form_post(&x)).await).0, 503);

    clock.set(T0 + Duration::minutes(3));
    let up = app(&local, &clock, &local.queue_url, Metrics::default());
    let sweeper = sweeper(&local, &clock, Metrics::default());
    let start = Arc::new(tokio::sync::Barrier::new(2));
    let (a, b) = tokio::join!(
        async {
            start.wait().await;
            sweeper.run(0).await.expect("swept")
        },
        async {
            start.wait().await;
            answer(&up.handle(form_post(&x)).await)
        }
    );
    assert_eq!(
        (b.0, b.1["status"].as_str()),
        (200, Some("duplicate")),
        "{}",
        b.1
    );
    assert!(a["forwarded"].as_u64().is_some_and(|n| n <= 1), "{a}");
    assert_eq!(sent(&local).await.len(), 1, "the queue keeps one");
    assert_eq!(local.head("invoice#R").await.forwarded_sequence, 1);
}

/// Every metric line is an EMF document whose dimension sets name members it has.
fn check_emf(line: &str, namespace: &str) -> Value {
    let doc: Value = serde_json::from_str(line).expect("an EMF line is JSON");
    let cw = &doc["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(cw["Namespace"], namespace);
    assert!(doc["_aws"]["Timestamp"].is_u64());
    for set in cw["Dimensions"].as_array().expect("dimension sets") {
        for name in set.as_array().expect("a set") {
            assert!(doc[name.as_str().expect("a name")].is_string(), "{line}");
        }
    }
    for metric in cw["Metrics"].as_array().expect("metrics") {
        assert!(
            doc[metric["Name"].as_str().expect("a name")].is_number(),
            "{line}"
        );
    }
    doc
}

#[tokio::test]
async fn the_functions_and_the_sweeper_write_emf_lines() {
    let local = Local::new().await;
    let clock = ManualClock::at(T0);
    let (metrics, lines) = Metrics::captured("WebhookTest");
    let up = app(&local, &clock, &local.queue_url, metrics.clone());
    let ok = body("M", "paid");
    up.handle(form_post(&ok)).await;
    up.handle(form_post(&ok)).await;
    up.handle(post(
        &ok,
        "application/x-www-form-urlencoded",
        Some("wrong-token-0123456789"),
    ))
    .await;
    up.handle(form_post(
        "event=invoice.status_changed&data%5Bstatus%5D=paid",
    ))
    .await;
    let down = app(&local, &clock, &local.missing_queue_url(), metrics.clone());
    down.handle(form_post(&body("N", "paid"))).await;
    sweeper(&local, &clock, metrics)
        .run(0)
        .await
        .expect("swept");

    let lines = lines.lock().expect("lock").clone();
    assert_eq!(lines.len(), 6, "{lines:?}");
    let docs: Vec<Value> = lines.iter().map(|l| check_emf(l, "WebhookTest")).collect();
    let request = &docs[0]["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(
        request["Dimensions"],
        serde_json::json!([
            ["Outcome"],
            ["Outcome", "Code"],
            ["Provider", "Family", "Outcome"]
        ])
    );
    assert_eq!(
        request["Metrics"],
        serde_json::json!([
            {"Name": "Notifications", "Unit": "Count"},
            {"Name": "Latency", "Unit": "Milliseconds"}
        ])
    );
    let outcomes: Vec<(String, String, String, String)> = docs[..5]
        .iter()
        .map(|d| {
            let s = |k: &str| d[k].as_str().unwrap_or_default().to_owned();
            (s("Provider"), s("Family"), s("Outcome"), s("Code"))
        })
        .collect();
    let row =
        |f: &str, o: &str, c: &str| ("iugu".to_owned(), f.to_owned(), o.to_owned(), c.to_owned());
    assert_eq!(
        outcomes,
        [
            row("invoices", "stored", "stored"),
            row("invoices", "retry", "retry"),
            row("invoices", "refused", "unauthorized"),
            row("invoices", "quarantined", "missing_entity_id"),
            row("invoices", "failed", "forward_failed"),
        ]
    );
    assert!(docs[0]["Latency"].as_f64().is_some_and(|ms| ms > 0.0));
    let sweep = &docs[5];
    assert_eq!(
        sweep["_aws"]["CloudWatchMetrics"][0]["Metrics"],
        serde_json::json!([
            {"Name": "SweepForwarded", "Unit": "Count"},
            {"Name": "SweepEntities", "Unit": "Count"},
            {"Name": "SweepFailures", "Unit": "Count"},
            {"Name": "GapRecords", "Unit": "Count"},
            {"Name": "OldestUnforwardedAge", "Unit": "Seconds"}
        ])
    );
    assert_eq!(
        sweep["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        serde_json::json!([[]])
    );
    // N waits (within the grace period): the oldest unforwarded is 0 s old on this clock.
    assert_eq!(sweep["OldestUnforwardedAge"], 0);
    assert_eq!(sweep["SweepForwarded"], 0);
    assert_eq!(sweep["GapRecords"], 0);
}

/// `by_arrival` is a global secondary index: on AWS it shows a write some time after it
/// happened. An entity that shows up late is swept once it shows, though the sweeper's look
/// had passed it: here it stays hidden for 10 minutes by the clock (the wire's lag mode), and
/// the count of the next run finds one entry more than the look saw.
#[tokio::test]
async fn an_entity_the_index_shows_late_is_swept_once_it_shows() {
    let local = Local::new().await;
    let clock = ManualClock::at(T0);
    let down = app(
        &local,
        &clock,
        &local.missing_queue_url(),
        Metrics::default(),
    );
    assert_eq!(
        answer(&down.handle(form_post(&body("L", "paid"))).await).0,
        503
    );
    local.wire.lag_index(
        webhook_aws::table::ARRIVAL_INDEX,
        webhook_aws::table::attr::RECEIVED_AT,
        Duration::minutes(10),
        Arc::new(clock.clone()),
    );
    clock.set(T0 + Duration::minutes(3));
    let run = sweeper(&local, &clock, Metrics::default())
        .run(0)
        .await
        .expect("swept");
    assert_eq!(run["forwarded"].as_u64(), Some(0), "not in the index yet");
    assert_eq!(
        run["oldest_waiting_s"],
        Value::Null,
        "unknown to the sweeper yet"
    );
    clock.set(T0 + Duration::minutes(11));
    let run = sweeper(&local, &clock, Metrics::default())
        .run(0)
        .await
        .expect("swept");
    assert_eq!(run["forwarded"].as_u64(), Some(1), "{run}");
    assert_eq!(run["late"].as_u64(), Some(1), "{run}");
    assert_eq!(local.sends().len(), 1);
}

/// The look passes an entity the index does not show yet (one that arrived between two that it
/// shows): once the index shows it, the count of that stretch finds it, and a run sweeps it,
/// once. The runs come a minute apart, as the schedule makes them.
#[tokio::test]
async fn the_cursor_never_leaves_a_late_entity_behind() {
    let local = Local::new().await;
    let clock = ManualClock::at(T0);
    let down = app(
        &local,
        &clock,
        &local.missing_queue_url(),
        Metrics::default(),
    );
    for (seconds, invoice) in [(0, "A"), (1, "B"), (2, "C")] {
        clock.set(T0 + Duration::seconds(seconds));
        assert_eq!(
            answer(&down.handle(form_post(&body(invoice, "paid"))).await).0,
            503
        );
    }
    local
        .wire
        .hide_in_index(webhook_aws::table::ARRIVAL_INDEX, "invoice#B");
    clock.set(T0 + Duration::minutes(5));
    let one_at_a_time = |local: &Local| Sweeper {
        settings: SweepSettings {
            max_entities: 1,
            ..SweepSettings::default()
        },
        ..sweeper(local, &clock, Metrics::default())
    };
    let swept = |local: &Local| -> Vec<String> {
        local
            .sends()
            .iter()
            .map(|s| s.envelope().entity_id)
            .collect()
    };
    for _ in 0..2 {
        one_at_a_time(&local).run(0).await.expect("swept");
        clock.advance(Duration::minutes(1));
    }
    assert_eq!(swept(&local), ["A", "C"], "B is not in the index yet");
    local.wire.catch_up_index();
    // The first stretch was counted at the second run; its next count is two runs later.
    let mut runs = 0;
    while swept(&local).len() < 3 && runs < 4 {
        one_at_a_time(&local).run(0).await.expect("swept");
        clock.advance(Duration::minutes(1));
        runs += 1;
    }
    assert_eq!(
        swept(&local),
        ["A", "C", "B"],
        "B, once the count of its stretch finds it"
    );
    assert!(runs <= 2, "within two runs of showing: {runs}");
    for _ in 0..4 {
        one_at_a_time(&local).run(0).await.expect("swept");
        clock.advance(Duration::minutes(1));
    }
    assert_eq!(swept(&local).len(), 3, "each once");
}

/// The upgrade from the version whose sweeper found waiting entities through `by_pending`
/// (docs/deploy.md, "Upgrading"): what that version left waiting (its head in `by_pending`,
/// its notifications under `by_arrival`'s unsharded day) is not in the partitions this
/// sweeper looks at; the first step's sweeper reads `by_pending` too, forwards it once, in
/// order, and takes the head out of `by_pending`, so that the next step can drop the index.
#[tokio::test]
async fn what_the_previous_version_left_in_by_pending_is_swept_and_cleared() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use webhook_aws::table::{self, attr};
    let local = Local::new().await.with_pending_index().await;
    let clock = ManualClock::at(T0);
    let down = app(
        &local,
        &clock,
        &local.missing_queue_url(),
        Metrics::default(),
    );
    for (seconds, status) in [(0, "pending"), (1, "paid")] {
        clock.set(T0 + Duration::seconds(seconds));
        assert_eq!(
            answer(&down.handle(form_post(&body("U", status))).await).0,
            503
        );
    }
    // What the previous version wrote besides: the head's `by_pending` keys, and each
    // notification's `arrival_day` without a shard.
    let pk = "invoice#U";
    let shard = format!("pending#{}", table::shard_of(pk, table::SWEEP_SHARDS));
    let update = |sk: &str, expression: &str, values: Vec<(&str, String)>| {
        let mut call = local
            .dynamo
            .update_item()
            .table_name(&local.table)
            .key(attr::PK, AttributeValue::S(pk.to_owned()))
            .key(attr::SK, AttributeValue::S(sk.to_owned()))
            .update_expression(expression);
        for (name, value) in values {
            call = call.expression_attribute_values(name, AttributeValue::S(value));
        }
        call.send()
    };
    update(
        table::HEAD_SK,
        "SET pending_since = :since, sweep_shard = :shard",
        vec![
            (":since", "2026-11-20T13:00:00Z".to_owned()),
            (":shard", shard),
        ],
    )
    .await
    .expect("head");
    for sequence in [1u64, 2] {
        update(
            &format!("seq#{sequence:020}"),
            "SET arrival_day = :day",
            vec![(":day", "2026-11-20".to_owned())],
        )
        .await
        .expect("event");
    }
    clock.set(T0 + Duration::minutes(5));
    let run = sweeper(&local, &clock, Metrics::default())
        .run(0)
        .await
        .expect("swept");
    assert_eq!(
        run["forwarded"].as_u64(),
        Some(0),
        "not in the sharded partitions: {run}"
    );
    let upgrading = |local: &Local| Sweeper {
        store: DynamoStore::new(local.dynamo.clone(), &local.table)
            .with_legacy_pending(table::PENDING_INDEX),
        ..sweeper(local, &clock, Metrics::default())
    };
    let run = upgrading(&local).run(0).await.expect("swept");
    assert_eq!(run["forwarded"].as_u64(), Some(2), "{run}");
    assert_eq!(
        sent(&local).await,
        [
            ("U".to_owned(), Some("pending".to_owned()), Some(1)),
            ("U".to_owned(), Some("paid".to_owned()), Some(2)),
        ]
    );
    let pending = local
        .dynamo
        .scan()
        .table_name(&local.table)
        .index_name(table::PENDING_INDEX)
        .send()
        .await
        .expect("scan by_pending");
    assert_eq!(pending.count(), 0, "by_pending is empty: the index can go");
    let run = upgrading(&local).run(0).await.expect("swept");
    assert_eq!(run["forwarded"].as_u64(), Some(0), "each once: {run}");
    assert_eq!(run["oldest_waiting_s"], Value::Null, "nothing waits");
}
