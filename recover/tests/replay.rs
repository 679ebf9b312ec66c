//! `replay` against the local DynamoDB + SQS server (moto): notifications stored and forwarded
//! by the functions' own code, the queue drained (the consumer "lost" them), then replayed.
//! The replayed messages must be the first forward's, byte for byte.

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use pipeline_tests::{answer, form_post, Local};
use recover::event_table::EventTable;
use recover::replay::{replay, Selection, Sent};
use recover::report::Progress;
use shared::aws::{DynamoStore, SqsForwarder};
use shared::http::Route;
use shared::{Envelope, Family};
use time::macros::datetime;
use time::OffsetDateTime;

const A: &str = "84F982E1A10F4FF1B483B829F4762C2C";
const B: &str = "0A1B2C3D4E5F60718293A4B5C6D7E8F9";

fn body(invoice: &str, event: &str, status: &str) -> String {
    format!("event={event}&data%5Bid%5D={invoice}&data%5Bstatus%5D={status}&data%5Baccount_id%5D=E6495D15290D47D3950C2A723D07A24E")
}

/// Stores one notification through the real handler (stored and forwarded).
async fn deliver(local: &Local, body: &str) {
    let (status, json) = answer(
        &local
            .app(Route::Family(Family::Invoices))
            .handle(form_post(body))
            .await,
    );
    assert_eq!(status, 200, "{json}");
}

/// Stores and forwards one notification that arrived at `at`, with the functions' own
/// store-once-forward-once code (the handler stamps the wall clock, a period needs chosen
/// times).
async fn deliver_at(local: &Local, body: &str, at: OffsetDateTime) {
    let store = DynamoStore::new(local.dynamo.clone(), &local.table);
    let forwarder = SqsForwarder::new(local.sqs.clone(), &local.queue_url);
    let envelope = Envelope::from_iugu_form(body.as_bytes(), at).expect("parses");
    shared::ingest::ingest(&store, &forwarder, envelope, body, || at)
        .await
        .expect("stored and forwarded");
}

fn table(local: &Local) -> EventTable {
    EventTable::new(local.dynamo.clone(), &local.table)
}

fn forwarder(local: &Local) -> SqsForwarder {
    SqsForwarder::new(local.sqs.clone(), &local.queue_url)
}

/// What a consumer sees of a message: body, group, de-duplication id, attributes.
fn seen(m: &Message) -> (String, String, String, String, String) {
    let system = m.attributes().expect("system attributes");
    let attrs = m.message_attributes().expect("attributes");
    let attr = |n: &str| attrs[n].string_value().unwrap_or_default().to_owned();
    (
        m.body().unwrap_or_default().to_owned(),
        system[&MessageSystemAttributeName::MessageGroupId].clone(),
        system[&MessageSystemAttributeName::MessageDeduplicationId].clone(),
        attr("provider"),
        attr("event"),
    )
}

#[tokio::test]
async fn an_entity_s_notifications_are_replayed_as_first_forwarded_in_order() {
    let local = Local::new().await;
    deliver(&local, &body(A, "invoice.created", "pending")).await;
    deliver(&local, &body(B, "invoice.created", "pending")).await;
    deliver(&local, &body(A, "invoice.status_changed", "paid")).await;
    let first: Vec<_> = local.drain().await.iter().map(seen).collect();
    assert_eq!(first.len(), 3);

    let replayed = replay(
        &table(&local),
        &forwarder(&local),
        &Selection::entity(&format!("invoice#{A}")).expect("a key"),
        false,
        &mut Progress::hidden(),
    )
    .await
    .expect("replayed");
    assert_eq!(replayed.len(), 2);
    assert!(
        replayed.iter().all(|r| r.result == Sent::Sent),
        "{replayed:?}"
    );

    let again: Vec<_> = local.drain().await.iter().map(seen).collect();
    let expected: Vec<_> = first
        .iter()
        .filter(|m| m.1 == format!("invoice#{A}"))
        .cloned()
        .collect();
    assert_eq!(
        again, expected,
        "same bodies, groups, dedup ids, attributes, order"
    );
    assert_eq!(again[0].4, "invoice.created");
    assert_eq!(again[1].4, "invoice.status_changed");
}

#[tokio::test]
async fn a_dry_run_sends_nothing_and_says_what_it_would_send() {
    let local = Local::new().await;
    deliver(&local, &body(A, "invoice.status_changed", "paid")).await;
    local.drain().await;

    let replayed = replay(
        &table(&local),
        &forwarder(&local),
        &Selection::entity(&format!("invoice#{A}")).expect("a key"),
        true,
        &mut Progress::hidden(),
    )
    .await
    .expect("dry run");
    assert_eq!(replayed.len(), 1);
    assert_eq!(replayed[0].result, Sent::WouldSend);
    assert_eq!(replayed[0].pk, format!("invoice#{A}"));
    assert_eq!(replayed[0].event, "invoice.status_changed");
    assert!(local.drain().await.is_empty(), "nothing was sent");
}

#[tokio::test]
async fn a_period_is_replayed_through_the_day_index_in_arrival_order() {
    let local = Local::new().await;
    let times = [
        datetime!(2026-11-19 23:59:59.999999 UTC),
        datetime!(2026-11-20 00:00 UTC),
        datetime!(2026-11-20 18:00 UTC),
        datetime!(2026-11-21 00:00 UTC),
    ];
    let statuses = ["pending", "paid", "refunded", "canceled"];
    for (at, status) in times.iter().zip(statuses) {
        deliver_at(&local, &body(A, "invoice.status_changed", status), *at).await;
    }
    let first: Vec<_> = local.drain().await.iter().map(seen).collect();
    assert_eq!(first.len(), 4);
    let now = datetime!(2026-11-23 12:00 UTC);

    // One day: since included, until excluded.
    let day = Selection::period(
        datetime!(2026-11-20 00:00 UTC),
        Some(datetime!(2026-11-21 00:00 UTC)),
        now,
    )
    .expect("a period");
    let replayed = replay(
        &table(&local),
        &forwarder(&local),
        &day,
        false,
        &mut Progress::hidden(),
    )
    .await
    .expect("replayed");
    assert_eq!(
        replayed
            .iter()
            .map(|r| r.received_at.as_str())
            .collect::<Vec<_>>(),
        ["2026-11-20T00:00:00.000000Z", "2026-11-20T18:00:00.000000Z"]
    );
    let again: Vec<_> = local.drain().await.iter().map(seen).collect();
    assert_eq!(again, first[1..3].to_vec());

    // Three days, in arrival order across them.
    let span = Selection::period(
        datetime!(2026-11-19 23:00 UTC),
        Some(datetime!(2026-11-21 01:00 UTC)),
        now,
    )
    .expect("a period");
    replay(
        &table(&local),
        &forwarder(&local),
        &span,
        false,
        &mut Progress::hidden(),
    )
    .await
    .expect("replayed");
    let again: Vec<_> = local.drain().await.iter().map(seen).collect();
    assert_eq!(again, first);
}

#[tokio::test]
async fn a_stored_item_that_cannot_be_rebuilt_is_reported_and_the_rest_sent() {
    let local = Local::new().await;
    deliver(&local, &body(A, "invoice.created", "pending")).await;
    deliver(&local, &body(A, "invoice.status_changed", "paid")).await;
    local.drain().await;
    // A provider this build does not know (e.g. written by a newer function).
    let events = local.events().await;
    let mut foreign = events[0].clone();
    foreign.insert(
        "provider".to_owned(),
        aws_sdk_dynamodb::types::AttributeValue::S("elsewhere".to_owned()),
    );
    local
        .dynamo
        .put_item()
        .table_name(&local.table)
        .set_item(Some(foreign))
        .send()
        .await
        .expect("put");

    let replayed = replay(
        &table(&local),
        &forwarder(&local),
        &Selection::entity(&format!("invoice#{A}")).expect("a key"),
        false,
        &mut Progress::hidden(),
    )
    .await
    .expect("replayed");
    let failed: Vec<_> = replayed
        .iter()
        .filter(|r| matches!(&r.result, Sent::Failed(why) if why.contains("unknown provider `elsewhere`")))
        .collect();
    assert_eq!(failed.len(), 1, "{replayed:?}");
    assert_eq!(local.drain().await.len(), 1, "the other one was sent");
    assert!(recover::replay::any_failed(&replayed));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_replays_with_the_functions_configuration() {
    let local = Local::new().await;
    deliver(&local, &body(A, "invoice.status_changed", "paid")).await;
    let first: Vec<_> = local.drain().await.iter().map(seen).collect();
    let endpoint = pipeline_tests::moto().endpoint.clone();
    let (table, queue) = (local.table.clone(), local.queue_url.clone());
    let run = move |dry_run: bool| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_recover"));
        command.args(["replay", "--pk", &format!("invoice#{A}")]);
        if dry_run {
            command.arg("--dry-run");
        }
        command
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("EVENTS_TABLE", &table)
            .env("EVENTS_QUEUE_URL", &queue)
            .output()
            .expect("run recover")
    };

    let dry = tokio::task::spawn_blocking({
        let run = run.clone();
        move || run(true)
    })
    .await
    .expect("joined");
    let stdout = String::from_utf8_lossy(&dry.stdout);
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert!(
        stdout.contains("1 notifications: 1 would be sent, 0 failed"),
        "{stdout}"
    );
    assert!(stdout.contains("invoice.status_changed"), "{stdout}");
    assert!(local.drain().await.is_empty());

    let sent = tokio::task::spawn_blocking(move || run(false))
        .await
        .expect("joined");
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let again: Vec<_> = local.drain().await.iter().map(seen).collect();
    assert_eq!(again, first);
}
