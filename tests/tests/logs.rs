//! What a function logs: one JSON line per request with what an operator needs (event,
//! family, pk, de-duplication key, outcome, latency), and never the token or personal data
//! (CPF/CNPJ, names, e-mails, card holder and number, bank accounts), even at `trace`.
#![allow(clippy::expect_used, clippy::panic, reason = "tests fail by panicking")]

use std::io::Write;
use std::sync::{Arc, Mutex};

use pipeline_tests::{form_post, post, Local, TOKEN};
use webhook_iugu::{Family, Iugu};
use webhook_lambda::auth::Token;

/// Collects everything the subscriber writes.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().expect("lock").clone()).expect("UTF-8 logs")
    }
}

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
    let capture = Capture::default();
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
    let missing_queue = format!("{}-missing.fifo", local.queue_url.trim_end_matches(".fifo"));
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
