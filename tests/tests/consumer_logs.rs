//! What the consumer logs and counts: one line per message with the event, entity key,
//! sequence and outcome, and never a message's personal data, the API credentials or the
//! gateway's answer, even at `trace`, on every path (booked, contradicted, the API down, the
//! business code failing, a body that is not an envelope). Its own binary: a scoped log
//! subscriber misses lines when other tests run on other threads.
#![allow(clippy::expect_used, clippy::panic, reason = "tests fail by panicking")]

use pipeline_tests::consumer::{event, Kit};
use pipeline_tests::log_capture::LogCapture;
use pipeline_tests::{form_post, Local};
use webhook_core::clock::ManualClock;
use webhook_iugu::{Family, Iugu};

const SECRETS: &[&str] = &[
    "66535209008", // CPF
    "Maria Silva", // payer name
    "Maria+Silva",
    "maria@example.com", // e-mail
    "maria%40example.com",
    "iugu-api-token", // the API credentials (the kit's test secret)
    "ipag-key",
];

fn body(id: &str, status: &str) -> String {
    format!(
        "event=invoice.status_changed&data%5Bid%5D={id}&data%5Bstatus%5D={status}\
         &data%5Baccount_id%5D=A&data%5Bpayer_cpf_cnpj%5D=66535209008\
         &data%5Bpayer_name%5D=Maria+Silva&data%5Bcustomer_email%5D=maria%40example.com"
    )
}

#[tokio::test]
async fn the_consumer_logs_no_personal_data_and_no_credentials() {
    let capture = LogCapture::default();
    let _guard = tracing::subscriber::set_default(webhook_consumer::lambda::log_subscriber(
        Some("trace"),
        capture.clone(),
    ));
    let local = Local::new().await;
    let clock = ManualClock::at(time::macros::datetime!(2026-11-20 13:00 UTC));
    let kit = Kit::new(&local, &clock).await;
    let app = local.app_at(Iugu::family(Family::Invoices), &clock);
    kit.stand_in.invoice("OK1", "paid");
    kit.stand_in.invoice("FORGED1", "pending");
    kit.stand_in.invoice("DOWN1", "paid");
    for (id, status) in [
        ("OK1", "paid"),
        ("FORGED1", "paid"),
        ("DOWN1", "paid"),
        ("BUG1", "pending"),
    ] {
        assert_eq!(app.handle(form_post(&body(id, status))).await.status(), 200);
    }
    let sends = local.sends();
    // Booked, contradicted.
    assert_eq!(kit.outcomes(&sends[..2]).await, ["booked", "contradicted"]);
    // The API down.
    kit.stand_in.down(Some(503));
    assert_eq!(kit.outcomes(&sends[2..3]).await, ["failed"]);
    kit.stand_in.down(None);
    // The business code failing.
    kit.fail(1);
    assert_eq!(kit.outcomes(&sends[3..4]).await, ["failed"]);
    // A body that is not an envelope (it still holds personal data).
    let mut broken = event(9, &sends[3..4]);
    broken.records[0].body = Some(
        sends[3]
            .body
            .to_string()
            .replace("\"entity_key\"", "\"entity\""),
    );
    let (response, _) = webhook_consumer::sqs::handle_event(&kit.consumer, &broken, None).await;
    assert_eq!(response.batch_item_failures.len(), 1);

    let logs = capture.text();
    assert!(
        logs.contains(r#""level":"DEBUG""#),
        "the level really was low:\n{logs}"
    );
    let messages: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| {
            l["target"]
                .as_str()
                .is_some_and(|t| t.starts_with("webhook_consumer"))
        })
        .collect();
    let outcomes: Vec<&str> = messages
        .iter()
        .filter_map(|l| l["fields"]["outcome"].as_str())
        .collect();
    assert_eq!(
        outcomes,
        ["booked", "contradicted", "failed", "failed"],
        "{logs}"
    );
    let booked = &messages
        .iter()
        .find(|l| l["fields"]["outcome"] == "booked")
        .expect("a booked line")["fields"];
    assert_eq!(
        (booked["entity_key"].as_str(), booked["sequence"].as_u64()),
        (Some("invoice#OK1"), Some(1))
    );
    let metrics = kit.lines.lock().expect("lines").join("\n");
    for secret in SECRETS {
        assert!(!logs.contains(secret), "`{secret}` is in the logs:\n{logs}");
        assert!(
            !metrics.contains(secret),
            "`{secret}` is in the metrics:\n{metrics}"
        );
    }
}
