//! A load run in CI (smaller than the 10,000 of docs/delivery-semantics.md; same code): many
//! notifications of every documented event, 10% delivered again as a gateway retry, 16 at a
//! time; nothing lost, nothing doubled.

use pipeline_tests::load::{run, Plan};
use pipeline_tests::Local;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_mixed_deliveries_with_ten_percent_duplicates_lose_and_double_nothing() {
    let local = Local::new().await;
    let plan = Plan {
        deliveries: 1_000,
        duplicate_every: 10,
        concurrency: 16,
        max_retries: 3,
    };
    let report = run(&local, plan).await;
    assert_eq!(report.distinct, 900);
    assert_eq!(
        (report.lost, report.doubled, report.gave_up),
        (0, 0, 0),
        "answers {:?}, repeats {:?}",
        report.answers,
        report.repeats
    );
    assert_eq!((report.stored, report.forwarded), (900, 900));
    let duplicates = report.answers.get("200 duplicate").copied().unwrap_or(0);
    assert!(
        duplicates >= 100,
        "every repeat answered as a duplicate: {:?}",
        report.answers
    );
}
