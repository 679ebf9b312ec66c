use std::sync::Arc;

use serde_json::{json, Value};
use time::macros::datetime;
use webhook_core::clock::ManualClock;

use super::*;
use crate::batch::Fate;
use crate::confirm::Lookup;
use crate::memory::{FixedApi, MemoryLedger, Recorder};

type TestConsumer = Consumer<MemoryLedger, FixedApi, Recorder>;

fn consumer() -> (TestConsumer, MemoryLedger, FixedApi, Recorder) {
    let ledger = MemoryLedger::default();
    let api = FixedApi::default();
    let business = Recorder::default();
    let clock = Arc::new(ManualClock::at(datetime!(2026-11-20 13:00 UTC)));
    let consumer = Consumer::new(ledger.clone(), api.clone(), business.clone(), clock);
    (consumer, ledger, api, business)
}

/// An iugu envelope's JSON: `event` on invoice or subscription `X1`, sequence `n`.
fn message(event: &str, n: u64, status: Option<&str>) -> Value {
    let entity_type = event.split('.').next().unwrap_or_default();
    let mut data = json!({"id": "X1", "payer_cpf_cnpj": "66535209008"});
    if let Some(s) = status {
        data["status"] = s.into();
    }
    json!({
        "schema_version": 2, "provider": "iugu", "event": event, "family": "f",
        "entity_type": entity_type, "entity_id": "X1",
        "entity_key": format!("{entity_type}#X1"), "status": status,
        "dedup_key": format!("{event}-{}", status.unwrap_or("")), "sequence": n,
        "received_at": "2026-11-20T13:00:00Z", "data": data
    })
}

fn record(id: &str, body: &Value) -> Record {
    Record {
        message_id: id.to_owned(),
        group: body["entity_key"].as_str().map(str::to_owned),
        body: body.to_string(),
    }
}

fn with_repeat(mut body: Value, of: u64, reason: &str) -> Value {
    body["repeat_of"] =
        json!({"sequence": of, "received_at": "2026-11-20T12:00:00Z", "reason": reason});
    body
}

fn gap_record(event: &str, n: u64) -> Value {
    let mut body = message(event, n, None);
    body["data"] = Value::Null;
    body["gap"] = json!({"reason": "unreadable", "detail": "its stored body no longer parses"});
    body
}

fn statuses(ledger: &MemoryLedger, entity: &str) -> Vec<(u64, Status)> {
    ledger
        .rows(entity)
        .iter()
        .map(|r| (r.entry.sequence, r.entry.status))
        .collect()
}

fn booked_sequences(business: &Recorder) -> Vec<u64> {
    business
        .booked()
        .iter()
        .filter_map(|b| b.sequence)
        .collect()
}

#[tokio::test]
async fn each_sequence_is_booked_once_and_a_copy_is_skipped() {
    let (consumer, ledger, _, business) = consumer();
    for n in 1..=3 {
        let body = message("subscription.activated", n, None);
        assert_eq!(
            consumer.handle(&record("m", &body)).await,
            Ok(Outcome::Booked)
        );
    }
    // A copy after SQS's 5 minutes, and a replay of all three.
    for n in [2, 1, 2, 3] {
        let body = message("subscription.activated", n, None);
        assert_eq!(
            consumer.handle(&record("m", &body)).await,
            Ok(Outcome::Copy)
        );
    }
    assert_eq!(booked_sequences(&business), [1, 2, 3]);
    let head = ledger.head_of("subscription#X1");
    assert_eq!((head.watermark, head.highest), (3, 3));
    assert_eq!(business.booked()[0].id, "subscription#X1#1");
}

/// The issue's case: N fails 5 times and goes to the dead-letter queue; N+1 is booked; N is
/// redriven and booked, marked late, with what was booked since. The old rule ("skip what is
/// at or below the last sequence") would have skipped it.
#[tokio::test]
async fn a_redriven_message_is_booked_late_not_skipped() {
    let (consumer, ledger, _, business) = consumer();
    business.fail(1);
    let n = message("subscription.suspended", 1, None);
    let n1 = message("subscription.activated", 2, None);
    for _ in 0..5 {
        assert!(matches!(
            consumer.handle(&record("n", &n)).await,
            Err(Failure::Business(_))
        ));
    }
    assert!(
        ledger.rows("subscription#X1").is_empty(),
        "each failure gave its claim up"
    );
    assert_eq!(
        consumer.handle(&record("n1", &n1)).await,
        Ok(Outcome::Booked)
    );
    business.fixed();
    assert_eq!(
        consumer.handle(&record("n", &n)).await,
        Ok(Outcome::BookedLate)
    );
    let booked = business.booked();
    assert_eq!(
        booked[0].missing_before,
        Some((1, 1)),
        "N+1 knew N was missing"
    );
    assert_eq!(booked[1].sequence, Some(1));
    assert_eq!(booked[1].late_after, Some(vec![2]), "N knew N+1 came first");
    let head = ledger.head_of("subscription#X1");
    assert_eq!((head.watermark, head.highest), (2, 2));
    assert_eq!(consumer.handle(&record("n", &n)).await, Ok(Outcome::Copy));
}

#[tokio::test]
async fn a_gap_record_is_booked_as_not_received_and_its_notification_later_fills_it() {
    let (consumer, ledger, api, business) = consumer();
    api.answer(
        Lookup::IuguSubscription("X1".to_owned()),
        Ok(Snapshot::IuguSubscription {
            active: Some(true),
            suspended: Some(true),
            expires_at: None,
        }),
    );
    let gap = gap_record("subscription.suspended", 1);
    assert_eq!(consumer.handle(&record("g", &gap)).await, Ok(Outcome::Gap));
    assert_eq!(
        business.booked()[0].confirmation,
        "fetched",
        "told the entity's state now"
    );
    assert_eq!(consumer.handle(&record("g", &gap)).await, Ok(Outcome::Copy));
    let next = message("subscription.activated", 2, None);
    assert_eq!(
        consumer.handle(&record("m", &next)).await,
        Ok(Outcome::Booked)
    );
    // The parser is fixed; `recover replay --all` sends the notification itself.
    let body = message("subscription.suspended", 1, None);
    assert_eq!(
        consumer.handle(&record("m", &body)).await,
        Ok(Outcome::BookedLate)
    );
    assert_eq!(
        statuses(&ledger, "subscription#X1"),
        [(1, Status::Booked), (2, Status::Booked)]
    );
    assert!(ledger.head_of("subscription#X1").gaps.is_empty());
    assert_eq!(
        consumer.handle(&record("m", &body)).await,
        Ok(Outcome::Copy)
    );
    let booked = business.booked();
    assert!(booked[0].gap && !booked[2].gap);
}

#[tokio::test]
async fn a_paid_the_api_calls_pending_is_kept_aside_counted_and_not_booked() {
    let (mut consumer, ledger, api, business) = consumer();
    let (metrics, lines) = Metrics::captured("Test");
    consumer.metrics = metrics;
    api.answer(
        Lookup::IuguInvoice("X1".to_owned()),
        Ok(Snapshot::IuguInvoice {
            status: "pending".to_owned(),
            paid_cents: None,
            total_cents: Some(1000),
        }),
    );
    let forged = message("invoice.status_changed", 1, Some("paid"));
    assert_eq!(
        consumer.handle(&record("f", &forged)).await,
        Ok(Outcome::Contradicted)
    );
    assert!(business.booked().is_empty());
    assert_eq!(statuses(&ledger, "invoice#X1"), [(1, Status::Contradicted)]);
    let aside = ledger.aside("invoice#X1");
    assert_eq!(aside.len(), 1);
    assert_eq!(
        aside[0].envelope,
        forged.to_string(),
        "the notification as received"
    );
    assert!(
        aside[0].api.contains("\"status\":\"pending\""),
        "{}",
        aside[0].api
    );
    let first = lines.lock().expect("lines")[0].clone();
    let doc: Value = serde_json::from_str(&first).expect("an EMF line");
    assert_eq!(
        (doc["Outcome"].as_str(), doc["Messages"].as_u64()),
        (Some("contradicted"), Some(1))
    );
    // The same message again (a copy) is not set aside twice.
    assert_eq!(
        consumer.handle(&record("f", &forged)).await,
        Ok(Outcome::Copy)
    );
}

#[tokio::test]
async fn a_paid_the_api_confirms_is_booked_with_what_it_said() {
    let (consumer, _, api, business) = consumer();
    api.answer(
        Lookup::IuguInvoice("X1".to_owned()),
        Ok(Snapshot::IuguInvoice {
            status: "paid".to_owned(),
            paid_cents: Some(1000),
            total_cents: Some(1000),
        }),
    );
    let paid = message("invoice.status_changed", 1, Some("paid"));
    assert_eq!(
        consumer.handle(&record("p", &paid)).await,
        Ok(Outcome::Booked)
    );
    assert_eq!(business.booked()[0].confirmation, "confirmed");
    assert_eq!(api.calls(), [Lookup::IuguInvoice("X1".to_owned())]);
}

#[tokio::test]
async fn a_possible_retry_the_api_shows_to_be_stale_is_a_copy_not_booked() {
    let (consumer, ledger, api, business) = consumer();
    api.answer(
        Lookup::IuguSubscription("X1".to_owned()),
        Ok(Snapshot::IuguSubscription {
            active: Some(true),
            suspended: Some(false),
            expires_at: None,
        }),
    );
    for (n, event) in [(1, "subscription.suspended"), (2, "subscription.activated")] {
        let body = message(event, n, None);
        assert_eq!(
            consumer.handle(&record("m", &body)).await,
            Ok(Outcome::Booked)
        );
    }
    let retry = with_repeat(
        message("subscription.suspended", 3, None),
        1,
        "possible_retry",
    );
    assert_eq!(
        consumer.handle(&record("r", &retry)).await,
        Ok(Outcome::ApiCopy)
    );
    assert_eq!(booked_sequences(&business), [1, 2]);
    assert_eq!(
        statuses(&ledger, "subscription#X1"),
        [(1, Status::Booked), (2, Status::Booked), (3, Status::Copy)]
    );
    assert_eq!(ledger.head_of("subscription#X1").watermark, 3);
}

#[tokio::test]
async fn an_api_that_is_down_fails_the_message_and_nothing_is_written() {
    let (consumer, ledger, api, business) = consumer();
    api.answer(
        Lookup::IuguInvoice("X1".to_owned()),
        Err(ApiError::Unavailable("iugu", "503".to_owned())),
    );
    let paid = message("invoice.status_changed", 1, Some("paid"));
    assert!(matches!(
        consumer.handle(&record("p", &paid)).await,
        Err(Failure::Api(ApiError::Unavailable(..)))
    ));
    assert!(ledger.rows("invoice#X1").is_empty());
    assert!(business.booked().is_empty());
}

#[tokio::test]
async fn a_batch_fails_the_rest_of_a_failed_group_and_books_the_other_groups() {
    let (consumer, _, api, business) = consumer();
    api.answer(
        Lookup::IuguInvoice("X1".to_owned()),
        Err(ApiError::Unavailable("iugu", "timeout".to_owned())),
    );
    let mut other = message("subscription.activated", 1, None);
    other["entity_key"] = "subscription#Y".into();
    let records = [
        record("a1", &message("invoice.status_changed", 1, Some("paid"))),
        record("b1", &other),
        record("a2", &message("invoice.created", 2, Some("pending"))),
    ];
    let fates = consumer.handle_batch(&records, None).await;
    assert!(matches!(fates[0], Fate::Failed(Failure::Api(_))));
    assert_eq!(fates[1], Fate::Done(Outcome::Booked));
    assert_eq!(fates[2], Fate::Held, "not booked before its group's first");
    assert_eq!(crate::batch::failures(&records, &fates), ["a1", "a2"]);
    assert_eq!(business.booked().len(), 1);
}

#[tokio::test]
async fn a_live_claim_of_another_consumer_fails_the_message_and_an_expired_one_is_taken_over() {
    let (consumer, ledger, _, business) = consumer();
    let now = consumer.clock.now();
    let claim = |token, expires_at| ClaimRequest {
        slot: Slot::Sequence(1),
        token,
        now,
        expires_at,
        event: "subscription.activated",
        dedup_key: "subscription.activated-",
        may_fill_gap: true,
    };
    let other = ledger
        .claim(
            "subscription#X1",
            &claim("other", now + time::Duration::minutes(5)),
        )
        .await;
    assert_eq!(other, Ok(Claim::Claimed { filled_gap: false }));
    let body = message("subscription.activated", 1, None);
    assert_eq!(
        consumer.handle(&record("m", &body)).await,
        Err(Failure::Busy)
    );
    assert!(business.booked().is_empty());
    // The other consumer died; its claim expires.
    let stale = ledger
        .release("subscription#X1", Slot::Sequence(1), "other", false)
        .await;
    assert_eq!(stale, Ok(()));
    let expired = ledger
        .claim(
            "subscription#X1",
            &claim("dead", now - time::Duration::seconds(1)),
        )
        .await;
    assert_eq!(expired, Ok(Claim::Claimed { filled_gap: false }));
    assert_eq!(
        consumer.handle(&record("m", &body)).await,
        Ok(Outcome::Booked)
    );
}

#[tokio::test]
async fn other_content_under_a_booked_sequence_fails_rather_than_be_dropped() {
    let (consumer, _, _, business) = consumer();
    let first = message("subscription.activated", 1, None);
    assert_eq!(
        consumer.handle(&record("m", &first)).await,
        Ok(Outcome::Booked)
    );
    // Within the watermark a copy is known from the head alone; above it, the row decides.
    let second = message("subscription.activated", 2, None);
    assert_eq!(
        consumer.handle(&record("m", &second)).await,
        Ok(Outcome::Booked)
    );
    let mut other = message("subscription.suspended", 3, None);
    assert_eq!(
        consumer.handle(&record("m", &other)).await,
        Ok(Outcome::Booked)
    );
    // Sequence 5 settled before 4: 5 is above the watermark.
    let five = message("subscription.renewed", 5, None);
    assert_eq!(
        consumer.handle(&record("m", &five)).await,
        Ok(Outcome::Booked)
    );
    other["sequence"] = 5.into();
    assert!(matches!(
        consumer.handle(&record("m", &other)).await,
        Err(Failure::Mismatch(5, _))
    ));
    assert_eq!(booked_sequences(&business), [1, 2, 3, 5]);
}

#[tokio::test]
async fn no_message_starts_when_the_invocation_is_out_of_time() {
    let (consumer, ledger, _, _) = consumer();
    let records = [record("m", &message("subscription.activated", 1, None))];
    let past = Instant::now();
    let fates = consumer.handle_batch(&records, Some(past)).await;
    assert_eq!(fates, [Fate::Failed(Failure::Deadline)]);
    assert!(ledger.rows("subscription#X1").is_empty());
}

#[tokio::test]
async fn a_smoke_test_is_skipped_and_a_newer_shape_fails() {
    let (consumer, _, _, business) = consumer();
    let mut smoke = message("subscription.activated", 1, None);
    smoke["event"] = "smoke.test".into();
    assert_eq!(
        consumer.handle(&record("s", &smoke)).await,
        Ok(Outcome::Skipped)
    );
    let mut newer = message("subscription.activated", 1, None);
    newer["schema_version"] = 3.into();
    assert!(matches!(
        consumer.handle(&record("n", &newer)).await,
        Err(Failure::Unreadable(MessageError::NewerSchema(3)))
    ));
    assert!(business.booked().is_empty());
}
