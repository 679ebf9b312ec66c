//! What the `ipag` function logs: one JSON line per request with the event, family, pk and
//! outcome, and never the token, the signature key or the personal data in iPag's bodies.
//!
//! Its own test binary, as `logs.rs` is: a scoped log subscriber in a binary whose other tests
//! run at the same time on other threads can miss lines (tracing caches a call site's interest
//! from whichever thread reaches it first).
#![allow(clippy::expect_used, clippy::panic, reason = "tests fail by panicking")]

use lambda_http::Request;
use pipeline_tests::log_capture::LogCapture;
use pipeline_tests::{answer, through_runtime, Local, TOKEN};
use serde_json::Value;
use webhook_ipag::{Ipag, SignatureKey};

const KEY: &str = "merchant-ipag-api-key";

/// A JSON POST to /ipag/events as the HTTP API (payload 2.0) delivers it, with the token.
fn request(body: &str, headers: &[(&str, &str)]) -> Request {
    through_runtime(&pipeline_tests::ipag_event("POST", body, headers, Some(TOKEN)).to_string())
}

fn ipag_post(body: &str, event: &str) -> Request {
    request(
        body,
        &[
            ("Content-Type", "application/json"),
            ("X-Ipag-Event", event),
        ],
    )
}

/// Logs say what an operator needs (event, family, pk, outcome) and never the token, the
/// signature key or the personal data in iPag's bodies (CPF, names, e-mail, card, bank).
#[tokio::test]
async fn logs_carry_no_personal_data() {
    let capture = LogCapture::default();
    // At `trace`, the most `RUST_LOG` can ask for: the AWS SDK's own lines are capped
    // (`webhook_lambda::runtime::within_caps`), so the requests it signs and sends are not logged.
    let _guard = tracing::subscriber::set_default(webhook_lambda::runtime::log_subscriber_at(
        Some("trace"),
        capture.clone(),
    ));
    let local = Local::new().await;
    let mut app = local.app(Ipag::UNSIGNED);
    app.gateway = std::sync::Arc::new(Ipag::signed(Some(KEY)));
    for name in ["TransactionCaptured", "TransferPaymentFailed"] {
        let body = std::fs::read_to_string(
            pipeline_tests::workspace()
                .join(format!("shared/gateways/tests/fixtures/ipag/{name}.json")),
        )
        .expect("fixture");
        let signature = SignatureKey::new(Some(KEY))
            .expect("key")
            .sign(body.as_bytes());
        let signed = request(
            &body,
            &[
                ("Content-Type", "application/json"),
                ("X-Ipag-Event", name),
                ("X-Ipag-Signature", &signature),
            ],
        );
        assert_eq!(answer(&app.handle(signed).await).0, 200);
        // Unsigned: refused, and logged.
        assert_eq!(answer(&app.handle(ipag_post(&body, name)).await).0, 401);
    }
    // Broken (a personal field cut off mid-value): refused, and logged.
    let broken = r#"{"id": 1, "attributes": {"customer": {"name": "Fulano da Silva", "cpf_cnpj": "79999338801""#;
    let unsigned = local.app(Ipag::UNSIGNED);
    let refused = unsigned
        .handle(ipag_post(broken, "TransactionCaptured"))
        .await;
    assert_eq!(answer(&refused).0, 400);

    let logs = capture.text();
    assert!(logs.contains(r#""level":"DEBUG""#), "not at trace: {logs}");
    let lines: Vec<Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .filter(|l: &Value| l["fields"]["message"] == "request")
        .collect();
    assert_eq!(lines.len(), 5, "{logs}");
    assert_eq!(lines[0]["fields"]["event"], "TransactionCaptured");
    assert_eq!(lines[0]["fields"]["family"], "transactions");
    assert_eq!(lines[0]["fields"]["pk"], "ipag-transaction#3012161");
    assert_eq!(lines[0]["fields"]["outcome"], "stored");
    assert_eq!(lines[1]["fields"]["outcome"], "invalid_signature");
    assert_eq!(lines[2]["fields"]["pk"], "ipag-transfer#5");
    assert_eq!(lines[4]["fields"]["outcome"], "invalid_json");
    for secret in [
        TOKEN,
        KEY,
        "79999338801",
        "Fulano da Silva",
        "FULANO DA SILVA",
        "fulano@mail.me",
        "411111******1111",
        "1927794",
        "AV CYRO BUENO",
    ] {
        assert!(
            !logs.contains(secret),
            "`{secret}` appears in the logs:\n{logs}"
        );
    }
}
