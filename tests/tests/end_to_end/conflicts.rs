//! DynamoDB's answers under contention and lost connections, which the local server never
//! gives (it serializes every call): a transaction cancelled for a conflict, a single write
//! refused because a transaction holds the item, and a write that committed but whose answer
//! was lost (the SDK sends it again). Each injected on the wire (`pipeline_tests::wire`)
//! between the real handler and the local server; each ends with the notification stored once
//! and sent once.

use pipeline_tests::wire::HttpFault;
use pipeline_tests::{answer, form_post, Local};
use webhook_core::ingest::MAX_ROUNDS;
use webhook_iugu::{Family, Iugu};

const BODY: &str = "event=invoice.status_changed&data%5Bid%5D=C1&data%5Bstatus%5D=paid\
                    &data%5Baccount_id%5D=ACC";
const PK: &str = "invoice#C1";
const INVOICES: Iugu = Iugu::family(Family::Invoices);

async fn deliver(local: &Local) -> (u16, serde_json::Value) {
    answer(&local.app(INVOICES).handle(form_post(BODY)).await)
}

/// One item, marked forwarded and owing nothing, and one send.
async fn assert_stored_and_sent_once(local: &Local) {
    assert_eq!(local.events().await.len(), 1);
    let head = local.head(PK).await;
    assert_eq!((head.last_sequence, head.forwarded_sequence), (1, 1));
    assert!(head.unacked.is_empty(), "answered 200: {head:?}");
    assert_eq!(local.sends().len(), 1);
}

/// The store's transaction is cancelled: another request was writing the entity. The delivery
/// reads again, judges again and stores.
#[tokio::test]
async fn a_transaction_cancelled_for_a_conflict_is_judged_again_and_stored_once() {
    let local = Local::new().await;
    local
        .wire
        .next("TransactWriteItems", HttpFault::transaction_conflict(3, 2));
    let (status, body) = deliver(&local).await;
    assert_eq!(local.wire.spent(), 1);
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("stored")),
        "{body}"
    );
    assert_stored_and_sent_once(&local).await;
}

/// Conflicts every time, as many rounds as a delivery makes: 503, nothing stored or sent; the
/// gateway's retry stores once.
#[tokio::test]
async fn conflicts_in_every_round_answer_503_and_the_retry_stores_once() {
    let local = Local::new().await;
    for _ in 0..MAX_ROUNDS {
        local
            .wire
            .next("TransactWriteItems", HttpFault::transaction_conflict(3, 0));
    }
    let (status, body) = deliver(&local).await;
    assert_eq!(local.wire.spent(), MAX_ROUNDS);
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("store_failed")),
        "{body}"
    );
    assert!(local.events().await.is_empty());
    assert!(local.sends().is_empty());
    let (status, body) = deliver(&local).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("stored")));
    assert_stored_and_sent_once(&local).await;
}

/// The store's transaction commits, its answer is lost, the SDK sends it again. On AWS the
/// same `ClientRequestToken` makes the second a no-op; the local server ignores the token, so
/// the second fails its conditions against the first: either way one item. The delivery reads
/// again, finds its own notification (the latest, owed its answer), sends it once and answers
/// 200.
#[tokio::test]
async fn a_store_whose_answer_was_lost_is_stored_and_sent_once() {
    let local = Local::new().await;
    local
        .wire
        .next("TransactWriteItems", HttpFault::CommitThenLoseAnswer);
    let (status, body) = deliver(&local).await;
    assert_eq!(local.wire.spent(), 1);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sequence"].as_u64(), Some(1));
    assert_stored_and_sent_once(&local).await;
}

/// The mark's update is refused because a transaction holds the head: the mark tries again
/// within its budget, and the head ends forwarded and owing nothing.
#[tokio::test]
async fn a_mark_refused_by_a_transaction_is_tried_again() {
    let local = Local::new().await;
    local
        .wire
        .next("UpdateItem", HttpFault::conflict_with_a_transaction());
    let (status, body) = deliver(&local).await;
    assert_eq!(local.wire.spent(), 1);
    assert_eq!((status, body["status"].as_str()), (200, Some("stored")));
    assert_stored_and_sent_once(&local).await;
}

/// The mark commits but its answer is lost; the SDK sends it again, and its condition (never
/// move `forwarded_sequence` down) makes the second a no-op: marked once, nothing owed.
#[tokio::test]
async fn a_mark_whose_answer_was_lost_is_recorded_once() {
    let local = Local::new().await;
    local
        .wire
        .next("UpdateItem", HttpFault::CommitThenLoseAnswer);
    let (status, body) = deliver(&local).await;
    assert_eq!(local.wire.spent(), 1);
    assert_eq!((status, body["status"].as_str()), (200, Some("stored")));
    assert_stored_and_sent_once(&local).await;
    let (status, again) = deliver(&local).await;
    assert_eq!((status, again["status"].as_str()), (200, Some("duplicate")));
    assert_eq!(local.sends().len(), 1, "the retry sends nothing");
}
