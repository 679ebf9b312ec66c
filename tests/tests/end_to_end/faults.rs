//! Faults downstream, through the real handler and the production SDK settings: DynamoDB or SQS
//! unreachable or hanging (a [`FaultyProxy`] in front of the local server), and a function that
//! dies between store and forward. Each ends with a retry, and the notification stored once and
//! forwarded once.

use std::time::{Duration, Instant};

use pipeline_tests::proxy::{Fault, FaultyProxy};
use pipeline_tests::{answer, form_post, moto, text, workspace, Local};
use time::OffsetDateTime;
use webhook_core::ingest::{Append, DownstreamError, EventStore, Forwarder};
use webhook_iugu::{Family, Iugu};

const BODY: &str = "event=invoice.status_changed&data%5Bid%5D=F1&data%5Bstatus%5D=paid\
                    &data%5Baccount_id%5D=ACC";

/// The functions' `Timeout` in template.yaml: every answer must come well before it.
fn lambda_timeout() -> Duration {
    let template = std::fs::read_to_string(workspace().join("template.yaml")).expect("template");
    let seconds = template
        .lines()
        .find_map(|l| l.trim().strip_prefix("Timeout:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("a Timeout in template.yaml's Globals");
    Duration::from_secs(seconds)
}

type App = webhook_lambda::http::App<webhook_aws::DynamoStore, webhook_aws::SqsForwarder>;

/// A function (the invoices route) whose DynamoDB client goes through one proxy and SQS through
/// another, so a test can break either.
struct BehindProxies {
    local: Local,
    dynamo: FaultyProxy,
    sqs: FaultyProxy,
    app: App,
}

async fn behind_proxies() -> BehindProxies {
    let local = Local::new().await;
    let dynamo = FaultyProxy::start(&moto().endpoint).await;
    let sqs = FaultyProxy::start(&moto().endpoint).await;
    let app = local
        .app_via(
            Iugu::family(Family::Invoices),
            &dynamo.endpoint(),
            &sqs.endpoint(),
        )
        .await;
    BehindProxies {
        local,
        dynamo,
        sqs,
        app,
    }
}

/// A delivery to a hung service: 503 with `error`, before the gateway stops waiting (iugu is
/// taken to wait 5 s, as iPag does), which is well before the Lambda timeout.
async fn assert_503_well_before_the_timeout(app: &App, error: &str, what: &str) {
    let (status, body, elapsed) = deliver(app).await;
    eprintln!("hung {what}: answered {status} after {elapsed:?}");
    assert_eq!((status, body["error"].as_str()), (503, Some(error)));
    let waits = app.gateway.waits();
    assert!(
        elapsed < waits && waits < lambda_timeout(),
        "answered after {elapsed:?}; the gateway waits {waits:?}, the Lambda timeout is {:?}",
        lambda_timeout()
    );
}

async fn deliver(app: &App) -> (u16, serde_json::Value, Duration) {
    let started = Instant::now();
    let response = app.handle(form_post(BODY)).await;
    let elapsed = started.elapsed();
    let (status, body) = answer(&response);
    (status, body, elapsed)
}

const PK: &str = "invoice#F1";

/// After the fault is gone: one event item (number 1), marked forwarded, and one message with
/// its de-duplication id.
async fn assert_stored_once_and_forwarded_once(local: &Local) {
    let events = local.events().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(local.head(PK).await.forwarded_sequence, 1);
    let messages = local.drain().await;
    assert_eq!(messages.len(), 1);
    let sends = local.sends();
    assert_eq!(
        sends.len(),
        1,
        "sent once: not a second time that the local queue dropped"
    );
    let attrs = messages[0].attributes().expect("system attributes");
    let dedup_id = attrs
        .get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageDeduplicationId)
        .expect("dedup id");
    assert_eq!(dedup_id, &format!("{}-1", text(&events[0], "dedup_key")));
}

#[tokio::test]
async fn dynamodb_unreachable_answers_503_sends_nothing_and_the_retry_stores_once() {
    let f = behind_proxies().await;
    f.dynamo.set(Fault::Refuse);
    let (status, body, _) = deliver(&f.app).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("store_failed"))
    );
    assert!(f.local.items().await.is_empty());
    assert!(f.local.drain().await.is_empty());

    f.dynamo.set(Fault::None);
    let (status, body, _) = deliver(&f.app).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("stored")));
    assert_stored_once_and_forwarded_once(&f.local).await;
}

#[tokio::test]
async fn sqs_unreachable_after_the_store_answers_503_and_the_retry_forwards_once() {
    let f = behind_proxies().await;
    f.sqs.set(Fault::Refuse);
    let (status, body, _) = deliver(&f.app).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("forward_failed"))
    );
    let events = f.local.events().await;
    assert_eq!(events.len(), 1, "stored before the send failed");
    assert_eq!(f.local.head(PK).await.forwarded_sequence, 0);
    assert!(f.local.drain().await.is_empty());

    f.sqs.set(Fault::None);
    let (status, body, _) = deliver(&f.app).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("duplicate")));
    assert_stored_once_and_forwarded_once(&f.local).await;
}

#[tokio::test]
async fn a_hung_dynamodb_answers_503_well_before_the_lambda_timeout() {
    let f = behind_proxies().await;
    f.dynamo.set(Fault::Hang);
    assert_503_well_before_the_timeout(&f.app, "store_failed", "DynamoDB").await;
    assert!(f.local.drain().await.is_empty());

    f.dynamo.set(Fault::None);
    let (status, _, _) = deliver(&f.app).await;
    assert_eq!(status, 200);
    assert_stored_once_and_forwarded_once(&f.local).await;
}

#[tokio::test]
async fn a_hung_sqs_answers_503_well_before_the_lambda_timeout() {
    let f = behind_proxies().await;
    f.sqs.set(Fault::Hang);
    assert_503_well_before_the_timeout(&f.app, "forward_failed", "SQS").await;

    f.sqs.set(Fault::None);
    let (status, body, _) = deliver(&f.app).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("duplicate")));
    assert_stored_once_and_forwarded_once(&f.local).await;
}

#[tokio::test]
async fn a_function_that_died_between_store_and_forward_is_forwarded_by_the_next_delivery() {
    let local = Local::new().await;
    let app = local.app(Iugu::family(Family::Invoices));
    // What a function that died right after its write leaves behind: the claim, no send.
    let first = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("valid");
    let mut envelope = webhook_iugu::parse(BODY.as_bytes(), first).expect("parses");
    let seen = app.store.snapshot(&envelope).await.expect("read");
    envelope.sequence = Some(seen.next_sequence());
    app.store
        .append(Append {
            envelope: &envelope,
            raw_body: BODY,
            seen: &seen,
            expires_at: first + time::Duration::days(90),
            forget_unacked: Vec::new(),
        })
        .await
        .expect("stored");
    assert!(local.drain().await.is_empty());

    let response = app.handle(form_post(BODY)).await;
    let (status, body) = answer(&response);
    assert_eq!((status, body["status"].as_str()), (200, Some("duplicate")));
    let events = local.events().await;
    assert_eq!(events.len(), 1);
    let messages = local.drain().await;
    assert_eq!(messages.len(), 1, "forwarded by the next delivery");
    let sent: serde_json::Value =
        serde_json::from_str(messages[0].body().expect("body")).expect("json");
    let sent_at = OffsetDateTime::parse(
        sent["received_at"].as_str().expect("received_at"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("rfc3339");
    assert_eq!(
        sent_at, first,
        "with the first delivery's arrival, as stored"
    );

    // And once forwarded, a further delivery sends nothing.
    let response = app.handle(form_post(BODY)).await;
    assert_eq!(answer(&response).0, 200);
    assert!(local.drain().await.is_empty());
    assert_eq!(local.sends().len(), 1, "sent once in all");
}

/// SQS that, once it has accepted a message, makes DynamoDB hang: the mark after a successful
/// send is what hangs.
struct HangDynamoAfterSend<'a> {
    sqs: webhook_aws::SqsForwarder,
    dynamo: &'a FaultyProxy,
}

impl Forwarder for HangDynamoAfterSend<'_> {
    async fn forward(&self, envelope: &webhook_core::Envelope) -> Result<(), DownstreamError> {
        self.sqs.forward(envelope).await?;
        self.dynamo.set(Fault::Hang);
        Ok(())
    }
}

/// The queue has the notification, then the mark hangs: the answer is still 200 (a 503 would
/// make the gateway send it again, and after SQS's 5-minute window the consumer would get it
/// twice), within the mark's budget and well before the Lambda timeout. One message exists,
/// and a later retry, with the mark never recorded, sends the same message again, which the
/// FIFO queue drops.
#[tokio::test]
async fn a_slow_mark_after_a_successful_send_still_answers_200_with_one_message() {
    let f = behind_proxies().await;
    let app = webhook_lambda::http::App {
        gateway: f.app.gateway.clone(),
        token: webhook_lambda::auth::Token::new(Some(pipeline_tests::TOKEN)),
        allowed_sources: Default::default(),
        store: webhook_aws::DynamoStore::new(
            aws_sdk_dynamodb::Client::new(
                &pipeline_tests::production_sdk_config(&f.dynamo.endpoint()).await,
            ),
            &f.local.table,
        ),
        forwarder: HangDynamoAfterSend {
            sqs: webhook_aws::SqsForwarder::new(f.local.sqs.clone(), &f.local.queue_url),
            dynamo: &f.dynamo,
        },
        delivery: Default::default(),
        metrics: Default::default(),
    };
    let started = Instant::now();
    let (status, body) = answer(&app.handle(form_post(BODY)).await);
    let elapsed = started.elapsed();
    eprintln!("hung mark: answered {status} after {elapsed:?}");
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("stored")),
        "{body}"
    );
    // It waited for the mark its whole budget (a timer never fires early), and answered before
    // the gateway stopped waiting. How much sooner depends on the machine's load, which is not
    // the point here.
    assert!(
        elapsed >= webhook_lambda::http::MARK_BUDGET && elapsed < app.gateway.waits(),
        "answered after {elapsed:?}: the mark's budget is {:?}, the gateway waits {:?}",
        webhook_lambda::http::MARK_BUDGET,
        app.gateway.waits()
    );
    assert_eq!(f.local.head(PK).await.forwarded_sequence, 0, "never marked");

    f.dynamo.set(Fault::None);
    let (status, body, _) = deliver(&f.app).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("duplicate")));
    // Never marked, so a retry sends it again, with the same de-duplication id: the queue
    // drops it because it comes within SQS's 5 minutes; later, the consumer would get the same
    // sequence twice (docs/delivery-semantics.md says what a consumer does then).
    let sends = f.local.sends();
    assert_eq!(sends.len(), 2);
    assert_eq!(sends[0].deduplication_id, sends[1].deduplication_id);
    assert_eq!(f.local.drain().await.len(), 1);
    assert_eq!(f.local.head(PK).await.forwarded_sequence, 1);
}
