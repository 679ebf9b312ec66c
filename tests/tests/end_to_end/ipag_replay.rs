//! iPag signs the body, not the `X-Ipag-Event` header: a captured, signed body sent again under
//! another event name, or with a stale timestamp, is refused and nothing is stored
//! (`webhook_ipag::replay`).

use lambda_http::Request;
use pipeline_tests::{answer, through_runtime, workspace, Local, TOKEN};
use serde_json::json;
use time::OffsetDateTime;
use webhook_ipag::{Ipag, SignatureKey};

const KEY: &str = "merchant-ipag-api-key";

/// A signed POST to /ipag/events as the HTTP API delivers it, with extra headers.
fn signed(body: &str, event: &str, extra: &[(&str, String)]) -> Request {
    let key = SignatureKey::new(Some(KEY)).expect("key");
    let signature = key.sign(body.as_bytes());
    let mut headers = vec![
        ("content-type", "application/json"),
        ("x-ipag-event", event),
        ("x-ipag-signature", signature.as_str()),
    ];
    headers.extend(extra.iter().map(|(name, value)| (*name, value.as_str())));
    through_runtime(&pipeline_tests::ipag_event("POST", body, &headers, Some(TOKEN)).to_string())
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        workspace().join(format!("shared/gateways/tests/fixtures/ipag/{name}.json")),
    )
    .expect("fixture")
}

/// The eight `Transaction*` events; each fixture carries the one status code its name means
/// (1, 2, 3, 5, 8, 7, 10, 9: `shared/gateways/tests/fixtures/ipag/README.md`).
const TRANSACTION_EVENTS: [&str; 8] = [
    "TransactionCreated",
    "TransactionWaitingPayment",
    "TransactionCanceled",
    "TransactionPreAuthorized",
    "TransactionCaptured",
    "TransactionDenied",
    "TransactionDisputed",
    "TransactionChargedback",
];

#[tokio::test]
async fn a_signed_body_replayed_as_another_event_is_refused_and_nothing_stored() {
    let local = Local::new().await;
    let mut app = local.app(Ipag::UNSIGNED);
    app.gateway = std::sync::Arc::new(Ipag::signed(Some(KEY)));
    let mut accepted = 0;
    // Every transaction body under every transaction event: only its own is accepted.
    for body_of in TRANSACTION_EVENTS {
        let body = fixture(body_of);
        for event in TRANSACTION_EVENTS {
            let (status, answer) = answer(&app.handle(signed(&body, event, &[])).await);
            if event == body_of {
                assert_eq!(status, 200, "{event}: {answer}");
                accepted += 1;
            } else {
                assert_eq!(status, 422, "{body_of} as {event}: {answer}");
                assert_eq!(answer["error"], "event_mismatch");
                assert!(answer["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(event)));
            }
        }
    }
    // A capture (8) is a payment that succeeded and not one that failed; a denial (7) the
    // other way round.
    let (captured, denied) = (fixture("TransactionCaptured"), fixture("TransactionDenied"));
    for parent in ["PaymentLink", "Subscription", "Charge"] {
        let (succeeded, failed) = (
            format!("{parent}PaymentSucceeded"),
            format!("{parent}PaymentFailed"),
        );
        for (body, event, expected) in [
            (&captured, &succeeded, 200),
            (&captured, &failed, 422),
            (&denied, &failed, 200),
            (&denied, &succeeded, 422),
        ] {
            let (status, answer) = answer(&app.handle(signed(body, event, &[])).await);
            assert_eq!(status, expected, "{event}: {answer}");
            accepted += usize::from(status == 200);
        }
    }
    // A transfer that failed cannot be announced as one that succeeded.
    let failed_transfer = fixture("TransferPaymentFailed");
    let (status, _) = answer(
        &app.handle(signed(&failed_transfer, "TransferPaymentSucceeded", &[]))
            .await,
    );
    assert_eq!(status, 422);
    assert_eq!(
        local.events().await.len(),
        accepted,
        "only the accepted ones are stored"
    );
    assert_eq!(accepted, 8 + 6);
}

#[tokio::test]
async fn a_stale_or_future_timestamp_is_refused_and_an_unreadable_one_is_not() {
    let local = Local::new().await;
    let mut app = local.app(Ipag::UNSIGNED);
    app.gateway = std::sync::Arc::new(Ipag::signed(Some(KEY)));
    let now = OffsetDateTime::now_utc();
    let seconds = now.unix_timestamp();
    let two_hours_ago = (now - time::Duration::hours(2))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("RFC 3339");
    let body = |n: usize| {
        json!({"id": 7000 + n, "resource": "transactions",
               "attributes": {"status": {"code": 8, "message": "CAPTURED"}}})
        .to_string()
    };
    let cases = [
        (seconds.to_string(), 200, None),
        ((seconds * 1000).to_string(), 200, None),
        ((seconds - 1200).to_string(), 200, None),
        ((seconds - 7200).to_string(), 422, Some("stale_timestamp")),
        (two_hours_ago, 422, Some("stale_timestamp")),
        ((seconds + 3600).to_string(), 422, Some("stale_timestamp")),
        // A format we cannot read is not refused: iPag does not document the header.
        ("17/06/2024 12:00".to_owned(), 200, None),
    ];
    let mut stored = 0;
    for (n, (stamp, expected, error)) in cases.into_iter().enumerate() {
        let request = signed(
            &body(n),
            "TransactionCaptured",
            &[("X-Ipag-Timestamps", stamp.clone())],
        );
        let (status, answer) = answer(&app.handle(request).await);
        assert_eq!(status, expected, "{stamp}: {answer}");
        assert_eq!(answer["error"].as_str(), error, "{stamp}: {answer}");
        stored += usize::from(status == 200);
    }
    // Without the header: accepted, as before.
    assert_eq!(
        answer(
            &app.handle(signed(&body(99), "TransactionCaptured", &[]))
                .await
        )
        .0,
        200
    );
    assert_eq!(local.events().await.len(), stored + 1);
}
