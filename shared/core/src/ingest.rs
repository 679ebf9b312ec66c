//! Store once, forward once, in order: what every function does with a parsed notification.
//!
//! 1. **Judge** ([`crate::delivery`]): read the entity's counters and the latest notification
//!    with the same content (one round trip), and decide: new, a new occurrence of earlier
//!    content (`repeat_of`), or a notification we already have (a retry, a resend).
//! 2. **Store** a new one as the entity's next `sequence`: one transaction, conditional on
//!    what step 1 read, so of any number of concurrent deliveries exactly one stores each
//!    notification and sequences are never given twice. A lost race reads again and judges
//!    again.
//! 3. **Forward in order**: every notification of the entity stored but not yet forwarded,
//!    oldest first, then this one. No notification reaches the queue before an earlier one of
//!    its entity. A retry of a stored notification that never got forwarded forwards it now.
//! 4. **Mark**: the entity's `forwarded_sequence` moves up to what was sent. This step has its
//!    own time budget and retries, and its failure is not an error: the queue has the
//!    notifications, so the gateway must be answered 200 (see [`mark`]).
//!
//! Steps 1 to 3 ([`store_and_forward`]) fail with an [`IngestError`] (5xx for the gateway, which
//! retries; every step is safe to repeat). Two deliveries that both forward the same stored
//! notification send the same message: the FIFO queue drops the second within its 5-minute
//! window (same `MessageDeduplicationId`), and after it the consumer sees the same `sequence`
//! again.
//!
//! This module knows nothing of AWS: [`EventStore`] and [`Forwarder`] are the ports; the
//! adapters live in `aws`, [`crate::memory`] has both in memory.

use std::future::Future;
use std::ops::RangeInclusive;

use thiserror::Error;
use time::OffsetDateTime;

use crate::clock::Clock;
use crate::delivery::{
    judge, judge_resend, DeliverySettings, FirstLook, PreviousKind, ResendRequest, Snapshot,
    Verdict,
};
use crate::envelope::{Envelope, Provider};
use crate::stored::{Parsers, StoredNotification};

/// A failure of the store or the queue: worth a retry, never the gateway's fault.
#[derive(Debug, Error)]
#[error("{operation} failed: {source}")]
pub struct DownstreamError {
    pub operation: &'static str,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl DownstreamError {
    pub fn new(
        operation: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        DownstreamError {
            operation,
            source: source.into(),
        }
    }
}

/// Why a conditional write did not happen.
#[derive(Debug, Error)]
pub enum WriteError {
    /// What the write was conditional on changed (another delivery of the same entity or
    /// content wrote first): read again and judge again.
    #[error("the entity changed since it was read")]
    Conflict,
    #[error(transparent)]
    Failed(#[from] DownstreamError),
}

/// Which side failed: the store (nothing or not all was recorded) or the queue.
#[derive(Debug, Error)]
pub enum IngestError {
    #[error("store: {0}")]
    Store(DownstreamError),
    #[error("forward: {0}")]
    Forward(DownstreamError),
}

/// A new notification to store: `envelope` has its `sequence` (and `repeat_of`) set.
#[derive(Debug)]
pub struct Append<'a> {
    pub envelope: &'a Envelope,
    pub raw_body: &'a str,
    /// What the decision was made from: the write is conditional on it being unchanged.
    pub seen: &'a Snapshot,
    /// When the notification (and its marker) is deleted: arrival + retention.
    pub expires_at: OffsetDateTime,
    /// Sequences in the head's `unacked` older than the window: no retry is believed for
    /// them any more, so they are forgotten.
    pub forget_unacked: Vec<u64>,
}

/// What the forward of this delivery leaves to record (see [`mark`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub entity_key: String,
    /// Every notification up to this sequence is in the queue now.
    pub through: Option<u64>,
    /// This notification's own delivery is answered 200 now.
    pub answered: Option<u64>,
}

/// Keeps notifications, once each, and each entity's order.
pub trait EventStore: Send + Sync {
    /// The entity's counters and the latest notification with `envelope`'s content.
    fn snapshot(
        &self,
        envelope: &Envelope,
    ) -> impl Future<Output = Result<Snapshot, DownstreamError>> + Send;

    /// The provider's resend requests that are still open at `now`.
    fn open_resends(
        &self,
        provider: Provider,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Vec<ResendRequest>, DownstreamError>> + Send;

    /// Stores a new notification as its entity's next, if nothing changed since `seen`.
    fn append(&self, append: Append<'_>) -> impl Future<Output = Result<(), WriteError>> + Send;

    /// Records that resend `request` explained a delivery of `envelope`'s content (of the
    /// notification `seen` points at), so it explains no second one, if the content's marker
    /// did not change since.
    fn use_resend(
        &self,
        envelope: &Envelope,
        seen: &Snapshot,
        request: &str,
    ) -> impl Future<Output = Result<(), WriteError>> + Send;

    /// The entity's stored notifications numbered `from..=to`, in order, but those past
    /// their retention at `now` (gone, whether or not DynamoDB deleted them yet).
    fn stored_range(
        &self,
        entity_key: &str,
        from: u64,
        to: u64,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Vec<StoredNotification>, DownstreamError>> + Send;

    /// Records that the gateway still owes a retry of the entity's notification `sequence`:
    /// its delivery failed (5xx) after it was stored. Nothing if it was not stored.
    fn owe(
        &self,
        entity_key: &str,
        sequence: u64,
        at: OffsetDateTime,
    ) -> impl Future<Output = Result<(), DownstreamError>> + Send;

    /// Records what [`Mark`] says, at `at`. Safe to repeat, and never moves
    /// `forwarded_sequence` down.
    fn mark(
        &self,
        mark: &Mark,
        at: OffsetDateTime,
    ) -> impl Future<Output = Result<(), DownstreamError>> + Send;
}

/// Hands notifications to the customer's systems.
pub trait Forwarder: Send + Sync {
    fn forward(
        &self,
        envelope: &Envelope,
    ) -> impl Future<Output = Result<(), DownstreamError>> + Send;
}

/// What a delivery was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A new notification: stored and forwarded.
    Stored,
    /// A new occurrence of earlier content: stored and forwarded with `repeat_of`.
    Repeat,
    /// A gateway retry of a stored notification: forwarded now if no delivery had yet.
    Retry,
    /// An operator's resend of a stored notification: forwarded now if no delivery had yet.
    Resend,
}

impl Outcome {
    /// The `status` the gateway is answered with.
    pub fn status(self) -> &'static str {
        match self {
            Outcome::Stored => "stored",
            Outcome::Repeat => "repeat",
            Outcome::Retry | Outcome::Resend => "duplicate",
        }
    }

    /// The log's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Stored => "stored",
            Outcome::Repeat => "repeat",
            Outcome::Retry => "retry",
            Outcome::Resend => "resend",
        }
    }
}

/// A delivery the pipeline took: stored, and in the queue with everything before it.
#[derive(Debug)]
pub struct Accepted {
    pub outcome: Outcome,
    /// The notification's sequence (`None` for one stored before sequences).
    pub sequence: Option<u64>,
    /// Messages this delivery sent: earlier notifications of the entity that were waiting,
    /// and this one if no delivery had sent it yet.
    pub forwarded: usize,
    /// What is left to record, for [`mark`]; `None` if nothing is.
    pub mark: Option<Mark>,
}

/// The notification a delivery is about, once known (stored by it, or found stored): if the
/// delivery then fails, the caller records that the gateway owes its retry
/// ([`EventStore::owe`]). Only then: a notification whose delivery was answered 200 is owed
/// nothing, so a later identical delivery after other notifications is a new occurrence, never
/// mistaken for that retry (and dropped).
#[derive(Debug, Default)]
pub struct InFlight(std::sync::Mutex<Option<(String, u64)>>);

impl InFlight {
    fn set(&self, entity_key: &str, sequence: u64) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some((entity_key.to_owned(), sequence));
        }
    }

    /// The entity and sequence of the notification, if the delivery got that far.
    pub fn take(&self) -> Option<(String, u64)> {
        self.0.lock().ok().and_then(|mut slot| slot.take())
    }
}

/// After a delivery that failed: records the retry the gateway now owes, if the delivery got as
/// far as a stored notification. Best effort (the store may be what failed).
pub async fn owe_after_failure<S: EventStore>(
    store: &S,
    in_flight: &InFlight,
    at: OffsetDateTime,
) -> Result<(), DownstreamError> {
    match in_flight.take() {
        Some((entity_key, sequence)) => store.owe(&entity_key, sequence, at).await,
        None => Ok(()),
    }
}

/// How often a delivery reads and judges again after losing a race to a concurrent one
/// before it gives up with a 5xx (the gateway retries).
pub const MAX_ROUNDS: usize = 8;

/// Judges, stores (if new) and forwards in order: steps 1 to 3 of the module documentation.
/// `envelope.received_at` is this delivery's arrival.
pub async fn store_and_forward<S: EventStore, F: Forwarder>(
    store: &S,
    forwarder: &F,
    parsers: &dyn Parsers,
    envelope: Envelope,
    raw_body: &str,
    settings: &DeliverySettings,
) -> Result<Accepted, IngestError> {
    store_and_forward_tracked(
        store,
        forwarder,
        parsers,
        envelope,
        raw_body,
        settings,
        &InFlight::default(),
    )
    .await
}

/// [`store_and_forward`], noting in `in_flight` which notification the delivery is about as
/// soon as that is known (see [`InFlight`]): a gateway's delivery, whose failure the caller
/// must record.
pub async fn store_and_forward_tracked<S: EventStore, F: Forwarder>(
    store: &S,
    forwarder: &F,
    parsers: &dyn Parsers,
    mut envelope: Envelope,
    raw_body: &str,
    settings: &DeliverySettings,
    in_flight: &InFlight,
) -> Result<Accepted, IngestError> {
    let now = envelope.received_at;
    for _ in 0..MAX_ROUNDS {
        let seen = store
            .snapshot(&envelope)
            .await
            .map_err(IngestError::Store)?;
        let verdict = match judge(&seen, &envelope, now, settings) {
            FirstLook::Decided(verdict) => verdict,
            FirstLook::UnlessResent(previous) => {
                let open = store
                    .open_resends(envelope.provider.clone(), now)
                    .await
                    .map_err(IngestError::Store)?;
                judge_resend(previous, &envelope, &open, now, settings)
            }
        };
        let (outcome, previous) = match verdict {
            Verdict::New | Verdict::Repeat(_) => {
                let sequence = seen.next_sequence();
                envelope.sequence = Some(sequence);
                envelope.repeat_of = match &verdict {
                    Verdict::Repeat(of) => Some(*of),
                    _ => None,
                };
                let append = Append {
                    envelope: &envelope,
                    raw_body,
                    seen: &seen,
                    expires_at: now + settings.retention,
                    forget_unacked: stale_unacked(&seen, now, settings),
                };
                match store.append(append).await {
                    Ok(()) => in_flight.set(&envelope.entity_key, sequence),
                    Err(WriteError::Conflict) => continue,
                    Err(WriteError::Failed(e)) => return Err(IngestError::Store(e)),
                }
                let outcome = match verdict {
                    Verdict::Repeat(_) => Outcome::Repeat,
                    _ => Outcome::Stored,
                };
                let forwarded = forward_through(
                    store,
                    forwarder,
                    parsers,
                    &envelope.entity_key,
                    seen.forwarded_sequence() + 1..=sequence,
                    Some(&envelope),
                    now,
                )
                .await?;
                return Ok(Accepted {
                    outcome,
                    sequence: Some(sequence),
                    forwarded,
                    mark: Some(Mark {
                        entity_key: envelope.entity_key,
                        through: Some(sequence),
                        answered: Some(sequence),
                    }),
                });
            }
            Verdict::Retry(previous) => (Outcome::Retry, previous),
            Verdict::Resend { previous, request } => {
                match store.use_resend(&envelope, &seen, &request).await {
                    Ok(()) => {}
                    Err(WriteError::Conflict) => continue,
                    Err(WriteError::Failed(e)) => return Err(IngestError::Store(e)),
                }
                (Outcome::Resend, previous)
            }
        };
        // A notification we have. Forward it (and what waits before it) unless that is done.
        let (PreviousKind::Sequenced(sequence), true) =
            (previous.kind, previous.entity_key == envelope.entity_key)
        else {
            // Stored and forwarded by a version before sequences (or under another entity
            // key, by a version with other entity rules): nothing to do.
            return Ok(Accepted {
                outcome,
                sequence: None,
                forwarded: 0,
                mark: None,
            });
        };
        in_flight.set(&envelope.entity_key, sequence);
        let owed = seen
            .head
            .as_ref()
            .is_some_and(|h| h.unacked.contains_key(&sequence));
        let (forwarded, through) = if sequence > seen.forwarded_sequence() {
            let n = forward_through(
                store,
                forwarder,
                parsers,
                &envelope.entity_key,
                seen.forwarded_sequence() + 1..=sequence,
                None,
                now,
            )
            .await?;
            (n, Some(sequence))
        } else {
            (0, None)
        };
        let answered = owed.then_some(sequence);
        let mark = (through.is_some() || answered.is_some()).then(|| Mark {
            entity_key: envelope.entity_key.clone(),
            through,
            answered,
        });
        return Ok(Accepted {
            outcome,
            sequence: Some(sequence),
            forwarded,
            mark,
        });
    }
    Err(IngestError::Store(DownstreamError::new(
        "storing the notification",
        format!("its entity changed under {MAX_ROUNDS} concurrent deliveries in a row"),
    )))
}

/// Unacked sequences older than the window: their retries are no longer believed.
fn stale_unacked(seen: &Snapshot, now: OffsetDateTime, settings: &DeliverySettings) -> Vec<u64> {
    seen.head.as_ref().map_or_else(Vec::new, |head| {
        head.unacked
            .iter()
            .filter(|(_, at)| now - **at > settings.window)
            .map(|(n, _)| *n)
            .collect()
    })
}

/// Forwards the entity's notifications numbered `sequences` (those after the last forwarded,
/// through the last to send), in order: the stored ones (but those past their retention at
/// `now`), rebuilt by `parsers`, then `last` (this delivery's own, already in memory) if
/// given. Returns how many were sent.
pub async fn forward_through<S: EventStore, F: Forwarder>(
    store: &S,
    forwarder: &F,
    parsers: &dyn Parsers,
    entity_key: &str,
    sequences: RangeInclusive<u64>,
    last: Option<&Envelope>,
    now: OffsetDateTime,
) -> Result<usize, IngestError> {
    let (first, through) = sequences.into_inner();
    let stored_to = if last.is_some() {
        through.saturating_sub(1)
    } else {
        through
    };
    let mut sent = 0;
    if first <= stored_to {
        let waiting = store
            .stored_range(entity_key, first, stored_to, now)
            .await
            .map_err(IngestError::Store)?;
        sent += forward_stored(forwarder, parsers, &waiting).await?;
    }
    if let Some(envelope) = last {
        forwarder
            .forward(envelope)
            .await
            .map_err(IngestError::Forward)?;
        sent += 1;
    }
    Ok(sent)
}

/// Sends notifications already read from the store, in the order given (their sequence
/// order): each rebuilt from its raw body as the request path first sent it. How many were
/// sent; the first failure stops it.
pub async fn forward_stored<F: Forwarder>(
    forwarder: &F,
    parsers: &dyn Parsers,
    stored: &[StoredNotification],
) -> Result<usize, IngestError> {
    for notification in stored {
        let envelope = notification.envelope(parsers).map_err(|why| {
            IngestError::Forward(DownstreamError::new(
                "rebuilding a stored notification to forward it",
                why,
            ))
        })?;
        forwarder
            .forward(&envelope)
            .await
            .map_err(IngestError::Forward)?;
    }
    Ok(stored.len())
}

/// Step 4: records `mark`, retrying any failure (throttling, a conflict with a concurrent
/// transaction, a timeout) with a short backoff until `attempts` are spent. The caller bounds
/// it in time. Its failure is worth a log line, not a 5xx: the queue has the notifications,
/// and a gateway retry after SQS's 5-minute window would send them again.
pub async fn mark<S: EventStore>(
    store: &S,
    mark: &Mark,
    clock: &dyn Clock,
    attempts: u32,
) -> Result<(), DownstreamError> {
    let mut backoff = std::time::Duration::from_millis(25);
    let mut attempt = 1;
    loop {
        match store.mark(mark, clock.now()).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt >= attempts => return Err(e),
            Err(_) => {
                pause(backoff).await;
                backoff *= 2;
                attempt += 1;
            }
        }
    }
}

#[cfg(feature = "tokio")]
async fn pause(d: std::time::Duration) {
    tokio::time::sleep(d).await;
}

/// Without a runtime's timer (the core built alone), retry at once.
#[cfg(not(feature = "tokio"))]
async fn pause(_: std::time::Duration) {}
