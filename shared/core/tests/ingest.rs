//! Store once, forward once, in order, against the in-memory store and queue: every outcome of
//! the rule, every failure point, a lost race, without any server. The same cases run end to
//! end against the local DynamoDB + SQS server in `tests/tests/end_to_end/delivery_semantics.rs`.
//! The notifications are one gateway's form bodies (a dev-dependency): the core parses nothing.
#![allow(clippy::expect_used, clippy::panic, reason = "tests fail by panicking")]

use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use webhook_core::clock::ManualClock;
use webhook_core::delivery::{DeliverySettings, ResendEntry, ResendRequest, Snapshot};
use webhook_core::ingest::{
    mark, store_and_forward, Accepted, Append, DownstreamError, EventStore, IngestError, Mark,
    Outcome, WriteError,
};
use webhook_core::memory::{MemoryQueue, MemoryStore};
use webhook_core::stored::StoredNotification;
use webhook_core::{Envelope, Gap, GapReason, RepeatReason};
use webhook_iugu::Iugu;

const T0: OffsetDateTime = datetime!(2026-11-23 10:00:00 UTC);
const SUSPENDED: &str = "event=subscription.suspended&data[id]=S1&data[account_id]=A";
const ACTIVATED: &str = "event=subscription.activated&data[id]=S1&data[account_id]=A";

fn settings() -> DeliverySettings {
    DeliverySettings::default()
}

/// One delivery of `body` at `at`, as the handler runs it: store and forward, then mark.
async fn deliver<S: EventStore>(
    store: &S,
    queue: &MemoryQueue,
    body: &str,
    at: OffsetDateTime,
) -> Result<Accepted, IngestError> {
    let envelope = webhook_iugu::parse(body.as_bytes(), at).expect("a valid body");
    let delivery_id = format!("delivery-at-{}", at.unix_timestamp_nanos());
    let accepted = store_and_forward(
        store,
        queue,
        &Iugu::ALL_EVENTS,
        envelope,
        body,
        &settings(),
        &delivery_id,
    )
    .await?;
    if let Some(m) = &accepted.mark {
        // A failed mark is not an error; the tests that fail it look at what stays.
        let _ = mark(store, m, &ManualClock::at(at), 1).await;
    }
    Ok(accepted)
}

/// One delivery of `body` at `at` while the queue refuses every send: stored, not forwarded,
/// an error for the gateway (which retries).
async fn deliver_while_the_queue_is_down<S: EventStore>(store: &S, body: &str, at: OffsetDateTime) {
    let down = MemoryQueue {
        down: true,
        ..MemoryQueue::default()
    };
    let err = deliver(store, &down, body, at)
        .await
        .expect_err("the queue is down");
    assert!(matches!(err, IngestError::Forward(_)), "{err}");
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

/// The reason of the last message sent, if it was a repeat.
fn last_reason(queue: &MemoryQueue) -> Option<RepeatReason> {
    queue.envelopes().pop()?.repeat_of?.reason
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
    // The gateway retries X (it was answered 503), after Y: its retry, or X happening again?
    // Forwarded again, flagged as a possible retry: never dropped on a guess.
    let x_again = deliver(&store, &up, SUSPENDED, T0 + Duration::minutes(5))
        .await
        .expect("X again");
    assert_eq!(
        (x_again.outcome, x_again.sequence, x_again.forwarded),
        (Outcome::Repeat, Some(3), 1)
    );
    assert_eq!(last_reason(&up), Some(RepeatReason::PossibleRetry));
    let head = store.entity("subscription#S1").expect("stored").head;
    assert_eq!(
        head.unacked.keys().copied().collect::<Vec<_>>(),
        [1],
        "X#1 was never answered 200; the others were: {head:?}"
    );
    // X once more, nothing in between, within the window: the retry of the one just sent.
    let x_third = deliver(&store, &up, SUSPENDED, T0 + Duration::minutes(9))
        .await
        .expect("X once more");
    assert_eq!((x_third.outcome, x_third.forwarded), (Outcome::Retry, 0));
    assert_eq!(up.envelopes().len(), 3);
}

#[tokio::test]
async fn a_retry_of_a_notification_never_forwarded_forwards_it() {
    let store = MemoryStore::default();
    deliver_while_the_queue_is_down(&store, SUSPENDED, T0).await;
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
        &Iugu::ALL_EVENTS,
        envelope,
        SUSPENDED,
        &settings(),
        "d1",
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

/// What `recover resend` records for a period resend covering every notification stored so
/// far: one entry per notification, open until `now` + 1 day.
fn resend_everything(store: &MemoryStore, now: OffsetDateTime) {
    let request = ResendRequest {
        id: "r1".to_owned(),
        from: T0 - Duration::days(60),
        until: now,
        event: None,
        entity_key: None,
        expires_at: now + Duration::days(1),
    };
    let entries: Vec<ResendEntry> = store
        .tables
        .lock()
        .expect("lock")
        .entities
        .values()
        .flat_map(|e| e.notifications.values())
        .filter_map(|n| Some(request.entry(&n.entity_key, n.sequence?, &n.dedup_key)))
        .collect();
    store.add_resend_entries(entries);
}

#[tokio::test]
async fn a_resend_of_a_period_is_recognised_once_per_notification() {
    let (store, queue) = (MemoryStore::default(), MemoryQueue::default());
    deliver(&store, &queue, SUSPENDED, T0).await.expect("X");
    deliver(&store, &queue, ACTIVATED, T0 + Duration::minutes(1))
        .await
        .expect("Y");
    let later = T0 + Duration::days(2);
    resend_everything(&store, later);
    for (i, (body, want)) in [(SUSPENDED, Outcome::Resend), (ACTIVATED, Outcome::Resend)]
        .into_iter()
        .enumerate()
    {
        let at = later + Duration::seconds(i as i64);
        let again = deliver(&store, &queue, body, at).await.expect("resent");
        assert_eq!((again.outcome, again.forwarded), (want, 0), "{body}");
    }
    assert_eq!(queue.envelopes().len(), 2, "X and Y once each");
    // A third X while the resend is still open: the resend was used for X, so this one is a
    // new occurrence, flagged: the resend matched nothing left.
    let third = deliver(&store, &queue, SUSPENDED, later + Duration::minutes(1))
        .await
        .expect("X again");
    assert_eq!(third.outcome, Outcome::Repeat);
    assert_eq!(last_reason(&queue), Some(RepeatReason::ResendUnmatched));
}

/// Issue 21, 2(b): suspended, activated, suspended; the period resent, all three delivered
/// again in order: each is its own notification's resend, nothing forwarded.
#[tokio::test]
async fn a_resend_of_two_identical_notifications_explains_both() {
    let (store, queue) = (MemoryStore::default(), MemoryQueue::default());
    for (minutes, body) in [(0, SUSPENDED), (1, ACTIVATED), (2, SUSPENDED)] {
        deliver(&store, &queue, body, T0 + Duration::minutes(minutes))
            .await
            .expect("stored");
    }
    let later = T0 + Duration::days(2);
    resend_everything(&store, later);
    for (i, body) in [SUSPENDED, ACTIVATED, SUSPENDED].into_iter().enumerate() {
        let at = later + Duration::seconds(i as i64);
        let again = deliver(&store, &queue, body, at).await.expect("resent");
        assert_eq!((again.outcome, again.forwarded), (Outcome::Resend, 0));
    }
    assert_eq!(queue.envelopes().len(), 3, "nothing new reached the queue");
}

/// Issue 21, 2(a): October's renewal resent while November's identical renewal is stored: the
/// resend explains October's; no third renewal.
#[tokio::test]
async fn a_resend_of_an_older_renewal_is_not_a_third_one() {
    let (store, queue) = (MemoryStore::default(), MemoryQueue::default());
    let renewed = "event=subscription.renewed&data[id]=S1&data[account_id]=A";
    deliver(&store, &queue, renewed, T0).await.expect("October");
    deliver(&store, &queue, renewed, T0 + Duration::days(30))
        .await
        .expect("November");
    let later = T0 + Duration::days(32);
    let october = ResendRequest {
        id: "r-oct".to_owned(),
        from: T0 - Duration::days(1),
        until: T0 + Duration::days(1),
        event: None,
        entity_key: None,
        expires_at: later + Duration::days(1),
    };
    let n = store
        .entity("subscription#S1")
        .expect("stored")
        .notifications[&1]
        .clone();
    assert!(october.covers(&n.entity_key, &n.event, n.received_at, settings().window));
    store.add_resend_entries([october.entry(&n.entity_key, 1, &n.dedup_key)]);
    let again = deliver(&store, &queue, renewed, later)
        .await
        .expect("resent");
    assert_eq!(
        (again.outcome, again.sequence, again.forwarded),
        (Outcome::Resend, Some(1), 0)
    );
    assert_eq!(queue.envelopes().len(), 2);
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
    async fn resend_entries(
        &self,
        envelope: &Envelope,
        now: OffsetDateTime,
    ) -> Result<Vec<ResendEntry>, DownstreamError> {
        self.inner.resend_entries(envelope, now).await
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
    async fn use_resend(&self, entry: &ResendEntry, delivery_id: &str) -> Result<(), WriteError> {
        self.inner.use_resend(entry, delivery_id).await
    }
    async fn stored_range(
        &self,
        entity_key: &str,
        from: u64,
        to: u64,
    ) -> Result<Vec<StoredNotification>, DownstreamError> {
        self.inner.stored_range(entity_key, from, to).await
    }
    async fn set_aside(
        &self,
        entity_key: &str,
        sequence: u64,
        gap: &Gap,
        at: OffsetDateTime,
    ) -> Result<(), DownstreamError> {
        self.inner.set_aside(entity_key, sequence, gap, at).await
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

/// A delivery whose mark failed stays owed (nothing recorded its 200): a real identical
/// notification after another one of the entity is forwarded, flagged as a possible retry,
/// never taken for that retry and dropped.
#[tokio::test]
async fn a_failed_mark_leaves_it_owed_and_a_real_repeat_is_forwarded_flagged() {
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
    assert!(head.unacked.contains_key(&1), "unmarked: still owed");
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
    assert_eq!(last_reason(&queue), Some(RepeatReason::PossibleRetry));
}

/// One resend entry explains one delivery, even when two race: another delivery's use of it is
/// refused; the same delivery's use repeated (its answer was lost) is its own.
#[tokio::test]
async fn a_resend_entry_is_used_by_one_delivery() {
    let (store, queue) = (MemoryStore::default(), MemoryQueue::default());
    deliver(&store, &queue, SUSPENDED, T0)
        .await
        .expect("stored");
    resend_everything(&store, T0 + Duration::days(1));
    let envelope = webhook_iugu::parse(SUSPENDED.as_bytes(), T0).expect("valid");
    let entries = store
        .resend_entries(&envelope, T0 + Duration::days(1))
        .await
        .expect("read");
    let [entry] = entries.as_slice() else {
        panic!("one entry: {entries:?}")
    };
    store.use_resend(entry, "d1").await.expect("first use");
    store
        .use_resend(entry, "d1")
        .await
        .expect("the same delivery again");
    let second = store.use_resend(entry, "d2").await;
    assert!(matches!(second, Err(WriteError::Conflict)), "{second:?}");
}

/// Issue 21, case 0: S answered 503, the gateway gives up; the sweeper forwards S; activated;
/// the subscription is suspended again with a byte-identical body. Stored and forwarded,
/// flagged: it may be the gateway's stale retry or a real suspension.
#[tokio::test]
async fn a_real_suspension_after_an_owed_one_is_forwarded_flagged() {
    let store = MemoryStore::default();
    deliver_while_the_queue_is_down(&store, SUSPENDED, T0).await;
    let up = MemoryQueue::default();
    let report = webhook_core::sweep::sweep(
        &store,
        &up,
        &Iugu::ALL_EVENTS,
        &ManualClock::at(T0 + Duration::minutes(30)),
        &Default::default(),
    )
    .await
    .expect("swept");
    assert_eq!(report.forwarded, 1);
    deliver(&store, &up, ACTIVATED, T0 + Duration::minutes(40))
        .await
        .expect("activated");
    let again = deliver(&store, &up, SUSPENDED, T0 + Duration::minutes(50))
        .await
        .expect("suspended again");
    assert_eq!(
        (again.outcome, again.sequence, again.forwarded),
        (Outcome::Repeat, Some(3), 1)
    );
    assert_eq!(
        sent(&up),
        [
            event("subscription.suspended", 1, None),
            event("subscription.activated", 2, None),
            event("subscription.suspended", 3, Some(1)),
        ]
    );
    assert_eq!(last_reason(&up), Some(RepeatReason::PossibleRetry));
}

/// Issue 21, item 4: a stored notification that no longer reads as what it was stored as is
/// set aside and a gap record takes its place; the entity goes on.
#[tokio::test]
async fn an_unreadable_stored_notification_becomes_a_gap_and_its_entity_goes_on() {
    let store = MemoryStore::default();
    deliver_while_the_queue_is_down(&store, SUSPENDED, T0).await;
    // A parser change: the stored body no longer parses to what it was stored as.
    if let Ok(mut t) = store.tables.lock() {
        if let Some(n) = t
            .entities
            .get_mut("subscription#S1")
            .and_then(|e| e.notifications.get_mut(&1))
        {
            n.raw_body = "event=subscription.suspended".to_owned();
        }
    }
    let up = MemoryQueue::default();
    let next = deliver(&store, &up, ACTIVATED, T0 + Duration::minutes(1))
        .await
        .expect("the entity goes on");
    assert_eq!((next.sequence, next.forwarded), (Some(2), 2));
    assert_eq!(next.gaps, [(1, GapReason::Unreadable)]);
    let sent = up.envelopes();
    let gap = sent[0].gap.as_ref().expect("a gap record first");
    assert_eq!(
        (sent[0].sequence, gap.reason),
        (Some(1), GapReason::Unreadable)
    );
    assert!(gap.detail.contains("no longer parses"), "{}", gap.detail);
    assert_eq!(
        sent[0].data,
        webhook_core::Data::Json(serde_json::Value::Null)
    );
    assert_eq!(sent[1].sequence, Some(2));
    let aside = store
        .entity("subscription#S1")
        .expect("stored")
        .notifications[&1]
        .aside
        .clone();
    assert_eq!(
        aside.map(|g| g.reason),
        Some(GapReason::Unreadable),
        "set aside"
    );
}

/// Issue 21, items 4 and 6: a waiting notification past its retention is gone, in memory as in
/// DynamoDB (one rule, `StoredNotification::is_live`): a gap record stands for it.
#[tokio::test]
async fn a_waiting_notification_past_its_retention_becomes_a_gap() {
    let store = MemoryStore::default();
    deliver_while_the_queue_is_down(&store, SUSPENDED, T0).await;
    let up = MemoryQueue::default();
    let later = T0 + settings().retention + Duration::days(1);
    let next = deliver(&store, &up, ACTIVATED, later)
        .await
        .expect("stored");
    assert_eq!(next.gaps, [(1, GapReason::Expired)]);
    let sent = up.envelopes();
    assert_eq!(
        sent.iter()
            .map(|e| (e.sequence, e.gap.is_some()))
            .collect::<Vec<_>>(),
        [(Some(1), true), (Some(2), false)]
    );
}

/// Issue 21, item 5: one delivery forwards at most `MAX_FORWARDS_PER_DELIVERY` messages; behind
/// a longer backlog its own notification is left to the sweeper (503: the gateway retries).
#[tokio::test]
async fn one_delivery_forwards_a_bounded_backlog() {
    use webhook_core::ingest::MAX_FORWARDS_PER_DELIVERY;
    let store = MemoryStore::default();
    let body = |i: u64| {
        format!("event=invoice.status_changed&data[id]=F1&data[status]=s{i}&data[account_id]=A")
    };
    let backlog: u64 = 30;
    for i in 1..=backlog {
        deliver_while_the_queue_is_down(&store, &body(i), T0 + Duration::seconds(i as i64)).await;
    }
    let up = MemoryQueue::default();
    let at = T0 + Duration::minutes(10);
    let next = deliver(&store, &up, &body(backlog + 1), at)
        .await
        .expect("stored");
    assert!(!next.in_queue, "its own is left behind the backlog");
    assert_eq!(next.forwarded as u64, MAX_FORWARDS_PER_DELIVERY);
    let head = store.entity("invoice#F1").expect("stored").head;
    assert_eq!(head.forwarded_sequence, MAX_FORWARDS_PER_DELIVERY, "marked");
    assert!(
        head.unacked.contains_key(&(backlog + 1)),
        "still owed its answer"
    );
    // The gateway's retry (nothing else came) forwards what is left, its own last.
    let retry = deliver(&store, &up, &body(backlog + 1), at + Duration::minutes(5))
        .await
        .expect("retry");
    assert!(retry.in_queue);
    assert_eq!(
        (retry.outcome, retry.forwarded as u64),
        (Outcome::Retry, backlog + 1 - MAX_FORWARDS_PER_DELIVERY)
    );
    let sequences: Vec<u64> = up.envelopes().iter().filter_map(|e| e.sequence).collect();
    assert_eq!(
        sequences,
        (1..=backlog + 1).collect::<Vec<_>>(),
        "in order, once"
    );
}
