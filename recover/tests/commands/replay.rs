//! `replay` against the local DynamoDB + SQS server (moto): notifications stored and forwarded
//! by the functions' own code, the queue drained (the consumer "lost" them), then replayed.
//! The replayed messages must be the first forward's, byte for byte. SQS (and the local server)
//! drops a message whose de-duplication id it saw in the last 5 minutes, so a replay here goes
//! to a second queue (`Local::with_another_queue`) instead of waiting 5 minutes.

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use pipeline_tests::{answer, form_post, Local};
use recover::event_table::EventTable;
use recover::replay::{replay, Selection, Sent, Which};
use recover::report::Progress;
use time::macros::datetime;
use time::OffsetDateTime;
use webhook_aws::{DynamoStore, SqsForwarder};
use webhook_core::clock::ManualClock;
use webhook_core::Envelope;
use webhook_iugu::{Family, Iugu};

const A: &str = "84F982E1A10F4FF1B483B829F4762C2C";
const B: &str = "0A1B2C3D4E5F60718293A4B5C6D7E8F9";

fn body(invoice: &str, event: &str, status: &str) -> String {
    format!("event={event}&data%5Bid%5D={invoice}&data%5Bstatus%5D={status}&data%5Baccount_id%5D=E6495D15290D47D3950C2A723D07A24E")
}

/// Stores one notification through the real handler (stored and forwarded).
async fn deliver(local: &Local, body: &str) {
    let (status, json) = answer(
        &local
            .app(Iugu::family(Family::Invoices))
            .handle(form_post(body))
            .await,
    );
    assert_eq!(status, 200, "{json}");
}

/// Stores and forwards one notification that arrived at `at`, through the real handler
/// with its clock at `at`.
async fn deliver_at(local: &Local, body: &str, at: OffsetDateTime) {
    let clock = ManualClock::at(at);
    let app = local.app_at(Iugu::family(Family::Invoices), &clock);
    let (status, json) = answer(&app.handle(form_post(body)).await);
    assert_eq!(status, 200, "{json}");
}

/// Stores one notification that arrived at `at` whose forward fails (the queue is down):
/// stored, never forwarded.
async fn store_unforwarded(local: &Local, body: &str, at: OffsetDateTime) {
    let store = DynamoStore::new(local.dynamo.clone(), &local.table);
    let down = SqsForwarder::new(
        local.sqs.clone(),
        format!("{}-missing.fifo", local.queue_url),
    );
    let envelope = webhook_iugu::parse(body.as_bytes(), at).expect("parses");
    let err = webhook_core::ingest::store_and_forward(
        &store,
        &down,
        &webhook_gateways::ALL,
        envelope,
        body,
        &Default::default(),
        "test-delivery",
    )
    .await
    .expect_err("the queue is missing");
    assert!(
        matches!(err, webhook_core::ingest::IngestError::Forward(_)),
        "{err}"
    );
}

const NOW: OffsetDateTime = datetime!(2026-11-23 12:00 UTC);

fn table(local: &Local) -> EventTable {
    EventTable::new(local.dynamo.clone(), &local.table)
}

/// A replay of `selection` from `local`'s table to `to`'s queue, at `NOW`.
async fn run(
    local: &Local,
    to: &Local,
    selection: &Selection,
    which: Which,
    dry_run: bool,
) -> Vec<recover::replay::Replayed> {
    replay(
        &table(local),
        &forwarder(to),
        selection,
        which,
        dry_run,
        &mut Progress::hidden(),
        NOW,
    )
    .await
    .expect("replayed")
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

    let again_to = local.with_another_queue().await;
    let replayed = run(
        &local,
        &again_to,
        &Selection::entity(&format!("invoice#{A}")).expect("a key"),
        Which::All,
        false,
    )
    .await;
    assert_eq!(replayed.len(), 2);
    assert!(
        replayed.iter().all(|r| r.result == Sent::Sent),
        "{replayed:?}"
    );

    let again: Vec<_> = again_to.drain().await.iter().map(seen).collect();
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

    let replayed = run(
        &local,
        &local,
        &Selection::entity(&format!("invoice#{A}")).expect("a key"),
        Which::All,
        true,
    )
    .await;
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
    let (day_to, span_to) = (
        local.with_another_queue().await,
        local.with_another_queue().await,
    );
    let now = NOW;

    // One day: since included, until excluded.
    let day = Selection::period(
        datetime!(2026-11-20 00:00 UTC),
        Some(datetime!(2026-11-21 00:00 UTC)),
        now,
    )
    .expect("a period");
    let replayed = run(&local, &day_to, &day, Which::All, false).await;
    assert_eq!(
        replayed
            .iter()
            .map(|r| r.received_at.as_str())
            .collect::<Vec<_>>(),
        ["2026-11-20T00:00:00.000000Z", "2026-11-20T18:00:00.000000Z"]
    );
    let again: Vec<_> = day_to.drain().await.iter().map(seen).collect();
    assert_eq!(again, first[1..3].to_vec());

    // Three days, in arrival order across them.
    let span = Selection::period(
        datetime!(2026-11-19 23:00 UTC),
        Some(datetime!(2026-11-21 01:00 UTC)),
        now,
    )
    .expect("a period");
    run(&local, &span_to, &span, Which::All, false).await;
    let again: Vec<_> = span_to.drain().await.iter().map(seen).collect();
    assert_eq!(again, first);
}

/// An item that cannot be rebuilt is reported; the ones after it in its entity are not sent
/// (order), and say why.
#[tokio::test]
async fn a_stored_item_that_cannot_be_rebuilt_stops_its_entity_there() {
    let local = Local::new().await;
    deliver(&local, &body(A, "invoice.created", "pending")).await;
    deliver(&local, &body(A, "invoice.status_changed", "paid")).await;
    deliver(&local, &body(A, "invoice.status_changed", "refunded")).await;
    local.drain().await;
    // A provider this build does not know (e.g. written by a newer function), on number 2.
    let events = local.events().await;
    let mut foreign = events[1].clone();
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

    let again_to = local.with_another_queue().await;
    let replayed = run(
        &local,
        &again_to,
        &Selection::entity(&format!("invoice#{A}")).expect("a key"),
        Which::All,
        false,
    )
    .await;
    let results: Vec<_> = replayed
        .iter()
        .map(|r| (r.sequence, r.result.clone()))
        .collect();
    assert_eq!(results[0], (Some(1), Sent::Sent));
    assert!(
        matches!(&results[1], (Some(2), Sent::Failed(why)) if why.contains("unknown provider `elsewhere`")),
        "{results:?}"
    );
    assert!(
        matches!(&results[2], (Some(3), Sent::Failed(why)) if why.contains("an earlier notification of this entity failed")),
        "{results:?}"
    );
    assert_eq!(
        again_to.drain().await.len(),
        1,
        "only the one before it was sent"
    );
    assert!(recover::replay::any_failed(&replayed));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_replays_with_the_functions_configuration() {
    let local = Local::new().await;
    deliver(&local, &body(A, "invoice.status_changed", "paid")).await;
    let first: Vec<_> = local.drain().await.iter().map(seen).collect();
    let endpoint = pipeline_tests::moto().endpoint.clone();
    let again_to = local.with_another_queue().await;
    let (table, queue) = (local.table.clone(), again_to.queue_url.clone());
    let run = move |dry_run: bool| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_recover"));
        command.args(["replay", "--all", "--pk", &format!("invoice#{A}")]);
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
    assert!(again_to.drain().await.is_empty());

    let sent = tokio::task::spawn_blocking(move || run(false))
        .await
        .expect("joined");
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let again: Vec<_> = again_to.drain().await.iter().map(seen).collect();
    assert_eq!(again, first);
}

/// The functions' order rule holds for a replay: a notification stored but never forwarded
/// (the queue was down) goes before a later one of its entity, even when only the later one is
/// selected, and the entity's `forwarded_sequence` moves up.
#[tokio::test]
async fn a_replay_sends_what_waits_before_it_first() {
    let local = Local::new().await;
    let monday = datetime!(2026-11-16 10:00 UTC);
    let tuesday = datetime!(2026-11-17 10:00 UTC);
    store_unforwarded(&local, &body(A, "invoice.created", "pending"), monday).await;
    store_unforwarded(&local, &body(A, "invoice.status_changed", "paid"), tuesday).await;
    assert!(local.drain().await.is_empty());
    assert_eq!(
        local.head(&format!("invoice#{A}")).await.forwarded_sequence,
        0
    );

    let tuesday_only = Selection::period(
        datetime!(2026-11-17 00:00 UTC),
        Some(datetime!(2026-11-18 00:00 UTC)),
        NOW,
    )
    .expect("a period");
    let replayed = run(&local, &local, &tuesday_only, Which::Unforwarded, false).await;
    let rows: Vec<_> = replayed
        .iter()
        .map(|r| (r.event.as_str(), r.sequence, r.waited, r.result.clone()))
        .collect();
    assert_eq!(
        rows,
        [
            ("invoice.created", Some(1), true, Sent::Sent),
            ("invoice.status_changed", Some(2), false, Sent::Sent),
        ]
    );
    let sent: Vec<Envelope> = local
        .drain()
        .await
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap_or_default()).expect("an envelope"))
        .collect();
    assert_eq!(
        sent.iter().map(|e| e.sequence).collect::<Vec<_>>(),
        [Some(1), Some(2)]
    );
    assert_eq!(
        local.head(&format!("invoice#{A}")).await.forwarded_sequence,
        2
    );
    let table_text = recover::replay::replay_table(&replayed, false);
    assert!(
        table_text.contains("sent first: stored, never forwarded"),
        "{table_text}"
    );
}

/// By default a replay sends only what was never forwarded, and says what it skipped.
#[tokio::test]
async fn a_replay_without_all_skips_what_was_forwarded() {
    let local = Local::new().await;
    deliver(&local, &body(A, "invoice.created", "pending")).await;
    store_unforwarded(&local, &body(A, "invoice.status_changed", "paid"), NOW).await;
    local.drain().await;
    let again_to = local.with_another_queue().await;
    let replayed = run(
        &local,
        &again_to,
        &Selection::entity(&format!("invoice#{A}")).expect("a key"),
        Which::Unforwarded,
        false,
    )
    .await;
    let results: Vec<_> = replayed
        .iter()
        .map(|r| (r.sequence, r.result.clone()))
        .collect();
    assert_eq!(results, [(Some(1), Sent::Skipped), (Some(2), Sent::Sent)]);
    let summary = recover::replay::replay_table(&replayed, false);
    assert!(
        summary.contains("2 notifications: 1 sent, 0 failed, 1 skipped (forwarded before; --all sends them again)"),
        "{summary}"
    );
    let sent: Vec<Envelope> = again_to
        .drain()
        .await
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap_or_default()).expect("an envelope"))
        .collect();
    assert_eq!(
        sent.iter().map(|e| e.sequence).collect::<Vec<_>>(),
        [Some(2)]
    );
    assert_eq!(
        local.head(&format!("invoice#{A}")).await.forwarded_sequence,
        2
    );
}
