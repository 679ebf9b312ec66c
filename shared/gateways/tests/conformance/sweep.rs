//! The sweeper against the in-memory store and queue: what it forwards, in which order, what it
//! leaves to the request path, its bounds and its cursor. End to end against the local server:
//! `tests/tests/end_to_end/sweeper.rs`.

use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use webhook_core::clock::ManualClock;
use webhook_core::delivery::DeliverySettings;
use webhook_core::ingest::{store_and_forward, DownstreamError, Forwarder, IngestError};
use webhook_core::memory::{MemoryQueue, MemoryStore};
use webhook_core::sweep::{sweep, SweepSettings, SweepStore};
use webhook_core::Envelope;

const T0: OffsetDateTime = datetime!(2026-11-23 10:00:00 UTC);

fn body(invoice: &str, status: &str) -> String {
    format!("event=invoice.status_changed&data[id]={invoice}&data[status]={status}")
}

/// Stores `body` at `at` while the queue is down: stored, not forwarded (503 for the gateway).
async fn stored_while_the_queue_is_down(store: &MemoryStore, body: &str, at: OffsetDateTime) {
    let down = MemoryQueue {
        down: true,
        ..MemoryQueue::default()
    };
    let envelope = webhook_iugu::parse(body.as_bytes(), at).expect("valid");
    let err = store_and_forward(
        store,
        &down,
        &webhook_gateways::ALL,
        envelope,
        body,
        &DeliverySettings::default(),
        "test-delivery",
    )
    .await
    .expect_err("the queue is down");
    assert!(matches!(err, IngestError::Forward(_)), "{err}");
}

fn sent(queue: &MemoryQueue) -> Vec<(String, Option<String>, Option<u64>)> {
    queue
        .envelopes()
        .into_iter()
        .map(|e| (e.entity_id, e.status, e.sequence))
        .collect()
}

fn row(id: &str, status: &str, n: u64) -> (String, Option<String>, Option<u64>) {
    (id.to_owned(), Some(status.to_owned()), Some(n))
}

/// The entities the sweeper lists as waiting after its last run.
async fn waiting(store: &MemoryStore) -> Vec<String> {
    store
        .sweep_state()
        .await
        .expect("state")
        .map(|s| s.waiting.into_keys().collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn what_waits_past_the_grace_period_is_forwarded_once_in_order() {
    let store = MemoryStore::default();
    stored_while_the_queue_is_down(&store, &body("A", "pending"), T0).await;
    stored_while_the_queue_is_down(&store, &body("B", "pending"), T0 + Duration::seconds(5)).await;
    stored_while_the_queue_is_down(&store, &body("A", "paid"), T0 + Duration::seconds(10)).await;
    let queue = MemoryQueue::default();
    let clock = ManualClock::at(T0 + Duration::minutes(1));
    let settings = SweepSettings::default();

    // Within the grace period: the request path (the gateway's retries) may still send them.
    let report = sweep(&store, &queue, &webhook_gateways::ALL, &clock, &settings)
        .await
        .expect("swept");
    assert_eq!((report.entities, report.forwarded), (0, 0));
    assert_eq!(report.oldest_waiting, Some(Duration::minutes(1)));

    clock.set(T0 + Duration::minutes(3));
    let report = sweep(&store, &queue, &webhook_gateways::ALL, &clock, &settings)
        .await
        .expect("swept");
    assert_eq!(
        (report.entities, report.forwarded, report.failed),
        (2, 3, 0)
    );
    assert_eq!(report.oldest_waiting, None, "nothing waits any more");
    assert_eq!(
        sent(&queue),
        [
            row("A", "pending", 1),
            row("A", "paid", 2),
            row("B", "pending", 1)
        ]
    );
    for entity in ["invoice#A", "invoice#B"] {
        let e = store.entity(entity).expect("stored");
        assert_eq!(e.head.forwarded_sequence, e.head.last_sequence, "{entity}");
    }
    assert_eq!(
        waiting(&store).await,
        Vec::<String>::new(),
        "no longer listed"
    );
    // Nothing twice.
    let report = sweep(&store, &queue, &webhook_gateways::ALL, &clock, &settings)
        .await
        .expect("swept");
    assert_eq!(report.forwarded, 0);
    assert_eq!(queue.envelopes().len(), 3);
}

#[tokio::test]
async fn a_notification_younger_than_the_grace_period_is_left_with_what_follows_it() {
    let store = MemoryStore::default();
    stored_while_the_queue_is_down(&store, &body("A", "pending"), T0).await;
    stored_while_the_queue_is_down(&store, &body("A", "paid"), T0 + Duration::minutes(2)).await;
    let queue = MemoryQueue::default();
    let clock = ManualClock::at(T0 + Duration::minutes(3));
    let report = sweep(
        &store,
        &queue,
        &webhook_gateways::ALL,
        &clock,
        &SweepSettings::default(),
    )
    .await
    .expect("swept");
    assert_eq!(report.forwarded, 1);
    assert_eq!(sent(&queue), [row("A", "pending", 1)]);
    let e = store.entity("invoice#A").expect("stored");
    assert_eq!(e.head.forwarded_sequence, 1);
    assert_eq!(
        waiting(&store).await,
        ["invoice#A"],
        "still listed: number 2 waits"
    );
    clock.set(T0 + Duration::minutes(5));
    sweep(
        &store,
        &queue,
        &webhook_gateways::ALL,
        &clock,
        &SweepSettings::default(),
    )
    .await
    .expect("swept");
    assert_eq!(sent(&queue), [row("A", "pending", 1), row("A", "paid", 2)]);
}

#[tokio::test]
async fn a_bounded_run_stops_and_the_next_goes_on_from_where_it_stopped() {
    let store = MemoryStore::default();
    for (i, id) in ["A", "B", "C", "D", "E"].iter().enumerate() {
        stored_while_the_queue_is_down(
            &store,
            &body(id, "pending"),
            T0 + Duration::seconds(i as i64),
        )
        .await;
    }
    let queue = MemoryQueue::default();
    let clock = ManualClock::at(T0 + Duration::minutes(10));
    let settings = SweepSettings {
        max_forwards: 2,
        ..SweepSettings::default()
    };
    let first = sweep(&store, &queue, &webhook_gateways::ALL, &clock, &settings)
        .await
        .expect("swept");
    assert_eq!((first.forwarded, first.stopped_early), (2, true));
    assert_eq!(
        waiting(&store).await,
        ["invoice#C", "invoice#D", "invoice#E"]
    );
    let second = sweep(&store, &queue, &webhook_gateways::ALL, &clock, &settings)
        .await
        .expect("swept");
    let third = sweep(&store, &queue, &webhook_gateways::ALL, &clock, &settings)
        .await
        .expect("swept");
    assert_eq!((second.forwarded, third.forwarded), (2, 1));
    assert!(!third.stopped_early);
    assert_eq!(waiting(&store).await, Vec::<String>::new());
    let ids: Vec<String> = sent(&queue).into_iter().map(|r| r.0).collect();
    assert_eq!(ids, ["A", "B", "C", "D", "E"], "oldest first, each once");
}

/// A queue that refuses the messages of some entities (a message over SQS's size limit, say)
/// and takes the others.
struct RefusingGroups {
    queue: MemoryQueue,
    refused: &'static [&'static str],
}

impl Forwarder for RefusingGroups {
    async fn forward(&self, envelope: &Envelope) -> Result<(), DownstreamError> {
        if self.refused.contains(&envelope.entity_key.as_str()) {
            return Err(DownstreamError::new("send", "refused"));
        }
        self.queue.forward(envelope).await
    }
}

#[tokio::test]
async fn an_entity_the_queue_refuses_does_not_keep_the_others_waiting() {
    let store = MemoryStore::default();
    stored_while_the_queue_is_down(&store, &body("A", "pending"), T0).await;
    stored_while_the_queue_is_down(&store, &body("B", "pending"), T0 + Duration::seconds(1)).await;
    let queue = RefusingGroups {
        queue: MemoryQueue::default(),
        refused: &["invoice#A"],
    };
    let clock = ManualClock::at(T0 + Duration::minutes(10));
    let report = sweep(
        &store,
        &queue,
        &webhook_gateways::ALL,
        &clock,
        &SweepSettings::default(),
    )
    .await
    .expect("swept");
    assert_eq!((report.forwarded, report.failed), (1, 1));
    let why = report.first_failure.expect("said");
    assert!(
        why.starts_with("invoice#A:") && why.contains("refused"),
        "{why}"
    );
    assert_eq!(sent(&queue.queue), [row("B", "pending", 1)]);
    assert_eq!(
        report.oldest_waiting,
        Some(Duration::minutes(10)),
        "A still waits, and says so"
    );
    assert!(store.head("invoice#A").await.expect("read").is_some());
}

/// A stored body that no longer parses to its key (a parser change, say) goes as a gap record;
/// the entity does not wait on it.
#[tokio::test]
async fn an_unreadable_notification_is_swept_as_a_gap_record() {
    let store = MemoryStore::default();
    stored_while_the_queue_is_down(&store, &body("A", "pending"), T0).await;
    stored_while_the_queue_is_down(&store, &body("A", "paid"), T0 + Duration::seconds(1)).await;
    if let Ok(mut t) = store.tables.lock() {
        if let Some(n) = t
            .entities
            .get_mut("invoice#A")
            .and_then(|e| e.notifications.get_mut(&1))
        {
            n.raw_body = body("A", "changed");
        }
    }
    let queue = MemoryQueue::default();
    let clock = ManualClock::at(T0 + Duration::minutes(10));
    let report = sweep(
        &store,
        &queue,
        &webhook_gateways::ALL,
        &clock,
        &SweepSettings::default(),
    )
    .await
    .expect("swept");
    assert_eq!((report.forwarded, report.gaps, report.failed), (2, 1, 0));
    let sent: Vec<(Option<u64>, bool)> = queue
        .envelopes()
        .iter()
        .map(|e| (e.sequence, e.gap.is_some()))
        .collect();
    assert_eq!(sent, [(Some(1), true), (Some(2), false)]);
    assert_eq!(report.oldest_waiting, None);
}

#[tokio::test]
async fn one_entitys_backlog_is_forwarded_a_run_at_a_time_and_marked_each_time() {
    let store = MemoryStore::default();
    for n in 0..5 {
        stored_while_the_queue_is_down(
            &store,
            &body("A", &format!("s{n}")),
            T0 + Duration::seconds(n),
        )
        .await;
    }
    let queue = MemoryQueue::default();
    let clock = ManualClock::at(T0 + Duration::minutes(10));
    let settings = SweepSettings {
        max_forwards: 2,
        ..SweepSettings::default()
    };
    let mut per_run = Vec::new();
    for _ in 0..3 {
        let report = sweep(&store, &queue, &webhook_gateways::ALL, &clock, &settings)
            .await
            .expect("swept");
        per_run.push(report.forwarded);
        per_run.push(
            store
                .entity("invoice#A")
                .expect("stored")
                .head
                .forwarded_sequence as usize,
        );
    }
    assert_eq!(
        per_run,
        [2, 2, 2, 4, 1, 5],
        "(sent, forwarded_sequence) after each run"
    );
    let sequences: Vec<Option<u64>> = queue.envelopes().iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, [Some(1), Some(2), Some(3), Some(4), Some(5)]);
}

/// A queue each send to which takes a second by `clock`.
struct SlowQueue {
    queue: MemoryQueue,
    clock: ManualClock,
}

impl Forwarder for SlowQueue {
    async fn forward(&self, envelope: &Envelope) -> Result<(), DownstreamError> {
        self.clock.advance(Duration::seconds(1));
        self.queue.forward(envelope).await
    }
}

/// A run whose time is up stops between chunks, inside an entity: what it sent is marked (a
/// run that dies leaves at most one chunk unmarked), and the next run starts with that entity.
#[tokio::test]
async fn a_run_out_of_time_stops_between_chunks_and_the_next_goes_on() {
    use webhook_core::sweep::SWEEP_CHUNK;
    let store = MemoryStore::default();
    let backlog = 2 * SWEEP_CHUNK + 5;
    for n in 1..=backlog {
        let at = T0 + Duration::seconds(n as i64);
        stored_while_the_queue_is_down(&store, &body("A", &format!("s{n}")), at).await;
    }
    stored_while_the_queue_is_down(&store, &body("B", "pending"), T0 + Duration::minutes(1)).await;
    // Each send takes a second by the clock; the run has 5.
    let clock = ManualClock::at(T0 + Duration::minutes(10));
    let queue = SlowQueue {
        queue: MemoryQueue::default(),
        clock: clock.clone(),
    };
    let five_seconds = SweepSettings {
        budget: std::time::Duration::from_secs(5),
        ..SweepSettings::default()
    };
    let first = sweep(
        &store,
        &queue,
        &webhook_gateways::ALL,
        &clock,
        &five_seconds,
    )
    .await
    .expect("swept");
    assert_eq!(
        (first.forwarded as u64, first.stopped_early),
        (SWEEP_CHUNK, true),
        "one chunk, then the budget: {first:?}"
    );
    let head = store.entity("invoice#A").expect("stored").head;
    assert_eq!(
        head.forwarded_sequence, SWEEP_CHUNK,
        "marked before stopping"
    );
    let next = sweep(
        &store,
        &queue,
        &webhook_gateways::ALL,
        &clock,
        &SweepSettings::default(),
    )
    .await
    .expect("swept");
    assert_eq!(next.forwarded as u64, backlog - SWEEP_CHUNK + 1, "{next:?}");
    let sent: Vec<(String, Option<u64>)> = queue
        .queue
        .envelopes()
        .into_iter()
        .map(|e| (e.entity_id, e.sequence))
        .collect();
    let mut want: Vec<(String, Option<u64>)> =
        (1..=backlog).map(|n| ("A".to_owned(), Some(n))).collect();
    want.push(("B".to_owned(), Some(1)));
    assert_eq!(sent, want, "A in order, each once, then B");
}

#[tokio::test]
async fn a_page_of_failing_entities_does_not_hide_the_ones_behind_it() {
    let store = MemoryStore::default();
    for (i, id) in ["A", "B", "C"].iter().enumerate() {
        stored_while_the_queue_is_down(
            &store,
            &body(id, "pending"),
            T0 + Duration::seconds(i as i64),
        )
        .await;
    }
    // The queue refuses A's and B's messages; each run looks at 2 entities.
    let queue = RefusingGroups {
        queue: MemoryQueue::default(),
        refused: &["invoice#A", "invoice#B"],
    };
    let clock = ManualClock::at(T0 + Duration::minutes(10));
    let settings = SweepSettings {
        max_entities: 2,
        ..SweepSettings::default()
    };
    let first = sweep(&store, &queue, &webhook_gateways::ALL, &clock, &settings)
        .await
        .expect("swept");
    assert_eq!((first.failed, first.forwarded), (2, 0));
    let second = sweep(&store, &queue, &webhook_gateways::ALL, &clock, &settings)
        .await
        .expect("swept");
    assert_eq!(
        second.forwarded, 1,
        "C, behind the failing page, is reached: {second:?}"
    );
    assert_eq!(sent(&queue.queue), [row("C", "pending", 1)]);
}
