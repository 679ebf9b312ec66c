//! The delivery rule end to end (docs/delivery-semantics.md): the real handler, the real
//! DynamoDB and SQS adapters, the local server, and a clock the test moves. One test per row of
//! the rule's table, each counting what reaches the queue.

use aws_sdk_sqs::types::MessageSystemAttributeName;
use pipeline_tests::{answer, form_post, Local, TOKEN};
use serde_json::Value;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use webhook_core::clock::ManualClock;
use webhook_core::Envelope;
use webhook_iugu::{Family, Iugu};
use webhook_lambda::auth::Token;

/// 10:00 in São Paulo.
const T0: OffsetDateTime = datetime!(2026-11-20 13:00 UTC);
const SUSPENDED: &str = "event=subscription.suspended&data%5Bid%5D=S1&data%5Baccount_id%5D=A";
const ACTIVATED: &str = "event=subscription.activated&data%5Bid%5D=S1&data%5Baccount_id%5D=A";
const RENEWED: &str = "event=subscription.renewed&data%5Bid%5D=S1&data%5Baccount_id%5D=A\
                       &data%5Bcustomer_name%5D=John%20Doe&data%5Bcustomer_email%5D=john%40example.com";
const SUBSCRIPTIONS: Iugu = Iugu::family(Family::Subscriptions);

/// Delivers `body` at the clock's time; the answer's status and `status` (or `error`).
async fn deliver(local: &Local, clock: &ManualClock, body: &str) -> (u16, Value) {
    answer(
        &local
            .app_at(SUBSCRIPTIONS, clock)
            .handle(form_post(body))
            .await,
    )
}

/// What reached the queue: (event, sequence, repeat_of's sequence, de-duplication id).
async fn forwarded(local: &Local) -> Vec<(String, Option<u64>, Option<u64>, String)> {
    local
        .drain()
        .await
        .iter()
        .map(|m| {
            let envelope: Envelope =
                serde_json::from_str(m.body().unwrap_or_default()).expect("an envelope");
            let dedup_id = m
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::MessageDeduplicationId))
                .cloned()
                .unwrap_or_default();
            (
                envelope.event.to_string(),
                envelope.sequence,
                envelope.repeat_of.and_then(|r| r.sequence),
                dedup_id,
            )
        })
        .collect()
}

fn events(
    forwarded: &[(String, Option<u64>, Option<u64>, String)],
) -> Vec<(&str, u64, Option<u64>)> {
    forwarded
        .iter()
        .map(|(e, s, r, _)| (e.as_str(), s.unwrap_or_default(), *r))
        .collect()
}

/// Row 1: X, then X again 1 s, 10 min and 20 h later, nothing else in between: a gateway
/// retry. One message.
#[tokio::test]
async fn a_retry_within_the_window_is_forwarded_once() {
    let local = Local::new().await;
    let clock = ManualClock::at(T0);
    let (status, first) = deliver(&local, &clock, SUSPENDED).await;
    assert_eq!((status, first["status"].as_str()), (200, Some("stored")));
    for later in [
        Duration::seconds(1),
        Duration::minutes(10),
        Duration::hours(20),
    ] {
        clock.set(T0 + later);
        let (status, again) = deliver(&local, &clock, SUSPENDED).await;
        assert_eq!(
            (status, again["status"].as_str(), again["sequence"].as_u64()),
            (200, Some("duplicate"), Some(1)),
            "{later}: {again}"
        );
    }
    assert_eq!(
        events(&forwarded(&local).await),
        [("subscription.suspended", 1, None)]
    );
    assert_eq!(local.events().await.len(), 1);
}

/// Row 2: X, Y; then the operator asks iugu to resend that day (`recover resend`), and 2 days
/// later iugu delivers X and Y again, in order. Two messages.
#[tokio::test]
async fn a_resend_of_the_period_two_days_later_is_forwarded_once() {
    let local = Local::new().await;
    let clock = ManualClock::at(T0);
    deliver(&local, &clock, SUSPENDED).await;
    clock.set(T0 + Duration::minutes(1));
    deliver(&local, &clock, ACTIVATED).await;
    let first = forwarded(&local).await;
    assert_eq!(first.len(), 2);

    // What `recover resend --from 2026-11-20 --to 2026-11-20` records before asking iugu.
    let later = T0 + Duration::days(2);
    let table = recover::event_table::EventTable::new(local.dynamo.clone(), &local.table);
    let day = recover::windows::Window {
        from: time::macros::date!(2026 - 11 - 20),
        to: time::macros::date!(2026 - 11 - 20),
    };
    table
        .record_resend(
            &recover::resend::request_for_period(day, None, later),
            later,
        )
        .await
        .expect("recorded");

    for (i, body) in [SUSPENDED, ACTIVATED].into_iter().enumerate() {
        clock.set(later + Duration::seconds(i as i64));
        let (status, again) = deliver(&local, &clock, body).await;
        assert_eq!(
            (status, again["status"].as_str()),
            (200, Some("duplicate")),
            "{body}: {again}"
        );
    }
    assert!(
        forwarded(&local).await.is_empty(),
        "nothing new reached the queue"
    );
    assert_eq!(local.events().await.len(), 2);
}

/// Row 3: suspended, activated, suspended, minutes apart: three messages, the last flagged
/// as a repeat of the first, with a de-duplication id of its own.
#[tokio::test]
async fn suspended_activated_suspended_is_three_messages() {
    let local = Local::new().await;
    let clock = ManualClock::at(T0);
    for (minutes, body) in [(0, SUSPENDED), (3, ACTIVATED), (6, SUSPENDED)] {
        clock.set(T0 + Duration::minutes(minutes));
        let (status, _) = deliver(&local, &clock, body).await;
        assert_eq!(status, 200);
    }
    let sent = forwarded(&local).await;
    assert_eq!(
        events(&sent),
        [
            ("subscription.suspended", 1, None),
            ("subscription.activated", 2, None),
            ("subscription.suspended", 3, Some(1)),
        ]
    );
    assert_ne!(
        sent[0].3, sent[2].3,
        "SQS would drop the second for 5 minutes"
    );
    // The item says so too.
    let items = local.events().await;
    assert_eq!(
        pipeline_tests::text(&items[2], "repeat_of_received_at"),
        "2026-11-20T13:00:00.000000Z"
    );
}

/// Row 4: renewed, then renewed again 30 days later (iugu's body is the same every month):
/// two messages.
#[tokio::test]
async fn a_renewal_thirty_days_later_is_a_second_message() {
    let local = Local::new().await;
    let clock = ManualClock::at(T0);
    deliver(&local, &clock, RENEWED).await;
    clock.set(T0 + Duration::days(30));
    let (status, second) = deliver(&local, &clock, RENEWED).await;
    assert_eq!(
        (
            status,
            second["status"].as_str(),
            second["sequence"].as_u64()
        ),
        (200, Some("repeat"), Some(2))
    );
    let sent = local.drain().await;
    assert_eq!(sent.len(), 2);
    let second: Envelope = serde_json::from_str(sent[1].body().unwrap_or_default()).expect("json");
    let repeat_of = second.repeat_of.expect("flagged");
    assert_eq!((repeat_of.sequence, repeat_of.received_at), (Some(1), T0));
    assert_eq!(second.received_at, T0 + Duration::days(30));
}

/// Row 5: X answered 503 (the queue is down); Y arrives; then X is retried. X is forwarded
/// before Y, once; Y once.
#[tokio::test]
async fn a_notification_stored_while_the_queue_was_down_goes_before_the_next_once() {
    let local = Local::new().await;
    let clock = ManualClock::at(T0);
    let missing = format!("{}-missing.fifo", local.queue_url.trim_end_matches(".fifo"));
    let queue_down = webhook_lambda::http::App {
        delivery: local.app_at(SUBSCRIPTIONS, &clock).delivery,
        ..local.app_with(SUBSCRIPTIONS, Token::new(Some(TOKEN)), &missing)
    };
    let (status, x) = answer(&queue_down.handle(form_post(SUSPENDED)).await);
    assert_eq!((status, x["error"].as_str()), (503, Some("forward_failed")));

    clock.set(T0 + Duration::minutes(2));
    let (status, y) = deliver(&local, &clock, ACTIVATED).await;
    assert_eq!(
        (status, y["status"].as_str(), y["sequence"].as_u64()),
        (200, Some("stored"), Some(2))
    );
    clock.set(T0 + Duration::minutes(5));
    let (status, x_again) = deliver(&local, &clock, SUSPENDED).await;
    assert_eq!(
        (
            status,
            x_again["status"].as_str(),
            x_again["sequence"].as_u64()
        ),
        (200, Some("duplicate"), Some(1))
    );
    assert_eq!(
        events(&forwarded(&local).await),
        [
            ("subscription.suspended", 1, None),
            ("subscription.activated", 2, None),
        ]
    );
    let head = local.head("subscription#S1").await;
    assert_eq!((head.last_sequence, head.forwarded_sequence), (2, 2));
    assert!(
        head.unacked.is_empty(),
        "both answered 200 in the end: {head:?}"
    );
}

/// Against DynamoDB too: one resend request explains one delivery of a notification; a second
/// use of it (a racing delivery) is refused by the condition.
#[tokio::test]
async fn a_resend_request_is_used_once_per_notification_in_dynamodb() {
    use webhook_core::ingest::{EventStore, WriteError};
    let local = Local::new().await;
    let clock = ManualClock::at(T0);
    deliver(&local, &clock, SUSPENDED).await;
    let store = webhook_aws::DynamoStore::new(local.dynamo.clone(), &local.table);
    let envelope = webhook_iugu::parse(
        SUSPENDED.replace("%5B", "[").replace("%5D", "]").as_bytes(),
        T0,
    )
    .expect("valid");
    let seen = store.snapshot(&envelope).await.expect("read");
    store
        .use_resend(&envelope, &seen, "r1")
        .await
        .expect("first use");
    let again = store.use_resend(&envelope, &seen, "r1").await;
    assert!(matches!(again, Err(WriteError::Conflict)), "{again:?}");
    store
        .use_resend(&envelope, &seen, "r2")
        .await
        .expect("another request may explain another delivery");
}
