//! Store once, forward once, with in-memory fakes of the two ports: every outcome and every
//! failure point, without any server.

use std::collections::HashMap;
use std::sync::Mutex;

use shared::ingest::{
    ingest, Claim, DownstreamError, EventStore, Forwarder, IngestError, Outcome, Stored,
};
use shared::Envelope;
use time::macros::datetime;
use time::OffsetDateTime;

#[derive(Default)]
struct FakeStore {
    /// dedup key → (first arrival, forwarded at)
    items: Mutex<HashMap<String, (OffsetDateTime, Option<OffsetDateTime>)>>,
    fail_claim: bool,
    fail_mark: bool,
}

impl EventStore for FakeStore {
    async fn claim(&self, env: &Envelope, _raw: &str) -> Result<Claim, DownstreamError> {
        if self.fail_claim {
            return Err(DownstreamError::new("fake claim", "down"));
        }
        let mut items = self.items.lock().expect("lock");
        match items.get(&env.dedup_key) {
            Some((first, forwarded)) => Ok(Claim::Duplicate(Stored {
                first_received_at: *first,
                forwarded_at: *forwarded,
            })),
            None => {
                items.insert(env.dedup_key.clone(), (env.received_at, None));
                Ok(Claim::New)
            }
        }
    }

    async fn mark_forwarded(
        &self,
        env: &Envelope,
        at: OffsetDateTime,
    ) -> Result<(), DownstreamError> {
        if self.fail_mark {
            return Err(DownstreamError::new("fake mark", "down"));
        }
        let mut items = self.items.lock().expect("lock");
        let item = items
            .get_mut(&env.dedup_key)
            .ok_or_else(|| DownstreamError::new("fake mark", "no such item"))?;
        item.1 = Some(at);
        Ok(())
    }
}

#[derive(Default)]
struct FakeQueue {
    sent: Mutex<Vec<Envelope>>,
    fail: bool,
}

impl Forwarder for FakeQueue {
    async fn forward(&self, env: &Envelope) -> Result<(), DownstreamError> {
        if self.fail {
            return Err(DownstreamError::new("fake send", "down"));
        }
        self.sent.lock().expect("lock").push(env.clone());
        Ok(())
    }
}

const FIRST: OffsetDateTime = datetime!(2026-11-23 10:00:00 UTC);
const LATER: OffsetDateTime = datetime!(2026-11-23 10:05:00 UTC);

fn envelope(at: OffsetDateTime) -> Envelope {
    Envelope::from_iugu_form(
        b"event=invoice.status_changed&data[id]=A1&data[status]=paid",
        at,
    )
    .expect("valid body")
}

async fn run(
    store: &FakeStore,
    queue: &FakeQueue,
    at: OffsetDateTime,
) -> Result<Outcome, IngestError> {
    let accepted = ingest(store, queue, envelope(at), "raw", || at).await?;
    assert!(
        accepted.unmarked.is_none(),
        "the fake store marks unless told to fail"
    );
    Ok(accepted.outcome)
}

#[tokio::test]
async fn first_delivery_is_stored_forwarded_and_marked() {
    let (store, queue) = (FakeStore::default(), FakeQueue::default());
    assert_eq!(
        run(&store, &queue, FIRST).await.expect("ok"),
        Outcome::Stored
    );
    assert_eq!(queue.sent.lock().expect("lock").len(), 1);
    let items = store.items.lock().expect("lock");
    assert_eq!(items.values().next().expect("item").1, Some(FIRST));
}

#[tokio::test]
async fn a_forwarded_duplicate_sends_nothing() {
    let (store, queue) = (FakeStore::default(), FakeQueue::default());
    run(&store, &queue, FIRST).await.expect("first");
    assert_eq!(
        run(&store, &queue, LATER).await.expect("again"),
        Outcome::Duplicate
    );
    assert_eq!(queue.sent.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn a_failed_send_is_an_error_and_the_retry_forwards_the_stored_notification() {
    let store = FakeStore::default();
    let down = FakeQueue {
        fail: true,
        ..FakeQueue::default()
    };
    assert!(matches!(
        run(&store, &down, FIRST).await,
        Err(IngestError::Forward(_))
    ));
    assert_eq!(
        store
            .items
            .lock()
            .expect("lock")
            .values()
            .next()
            .expect("stored")
            .1,
        None
    );

    let up = FakeQueue::default();
    assert_eq!(
        run(&store, &up, LATER).await.expect("retry"),
        Outcome::DuplicateForwarded
    );
    let sent = up.sent.lock().expect("lock");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].received_at, FIRST, "the first arrival, as stored");
}

#[tokio::test]
async fn a_failed_claim_sends_nothing() {
    let store = FakeStore {
        fail_claim: true,
        ..FakeStore::default()
    };
    let queue = FakeQueue::default();
    let err = run(&store, &queue, FIRST).await.expect_err("store down");
    assert!(matches!(err, IngestError::Store(e) if e.operation == "fake claim"));
    assert!(queue.sent.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn a_failed_mark_still_accepts_the_sent_notification_so_the_gateway_does_not_resend_it() {
    let store = FakeStore {
        fail_mark: true,
        ..FakeStore::default()
    };
    let queue = FakeQueue::default();
    let accepted = ingest(&store, &queue, envelope(FIRST), "raw", || FIRST)
        .await
        .expect("the queue has it: accepted");
    assert_eq!(accepted.outcome, Outcome::Stored);
    let why = accepted.unmarked.expect("the failed mark is reported");
    assert_eq!(why.operation, "fake mark");
    assert_eq!(queue.sent.lock().expect("lock").len(), 1);
    // The item stays unmarked: a later resend of the same notification forwards it again
    // (with the same de-duplication id), never silently drops it.
    let items = store.items.lock().expect("lock");
    assert_eq!(items.values().next().expect("stored").1, None);
}
