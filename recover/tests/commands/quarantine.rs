//! The quarantine end to end: the real handler refuses an authenticated request and keeps it
//! (once, however often it is delivered); `recover quarantine retry` leaves it while the parser
//! still refuses it, and stores and forwards it once when the parser has learned what it lacked.

use pipeline_tests::{answer, form_post, post, Local};
use recover::event_table::EventTable;
use recover::quarantine::{list, list_table, retry, Retried, Retrier};
use recover::report::Progress;
use time::OffsetDateTime;
use webhook_aws::SqsForwarder;
use webhook_core::clock::ManualClock;
use webhook_core::Envelope;
use webhook_iugu::{Family, Iugu};

/// An invoice event whose id is in a field iugu might rename to (the parser does not know it).
const RENAMED_ID: &str =
    "event=invoice.status_changed&data%5Binvoice_id%5D=Q1&data%5Bstatus%5D=paid";

async fn deliver(local: &Local, request: lambda_http::Request) -> (u16, serde_json::Value) {
    answer(
        &local
            .app_at(Iugu::family(Family::Invoices), &ManualClock::at(now()))
            .handle(request)
            .await,
    )
}

/// When the requests arrive and are listed and retried: a fixed time, so that no run meets
/// midnight (a quarantined request is kept under its arrival's day).
fn now() -> OffsetDateTime {
    time::macros::datetime!(2026-11-23 15:00 UTC)
}

/// `quarantine retry` of `items` with the admission `admit`, now.
async fn retry_with(
    table: &EventTable,
    forwarder: &SqsForwarder,
    admit: &recover::quarantine::Admit,
    items: &[webhook_aws::table::QuarantineItem],
) -> Vec<(webhook_aws::table::QuarantineItem, Retried)> {
    let settings = webhook_core::delivery::DeliverySettings::default();
    let with = Retrier {
        table,
        forwarder,
        admit,
        settings: &settings,
    };
    retry(&with, items, false, &mut Progress::hidden(), now())
        .await
        .expect("retried")
}

#[tokio::test]
async fn a_refused_authentic_request_is_kept_once_and_retried_once_the_parser_learns() {
    let local = Local::new().await;
    for _ in 0..3 {
        let (status, body) = deliver(&local, form_post(RENAMED_ID)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (422, Some("missing_entity_id")),
            "the answer to the gateway does not change"
        );
    }
    // Without a valid token: never kept.
    let (status, _) = deliver(
        &local,
        post(
            RENAMED_ID.replace("Q1", "Q2").as_str(),
            "application/x-www-form-urlencoded",
            Some("not-the-token-0123456789"),
        ),
    )
    .await;
    assert_eq!(status, 401);
    assert!(local.events().await.is_empty());
    assert!(local.drain().await.is_empty());

    let table = EventTable::new(local.dynamo.clone(), &local.table);
    let today = now().date();
    let items = list(&table, today, today, now()).await.expect("listed");
    assert_eq!(items.len(), 1, "{items:?}");
    let q = &items[0];
    assert_eq!(q.deliveries, 3);
    assert_eq!(
        (q.request.path.as_str(), q.request.error.as_str()),
        ("/iugu/invoices", "missing_entity_id")
    );
    assert_eq!(q.request.body, RENAMED_ID.as_bytes());
    assert!(q
        .request
        .headers
        .iter()
        .all(|(name, _)| name != "authorization"));
    assert!(list_table(&items).contains("1 quarantined: 1 not resolved"));

    let forwarder = SqsForwarder::new(local.sqs.clone(), &local.queue_url);
    // Today's parser still refuses it: left as it is.
    let results = retry_with(
        &table,
        &forwarder,
        &webhook_core::admission::admit_to,
        &items,
    )
    .await;
    assert!(
        matches!(&results[0].1, Retried::StillRefused { code, .. } if code == "missing_entity_id"),
        "{results:?}"
    );
    assert!(local.events().await.is_empty());

    // A parser that learned `data[invoice_id]` (a fix deployed): stored and forwarded once.
    let learned = |gateway: &dyn webhook_core::gateway::Gateway,
                   headers: &lambda_http::http::HeaderMap,
                   body: &[u8],
                   at: OffsetDateTime| {
        let body = String::from_utf8_lossy(body).replace("data%5Binvoice_id%5D", "data%5Bid%5D");
        webhook_core::admission::admit_to(gateway, headers, body.as_bytes(), at)
    };
    let results = retry_with(&table, &forwarder, &learned, &items).await;
    assert_eq!(
        results[0].1,
        Retried::Accepted {
            outcome: "stored",
            sequence: Some(1)
        }
    );
    let events = local.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(pipeline_tests::text(&events[0], "pk"), "invoice#Q1");
    let messages = local.drain().await;
    assert_eq!(messages.len(), 1);
    let envelope: Envelope =
        serde_json::from_str(messages[0].body().unwrap_or_default()).expect("an envelope");
    assert_eq!(envelope.sequence, Some(1));

    // Resolved: a second retry does nothing.
    let items = list(&table, today, today, now()).await.expect("listed");
    assert_eq!(items[0].resolution.as_deref(), Some("stored, sequence 1"));
    let results = retry_with(&table, &forwarder, &learned, &items).await;
    assert_eq!(results[0].1, Retried::AlreadyResolved);
    assert!(local.drain().await.is_empty());
    assert_eq!(local.events().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_lists_the_quarantine() {
    let local = Local::new().await;
    deliver(&local, form_post(RENAMED_ID)).await;
    let endpoint = pipeline_tests::moto().endpoint.clone();
    let table = local.table.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_recover"))
            .args(["quarantine", "list", "--from", "2026-11-23"])
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("EVENTS_TABLE", &table)
            .output()
            .expect("run recover")
    })
    .await
    .expect("joined");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("/iugu/invoices") && stdout.contains("missing_entity_id"),
        "{stdout}"
    );
    assert!(stdout.contains("1 quarantined: 1 not resolved"), "{stdout}");
}
