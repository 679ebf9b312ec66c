//! The consumer kit end to end: a gateway's POST through the real handler, the queue (the
//! local server's, with a dead-letter queue as template.yaml's), Lambda's SQS event as the
//! poller builds it, the consumer, its ledger and the example bookings table in DynamoDB, and
//! the gateways' API stand-in. Docs: docs/consumers.md.

use pipeline_tests::consumer::{depth, queue_with_dead_letters, redrive, Kit};
use pipeline_tests::{answer, form_post, Local, TOKEN};
use serde_json::Value;
use time::Duration;
use webhook_consumer::batch::Fate;
use webhook_consumer::sqs::Poller;
use webhook_consumer::{Failure, Outcome};
use webhook_core::clock::ManualClock;
use webhook_iugu::{Family, Iugu};
use webhook_lambda::auth::Token;
use webhook_lambda::http::App;

use crate::delivery_semantics::T0;

const INVOICES: Iugu = Iugu::family(Family::Invoices);

fn invoice(id: &str, status: &str) -> String {
    format!(
        "event=invoice.status_changed&data%5Bid%5D={id}&data%5Bstatus%5D={status}\
         &data%5Baccount_id%5D=A&data%5Bpayer_cpf_cnpj%5D=66535209008&data%5Bpaid_cents%5D=1000"
    )
}

/// The invoices function forwarding to `queue`, at the clock's time.
fn app(
    local: &Local,
    clock: &ManualClock,
    queue: &str,
) -> App<webhook_aws::DynamoStore, webhook_aws::SqsForwarder> {
    App {
        delivery: local.app_at(INVOICES, clock).delivery,
        ..local.app_with(INVOICES, Token::new(Some(TOKEN)), queue)
    }
}

async fn post(local: &Local, clock: &ManualClock, body: &str) -> (u16, Value) {
    answer(&local.app_at(INVOICES, clock).handle(form_post(body)).await)
}

fn text(
    item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
    name: &str,
) -> String {
    pipeline_tests::text(item, name)
}

/// A queue with a dead-letter queue as template.yaml's, and Lambda's poller on it (a failed
/// message is released at once, so each poll is a receive).
struct DeadLetters {
    queue: String,
    dlq: String,
    poller: Poller,
}

impl DeadLetters {
    async fn new(local: &Local) -> Self {
        let (queue, queue_arn, dlq) =
            queue_with_dead_letters(local, &format!("{}-kit", local.table)).await;
        let poller = Poller {
            sqs: local.sqs.clone(),
            queue_url: queue.clone(),
            queue_arn,
            release_failed: true,
        };
        Self { queue, dlq, poller }
    }

    /// Posts `body` to the invoices function forwarding to this queue; it must answer 200.
    async fn deliver(&self, local: &Local, clock: &ManualClock, body: &str) {
        let (status, body) = answer(&app(local, clock, &self.queue).handle(form_post(body)).await);
        assert_eq!(status, 200, "{body}");
    }

    /// How many messages the next poll receives.
    async fn received(&self, kit: &Kit) -> usize {
        self.poller
            .poll(&kit.consumer, 0)
            .await
            .expect("polled")
            .received
    }
}

/// The case, on the real queue: payment N fails 5 times (a bug in the business code)
/// and the queue moves it to the dead-letter queue; the refund N+1 arrives later and is
/// booked; the bug is fixed, N is redriven and booked, marked late, with what was booked
/// since. "Skip what is at or below the last sequence" would have skipped it.
#[tokio::test]
async fn a_dead_lettered_payment_is_booked_late_after_its_redrive() {
    let local = Local::new().await;
    let clock = ManualClock::at(T0);
    let kit = Kit::new(&local, &clock).await;
    kit.stand_in.invoice("D1", "refunded");
    let dead_letters = DeadLetters::new(&local).await;
    let DeadLetters { queue, dlq, poller } = &dead_letters;
    dead_letters
        .deliver(&local, &clock, &invoice("D1", "paid"))
        .await;
    kit.fail(1);
    for attempt in 1..=5 {
        let round = poller.poll(&kit.consumer, 0).await.expect("polled");
        assert_eq!((round.received, round.failed), (1, 1), "attempt {attempt}");
        assert!(matches!(round.fates[0], Fate::Failed(Failure::Business(_))));
    }
    assert_eq!(
        dead_letters.received(&kit).await,
        0,
        "its sixth receive moved it to the dead-letter queue"
    );
    assert_eq!(depth(&local, dlq).await, 1);
    assert!(
        kit.rows("invoice#D1").await.is_empty(),
        "every claim given up"
    );

    clock.set(T0 + Duration::hours(1));
    dead_letters
        .deliver(&local, &clock, &invoice("D1", "refunded"))
        .await;
    let round = poller.poll(&kit.consumer, 0).await.expect("polled");
    assert_eq!(round.fates, [Fate::Done(Outcome::Booked)]);
    assert_eq!(kit.statuses("invoice#D1").await, [(2, "booked".to_owned())]);
    assert_eq!(kit.head("invoice#D1").await, (0, 2), "1 is missing below 2");

    kit.fixed();
    assert_eq!(redrive(&local, dlq, queue).await, 1);
    let round = poller.poll(&kit.consumer, 0).await.expect("polled");
    assert_eq!(round.fates, [Fate::Done(Outcome::BookedLate)]);
    let rows = kit.rows("invoice#D1").await;
    assert_eq!(
        rows.iter()
            .map(|r| (
                r.sequence,
                r.status.as_str(),
                r.late,
                r.confirmation.as_str()
            ))
            .collect::<Vec<_>>(),
        [
            (1, "booked", true, "confirmed"),
            (2, "booked", false, "confirmed")
        ]
    );
    assert_eq!(kit.head("invoice#D1").await, (2, 2));
    let bookings = kit.bookings().await;
    let payment = &bookings[0];
    assert_eq!(
        (text(payment, "kind"), text(payment, "api_status")),
        ("payment".to_owned(), "refunded".to_owned())
    );
    assert_eq!(
        payment.get("booked_since"),
        Some(&aws_sdk_dynamodb::types::AttributeValue::L(vec![
            aws_sdk_dynamodb::types::AttributeValue::N("2".to_owned())
        ])),
        "told what was booked since"
    );
    assert_eq!(text(&bookings[1], "kind"), "refund");
    assert_eq!(dead_letters.received(&kit).await, 0);
    assert_eq!(depth(&local, queue).await, 0);
}

/// The same bug with both notifications already queued: SQS hands the group's messages to one
/// batch, so N+1 is received (and counted) with N each time, held by the FIFO rule, and both
/// reach the dead-letter queue. The redrive brings both back in order: both booked, in order,
/// nothing twice.
#[tokio::test]
async fn a_group_dead_lettered_together_is_booked_in_order_after_its_redrive() {
    let local = Local::new().await;
    let clock = ManualClock::at(T0);
    let kit = Kit::new(&local, &clock).await;
    kit.stand_in.invoice("D2", "refunded");
    let dead_letters = DeadLetters::new(&local).await;
    let DeadLetters { queue, dlq, poller } = &dead_letters;
    for status in ["paid", "refunded"] {
        dead_letters
            .deliver(&local, &clock, &invoice("D2", status))
            .await;
    }
    kit.fail(1);
    for _ in 1..=5 {
        let round = poller.poll(&kit.consumer, 0).await.expect("polled");
        assert_eq!((round.received, round.failed), (2, 2));
        assert_eq!(round.fates[1], Fate::Held, "never booked before N");
    }
    assert_eq!(dead_letters.received(&kit).await, 0);
    assert_eq!(depth(&local, dlq).await, 2);
    kit.fixed();
    assert_eq!(redrive(&local, dlq, queue).await, 2);
    let round = poller.poll(&kit.consumer, 0).await.expect("polled");
    assert_eq!(
        round.fates,
        [Fate::Done(Outcome::Booked), Fate::Done(Outcome::Booked)]
    );
    assert_eq!(kit.booked("invoice#D2").await, [1, 2]);
}

/// A forged "paid": the API calls the invoice pending. Not booked; kept aside with both
/// versions; one `Outcome=contradicted` metric line (what ContradictionsAlarm counts).
#[tokio::test]
async fn a_forged_paid_is_not_booked_kept_aside_and_counted() {
    let local = Local::new().await;
    let clock = ManualClock::at(T0);
    let kit = Kit::new(&local, &clock).await;
    kit.stand_in.invoice("F9", "pending");
    let (status, _) = post(&local, &clock, &invoice("F9", "paid")).await;
    assert_eq!(status, 200);
    assert_eq!(kit.outcomes(&local.sends()).await, ["contradicted"]);
    assert!(kit.bookings().await.is_empty(), "nothing booked");
    assert_eq!(
        kit.statuses("invoice#F9").await,
        [(1, "contradicted".to_owned())]
    );
    let aside = kit.aside("invoice#F9").await;
    assert_eq!(aside.len(), 1);
    let envelope: Value = serde_json::from_str(&text(&aside[0], "envelope")).expect("JSON");
    assert_eq!(
        envelope["data"]["status"], "paid",
        "the notification's version"
    );
    let api: Value = serde_json::from_str(&text(&aside[0], "api")).expect("JSON");
    assert_eq!(api["status"], "pending", "the API's version");
    assert!(text(&aside[0], "why").contains("pending"));
    assert!(
        aside[0].contains_key("expires_at"),
        "it expires (personal data)"
    );
    assert_eq!(kit.metric_outcomes(), ["contradicted"]);
    assert_eq!(kit.stand_in.calls(), ["GET /v1/invoices/F9"]);
}

/// The API is down: the message fails (the batch response names it, SQS delivers it again),
/// nothing is claimed or booked; the API's retries waited their backoff (recorded, not
/// slept). Once the API is back, the redelivery books it, confirmed.
#[tokio::test]
async fn an_api_that_is_down_fails_the_message_and_books_nothing_until_it_answers() {
    let local = Local::new().await;
    let clock = ManualClock::at(T0);
    let kit = Kit::new(&local, &clock).await;
    kit.stand_in.invoice("F8", "paid");
    kit.stand_in.down(Some(503));
    post(&local, &clock, &invoice("F8", "paid")).await;
    let sends = local.sends();
    let (fates, responses) = kit.consume(&sends).await;
    assert!(
        matches!(fates[0], Fate::Failed(Failure::Api(_))),
        "{fates:?}"
    );
    assert_eq!(
        responses[0]
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect::<Vec<_>>(),
        ["m0-0"]
    );
    assert!(kit.rows("invoice#F8").await.is_empty());
    assert!(kit.bookings().await.is_empty());
    assert_eq!(kit.stand_in.calls().len(), 4, "4 attempts");
    assert_eq!(kit.pauses.lock().expect("pauses").len(), 3, "3 waits");

    kit.stand_in.down(None);
    assert_eq!(kit.outcomes(&sends).await, ["booked"]);
    assert_eq!(kit.rows("invoice#F8").await[0].confirmation, "confirmed");
}

/// The API answers 429 with `Retry-After`: the client waits what it asks (recorded, not
/// slept) and books once it answers; a `Retry-After` beyond the lookup's budget fails the
/// message at once, to be delivered again later.
#[tokio::test]
async fn a_rate_limit_is_waited_out_or_fails_the_message_for_later() {
    let local = Local::new().await;
    let clock = ManualClock::at(T0);
    let kit = Kit::new(&local, &clock).await;
    kit.stand_in.invoice("F7", "paid");
    kit.stand_in.invoice("F6", "paid");
    kit.stand_in.rate_limit(2, 1);
    post(&local, &clock, &invoice("F7", "paid")).await;
    assert_eq!(kit.outcomes(&local.sends()).await, ["booked"]);
    assert_eq!(
        *kit.pauses.lock().expect("pauses"),
        [std::time::Duration::from_secs(1); 2]
    );
    kit.stand_in.rate_limit(1, 60);
    post(&local, &clock, &invoice("F6", "paid")).await;
    let sends = local.sends();
    assert_eq!(kit.outcomes(&sends[1..]).await, ["failed"]);
    assert!(kit.rows("invoice#F6").await.is_empty());
    assert_eq!(kit.pauses.lock().expect("pauses").len(), 2, "no 60 s wait");
    assert_eq!(kit.outcomes(&sends[1..]).await, ["booked"]);
}

/// Every message delivered again (a replay, or SQS's copies after its 5 minutes): nothing is
/// booked twice, and a copy known from the head costs one read.
#[tokio::test]
async fn a_replay_of_every_message_books_nothing_new() {
    let local = Local::new().await;
    let clock = ManualClock::at(T0);
    let kit = Kit::new(&local, &clock).await;
    kit.stand_in.invoice("R1", "refunded");
    for (minutes, status) in [(0, "pending"), (1, "paid"), (2, "refunded")] {
        clock.set(T0 + Duration::minutes(minutes));
        post(&local, &clock, &invoice("R1", status)).await;
    }
    let sends = local.sends();
    assert_eq!(kit.outcomes(&sends).await, ["booked"; 3]);
    let calls = kit.stand_in.calls().len();
    assert_eq!(kit.outcomes(&sends).await, ["copy"; 3]);
    assert_eq!(kit.booked("invoice#R1").await, [1, 2, 3]);
    assert_eq!(kit.stand_in.calls().len(), calls, "a copy asks no API");
}
