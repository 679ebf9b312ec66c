//! Operators' resends end to end (`recover resend` records a request naming each stored
//! notification it covers; the gateway then delivers them again): each named notification's
//! delivery is its resend once, whatever else has the same content, and a write of it that
//! committed but whose answer was lost is still this delivery's.

use pipeline_tests::wire::HttpFault;
use pipeline_tests::Local;
use time::Duration;
use webhook_core::clock::ManualClock;
use webhook_core::RepeatReason;

use crate::delivery_semantics::{
    deliver, deliver_minutes_apart, deliver_seconds_apart, record_resend_of_the_day, row, rows,
    ACTIVATED, RENEWED, SUSPENDED, T0,
};

/// Issue 21, 2(b): suspended, activated, suspended, all resent together: each delivery is its
/// own notification's resend. Before, the request explained one delivery per content, and the
/// second suspension went out as a third, new one.
#[tokio::test]
async fn a_resend_of_two_identical_notifications_sends_nothing_new() {
    let local = Local::new().await;
    let clock = ManualClock::at(T0);
    deliver_minutes_apart(
        &local,
        &clock,
        &[(0, SUSPENDED), (1, ACTIVATED), (2, SUSPENDED)],
    )
    .await;
    let later = T0 + Duration::days(2);
    assert_eq!(record_resend_of_the_day(&local, later).await, 3);
    let again =
        deliver_seconds_apart(&local, &clock, later, &[SUSPENDED, ACTIVATED, SUSPENDED]).await;
    for (i, (status, again)) in again.iter().enumerate() {
        assert_eq!(
            (*status, again["status"].as_str()),
            (200, Some("duplicate")),
            "{i}: {again}"
        );
    }
    assert_eq!(local.sends().len(), 3, "only the three first deliveries");
    // One more suspension while the request is open: every notification it named was
    // delivered again, so this one is forwarded, flagged.
    clock.set(later + Duration::minutes(1));
    let (status, fourth) = deliver(&local, &clock, SUSPENDED).await;
    assert_eq!((status, fourth["status"].as_str()), (200, Some("repeat")));
    assert_eq!(
        rows(&local.sends()).pop(),
        Some(row(
            "subscription.suspended",
            4,
            Some(3),
            Some(RepeatReason::ResendUnmatched)
        ))
    );
}

/// Issue 21, 2(a): October's renewal resent while November's identical renewal is stored: the
/// resend is October's. Before, the request was matched against the latest notification with
/// that content (November's, outside the period), and a third renewal was booked.
#[tokio::test]
async fn a_resend_of_an_older_renewal_is_not_a_third_renewal() {
    let local = Local::new().await;
    let clock = ManualClock::at(T0);
    deliver(&local, &clock, RENEWED).await;
    clock.set(T0 + Duration::days(30));
    deliver(&local, &clock, RENEWED).await;
    let later = T0 + Duration::days(32);
    assert_eq!(
        record_resend_of_the_day(&local, later).await,
        1,
        "the day holds October's only"
    );
    clock.set(later);
    let (status, again) = deliver(&local, &clock, RENEWED).await;
    assert_eq!(
        (status, again["status"].as_str(), again["sequence"].as_u64()),
        (200, Some("duplicate"), Some(1)),
        "{again}"
    );
    assert_eq!(local.sends().len(), 2);
}

/// Issue 21, 2(c): the write that takes a resend entry commits, but its answer is lost; the
/// SDK sends it again. Before, the repeated write failed its condition and the delivery was
/// judged again as a new occurrence (sent). Now the entry knows the delivery that used it.
#[tokio::test]
async fn a_resend_whose_write_answer_was_lost_is_still_the_resend() {
    let local = Local::new().await;
    let clock = ManualClock::at(T0);
    deliver_minutes_apart(&local, &clock, &[(0, SUSPENDED), (1, ACTIVATED)]).await;
    let later = T0 + Duration::days(2);
    record_resend_of_the_day(&local, later).await;
    // The delivery's first UpdateItem is the entry's use.
    local
        .wire
        .next("UpdateItem", HttpFault::CommitThenLoseAnswer);
    clock.set(later);
    let (status, again) = deliver(&local, &clock, SUSPENDED).await;
    assert_eq!(local.wire.spent(), 1, "the fault happened");
    assert_eq!(
        (status, again["status"].as_str(), again["sequence"].as_u64()),
        (200, Some("duplicate"), Some(1)),
        "{again}"
    );
    assert_eq!(local.sends().len(), 2, "nothing new was sent");
}

/// In DynamoDB: one entry explains one delivery; another delivery's use of it is refused by
/// the condition; the same delivery's use again succeeds.
#[tokio::test]
async fn a_resend_entry_is_used_by_one_delivery_in_dynamodb() {
    use webhook_core::ingest::{EventStore, WriteError};
    let local = Local::new().await;
    let clock = ManualClock::at(T0);
    deliver(&local, &clock, SUSPENDED).await;
    let later = T0 + Duration::days(2);
    record_resend_of_the_day(&local, later).await;
    let store = webhook_aws::DynamoStore::new(local.dynamo.clone(), &local.table);
    let envelope = webhook_iugu::parse(
        SUSPENDED.replace("%5B", "[").replace("%5D", "]").as_bytes(),
        later,
    )
    .expect("valid");
    let entries = store.resend_entries(&envelope, later).await.expect("read");
    let [entry] = entries.as_slice() else {
        panic!("one entry: {entries:?}")
    };
    assert_eq!(
        (entry.entity_key.as_str(), entry.sequence),
        ("subscription#S1", 1)
    );
    store.use_resend(entry, "d1").await.expect("first use");
    store
        .use_resend(entry, "d1")
        .await
        .expect("the same delivery again");
    let other = store.use_resend(entry, "d2").await;
    assert!(matches!(other, Err(WriteError::Conflict)), "{other:?}");
    let read = store.resend_entries(&envelope, later).await.expect("read");
    assert_eq!(read[0].used_by.as_deref(), Some("d1"));
}
