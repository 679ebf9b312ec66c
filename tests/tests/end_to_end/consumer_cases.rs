//! Every row of docs/delivery-semantics.md's "Every case, end to end" table, through to the
//! consumer's ledger: the same deliveries as the front door's tests of that row (the real
//! handler, sweeper and `recover`, a clock the test moves), then every message the queue
//! accepted handed to the consumer as Lambda would, and the ledger and the bookings read back.
//! docs/consumers.md says what each becomes; the rows with a doubt (`possible_retry`,
//! `resend_unmatched`, `after_window`) ask the API stand-in.

use std::sync::Arc;

use pipeline_tests::consumer::Kit;
use pipeline_tests::wire::HttpFault;
use pipeline_tests::{answer, form_post, Local};
use time::Duration;
use webhook_core::clock::ManualClock;
use webhook_lambda::sweeper::Sweeper;

use crate::delivery_semantics::{
    deliver, deliver_minutes_apart, deliver_seconds_apart, deliver_while_the_queue_is_down,
    record_resend_of_the_day, ACTIVATED, RENEWED, SUBSCRIPTIONS, SUSPENDED, T0,
};

const PK: &str = "subscription#S1";

fn statuses(rows: &[(u64, String)]) -> Vec<(u64, &str)> {
    rows.iter().map(|(n, s)| (*n, s.as_str())).collect()
}

fn sweeper(local: &Local, clock: &ManualClock) -> Sweeper {
    Sweeper {
        store: webhook_aws::DynamoStore::new(local.dynamo.clone(), &local.table),
        forwarder: webhook_aws::SqsForwarder::new(local.sqs.clone(), &local.queue_url),
        settings: Default::default(),
        metrics: Default::default(),
        clock: Arc::new(clock.clone()),
        parsers: &webhook_gateways::ALL,
    }
}

async fn setup() -> (Local, ManualClock, Kit) {
    let local = Local::new().await;
    let clock = ManualClock::at(T0);
    let kit = Kit::new(&local, &clock).await;
    (local, clock, kit)
}

/// Row: X, then X again 1 s / 10 min / 20 h later (a gateway retry): one message, booked once.
#[tokio::test]
async fn a_retry_within_the_window_is_booked_once() {
    let (local, clock, kit) = setup().await;
    deliver(&local, &clock, SUSPENDED).await;
    for later in [
        Duration::seconds(1),
        Duration::minutes(10),
        Duration::hours(20),
    ] {
        clock.set(T0 + later);
        deliver(&local, &clock, SUSPENDED).await;
    }
    assert_eq!(kit.outcomes(&local.sends()).await, ["booked"]);
    assert_eq!(kit.booked(PK).await, [1]);
}

/// Row: X, Y; `recover resend` for the day; X and Y delivered again 2 days later: two messages,
/// each booked once.
#[tokio::test]
async fn a_resend_of_the_period_is_booked_once() {
    let (local, clock, kit) = setup().await;
    deliver_minutes_apart(&local, &clock, &[(0, SUSPENDED), (1, ACTIVATED)]).await;
    let later = T0 + Duration::days(2);
    record_resend_of_the_day(&local, later).await;
    deliver_seconds_apart(&local, &clock, later, &[SUSPENDED, ACTIVATED]).await;
    assert_eq!(kit.outcomes(&local.sends()).await, ["booked", "booked"]);
    assert_eq!(kit.booked(PK).await, [1, 2]);
}

/// Row: suspended, activated, suspended: three messages, the third `after_other` (a new
/// occurrence, no money: booked without asking the API).
#[tokio::test]
async fn suspended_activated_suspended_is_three_bookings() {
    let (local, clock, kit) = setup().await;
    deliver_minutes_apart(
        &local,
        &clock,
        &[(0, SUSPENDED), (3, ACTIVATED), (6, SUSPENDED)],
    )
    .await;
    assert_eq!(kit.outcomes(&local.sends()).await, ["booked"; 3]);
    assert_eq!(kit.booked(PK).await, [1, 2, 3]);
    assert!(kit.stand_in.calls().is_empty(), "after_other: not asked");
    assert_eq!(kit.rows(PK).await[2].confirmation, "not_needed");
}

/// Row: renewed, renewed again 30 days later (`after_window`): the API confirms the
/// subscription active; both booked.
#[tokio::test]
async fn a_renewal_thirty_days_later_is_confirmed_and_booked() {
    let (local, clock, kit) = setup().await;
    kit.stand_in.subscription("S1", true, false);
    deliver(&local, &clock, RENEWED).await;
    clock.set(T0 + Duration::days(30));
    deliver(&local, &clock, RENEWED).await;
    assert_eq!(kit.outcomes(&local.sends()).await, ["booked", "booked"]);
    let rows = kit.rows(PK).await;
    assert_eq!(
        (rows[0].confirmation.as_str(), rows[1].confirmation.as_str()),
        ("not_needed", "confirmed")
    );
    assert_eq!(kit.stand_in.calls(), ["GET /v1/subscriptions/S1"]);
}

/// Row: X answered 503; Y; X retried (`possible_retry`). The API says the subscription is
/// active (Y's state): the third is the gateway's late retry of X, a copy of an earlier
/// state, not booked.
#[tokio::test]
async fn a_retry_owed_after_other_notifications_is_a_copy_when_the_api_says_so() {
    let (local, clock, kit) = setup().await;
    kit.stand_in.subscription("S1", true, false);
    deliver_while_the_queue_is_down(&local, &clock, SUSPENDED).await;
    clock.set(T0 + Duration::minutes(2));
    deliver(&local, &clock, ACTIVATED).await;
    clock.set(T0 + Duration::minutes(5));
    deliver(&local, &clock, SUSPENDED).await;
    assert_eq!(
        kit.outcomes(&local.sends()).await,
        ["booked", "booked", "api_copy"]
    );
    assert_eq!(
        statuses(&kit.statuses(PK).await),
        [(1, "booked"), (2, "booked"), (3, "copy")]
    );
    assert_eq!(kit.booked(PK).await, [1, 2]);
    assert_eq!(kit.head(PK).await, (3, 3));
}

/// Row: S answered 503; the sweeper sends S; activated; S again (a real suspension,
/// `possible_retry`). The API says the subscription is suspended: booked.
#[tokio::test]
async fn a_real_suspension_after_a_swept_owed_one_is_confirmed_and_booked() {
    let (local, clock, kit) = setup().await;
    kit.stand_in.subscription("S1", true, true);
    deliver_while_the_queue_is_down(&local, &clock, SUSPENDED).await;
    clock.set(T0 + Duration::minutes(30));
    sweeper(&local, &clock).run(0).await.expect("swept");
    clock.set(T0 + Duration::minutes(40));
    deliver(&local, &clock, ACTIVATED).await;
    clock.set(T0 + Duration::minutes(50));
    deliver(&local, &clock, SUSPENDED).await;
    assert_eq!(kit.outcomes(&local.sends()).await, ["booked"; 3]);
    assert_eq!(kit.rows(PK).await[2].confirmation, "confirmed");
    assert_eq!(kit.booked(PK).await, [1, 2, 3]);
}

/// Row: suspended, activated, suspended; the day resent, all three delivered again: three
/// bookings. One more suspension while the request is open (`resend_unmatched`): the API
/// says suspended, booked as the fourth.
#[tokio::test]
async fn a_resend_of_identical_notifications_books_nothing_new() {
    let (local, clock, kit) = setup().await;
    kit.stand_in.subscription("S1", true, true);
    deliver_minutes_apart(
        &local,
        &clock,
        &[(0, SUSPENDED), (1, ACTIVATED), (2, SUSPENDED)],
    )
    .await;
    let later = T0 + Duration::days(2);
    record_resend_of_the_day(&local, later).await;
    deliver_seconds_apart(&local, &clock, later, &[SUSPENDED, ACTIVATED, SUSPENDED]).await;
    assert_eq!(kit.outcomes(&local.sends()).await, ["booked"; 3]);
    clock.set(later + Duration::minutes(1));
    deliver(&local, &clock, SUSPENDED).await;
    assert_eq!(kit.outcomes(&local.sends()[3..]).await, ["booked"]);
    assert_eq!(kit.rows(PK).await[3].confirmation, "confirmed");
    assert_eq!(kit.booked(PK).await, [1, 2, 3, 4]);
}

/// Row: renewed (October), renewed (November, `after_window`); October resent: two messages,
/// two bookings.
#[tokio::test]
async fn a_resend_of_an_older_renewal_is_not_a_third_booking() {
    let (local, clock, kit) = setup().await;
    kit.stand_in.subscription("S1", true, false);
    deliver(&local, &clock, RENEWED).await;
    clock.set(T0 + Duration::days(30));
    deliver(&local, &clock, RENEWED).await;
    let later = T0 + Duration::days(32);
    record_resend_of_the_day(&local, later).await;
    clock.set(later);
    deliver(&local, &clock, RENEWED).await;
    assert_eq!(kit.outcomes(&local.sends()).await, ["booked", "booked"]);
    assert_eq!(kit.booked(PK).await, [1, 2]);
}

/// Row: a resend whose write commits but whose answer is lost: no new message, nothing new
/// booked.
#[tokio::test]
async fn a_resend_whose_write_answer_was_lost_books_nothing_new() {
    let (local, clock, kit) = setup().await;
    deliver_minutes_apart(&local, &clock, &[(0, SUSPENDED), (1, ACTIVATED)]).await;
    let later = T0 + Duration::days(2);
    record_resend_of_the_day(&local, later).await;
    local
        .wire
        .next("UpdateItem", HttpFault::CommitThenLoseAnswer);
    clock.set(later);
    deliver(&local, &clock, SUSPENDED).await;
    assert_eq!(local.wire.spent(), 1);
    assert_eq!(kit.outcomes(&local.sends()).await, ["booked", "booked"]);
    assert_eq!(kit.booked(PK).await, [1, 2]);
}

/// Row: the store's write commits, its answer is lost (the SDK repeats it): one message, one
/// booking. The payment is confirmed with the API.
#[tokio::test]
async fn a_store_whose_answer_was_lost_is_booked_once() {
    let (local, clock, kit) = setup().await;
    kit.stand_in.invoice("C1", "paid");
    local
        .wire
        .next("TransactWriteItems", HttpFault::CommitThenLoseAnswer);
    let invoices = webhook_iugu::Iugu::family(webhook_iugu::Family::Invoices);
    let body = "event=invoice.status_changed&data%5Bid%5D=C1&data%5Bstatus%5D=paid\
                &data%5Baccount_id%5D=ACC";
    let (status, _) = answer(&local.app_at(invoices, &clock).handle(form_post(body)).await);
    assert_eq!(status, 200);
    assert_eq!(kit.outcomes(&local.sends()).await, ["booked"]);
    assert_eq!(kit.booked("invoice#C1").await, [1]);
    assert_eq!(kit.rows("invoice#C1").await[0].confirmation, "confirmed");
}

/// Row: X stored while the queue is down; X's stored body no longer reads as stored; Y: a gap
/// record for X (`unreadable`), then Y. X is booked as not received (the business code told,
/// with the subscription's state from the API), Y booked; the head passes the gap and
/// remembers it.
#[tokio::test]
async fn an_unreadable_notifications_gap_record_is_booked_as_not_received() {
    let (local, clock, kit) = setup().await;
    kit.stand_in.subscription("S1", true, false);
    deliver_while_the_queue_is_down(&local, &clock, SUSPENDED).await;
    let elsewhere = SUSPENDED
        .replace("S1", "S9")
        .replace("%5B", "[")
        .replace("%5D", "]");
    local.rewrite_raw_body(PK, 1, &elsewhere).await;
    clock.set(T0 + Duration::minutes(1));
    let (status, _) = answer(
        &local
            .app_at(SUBSCRIPTIONS, &clock)
            .handle(form_post(ACTIVATED))
            .await,
    );
    assert_eq!(status, 200);
    assert_eq!(kit.outcomes(&local.sends()).await, ["gap", "booked"]);
    assert_eq!(
        statuses(&kit.statuses(PK).await),
        [(1, "gap"), (2, "booked")]
    );
    assert_eq!(kit.head(PK).await, (2, 2));
    let bookings = kit.bookings().await;
    assert_eq!(
        (
            pipeline_tests::text(&bookings[0], "kind"),
            pipeline_tests::text(&bookings[0], "api_status")
        ),
        ("not_received".to_owned(), "active".to_owned())
    );
}

/// Row: X, Y kept past their retention unsent: two gap records (`expired`), both booked as
/// not received.
#[tokio::test]
async fn expired_notifications_gap_records_are_booked_as_not_received() {
    let (local, clock, kit) = setup().await;
    kit.stand_in.subscription("S1", true, false);
    deliver_while_the_queue_is_down(&local, &clock, SUSPENDED).await;
    clock.set(T0 + Duration::minutes(1));
    deliver_while_the_queue_is_down(&local, &clock, ACTIVATED).await;
    // The sweeper runs while the queue stays down (it lists the entity), then long after.
    let missing = local.missing_queue_url();
    clock.set(T0 + Duration::minutes(5));
    crate::stuck::sweeper_to(&local, &clock, &missing)
        .run(0)
        .await
        .expect("ran");
    clock.set(T0 + Duration::days(91));
    sweeper(&local, &clock).run(0).await.expect("swept");
    assert_eq!(kit.outcomes(&local.sends()).await, ["gap", "gap"]);
    assert_eq!(statuses(&kit.statuses(PK).await), [(1, "gap"), (2, "gap")]);
}

/// Row: an operator skips a waiting notification (`recover skip`): a gap record, booked as
/// not received.
#[tokio::test]
async fn a_skipped_notifications_gap_record_is_booked_as_not_received() {
    let (local, clock, kit) = setup().await;
    kit.stand_in.subscription("S1", true, true);
    deliver_while_the_queue_is_down(&local, &clock, SUSPENDED).await;
    let table = recover::event_table::EventTable::new(local.dynamo.clone(), &local.table);
    table.skip(PK, 1, "ticket 123", T0).await.expect("skipped");
    clock.set(T0 + Duration::minutes(5));
    sweeper(&local, &clock).run(0).await.expect("swept");
    assert_eq!(kit.outcomes(&local.sends()).await, ["gap"]);
    assert_eq!(statuses(&kit.statuses(PK).await), [(1, "gap")]);
}

/// Row: 45 stored while the queue is down, then a 46th: 46 messages over a request, the
/// sweeper and the retry; 46 bookings, in order, once each.
#[tokio::test]
async fn a_long_backlog_is_booked_in_order_once_each() {
    let (local, clock, kit) = setup().await;
    let body = |i: u64| {
        format!(
            "event=invoice.status_changed&data%5Bid%5D=F1&data%5Bstatus%5D=s{i}\
             &data%5Baccount_id%5D=A"
        )
    };
    let invoices = webhook_iugu::Iugu::family(webhook_iugu::Family::Invoices);
    let down = local.app_with_the_queue_down(invoices, &clock);
    for i in 1..=45 {
        down.handle(form_post(&body(i))).await;
    }
    clock.set(T0 + Duration::minutes(10));
    let up = local.app_at(invoices, &clock);
    up.handle(form_post(&body(46))).await;
    sweeper(&local, &clock).run(0).await.expect("swept");
    clock.set(T0 + Duration::minutes(15));
    up.handle(form_post(&body(46))).await;
    let sends = local.sends();
    assert_eq!(sends.len(), 46);
    assert_eq!(kit.outcomes(&sends).await, ["booked"; 46]);
    assert_eq!(kit.booked("invoice#F1").await, (1..=46).collect::<Vec<_>>());
    assert_eq!(kit.head("invoice#F1").await, (46, 46));
}
