//! What could keep an entity stuck, end to end: a stored notification that no longer reads as
//! what it was stored as, waiting notifications past their retention, an operator's skip, and a
//! backlog longer than one request forwards. Each ends with the entity going on, in order, and
//! the consumer told (a gap record in the notification's place).

use std::sync::Arc;

use pipeline_tests::Local;
use time::Duration;
use webhook_core::clock::{Clock, ManualClock};
use webhook_core::ingest::MAX_FORWARDS_PER_DELIVERY;
use webhook_core::GapReason;
use webhook_lambda::sweeper::Sweeper;

use crate::delivery_semantics::{deliver_while_the_queue_is_down, ACTIVATED, SUSPENDED, T0};

const PK: &str = "subscription#S1";

fn sweeper(local: &Local, clock: &ManualClock) -> Sweeper {
    sweeper_to(local, clock, &local.queue_url)
}

/// A sweeper that sends to `queue_url` (a missing queue: the queue is down).
pub(crate) fn sweeper_to(local: &Local, clock: &ManualClock, queue_url: &str) -> Sweeper {
    Sweeper {
        store: webhook_aws::DynamoStore::new(local.dynamo.clone(), &local.table),
        forwarder: webhook_aws::SqsForwarder::new(local.sqs.clone(), queue_url),
        settings: Default::default(),
        metrics: Default::default(),
        clock: Arc::new(clock.clone()),
        parsers: &webhook_gateways::ALL,
    }
}

/// (sequence, gap reason) of every message sent, in order.
fn sent(local: &Local) -> Vec<(u64, Option<GapReason>)> {
    local
        .sends()
        .iter()
        .map(|s| {
            let e = s.envelope();
            (e.sequence.unwrap_or_default(), e.gap.map(|g| g.reason))
        })
        .collect()
}

/// Issue 21, item 4: a parser change makes a waiting notification's stored body parse to
/// another key. Before, every later delivery of the entity answered 503 until the item
/// expired. Now it is set aside (with its reason, listed by `recover aside`), a gap record
/// takes its place, and the entity goes on.
#[tokio::test]
async fn an_unreadable_waiting_notification_is_set_aside_and_the_entity_goes_on() {
    let local = Local::new().await;
    let clock = ManualClock::at(T0);
    deliver_while_the_queue_is_down(&local, &clock, SUSPENDED).await;
    // What a parser or key-rule change does to it: the body now reads as another entity's.
    let elsewhere = SUSPENDED
        .replace("S1", "S9")
        .replace("%5B", "[")
        .replace("%5D", "]");
    local.rewrite_raw_body(PK, 1, &elsewhere).await;
    clock.set(T0 + Duration::minutes(1));
    let (metrics, lines) = webhook_lambda::metrics::Metrics::captured("WebhookTest");
    let app = webhook_lambda::http::App {
        metrics,
        ..local.app_at(crate::delivery_semantics::SUBSCRIPTIONS, &clock)
    };
    let (status, next) =
        pipeline_tests::answer(&app.handle(pipeline_tests::form_post(ACTIVATED)).await);
    assert_eq!(
        (status, next["status"].as_str(), next["sequence"].as_u64()),
        (200, Some("stored"), Some(2)),
        "{next}"
    );
    let gaps: Vec<serde_json::Value> = lines
        .lock()
        .expect("lock")
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|doc| doc.get("GapRecords").is_some())
        .collect();
    assert_eq!(gaps.len(), 1, "one GapRecords line");
    assert_eq!(gaps[0]["GapRecords"], 1);
    assert_eq!(sent(&local), [(1, Some(GapReason::Unreadable)), (2, None)]);
    let gap = local.sends()[0].envelope();
    assert_eq!(
        (
            gap.event.as_str(),
            gap.entity_key.as_str(),
            gap.data.as_json()
        ),
        ("subscription.suspended", PK, Some(&serde_json::Value::Null)),
        "names and keys, no data"
    );
    let item = &local.events().await[0];
    assert_eq!(pipeline_tests::text(item, "aside_reason"), "unreadable");
    let table = recover::event_table::EventTable::new(local.dynamo.clone(), &local.table);
    let aside = table.aside(clock.now()).await.expect("listed");
    assert_eq!(
        aside
            .iter()
            .map(|a| (a.entity_key.as_str(), a.sequence, a.gap.reason))
            .collect::<Vec<_>>(),
        [(PK, 1, GapReason::Unreadable)]
    );
    let head = local.head(PK).await;
    assert_eq!((head.last_sequence, head.forwarded_sequence), (2, 2));
}

/// Issue 21, item 4: an entity whose waiting notifications all expired stayed pending for ever
/// (and kept the unforwarded alarm firing). Now the sweeper sends a gap record for each, and
/// the entity is no longer pending.
#[tokio::test]
async fn waiting_notifications_past_their_retention_become_gaps() {
    let local = Local::new().await;
    let clock = ManualClock::at(T0);
    deliver_while_the_queue_is_down(&local, &clock, SUSPENDED).await;
    clock.set(T0 + Duration::minutes(1));
    deliver_while_the_queue_is_down(&local, &clock, ACTIVATED).await;
    // The sweeper runs while the queue stays down: it lists the entity and fails to forward.
    let missing = local.missing_queue_url();
    clock.set(T0 + Duration::minutes(5));
    let down = sweeper_to(&local, &clock, &missing)
        .run(0)
        .await
        .expect("ran");
    assert_eq!(
        (down["forwarded"].as_u64(), down["failed"].as_u64()),
        (Some(0), Some(1)),
        "{down}"
    );
    clock.set(T0 + Duration::days(91));
    let run = sweeper(&local, &clock).run(0).await.expect("swept");
    assert_eq!(
        (run["forwarded"].as_u64(), run["gaps"].as_u64()),
        (Some(2), Some(2)),
        "{run}"
    );
    assert_eq!(
        run["oldest_waiting_s"],
        serde_json::Value::Null,
        "nothing waits"
    );
    assert_eq!(
        sent(&local),
        [(1, Some(GapReason::Expired)), (2, Some(GapReason::Expired))]
    );
    let head = local.head(PK).await;
    assert_eq!(head.forwarded_sequence, 2);
}

/// `recover skip`: an operator sets a waiting notification aside; the next forward of its
/// entity sends a gap record with the operator's reason. A forwarded one cannot be skipped.
#[tokio::test]
async fn an_operator_skips_a_waiting_notification() {
    let local = Local::new().await;
    let clock = ManualClock::at(T0);
    deliver_while_the_queue_is_down(&local, &clock, SUSPENDED).await;
    let table = recover::event_table::EventTable::new(local.dynamo.clone(), &local.table);
    table
        .skip(PK, 1, "ticket 123", T0)
        .await
        .expect("set aside");
    clock.set(T0 + Duration::minutes(5));
    sweeper(&local, &clock).run(0).await.expect("swept");
    let sends = local.sends();
    let gap = sends[0].envelope().gap.expect("a gap record");
    assert_eq!(
        (gap.reason, gap.detail.as_str()),
        (GapReason::Skipped, "ticket 123")
    );
    let refused = table.skip(PK, 1, "again", T0).await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.to_string().contains("only one still waiting")),
        "{refused:?}"
    );
}

/// Issue 21, item 5: one request forwards at most `MAX_FORWARDS_PER_DELIVERY` messages. Behind
/// a longer backlog it sends the first of them, marks them, and answers 503 `forward_backlog`
/// (its own notification is stored and owed); the sweeper, in marked chunks, and the retry
/// send the rest: every one once, in order.
#[tokio::test]
async fn a_long_backlog_is_forwarded_in_bounded_steps_in_order() {
    let local = Local::new().await;
    let clock = ManualClock::at(T0);
    let body = |i: u64| {
        format!(
            "event=invoice.status_changed&data%5Bid%5D=F1&data%5Bstatus%5D=s{i}\
             &data%5Baccount_id%5D=A"
        )
    };
    let invoices = webhook_iugu::Iugu::family(webhook_iugu::Family::Invoices);
    let down = local.app_with_the_queue_down(invoices, &clock);
    // More than one delivery forwards (`MAX_FORWARDS_PER_DELIVERY`, 25).
    let backlog: u64 = 45;
    for i in 1..=backlog {
        let (status, _) =
            pipeline_tests::answer(&down.handle(pipeline_tests::form_post(&body(i))).await);
        assert_eq!(status, 503);
    }
    let head = local.head("invoice#F1").await;
    assert_eq!(
        head.unacked.keys().copied().collect::<Vec<_>>(),
        (1..=backlog).collect::<Vec<_>>(),
        "each owed its answer, by the write that stored it"
    );
    clock.set(T0 + Duration::minutes(10));
    let up = local.app_at(invoices, &clock);
    let (status, answer) = pipeline_tests::answer(
        &up.handle(pipeline_tests::form_post(&body(backlog + 1)))
            .await,
    );
    assert_eq!(
        (status, answer["error"].as_str()),
        (503, Some("forward_backlog")),
        "{answer}"
    );
    assert_eq!(local.sends().len() as u64, MAX_FORWARDS_PER_DELIVERY);
    assert_eq!(
        local.head("invoice#F1").await.forwarded_sequence,
        MAX_FORWARDS_PER_DELIVERY,
        "what was sent is marked"
    );
    let run = sweeper(&local, &clock).run(0).await.expect("swept");
    assert_eq!(run["forwarded"].as_u64(), Some(20), "the older rest, {run}");
    // The gateway's retry: its own notification is the last.
    clock.set(T0 + Duration::minutes(15));
    let (status, retry) = pipeline_tests::answer(
        &up.handle(pipeline_tests::form_post(&body(backlog + 1)))
            .await,
    );
    assert_eq!((status, retry["status"].as_str()), (200, Some("duplicate")));
    let sequences: Vec<u64> = sent(&local).iter().map(|(n, _)| *n).collect();
    assert_eq!(
        sequences,
        (1..=backlog + 1).collect::<Vec<_>>(),
        "in order, once"
    );
}
