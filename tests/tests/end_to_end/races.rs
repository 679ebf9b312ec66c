//! Races: many deliveries of one notification at the same moment, and bursts of changes to one
//! invoice, through the real handler against one table and one FIFO queue.

use std::collections::HashMap;
use std::sync::Arc;

use pipeline_tests::{answer, form_post, text, Local};
use tokio::task::JoinSet;
use webhook_iugu::{Family, Iugu};

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn fifty_identical_deliveries_at_once_store_one_item_and_send_one_message() {
    let local = Local::new().await;
    let app = Arc::new(local.app(Iugu::family(Family::Invoices)));
    let body = "event=invoice.status_changed&data%5Bid%5D=RACE1&data%5Bstatus%5D=paid";
    let start = Arc::new(tokio::sync::Barrier::new(50));
    let mut deliveries = JoinSet::new();
    for _ in 0..50 {
        let (app, start) = (Arc::clone(&app), Arc::clone(&start));
        deliveries.spawn(async move {
            start.wait().await;
            answer(&app.handle(form_post(body)).await)
        });
    }
    let mut answers = Vec::new();
    while let Some(done) = deliveries.join_next().await {
        answers.push(done.expect("no delivery panics"));
    }

    // Every answer is 200 (stored or duplicate) or 503 (retry), never anything else.
    let mut by_status: HashMap<String, usize> = HashMap::new();
    for (status, body) in &answers {
        let label = match status {
            200 => body["status"].as_str().unwrap_or("?").to_owned(),
            503 => body["error"].as_str().unwrap_or("?").to_owned(),
            other => panic!("unexpected {other}: {body}"),
        };
        *by_status.entry(label).or_default() += 1;
    }
    assert_eq!(by_status.get("stored"), Some(&1), "{by_status:?}");

    let items = local.items().await;
    let events: Vec<_> = items
        .iter()
        .filter(|i| text(i, "kind") == "event")
        .collect();
    let markers: Vec<_> = items
        .iter()
        .filter(|i| text(i, "kind") == "dedup")
        .collect();
    assert_eq!((events.len(), markers.len()), (1, 1), "{items:?}");
    // Never 200 for a notification that is not stored and forwarded.
    assert_eq!(local.head("invoice#RACE1").await.forwarded_sequence, 1);
    let messages = local.drain().await;
    assert_eq!(messages.len(), 1, "the queue holds it once");
}

/// Sends `bodies` one after the other, each once the previous was answered (how a gateway
/// delivers one invoice's changes), and returns the answers' statuses.
async fn burst(
    app: Arc<webhook_lambda::http::App<webhook_aws::DynamoStore, webhook_aws::SqsForwarder>>,
    bodies: Vec<String>,
) -> Vec<u16> {
    let mut statuses = Vec::new();
    for body in bodies {
        statuses.push(answer(&app.handle(form_post(&body)).await).0);
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bursts_for_two_invoices_keep_each_invoices_order_in_its_fifo_group() {
    let local = Local::new().await;
    let app = Arc::new(local.app(Iugu::family(Family::Invoices)));
    let changes = |invoice: &str| -> Vec<String> {
        (0..15)
            .map(|n| {
                format!(
                    "event=invoice.status_changed&data%5Bid%5D={invoice}\
                     &data%5Bstatus%5D=s{n:02}"
                )
            })
            .collect()
    };
    // The two invoices' bursts run at the same time and interleave in the queue.
    let a = tokio::spawn(burst(Arc::clone(&app), changes("BURST-A")));
    let b = tokio::spawn(burst(Arc::clone(&app), changes("BURST-B")));
    for statuses in [a.await.expect("burst a"), b.await.expect("burst b")] {
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    }

    let messages = local.drain().await;
    assert_eq!(messages.len(), 30);
    let mut per_group: HashMap<String, Vec<String>> = HashMap::new();
    for message in &messages {
        let group = message
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId))
            .expect("group id")
            .clone();
        let sent: serde_json::Value =
            serde_json::from_str(message.body().expect("body")).expect("json");
        let status = sent["status"].as_str().expect("status").to_owned();
        per_group.entry(group).or_default().push(status);
    }
    let expected: Vec<String> = (0..15).map(|n| format!("s{n:02}")).collect();
    assert_eq!(per_group.get("invoice#BURST-A"), Some(&expected));
    assert_eq!(per_group.get("invoice#BURST-B"), Some(&expected));

    // And the table orders each invoice's items the same way (sk starts with the arrival).
    let events = local.events().await;
    for invoice in ["invoice#BURST-A", "invoice#BURST-B"] {
        let stored: Vec<String> = events
            .iter()
            .filter(|e| text(e, "pk") == invoice)
            .map(|e| text(e, "status"))
            .collect();
        assert_eq!(stored, expected, "{invoice}");
    }
}

/// Ten different notifications of one invoice at the same moment (each retried on 503, as the
/// gateway would): ten items numbered 1 to 10 with no number given twice, ten messages, and
/// the messages in the invoice's FIFO group in sequence order.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn ten_changes_of_one_invoice_at_once_get_ten_sequences_forwarded_in_order() {
    let local = Local::new().await;
    let app = Arc::new(local.app(Iugu::family(Family::Invoices)));
    let start = Arc::new(tokio::sync::Barrier::new(10));
    let mut deliveries = JoinSet::new();
    for n in 0..10 {
        let (app, start) = (Arc::clone(&app), Arc::clone(&start));
        deliveries.spawn(async move {
            let body =
                format!("event=invoice.status_changed&data%5Bid%5D=RACE2&data%5Bstatus%5D=s{n:02}");
            start.wait().await;
            // The gateway retries a 503; a bounded number of times here.
            for _ in 0..20 {
                let (status, answer) = answer(&app.handle(form_post(&body)).await);
                match status {
                    200 => return answer,
                    503 => continue,
                    other => panic!("unexpected {other}: {answer}"),
                }
            }
            panic!("still 503 after 20 tries");
        });
    }
    let mut sequences = Vec::new();
    while let Some(done) = deliveries.join_next().await {
        let answer = done.expect("no delivery panics");
        assert_eq!(answer["status"], "stored", "{answer}");
        sequences.push(answer["sequence"].as_u64().expect("a sequence"));
    }
    sequences.sort_unstable();
    assert_eq!(sequences, (1..=10).collect::<Vec<u64>>());

    let messages = local.drain().await;
    let sent: Vec<u64> = messages
        .iter()
        .map(|m| {
            let envelope: webhook_core::Envelope =
                serde_json::from_str(m.body().expect("body")).expect("an envelope");
            envelope.sequence.expect("a sequence")
        })
        .collect();
    assert_eq!(sent, (1..=10).collect::<Vec<u64>>(), "once each, in order");
    assert_eq!(local.events().await.len(), 10);
    assert_eq!(local.head("invoice#RACE2").await.forwarded_sequence, 10);
}
