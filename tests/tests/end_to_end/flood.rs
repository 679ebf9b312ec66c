//! A flood of requests with a wrong token does not keep the gateway's real deliveries out of
//! the function: 1,000 bad-token requests interleaved with 100 real deliveries, 16 in flight,
//! through the handler and the local DynamoDB + SQS. Every real one is stored and forwarded
//! once, every bad one is 401, and nothing of theirs is stored. (What API Gateway's throttle
//! does in front of the function is in docs/floods.md; the same run against the local
//! stack over HTTP is `scripts/flood.py`, its figures in RELIABILITY.md.)

use std::sync::Arc;

use pipeline_tests::{answer, post, Local, TOKEN};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use webhook_iugu::{Family, Iugu};

const BAD: usize = 1_000;
const REAL: usize = 100;
const IN_FLIGHT: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bad_token_flood_does_not_keep_real_deliveries_out() {
    let local = Local::new().await;
    let app = Arc::new(local.app(Iugu::family(Family::Invoices)));
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut running = JoinSet::new();
    // One real delivery after every ten bad requests.
    for i in 0..BAD + REAL {
        let real = i % 11 == 10;
        let (id, token) = if real {
            (format!("REAL{}", i / 11), TOKEN.to_owned())
        } else {
            (format!("FLOOD{i}"), format!("guessed-token-{i:010}"))
        };
        let body = format!("event=invoice.status_changed&data%5Bid%5D={id}&data%5Bstatus%5D=paid");
        let (app, slots) = (Arc::clone(&app), Arc::clone(&slots));
        running.spawn(async move {
            let _slot = slots.acquire_owned().await.expect("semaphore");
            let request = post(&body, "application/x-www-form-urlencoded", Some(&token));
            let (status, answer) = answer(&app.handle(request).await);
            (real, status, answer)
        });
    }
    let (mut real_stored, mut bad_refused, mut other) = (0, 0, Vec::new());
    while let Some(done) = running.join_next().await {
        match done.expect("task") {
            (true, 200, a) if a["status"] == "stored" => real_stored += 1,
            (false, 401, a) if a["error"] == "unauthorized" => bad_refused += 1,
            unexpected => other.push(unexpected),
        }
    }
    assert!(other.is_empty(), "unexpected answers: {other:?}");
    assert_eq!((real_stored, bad_refused), (REAL, BAD));
    let events = local.events().await;
    assert_eq!(events.len(), REAL);
    assert!(events
        .iter()
        .all(|e| pipeline_tests::text(e, "pk").starts_with("invoice#REAL")));
    assert_eq!(local.drain_all().await.len(), REAL);
}
