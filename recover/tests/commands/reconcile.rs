//! `reconcile` with a fake iugu API (wiremock) and the local DynamoDB server (moto): iugu's
//! paged invoice list against what the functions stored; `--fix` asks only for the gaps.

use std::time::Duration;

use pipeline_tests::{answer, form_post, Local};
use recover::event_table::{EventTable, StoredStatus};
use recover::iugu_api::{HttpIugu, RetryPolicy};
use recover::reconcile::{gap_left, reconcile};
use recover::report::Progress;
use recover::windows::Window;
use time::macros::date;
use webhook_core::clock::ManualClock;
use webhook_iugu::{Family, Iugu};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PAID_IN_STEP: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA1";
const BEHIND: &str = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB2";
const NEVER_SEEN: &str = "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC3";
const SLIP_ONLY_LATER: &str = "DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD4";
const AFTER_PERIOD: &str = "EEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE5";

const NO_WAIT: RetryPolicy = RetryPolicy {
    attempts: 3,
    base: Duration::ZERO,
    max: Duration::ZERO,
};

fn body(invoice: &str, event: &str, status: &str) -> String {
    format!("event={event}&data%5Bid%5D={invoice}&data%5Bstatus%5D={status}")
}

async fn deliver(local: &Local, body: &str) {
    let (status, json) = answer(
        &local
            .app_at(Iugu::family(Family::Invoices), &clock())
            .handle(form_post(body))
            .await,
    );
    assert_eq!(status, 200, "{json}");
}

fn invoice(id: &str, status: &str, updated_at: &str) -> serde_json::Value {
    // Personal fields as iugu sends them: the tool must neither need nor show them.
    serde_json::json!({
        "id": id, "status": status, "updated_at": updated_at,
        "email": "someone@example.com", "payer_cpf_cnpj": "66535209008"
    })
}

/// The invoices iugu lists as updated since 2026-11-20, two per page; `totalItems` counts the
/// whole account (as iugu's guide warns), so it cannot end the paging.
async fn fake_iugu() -> MockServer {
    let server = MockServer::start().await;
    let pages = [
        (
            "0",
            vec![
                invoice(PAID_IN_STEP, "paid", "2026-11-20T10:00:00-03:00"),
                invoice(BEHIND, "paid", "2026-11-20T11:00:00-03:00"),
            ],
        ),
        (
            "2",
            vec![
                invoice(NEVER_SEEN, "pending", "2026-11-20T12:00:00-03:00"),
                invoice(SLIP_ONLY_LATER, "pending", "2026-11-20T13:00:00-03:00"),
            ],
        ),
        (
            "4",
            vec![invoice(AFTER_PERIOD, "paid", "2026-11-21T09:00:00-03:00")],
        ),
    ];
    for (start, items) in pages {
        Mock::given(method("GET"))
            .and(path("/v1/invoices"))
            .and(query_param("updated_since", "2026-11-20T00:00:00-03:00"))
            .and(query_param("limit", "2"))
            .and(query_param("start", start))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "facets": {}, "totalItems": 1000, "items": items
            })))
            .expect(1)
            .mount(&server)
            .await;
    }
    server
}

async fn stored(local: &Local) {
    deliver(local, &body(PAID_IN_STEP, "invoice.created", "pending")).await;
    deliver(local, &body(PAID_IN_STEP, "invoice.status_changed", "paid")).await;
    deliver(local, &body(BEHIND, "invoice.created", "pending")).await;
    // The bank slip's registration state is not the invoice's status: pending stays latest.
    deliver(local, &body(SLIP_ONLY_LATER, "invoice.created", "pending")).await;
    deliver(
        local,
        &body(SLIP_ONLY_LATER, "invoice.bank_slip_status", "processing"),
    )
    .await;
}

/// When the deliveries above arrive, and when the reconciliation runs: a fixed time, so that no
/// run meets midnight between the two.
fn now() -> time::OffsetDateTime {
    time::macros::datetime!(2026-11-23 15:00 UTC)
}

fn clock() -> ManualClock {
    ManualClock::at(now())
}

const PERIOD: Window = Window {
    from: date!(2026 - 11 - 20),
    to: date!(2026 - 11 - 20),
};

#[tokio::test]
async fn gaps_are_found_across_pages_and_nothing_is_asked_without_fix() {
    let local = Local::new().await;
    stored(&local).await;
    let server = fake_iugu().await;
    let api = HttpIugu::new(&format!("{}/v1", server.uri()), "tok", NO_WAIT).expect("client");
    let table = EventTable::new(local.dynamo.clone(), &local.table);

    let report = reconcile(
        &api,
        &table,
        PERIOD,
        2,
        false,
        &mut Progress::hidden(),
        now(),
    )
    .await
    .expect("reconciled");
    assert_eq!(report.pages, 3);
    assert_eq!(
        report.checked, 4,
        "the invoice updated after the period is left out"
    );
    let gaps: Vec<(&str, &str, &StoredStatus)> = report
        .gaps
        .iter()
        .map(|g| (g.invoice_id.as_str(), g.iugu_status.as_str(), &g.ours))
        .collect();
    assert_eq!(
        gaps,
        [
            (BEHIND, "paid", &StoredStatus::Latest("pending".to_owned())),
            (NEVER_SEEN, "pending", &StoredStatus::Never),
        ]
    );
    assert!(report.gaps.iter().all(gap_left));
    let requests = server.received_requests().await.expect("recorded");
    assert!(
        requests.iter().all(|r| r.url.path() == "/v1/invoices"),
        "no resend without --fix"
    );
    let shown = recover::reconcile::reconcile_table(&report, false);
    assert!(shown.contains("never seen"), "{shown}");
    assert!(!shown.contains("someone@example.com") && !shown.contains("66535209008"));
}

#[tokio::test]
async fn fix_asks_iugu_to_resend_exactly_the_gap_invoices() {
    let local = Local::new().await;
    stored(&local).await;
    let server = fake_iugu().await;
    let logs = [
        (BEHIND, vec![("log-b1", "200"), ("log-b2", "500")]),
        (NEVER_SEEN, vec![("log-c1", "404")]),
    ];
    for (invoice, entries) in logs {
        let body: Vec<_> = entries
            .iter()
            .map(|(id, answered)| {
                serde_json::json!({"id": id, "error": answered, "status": "x",
                    "data": {"event": "invoice.status_changed"}})
            })
            .collect();
        Mock::given(method("GET"))
            .and(path(format!("/v1/web_hook_logs/{invoice}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .expect(1)
            .mount(&server)
            .await;
        for (id, _) in entries {
            Mock::given(method("GET"))
                .and(path(format!("/v1/web_hook_logs/{id}/retry")))
                .respond_with(ResponseTemplate::new(200).set_body_string("{ \"Hook reenviado!\" }"))
                .expect(1)
                .mount(&server)
                .await;
        }
    }
    let api = HttpIugu::new(&format!("{}/v1", server.uri()), "tok", NO_WAIT).expect("client");
    let table = EventTable::new(local.dynamo.clone(), &local.table);

    let report = reconcile(
        &api,
        &table,
        PERIOD,
        2,
        true,
        &mut Progress::hidden(),
        now(),
    )
    .await
    .expect("reconciled");
    assert_eq!(report.gaps.len(), 2);
    assert!(!report.gaps.iter().any(gap_left), "{:?}", report.gaps);

    let mut asked: Vec<String> = server
        .received_requests()
        .await
        .expect("recorded")
        .iter()
        .map(|r| r.url.path().to_owned())
        .filter(|p| p.starts_with("/v1/web_hook_logs/"))
        .collect();
    asked.sort();
    assert_eq!(
        asked,
        [
            format!("/v1/web_hook_logs/{BEHIND}"),
            format!("/v1/web_hook_logs/{NEVER_SEEN}"),
            "/v1/web_hook_logs/log-b1/retry".to_owned(),
            "/v1/web_hook_logs/log-b2/retry".to_owned(),
            "/v1/web_hook_logs/log-c1/retry".to_owned(),
        ]
    );
    // Each fixed invoice's retry was recorded first, for the functions' rule.
    let mut recorded: Vec<String> = local
        .items()
        .await
        .iter()
        .filter(|i| pipeline_tests::text(i, "pk") == "resend#iugu")
        .map(|i| pipeline_tests::text(i, "entity_key"))
        .collect();
    recorded.sort();
    assert_eq!(
        recorded,
        [format!("invoice#{BEHIND}"), format!("invoice#{NEVER_SEEN}")]
    );
    // The expectations above (`expect(1)`) are verified when the server drops.
}

/// Besides invoices, a reconcile reports, for every entity type, what is stored and not yet
/// forwarded, and the requests refused and kept on the period's days.
#[tokio::test]
async fn unforwarded_and_quarantined_notifications_of_any_type_are_reported() {
    let local = Local::new().await;
    // A subscription's notification stored while the queue was down.
    let down = pipeline_tests::Local {
        queue_url: local.missing_queue_url(),
        dynamo: local.dynamo.clone(),
        sqs: local.sqs.clone(),
        table: local.table.clone(),
        wire: local.wire.clone(),
    };
    let (status, _) = answer(
        &down
            .app_at(Iugu::family(Family::Subscriptions), &clock())
            .handle(form_post("event=subscription.suspended&data%5Bid%5D=S9"))
            .await,
    );
    assert_eq!(status, 503);
    // A request refused with a valid token.
    let (status, _) = answer(
        &local
            .app_at(Iugu::family(Family::Invoices), &clock())
            .handle(form_post(
                "event=invoice.status_changed&data%5Bstatus%5D=paid",
            ))
            .await,
    );
    assert_eq!(status, 422);

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/invoices"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "facets": {}, "totalItems": 0, "items": []
        })))
        .mount(&server)
        .await;
    let api = HttpIugu::new(&format!("{}/v1", server.uri()), "tok", NO_WAIT).expect("client");
    let table = EventTable::new(local.dynamo.clone(), &local.table);
    let today = now().date();
    let period = Window {
        from: today,
        to: today,
    };
    let report = reconcile(
        &api,
        &table,
        period,
        2,
        false,
        &mut Progress::hidden(),
        now(),
    )
    .await
    .expect("reconciled");
    assert!(report.gaps.is_empty());
    let waiting: Vec<&str> = report
        .unforwarded
        .iter()
        .map(|p| p.entity_key.as_str())
        .collect();
    assert_eq!(waiting, ["subscription#S9"]);
    assert_eq!(report.quarantined.len(), 1);
    assert_eq!(report.quarantined[0].request.error, "missing_entity_id");
    assert!(report.anything_left());
    let shown = recover::reconcile::reconcile_table(&report, false);
    assert!(
        shown.contains("subscription#S9")
            && shown.contains("1 entities with notifications stored and not forwarded"),
        "{shown}"
    );
    assert!(
        shown.contains("1 requests refused and kept, not resolved"),
        "{shown}"
    );
}
