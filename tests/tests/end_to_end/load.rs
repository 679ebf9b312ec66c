//! A load run in CI (smaller than the 10,000 of docs/delivery-semantics.md; same code): many
//! notifications of every documented event, 10% delivered again as a gateway retry, real
//! repeats (the same content after another notification of its entity), and first attempts the
//! queue refuses, 16 at a time: nothing lost, every repeat flagged, nothing received twice.

use pipeline_tests::load::{run, Plan};
use pipeline_tests::Local;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_mixed_deliveries_with_retries_repeats_and_faults_lose_nothing() {
    let local = Local::new().await;
    let plan = Plan {
        deliveries: 1_000,
        duplicate_every: 10,
        repeat_every: 23,
        fault_every: 20,
        concurrency: 16,
        max_retries: 3,
    };
    let report = run(&local, plan).await;
    assert!(report.real_repeats >= 20, "{}", report.real_repeats);
    assert_eq!(
        (
            report.lost,
            report.unflagged,
            report.received_twice,
            report.gave_up
        ),
        (0, 0, 0, 0),
        "answers {:?}, repeats {:?}",
        report.answers,
        report.repeats
    );
    assert_eq!(
        (report.stored, report.forwarded),
        (report.distinct, report.distinct),
        "{:?}",
        report.answers
    );
    assert_eq!(report.flagged_repeats, report.real_repeats);
    assert_eq!(report.flagged_copies, 0);
    let duplicates = report.answers.get("200 duplicate").copied().unwrap_or(0);
    assert!(
        duplicates >= 100,
        "every retry answered as a duplicate: {:?}",
        report.answers
    );
    let faults = report
        .answers
        .get("503 forward_failed")
        .copied()
        .unwrap_or(0);
    assert!(faults >= 40, "first attempts refused: {:?}", report.answers);
}
