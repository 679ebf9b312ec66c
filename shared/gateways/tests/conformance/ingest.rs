//! Store once, forward once, in order, against the in-memory store and queue: every outcome of
//! the rule, every failure point, a lost race, without any server. The same cases run end to
//! end against the local DynamoDB + SQS server in `tests/tests/end_to_end/delivery_semantics.rs`.

use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use webhook_core::clock::ManualClock;
use webhook_core::delivery::{DeliverySettings, ResendRequest, Snapshot};
use webhook_core::ingest::{
    mark, owe_after_failure, store_and_forward, store_and_forward_tracked, Accepted, Append,
    DownstreamError, EventStore, InFlight, IngestError, Mark, Outcome, WriteError,
};
use webhook_core::memory::{MemoryQueue, MemoryStore};
use webhook_core::stored::StoredNotification;
use webhook_core::{Envelope, Provider};

const T0: OffsetDateTime = datetime!(2026-11-23 10:00:00 UTC);
const SUSPENDED: &str = "event=subscription.suspended&data[id]=S1&data[account_id]=A";
const ACTIVATED: &str = "event=subscription.activated&data[id]=S1&data[account_id]=A";

fn settings() -> DeliverySettings {
    DeliverySettings::default()
}

/// One delivery of `body` at `at`, as the handler runs it: store and forward, then mark; after
/// a failure, record the retry the gateway now owes.
async fn deliver<S: EventStore>(
    store: &S,
    queue: &MemoryQueue,
    body: &str,
    at: OffsetDateTime,
) -> Result<Accepted, IngestError> {
    let envelope = webhook_iugu::parse(body.as_bytes(), at).expect("a valid body");
    let in_flight = InFlight::default();
    let result = store_and_forward_tracked(
        store,
        queue,
        &webhook_gateways::ALL,
        envelope,
        body,
        &settings(),
        &in_flight,
    )
    .await;
    let accepted = match result {
        Ok(accepted) => accepted,
        Err(e) => {
            owe_after_failure(store, &in_flight, at)
                .await
                .expect("owed");
            return Err(e);
        }
    };
    if let Some(m) = &accepted.mark {
        // A failed mark is not an error; the tests that fail it look at what stays.
        let _ = mark(store, m, &ManualClock::at(at), 1).await;
    }
    Ok(accepted)
}

fn sent(queue: &MemoryQueue) -> Vec<(String, Option<u64>, Option<u64>)> {
    queue
        .envelopes()
        .into_iter()
        .map(|e| {
            (
                e.event.to_string(),
                e.sequence,
                e.repeat_of.and_then(|r| r.sequence),
            )
        })
        .collect()
}

fn event(name: &str, sequence: u64, repeat_of: Option<u64>) -> (String, Option<u64>, Option<u64>) {
    (name.to_owned(), Some(sequence), repeat_of)
}

#[tokio::test]
async fn a_first_delivery_is_stored_as_number_one_forwarded_and_marked() {
    let (store, queue) = (MemoryStore::default(), MemoryQueue::default());
    let accepted = deliver(&store, &queue, SUSPENDED, T0)
        .await
        .expect("accepted");
    assert_eq!(
        (accepted.outcome, accepted.sequence, accepted.forwarded),
        (Outcome::Stored, Some(1), 1)
    );
    assert_eq!(sent(&queue), [event("subscription.suspended", 1, None)]);
    let entity = store.entity("subscription#S1").expect("stored");
    assert_eq!(
        (entity.head.last_sequence, entity.head.forwarded_sequence),
        (1, 1)
    );
    assert!(entity.head.unacked.is_empty(), "answered 200: nothing owed");
}

#[tokio::test]
async fn the_same_delivery_again_within_the_window_is_a_retry_with_nothing_sent() {
    let (store, queue) = (MemoryStore::default(), MemoryQueue::default());
    deliver(&store, &queue, SUSPENDED, T0).await.expect("first");
    for later in [
        Duration::seconds(1),
        Duration::minutes(10),
        Duration::hours(20),
    ] {
        let again = deliver(&store, &queue, SUSPENDED, T0 + later)
            .await
            .expect("again");
        assert_eq!(
            (again.outcome, again.sequence, again.forwarded),
            (Outcome::Retry, Some(1), 0),
            "{later}"
        );
    }
    assert_eq!(queue.envelopes().len(), 1);
    assert_eq!(store.stored(), 1);
}

#[tokio::test]
async fn suspended_activated_suspended_is_three_notifications_the_last_a_flagged_repeat() {
    let (store, queue) = (MemoryStore::default(), MemoryQueue::default());
    deliver(&store, &queue, SUSPENDED, T0).await.expect("1");
    deliver(&store, &queue, ACTIVATED, T0 + Duration::minutes(2))
        .await
        .expect("2");
    let third = deliver(&store, &queue, SUSPENDED, T0 + Duration::minutes(4))
        .await
        .expect("3");
    assert_eq!(third.outcome, Outcome::Repeat);
    assert_eq!(
        sent(&queue),
        [
            event("subscription.suspended", 1, None),
            event("subscription.activated", 2, None),
            event("subscription.suspended", 3, Some(1)),
        ]
    );
    let envelopes = queue.envelopes();
    assert_eq!(
        envelopes[2].repeat_of.map(|r| r.received_at),
        Some(T0),
        "when the repeated one arrived"
    );
    assert_ne!(
        envelopes[0].message_deduplication_id(),
        envelopes[2].message_deduplication_id(),
        "SQS must not take the new occurrence for a copy of the first"
    );
}

#[tokio::test]
async fn the_same_content_after_the_window_is_a_new_occurrence() {
    let (store, queue) = (MemoryStore::default(), MemoryQueue::default());
    let renewed = "event=subscription.renewed&data[id]=S1&data[account_id]=A";
    deliver(&store, &queue, renewed, T0).await.expect("month 1");
    let next = deliver(&store, &queue, renewed, T0 + Duration::days(30))
        .await
        .expect("month 2");
    assert_eq!((next.outcome, next.sequence), (Outcome::Repeat, Some(2)));
    assert_eq!(queue.envelopes().len(), 2);
}

#[tokio::test]
async fn a_failed_send_is_an_error_and_the_next_notification_forwards_it_first() {
    let store = MemoryStore::default();
    let down = MemoryQueue {
        down: true,
        ..MemoryQueue::default()
    };
    let err = deliver(&store, &down, SUSPENDED, T0)
        .await
        .expect_err("queue down");
    assert!(matches!(err, IngestError::Forward(_)), "{err}");
    assert_eq!(store.stored(), 1, "stored, not forwarded");

    // Y arrives with the queue back: X goes first.
    let up = MemoryQueue::default();
    let y = deliver(&store, &up, ACTIVATED, T0 + Duration::minutes(1))
        .await
        .expect("Y");
    assert_eq!((y.outcome, y.forwarded), (Outcome::Stored, 2));
    assert_eq!(
        sent(&up),
        [
            event("subscription.suspended", 1, None),
            event("subscription.activated", 2, None),
        ]
    );
    assert_eq!(
        up.envelopes()[0].received_at,
        T0,
        "X as stored: its first arrival"
    );
    // The gateway retries X (it was answered 503): a retry, not a new occurrence.
    let x_again = deliver(&store, &up, SUSPENDED, T0 + Duration::minutes(5))
        .await
        .expect("X again");
    assert_eq!((x_again.outcome, x_again.forwarded), (Outcome::Retry, 0));
    assert_eq!(up.envelopes().len(), 2);
    let head = store.entity("subscription#S1").expect("stored").head;
    assert!(head.unacked.is_empty(), "X's retry got its 200: {head:?}");
    // So a real third suspension is a new occurrence again.
    let x_third = deliver(&store, &up, SUSPENDED, T0 + Duration::minutes(9))
        .await
        .expect("X once more");
    assert_eq!(x_third.outcome, Outcome::Repeat);
}

#[tokio::test]
async fn a_retry_of_a_notification_never_forwarded_forwards_it() {
    let store = MemoryStore::default();
    let down = MemoryQueue {
        down: true,
        ..MemoryQueue::default()
    };
    deliver(&store, &down, SUSPENDED, T0)
        .await
        .expect_err("queue down");
    let up = MemoryQueue::default();
    let retry = deliver(&store, &up, SUSPENDED, T0 + Duration::minutes(5))
        .await
        .expect("retry");
    assert_eq!((retry.outcome, retry.forwarded), (Outcome::Retry, 1));
    assert_eq!(up.envelopes()[0].received_at, T0);
}

#[tokio::test]
async fn a_failed_store_sends_nothing() {
    let store = MemoryStore {
        down: true,
        ..MemoryStore::default()
    };
    let queue = MemoryQueue::default();
    let err = deliver(&store, &queue, SUSPENDED, T0)
        .await
        .expect_err("down");
    assert!(matches!(err, IngestError::Store(e) if e.operation == "snapshot"));
    assert!(queue.envelopes().is_empty());
}

#[tokio::test]
async fn a_failed_mark_still_accepts_what_the_queue_has() {
    let store = MemoryStore {
        fail_mark: true,
        ..MemoryStore::default()
    };
    let queue = MemoryQueue::default();
    let envelope = webhook_iugu::parse(SUSPENDED.as_bytes(), T0).expect("valid");
    let accepted = store_and_forward(
        &store,
        &queue,
        &webhook_gateways::ALL,
        envelope,
        SUSPENDED,
        &settings(),
    )
    .await
    .expect("the queue has it: accepted");
    let to_mark = accepted.mark.expect("something to mark");
    assert_eq!(
        to_mark,
        Mark {
            entity_key: "subscription#S1".to_owned(),
            through: Some(1),
            answered: Some(1),
        }
    );
    let err = mark(&store, &to_mark, &ManualClock::at(T0), 3)
        .await
        .expect_err("the mark fails every time");
    assert_eq!(err.operation, "mark");
    assert_eq!(queue.envelopes().len(), 1);
    // Unmarked, it stays owed: a retry is a retry, and it is forwarded again with the same
    // de-duplication id (the FIFO queue drops it within 5 minutes; after that the consumer
    // sees the same sequence again).
    let retry = deliver(&store, &queue, SUSPENDED, T0 + Duration::minutes(1))
        .await
        .expect("retry");
    assert_eq!((retry.outcome, retry.forwarded), (Outcome::Retry, 1));
    let ids: Vec<String> = queue
        .envelopes()
        .iter()
        .map(Envelope::message_deduplication_id)
        .collect();
    assert_eq!(ids[0], ids[1]);
}

fn resend_of(from: OffsetDateTime, until: OffsetDateTime, now: OffsetDateTime) -> ResendRequest {
    ResendRequest {
        id: "r1".to_owned(),
        from,
        until,
        event: None,
        entity_key: None,
        expires_at: now + Duration::days(1),
    }
}

#[tokio::test]
async fn a_resend_of_a_period_is_recognised_once_per_notification() {
    let (store, queue) = (MemoryStore::default(), MemoryQueue::default());
    deliver(&store, &queue, SUSPENDED, T0).await.expect("X");
    deliver(&store, &queue, ACTIVATED, T0 + Duration::minutes(1))
        .await
        .expect("Y");
    let later = T0 + Duration::days(2);
    store.add_resend(
        webhook_iugu::PROVIDER,
        resend_of(T0 - Duration::hours(1), T0 + Duration::hours(1), later),
    );
    for (body, want) in [(SUSPENDED, Outcome::Resend), (ACTIVATED, Outcome::Resend)] {
        let again = deliver(&store, &queue, body, later).await.expect("resent");
        assert_eq!((again.outcome, again.forwarded), (want, 0), "{body}");
    }
    assert_eq!(queue.envelopes().len(), 2, "X and Y once each");
    // A third X while the resend is still open: the resend was used for X, so this one is a
    // new occurrence, flagged.
    let third = deliver(&store, &queue, SUSPENDED, later + Duration::minutes(1))
        .await
        .expect("X again");
    assert_eq!(third.outcome, Outcome::Repeat);
}

/// A store that lets another delivery of the same entity store first, between this delivery's
/// snapshot and its write: the write must fail the condition and the delivery judge again.
struct Racing {
    inner: MemoryStore,
    rival: std::sync::Mutex<Option<Envelope>>,
}

impl EventStore for Racing {
    async fn snapshot(&self, envelope: &Envelope) -> Result<Snapshot, DownstreamError> {
        self.inner.snapshot(envelope).await
    }
    async fn open_resends(
        &self,
        provider: Provider,
        now: OffsetDateTime,
    ) -> Result<Vec<ResendRequest>, DownstreamError> {
        self.inner.open_resends(provider, now).await
    }
    async fn append(&self, append: Append<'_>) -> Result<(), WriteError> {
        let rival = self.rival.lock().expect("lock").take();
        if let Some(mut rival) = rival {
            let seen = self.inner.snapshot(&rival).await?;
            rival.sequence = Some(seen.next_sequence());
            self.inner
                .append(Append {
                    envelope: &rival,
                    raw_body: ACTIVATED,
                    seen: &seen,
                    expires_at: T0 + Duration::days(90),
                    forget_unacked: Vec::new(),
                })
                .await?;
        }
        self.inner.append(append).await
    }
    async fn use_resend(
        &self,
        envelope: &Envelope,
        seen: &Snapshot,
        request: &str,
    ) -> Result<(), WriteError> {
        self.inner.use_resend(envelope, seen, request).await
    }
    async fn stored_range(
        &self,
        entity_key: &str,
        from: u64,
        to: u64,
        now: OffsetDateTime,
    ) -> Result<Vec<StoredNotification>, DownstreamError> {
        self.inner.stored_range(entity_key, from, to, now).await
    }
    async fn owe(
        &self,
        entity_key: &str,
        n: u64,
        at: OffsetDateTime,
    ) -> Result<(), DownstreamError> {
        self.inner.owe(entity_key, n, at).await
    }
    async fn mark(&self, m: &Mark, at: OffsetDateTime) -> Result<(), DownstreamError> {
        self.inner.mark(m, at).await
    }
}

#[tokio::test]
async fn a_delivery_that_loses_a_race_judges_again_and_takes_the_next_sequence() {
    let rival = webhook_iugu::parse(ACTIVATED.as_bytes(), T0).expect("valid");
    let store = Racing {
        inner: MemoryStore::default(),
        rival: std::sync::Mutex::new(Some(rival)),
    };
    let queue = MemoryQueue::default();
    let accepted = deliver(&store, &queue, SUSPENDED, T0)
        .await
        .expect("accepted");
    assert_eq!(
        (accepted.outcome, accepted.sequence),
        (Outcome::Stored, Some(2))
    );
    // The rival was stored (1) but its delivery has not forwarded it yet: this one sends it
    // first, to keep the order.
    assert_eq!(
        sent(&queue),
        [
            event("subscription.activated", 1, None),
            event("subscription.suspended", 2, None),
        ]
    );
}

/// A delivery answered 200 owes no retry, even when its mark failed: a real identical
/// notification after another one of the entity is a new occurrence, never taken for that
/// retry and dropped.
#[tokio::test]
async fn a_failed_mark_owes_no_retry_so_a_real_repeat_is_never_dropped() {
    let failing_mark = MemoryStore {
        fail_mark: true,
        ..MemoryStore::default()
    };
    let queue = MemoryQueue::default();
    deliver(&failing_mark, &queue, SUSPENDED, T0)
        .await
        .expect("200, unmarked");
    let store = failing_mark;
    let head = store.entity("subscription#S1").expect("stored").head;
    assert!(head.unacked.is_empty(), "answered 200: nothing owed");
    // The mark works again; activated, then suspended again for real.
    let store = MemoryStore {
        tables: std::sync::Mutex::new(std::mem::take(&mut *store.tables.lock().expect("lock"))),
        ..MemoryStore::default()
    };
    deliver(&store, &queue, ACTIVATED, T0 + Duration::minutes(2))
        .await
        .expect("activated");
    let again = deliver(&store, &queue, SUSPENDED, T0 + Duration::minutes(4))
        .await
        .expect("suspended again");
    assert_eq!(again.outcome, Outcome::Repeat, "forwarded, flagged");
    let last = queue.envelopes().pop().expect("sent");
    assert_eq!(
        (last.sequence, last.repeat_of.and_then(|r| r.sequence)),
        (Some(3), Some(1))
    );
}

/// One resend request explains one delivery of a notification, even when two race: the second
/// write of the same request is refused.
#[tokio::test]
async fn a_resend_request_is_used_once_per_notification() {
    let (store, queue) = (MemoryStore::default(), MemoryQueue::default());
    deliver(&store, &queue, SUSPENDED, T0)
        .await
        .expect("stored");
    let envelope = webhook_iugu::parse(SUSPENDED.as_bytes(), T0).expect("valid");
    let seen = store.snapshot(&envelope).await.expect("read");
    store
        .use_resend(&envelope, &seen, "r1")
        .await
        .expect("first use");
    let second = store.use_resend(&envelope, &seen, "r1").await;
    assert!(matches!(second, Err(WriteError::Conflict)), "{second:?}");
}
