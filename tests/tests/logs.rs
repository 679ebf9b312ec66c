//! What a function logs: one JSON line per request with what an operator needs (event,
//! family, pk, de-duplication key, outcome, latency), and never the token or personal data
//! (CPF/CNPJ, names, e-mails, card holder and number, bank accounts), even at `trace`.
#![allow(clippy::expect_used, clippy::panic, reason = "tests fail by panicking")]

use pipeline_tests::log_capture::LogCapture;
use pipeline_tests::{form_post, post, Local, TOKEN};
use webhook_iugu::{Family, Iugu};
use webhook_lambda::auth::Token;

/// Personal data iugu sends, as it appears in bodies (encoded) and as it would in a log.
const SECRETS: &[&str] = &[
    TOKEN,
    "66535209008",    // CPF
    "11222333000181", // CNPJ
    "Maria Silva",    // payer name
    "Maria+Silva",
    "maria@example.com", // e-mail
    "maria%40example.com",
    "JOAO CARDHOLDER",     // card holder
    "XXXX-XXXX-XXXX-4242", // masked card number
    "1927794",             // bank account
];

const BODY: &str = "event=invoice.status_changed&data%5Bid%5D=LOG1&data%5Bstatus%5D=paid\
&data%5Bpayer_cpf_cnpj%5D=66535209008&data%5Bpayer_name%5D=Maria+Silva\
&data%5Bcustomer_email%5D=maria%40example.com&data%5Bcnpj%5D=11222333000181\
&data%5Bcredit_card%5D%5Bholder%5D=JOAO+CARDHOLDER\
&data%5Bcredit_card%5D%5Bmasked_number%5D=XXXX-XXXX-XXXX-4242\
&data%5Bsender_bank_account%5D=1927794";

#[tokio::test]
async fn request_logs_carry_no_token_and_no_personal_data() {
    let capture = LogCapture::default();
    // At `trace`, the most `RUST_LOG` can ask for: the AWS SDK's own lines are capped
    // (`webhook_lambda::runtime::within_caps`), so the requests it signs and sends are not logged.
    let _guard = tracing::subscriber::set_default(webhook_lambda::runtime::log_subscriber_at(
        Some("trace"),
        capture.clone(),
    ));
    let local = Local::new().await;
    let invoices = Iugu::family(Family::Invoices);

    // Stored, duplicate, refused (wrong token, broken body, wrong route), and a failed forward.
    let app = local.app(invoices);
    assert_eq!(app.handle(form_post(BODY)).await.status(), 200);
    assert_eq!(app.handle(form_post(BODY)).await.status(), 200);
    let wrong = post(
        BODY,
        "application/x-www-form-urlencoded",
        Some("Maria Silva 66535209008"),
    );
    assert_eq!(app.handle(wrong).await.status(), 401);
    let broken = format!("{BODY}&data[maria@example.com=1");
    assert_eq!(app.handle(form_post(&broken)).await.status(), 400);
    let subscriptions = local.app(Iugu::family(Family::Subscriptions));
    assert_eq!(subscriptions.handle(form_post(BODY)).await.status(), 422);
    let missing_queue = local.missing_queue_url();
    let broken_queue = local.app_with(invoices, Token::new(Some(TOKEN)), &missing_queue);
    let changed = BODY.replace("LOG1", "LOG2");
    assert_eq!(broken_queue.handle(form_post(&changed)).await.status(), 503);

    let logs = capture.text();
    // The level really was `trace`: the SDK's debug lines are there.
    assert!(logs.contains(r#""level":"DEBUG""#), "{logs}");
    let requests: Vec<serde_json::Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}")))
        .filter(|line: &serde_json::Value| line["fields"]["message"] == "request")
        .collect();
    assert_eq!(requests.len(), 6, "one line per request:\n{logs}");
    let stored = &requests[0]["fields"];
    assert_eq!(stored["event"], "invoice.status_changed");
    assert_eq!(stored["family"], "invoices");
    assert_eq!(stored["pk"], "invoice#LOG1");
    assert_eq!(stored["outcome"], "stored");
    assert_eq!(stored["status"], 200);
    assert_eq!(stored["dedup_key"].as_str().map(str::len), Some(64));
    assert!(stored["latency_us"].is_u64());
    assert_eq!(
        (stored["sequence"].as_u64(), stored["forwarded"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(requests[1]["fields"]["outcome"], "retry");
    assert_eq!(requests[1]["fields"]["forwarded"], 0);
    assert_eq!(requests[2]["fields"]["outcome"], "unauthorized");
    assert_eq!(requests[3]["fields"]["outcome"], "malformed_key");
    assert_eq!(requests[4]["fields"]["outcome"], "wrong_route");
    assert_eq!(requests[5]["fields"]["outcome"], "forward_failed");

    for secret in SECRETS {
        assert!(
            !logs.contains(secret),
            "`{secret}` appears in the logs:\n{logs}"
        );
    }
}

/// Issue 24, item 3: a refusal before authentication wrote three lines (a warning, the request
/// line and a metric line). Now it writes one at most, its metric line with the
/// request line's fields, sampled under a flood (one line per code and window), and the
/// `Notifications` it carries add up to every refusal, exactly.
#[tokio::test]
async fn a_refusal_writes_one_line_at_most_and_a_flood_is_counted_exactly() {
    let capture = LogCapture::default();
    let _guard = tracing::subscriber::set_default(webhook_lambda::runtime::log_subscriber_at(
        Some("info"),
        capture.clone(),
    ));
    let local = Local::new().await;
    let wrong = || {
        post(
            BODY,
            "application/x-www-form-urlencoded",
            Some("wrong-token-0000000000000"),
        )
    };
    let refused = |lines: &[String]| -> u64 {
        lines
            .iter()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON"))
            .filter(|l| l["Outcome"] == "refused")
            .filter_map(|l| l["Notifications"].as_u64())
            .sum()
    };

    // Each refusal alone: exactly one line, which is also its request line.
    let (metrics, lines) = webhook_lambda::metrics::Metrics::captured("test");
    let app = webhook_lambda::http::App {
        metrics: metrics.with_refusal_window(std::time::Duration::ZERO),
        ..local.app(Iugu::family(Family::Invoices))
    };
    for _ in 0..3 {
        assert_eq!(app.handle(wrong()).await.status(), 401);
    }
    let no_token = post(BODY, "application/x-www-form-urlencoded", None);
    assert_eq!(app.handle(no_token).await.status(), 401);
    assert_eq!(capture.text(), "", "no log line besides the metric line");
    let written = lines.lock().expect("lines").clone();
    assert_eq!(written.len(), 4, "{written:?}");
    let line: serde_json::Value = serde_json::from_str(&written[0]).expect("JSON");
    assert_eq!(line["message"], "request");
    assert_eq!(line["route"], "/iugu/invoices");
    assert_eq!(line["Code"], "unauthorized");
    assert_eq!(line["status"], 401);
    assert_eq!(line["reason"], "wrong token");
    assert_eq!(line["Notifications"], 1);
    assert!(
        written.iter().all(|l| !l.contains("wrong-token")),
        "{written:?}"
    );
    assert_eq!(refused(&written), 4);

    // A flood within one window: one line, then the count of the rest with the next request
    // (here an authentic one, once the window has passed: a window of zero has).
    let (metrics, lines) = webhook_lambda::metrics::Metrics::captured("test");
    let app = webhook_lambda::http::App {
        metrics: metrics.with_refusal_window(std::time::Duration::from_secs(3600)),
        ..local.app(Iugu::family(Family::Invoices))
    };
    for _ in 0..500 {
        assert_eq!(app.handle(wrong()).await.status(), 401);
    }
    assert_eq!(lines.lock().expect("lines").len(), 1, "one line for 500");
    assert_eq!(capture.text(), "");
    app.metrics.flush_refusals();
    let written = lines.lock().expect("lines").clone();
    assert_eq!(written.len(), 2, "{written:?}");
    assert_eq!(refused(&written), 500, "every refusal counted once");

    // With the window past, the next request of any kind writes what was folded.
    let (metrics, lines) = webhook_lambda::metrics::Metrics::captured("test");
    let app = webhook_lambda::http::App {
        metrics: metrics.with_refusal_window(std::time::Duration::ZERO),
        ..local.app(Iugu::family(Family::Invoices))
    };
    assert_eq!(app.handle(wrong()).await.status(), 401);
    assert_eq!(app.handle(form_post(BODY)).await.status(), 200);
    let written = lines.lock().expect("lines").clone();
    assert_eq!(refused(&written), 1);
    // An authentic request keeps its request line and its metric line.
    assert_eq!(written.len(), 2, "{written:?}");
    assert_eq!(capture.text().lines().count(), 1);
}
