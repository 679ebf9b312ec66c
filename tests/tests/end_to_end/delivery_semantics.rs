//! The delivery rule end to end (docs/delivery-semantics.md): the real handler, the real
//! DynamoDB and SQS adapters, the local server, and a clock the test moves. One test per row of
//! the rule's table, each counting what the queue accepted (every send: the local server
//! de-duplicates by the real clock, AWS by the 5 minutes that, in these tests, are hours or
//! days; see `pipeline_tests::wire`).

use pipeline_tests::wire::Sent;
use pipeline_tests::{answer, form_post, Local};
use serde_json::Value;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use webhook_core::clock::ManualClock;
use webhook_core::RepeatReason;
use webhook_iugu::{Family, Iugu};

/// 10:00 in São Paulo.
pub const T0: OffsetDateTime = datetime!(2026-11-20 13:00 UTC);
pub const SUSPENDED: &str = "event=subscription.suspended&data%5Bid%5D=S1&data%5Baccount_id%5D=A";
pub const ACTIVATED: &str = "event=subscription.activated&data%5Bid%5D=S1&data%5Baccount_id%5D=A";
pub const RENEWED: &str = "event=subscription.renewed&data%5Bid%5D=S1&data%5Baccount_id%5D=A\
                       &data%5Bcustomer_name%5D=John%20Doe&data%5Bcustomer_email%5D=john%40example.com";
pub const SUBSCRIPTIONS: Iugu = Iugu::family(Family::Subscriptions);

/// Delivers `body` at the clock's time; the answer's status and body.
pub async fn deliver(local: &Local, clock: &ManualClock, body: &str) -> (u16, Value) {
    answer(
        &local
            .app_at(SUBSCRIPTIONS, clock)
            .handle(form_post(body))
            .await,
    )
}

/// Delivers each body at `T0` plus its minutes, in order; each is answered 200.
pub async fn deliver_minutes_apart(local: &Local, clock: &ManualClock, deliveries: &[(i64, &str)]) {
    for &(minutes, body) in deliveries {
        clock.set(T0 + Duration::minutes(minutes));
        let (status, answer) = deliver(local, clock, body).await;
        assert_eq!(status, 200, "{body}: {answer}");
    }
}

/// The gateway's resend: each body delivered again, a second apart from `at`; the answers.
pub async fn deliver_seconds_apart(
    local: &Local,
    clock: &ManualClock,
    at: OffsetDateTime,
    bodies: &[&str],
) -> Vec<(u16, Value)> {
    let mut answers = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        clock.set(at + Duration::seconds(i as i64));
        answers.push(deliver(local, clock, body).await);
    }
    answers
}

/// Delivers `body` while the queue refuses every send: stored, answered 503.
pub async fn deliver_while_the_queue_is_down(local: &Local, clock: &ManualClock, body: &str) {
    let queue_down = local.app_with_the_queue_down(SUBSCRIPTIONS, clock);
    let (status, x) = answer(&queue_down.handle(form_post(body)).await);
    assert_eq!((status, x["error"].as_str()), (503, Some("forward_failed")));
}

/// A message as the consumer gets it: event, sequence, `repeat_of`'s sequence and reason.
pub type Row = (String, u64, Option<u64>, Option<RepeatReason>);

pub fn rows(sends: &[Sent]) -> Vec<Row> {
    sends
        .iter()
        .map(|s| {
            let e = s.envelope();
            (
                e.event.to_string(),
                e.sequence.unwrap_or_default(),
                e.repeat_of.and_then(|r| r.sequence),
                e.repeat_of.and_then(|r| r.reason),
            )
        })
        .collect()
}

pub fn row(event: &str, n: u64, of: Option<u64>, reason: Option<RepeatReason>) -> Row {
    (event.to_owned(), n, of, reason)
}

/// Suspended (owed), activated, suspended again: the last flagged as a possible retry.
fn suspended_activated_suspended_again() -> [Row; 3] {
    [
        row("subscription.suspended", 1, None, None),
        row("subscription.activated", 2, None, None),
        row(
            "subscription.suspended",
            3,
            Some(1),
            Some(RepeatReason::PossibleRetry),
        ),
    ]
}

/// Row: X, then X again 1 s, 10 min and 20 h later, nothing else in between: a gateway
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
        rows(&local.sends()),
        [row("subscription.suspended", 1, None, None)],
        "one send in all"
    );
    assert_eq!(local.events().await.len(), 1);
}

/// Row: X, Y; then the operator asks iugu to resend that day (`recover resend`), and 2 days
/// later iugu delivers X and Y again, in order. Two messages.
#[tokio::test]
async fn a_resend_of_the_period_two_days_later_is_forwarded_once() {
    let local = Local::new().await;
    let clock = ManualClock::at(T0);
    deliver_minutes_apart(&local, &clock, &[(0, SUSPENDED), (1, ACTIVATED)]).await;
    assert_eq!(local.sends().len(), 2);

    // What `recover resend --from 2026-11-20 --to 2026-11-20` records before asking iugu.
    let later = T0 + Duration::days(2);
    let named = record_resend_of_the_day(&local, later).await;
    assert_eq!(named, 2, "the request names both stored notifications");

    for (status, again) in
        deliver_seconds_apart(&local, &clock, later, &[SUSPENDED, ACTIVATED]).await
    {
        assert_eq!(
            (status, again["status"].as_str()),
            (200, Some("duplicate")),
            "{again}"
        );
    }
    assert_eq!(local.sends().len(), 2, "nothing new was sent");
    assert_eq!(local.events().await.len(), 2);
}

/// What `recover resend --from 2026-11-20 --to 2026-11-20` records at `now`; how many stored
/// notifications it names.
pub async fn record_resend_of_the_day(local: &Local, now: OffsetDateTime) -> usize {
    let table = recover::event_table::EventTable::new(local.dynamo.clone(), &local.table);
    let day = recover::windows::Window {
        from: time::macros::date!(2026 - 11 - 20),
        to: time::macros::date!(2026 - 11 - 20),
    };
    table
        .record_resend(&recover::resend::request_for_period(day, None, now), now)
        .await
        .expect("recorded")
}

/// Row: suspended, activated, suspended, minutes apart: three messages, the last flagged as a
/// repeat of the first (`after_other`), with a de-duplication id of its own.
#[tokio::test]
async fn suspended_activated_suspended_is_three_messages() {
    let local = Local::new().await;
    let clock = ManualClock::at(T0);
    deliver_minutes_apart(
        &local,
        &clock,
        &[(0, SUSPENDED), (3, ACTIVATED), (6, SUSPENDED)],
    )
    .await;
    let sent = local.sends();
    assert_eq!(
        rows(&sent),
        [
            row("subscription.suspended", 1, None, None),
            row("subscription.activated", 2, None, None),
            row(
                "subscription.suspended",
                3,
                Some(1),
                Some(RepeatReason::AfterOther)
            ),
        ]
    );
    assert_ne!(
        sent[0].deduplication_id, sent[2].deduplication_id,
        "SQS would drop the second for 5 minutes"
    );
    // The item says so too.
    let items = local.events().await;
    assert_eq!(
        pipeline_tests::text(&items[2], "repeat_of_received_at"),
        "2026-11-20T13:00:00.000000Z"
    );
    assert_eq!(
        pipeline_tests::text(&items[2], "repeat_of_reason"),
        "after_other"
    );
}

/// Row: renewed, then renewed again 30 days later (iugu's body is the same every month): two
/// messages, the second flagged `after_window`.
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
    let sent = local.sends();
    assert_eq!(
        rows(&sent),
        [
            row("subscription.renewed", 1, None, None),
            row(
                "subscription.renewed",
                2,
                Some(1),
                Some(RepeatReason::AfterWindow)
            ),
        ]
    );
    let second = sent[1].envelope();
    assert_eq!(second.repeat_of.map(|r| r.received_at), Some(T0));
    assert_eq!(second.received_at, T0 + Duration::days(30));
    assert_eq!(second.schema_version, webhook_core::SCHEMA_VERSION);
}

/// Row: X answered 503 (the queue is down); Y arrives; then X is retried. X before Y, once
/// each, and X's retry forwarded again, flagged `possible_retry`: it may be the gateway's
/// retry of X or X happening again, and nothing but the gateway's API can tell.
#[tokio::test]
async fn a_retry_owed_after_other_notifications_is_forwarded_flagged() {
    let local = Local::new().await;
    let clock = ManualClock::at(T0);
    deliver_while_the_queue_is_down(&local, &clock, SUSPENDED).await;
    assert_eq!(
        local
            .head("subscription#S1")
            .await
            .unacked
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        [1],
        "owed its answer by the very write that stored it"
    );

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
        (200, Some("repeat"), Some(3))
    );
    assert_eq!(rows(&local.sends()), suspended_activated_suspended_again());
    let head = local.head("subscription#S1").await;
    assert_eq!((head.last_sequence, head.forwarded_sequence), (3, 3));
    assert_eq!(
        head.unacked.keys().copied().collect::<Vec<_>>(),
        [1],
        "only X#1 never got its 200"
    );
}

/// Issue 21's reproduction: S answered 503; the gateway gives up; the sweeper forwards S;
/// activated; the subscription is suspended again (the byte-identical body). Before, the owed
/// record made the last a retry: 200 `duplicate`, nothing sent, the consumer left with
/// "active". Now it is stored and forwarded, flagged.
#[tokio::test]
async fn a_real_suspension_after_a_swept_owed_one_is_forwarded() {
    let local = Local::new().await;
    let clock = ManualClock::at(T0);
    deliver_while_the_queue_is_down(&local, &clock, SUSPENDED).await;
    clock.set(T0 + Duration::minutes(30));
    let sweeper = webhook_lambda::sweeper::Sweeper {
        store: webhook_aws::DynamoStore::new(local.dynamo.clone(), &local.table),
        forwarder: webhook_aws::SqsForwarder::new(local.sqs.clone(), &local.queue_url),
        settings: Default::default(),
        metrics: Default::default(),
        clock: std::sync::Arc::new(clock.clone()),
        parsers: &webhook_gateways::ALL,
    };
    let run = sweeper.run(0).await.expect("swept");
    assert_eq!(run["forwarded"].as_u64(), Some(1));
    clock.set(T0 + Duration::minutes(40));
    deliver(&local, &clock, ACTIVATED).await;
    clock.set(T0 + Duration::minutes(50));
    let (status, again) = deliver(&local, &clock, SUSPENDED).await;
    assert_eq!(
        (status, again["status"].as_str(), again["sequence"].as_u64()),
        (200, Some("repeat"), Some(3)),
        "{again}"
    );
    assert_eq!(rows(&local.sends()), suspended_activated_suspended_again());
}
