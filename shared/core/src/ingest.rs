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
//!    One delivery forwards at most [`MAX_FORWARDS_PER_DELIVERY`] messages: behind a longer
//!    backlog its own notification is left to the sweeper and the next retry
//!    ([`Accepted::in_queue`] is false, the gateway is answered 503). A stored notification
//!    that can no longer be read is set aside and a gap record takes its place in the order
//!    ([`forward_stored`]), so one bad item never blocks its entity.
//! 4. **Mark**: the entity's `forwarded_sequence` moves up to what was sent, and this
//!    delivery's notification is no longer owed an answer (the store recorded it as owed when
//!    it stored it). This step has its own time budget and retries, and its failure is not an
//!    error: the queue has the notifications, so the gateway must be answered 200 (see
//!    [`mark`]).
//!
//! Steps 1 to 3 ([`store_and_forward`]) fail with an [`IngestError`] (5xx for the gateway, which
//! retries; every step is safe to repeat). Two deliveries that both forward the same stored
//! notification send the same message: the FIFO queue drops the second within its 5-minute
//! window (same `MessageDeduplicationId`), and after it the consumer sees the same `sequence`
//! again.
//!
//! This module knows nothing of AWS: [`EventStore`] and [`Forwarder`] are the ports; the
//! adapters live in `aws`, [`crate::memory`] has both in memory.

use std::collections::BTreeMap;
use std::future::Future;
use std::ops::RangeInclusive;

use thiserror::Error;
use time::OffsetDateTime;

use crate::clock::Clock;
use crate::delivery::{
    judge, judge_resend, DeliverySettings, FirstLook, PreviousKind, ResendEntry, Snapshot, Verdict,
};
use crate::envelope::{Envelope, Gap, GapReason};
use crate::stored::{gap_record, Parsers, StoredNotification};

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
    /// Sequences in the head's `unacked` older than the window: forgotten by this write.
    pub forget_unacked: Vec<u64>,
}

/// What the forward of this delivery leaves to record (see [`mark`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub entity_key: String,
    /// Every notification up to this sequence is in the queue now.
    pub through: Option<u64>,
    /// This notification's own delivery is answered 200 now: it is no longer owed.
    pub answered: Option<u64>,
}

/// Keeps notifications, once each, and each entity's order.
pub trait EventStore: Send + Sync {
    /// The entity's counters and the latest notification with `envelope`'s content.
    fn snapshot(
        &self,
        envelope: &Envelope,
    ) -> impl Future<Output = Result<Snapshot, DownstreamError>> + Send;

    /// The resend entries that name a stored notification with `envelope`'s content, open at
    /// `now` (the rule checks the entity and the time again).
    fn resend_entries(
        &self,
        envelope: &Envelope,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Vec<ResendEntry>, DownstreamError>> + Send;

    /// Stores a new notification as its entity's next, if nothing changed since `seen`, and
    /// in the same write records it as owed an answer (the head's `unacked`), until the mark
    /// that precedes its 200 clears it.
    fn append(&self, append: Append<'_>) -> impl Future<Output = Result<(), WriteError>> + Send;

    /// Records that `entry` explained the delivery `delivery_id`, unless another delivery
    /// used it first ([`WriteError::Conflict`]). Repeating it for the same delivery succeeds:
    /// a write that committed but whose answer was lost is not taken for another's.
    fn use_resend(
        &self,
        entry: &ResendEntry,
        delivery_id: &str,
    ) -> impl Future<Output = Result<(), WriteError>> + Send;

    /// The entity's stored notifications numbered `from..=to`, in order, as they are in the
    /// store: live or past their retention (see [`StoredNotification::is_live`]); a number
    /// with nothing stored is missing.
    fn stored_range(
        &self,
        entity_key: &str,
        from: u64,
        to: u64,
    ) -> impl Future<Output = Result<Vec<StoredNotification>, DownstreamError>> + Send;

    /// Sets notification `sequence` of the entity aside, with `gap`'s cause, at `at`: from
    /// then on it is forwarded as a gap record, never with its body. Safe to repeat.
    fn set_aside(
        &self,
        entity_key: &str,
        sequence: u64,
        gap: &Gap,
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

/// A delivery the pipeline took: its notification is stored, and in the queue with everything
/// before it unless [`Accepted::in_queue`] says otherwise.
#[derive(Debug)]
pub struct Accepted {
    pub outcome: Outcome,
    /// The notification's sequence (`None` for one stored before sequences).
    pub sequence: Option<u64>,
    /// Messages this delivery sent: earlier notifications of the entity that were waiting,
    /// and this one if no delivery had sent it yet.
    pub forwarded: usize,
    /// Of those, the gap records sent in place of notifications that could not be forwarded.
    pub gaps: Vec<(u64, GapReason)>,
    /// The notification and every earlier one of its entity are in the queue. `false` when
    /// more were waiting than one delivery forwards ([`MAX_FORWARDS_PER_DELIVERY`]): the
    /// first of them were sent, the rest is the sweeper's (and the gateway's next retry's).
    pub in_queue: bool,
    /// What is left to record, for [`mark`]; `None` if nothing is.
    pub mark: Option<Mark>,
}

/// How often a delivery reads and judges again after losing a race to a concurrent one
/// before it gives up with a 5xx (the gateway retries).
pub const MAX_ROUNDS: usize = 8;

/// The most messages one delivery sends: the waiting notifications of its entity, oldest
/// first, then its own. A longer backlog (the queue was down for a while) is the sweeper's,
/// which forwards in bounded, marked chunks; a request must answer within the gateway's
/// timeout.
pub const MAX_FORWARDS_PER_DELIVERY: u64 = 25;

/// Judges, stores (if new) and forwards in order: steps 1 to 3 of the module documentation.
/// `envelope.received_at` is this delivery's arrival; `delivery_id` names this delivery
/// attempt (the Lambda request id), so that a write of its own that is repeated is known as
/// its own.
pub async fn store_and_forward<S: EventStore, F: Forwarder>(
    store: &S,
    forwarder: &F,
    parsers: &dyn Parsers,
    mut envelope: Envelope,
    raw_body: &str,
    settings: &DeliverySettings,
    delivery_id: &str,
) -> Result<Accepted, IngestError> {
    let now = envelope.received_at;
    for _ in 0..MAX_ROUNDS {
        let seen = store
            .snapshot(&envelope)
            .await
            .map_err(IngestError::Store)?;
        let verdict = match judge(&seen, &envelope, now, settings) {
            FirstLook::Decided(verdict) => verdict,
            FirstLook::UnlessResent { previous, reason } => {
                let entries = store
                    .resend_entries(&envelope, now)
                    .await
                    .map_err(IngestError::Store)?;
                judge_resend(previous, reason, &envelope, &entries, now, delivery_id)
            }
        };
        let forwarded = seen.forwarded_sequence();
        let (outcome, sequence) = match verdict {
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
                    Ok(()) => {}
                    Err(WriteError::Conflict) => continue,
                    Err(WriteError::Failed(e)) => return Err(IngestError::Store(e)),
                }
                let outcome = match verdict {
                    Verdict::Repeat(_) => Outcome::Repeat,
                    _ => Outcome::Stored,
                };
                let sent = forward_waiting(
                    store,
                    forwarder,
                    parsers,
                    &envelope.entity_key,
                    forwarded..=sequence,
                    Some(&envelope),
                    now,
                )
                .await?;
                return Ok(accepted(outcome, sequence, forwarded, true, sent, envelope));
            }
            Verdict::Retry(previous) => match previous.kind {
                PreviousKind::Sequenced(n) if previous.entity_key == envelope.entity_key => {
                    (Outcome::Retry, n)
                }
                // Stored and forwarded by a version before sequences (or under another
                // entity key, by a version with other entity rules): nothing to do.
                _ => {
                    return Ok(Accepted {
                        outcome: Outcome::Retry,
                        sequence: None,
                        forwarded: 0,
                        gaps: Vec::new(),
                        in_queue: true,
                        mark: None,
                    })
                }
            },
            Verdict::Resend { entry, .. } => {
                match store.use_resend(&entry, delivery_id).await {
                    Ok(()) => {}
                    Err(WriteError::Conflict) => continue,
                    Err(WriteError::Failed(e)) => return Err(IngestError::Store(e)),
                }
                (Outcome::Resend, entry.sequence)
            }
        };
        // A notification we have. Forward it (and what waits before it) unless that is done.
        let owed = seen
            .head
            .as_ref()
            .is_some_and(|h| h.unacked.contains_key(&sequence));
        let sent = if sequence > forwarded {
            forward_waiting(
                store,
                forwarder,
                parsers,
                &envelope.entity_key,
                forwarded..=sequence,
                None,
                now,
            )
            .await?
        } else {
            Sent::default()
        };
        return Ok(accepted(outcome, sequence, forwarded, owed, sent, envelope));
    }
    Err(IngestError::Store(DownstreamError::new(
        "storing the notification",
        format!("its entity changed under {MAX_ROUNDS} concurrent deliveries in a row"),
    )))
}

/// What [`forward_waiting`] sent: how many, the gaps among them, and through which sequence.
#[derive(Debug, Default)]
struct Sent {
    forwarded: Forwarded,
    through: Option<u64>,
}

/// The delivery of notification `sequence`, which the forward `sent` reached (or not);
/// `forwarded` was the entity's before it. `owed`: its delivery was owed an answer, which
/// the 200 will give if it is in the queue now.
fn accepted(
    outcome: Outcome,
    sequence: u64,
    forwarded: u64,
    owed: bool,
    sent: Sent,
    envelope: Envelope,
) -> Accepted {
    let in_queue = sent.through.unwrap_or(forwarded).max(forwarded) >= sequence;
    let answered = (owed && in_queue).then_some(sequence);
    let mark = (sent.through.is_some() || answered.is_some()).then_some(Mark {
        entity_key: envelope.entity_key,
        through: sent.through,
        answered,
    });
    Accepted {
        outcome,
        sequence: Some(sequence),
        forwarded: sent.forwarded.sent,
        gaps: sent.forwarded.gaps,
        in_queue,
        mark,
    }
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

/// Forwards the entity's notifications after `forwarded` through `target` (the range's two
/// ends), in order, at most [`MAX_FORWARDS_PER_DELIVERY`]: the stored ones, read in one
/// query, then `own` (this delivery's notification, `target`, already in memory) if given and
/// reached.
async fn forward_waiting<S: EventStore, F: Forwarder>(
    store: &S,
    forwarder: &F,
    parsers: &dyn Parsers,
    entity_key: &str,
    range: RangeInclusive<u64>,
    own: Option<&Envelope>,
    now: OffsetDateTime,
) -> Result<Sent, IngestError> {
    let (forwarded, target) = range.into_inner();
    let through = target.min(forwarded + MAX_FORWARDS_PER_DELIVERY);
    let own = own.filter(|_| through == target);
    let stored_to = if own.is_some() { through - 1 } else { through };
    let mut sent = Forwarded::default();
    if forwarded < stored_to {
        let waiting = store
            .stored_range(entity_key, forwarded + 1, stored_to)
            .await
            .map_err(IngestError::Store)?;
        sent = forward_stored(
            store,
            forwarder,
            parsers,
            entity_key,
            forwarded + 1..=stored_to,
            &waiting,
            now,
        )
        .await?;
    }
    if let Some(envelope) = own {
        forwarder
            .forward(envelope)
            .await
            .map_err(IngestError::Forward)?;
        sent.sent += 1;
    }
    Ok(Sent {
        forwarded: sent,
        through: (through > forwarded).then_some(through),
    })
}

/// What a forward of stored notifications sent.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Forwarded {
    /// Messages sent, gap records included.
    pub sent: usize,
    /// The gap records among them: (sequence, cause).
    pub gaps: Vec<(u64, GapReason)>,
}

/// Sends the entity's notifications numbered `sequences`, in order, from `stored` (what
/// [`EventStore::stored_range`] returned for them): each rebuilt from its raw body as the
/// request path first sent it. One that cannot be sent as it was stored is sent as a gap
/// record in its place, so that its entity goes on: past its retention (or deleted), set
/// aside, or no longer readable (then first set aside in the store, with the reason). The
/// first failure of the queue or the store stops it.
pub async fn forward_stored<S: EventStore, F: Forwarder>(
    store: &S,
    forwarder: &F,
    parsers: &dyn Parsers,
    entity_key: &str,
    sequences: RangeInclusive<u64>,
    stored: &[StoredNotification],
    now: OffsetDateTime,
) -> Result<Forwarded, IngestError> {
    let by_sequence: BTreeMap<u64, &StoredNotification> = stored
        .iter()
        .filter_map(|n| Some((n.sequence?, n)))
        .collect();
    let mut out = Forwarded::default();
    for sequence in sequences {
        let envelope = match by_sequence.get(&sequence) {
            None => gap_record(entity_key, sequence, expired()),
            Some(n) if !n.is_live(now) => n.gap(expired()),
            Some(n) => match &n.aside {
                Some(gap) => n.gap(gap.clone()),
                None => match n.envelope(parsers) {
                    Ok(envelope) => envelope,
                    Err(why) => {
                        let gap = Gap {
                            reason: GapReason::Unreadable,
                            detail: why,
                        };
                        store
                            .set_aside(entity_key, sequence, &gap, now)
                            .await
                            .map_err(IngestError::Store)?;
                        n.gap(gap)
                    }
                },
            },
        };
        forwarder
            .forward(&envelope)
            .await
            .map_err(IngestError::Forward)?;
        if let Some(gap) = &envelope.gap {
            out.gaps.push((sequence, gap.reason));
        }
        out.sent += 1;
    }
    Ok(out)
}

fn expired() -> Gap {
    Gap {
        reason: GapReason::Expired,
        detail: "kept its retention period without being forwarded, and deleted".to_owned(),
    }
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

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::envelope::{Data, Event, EventFamily, Provider, SCHEMA_VERSION};
    use crate::error::ParseError;
    use crate::fields::Fields;
    use crate::memory::{MemoryQueue, MemoryStore};

    const AT: OffsetDateTime = datetime!(2026-11-23 10:00 UTC);

    /// A gateway whose stored body is its envelope's JSON: the core's rule, no gateway's parser.
    struct AsJson;

    impl Parsers for AsJson {
        fn parse_stored(
            &self,
            provider: &str,
            _: &str,
            body: &[u8],
            _: OffsetDateTime,
        ) -> Option<Result<Envelope, ParseError>> {
            (provider == "test").then(|| {
                serde_json::from_slice(body)
                    .map_err(|_| ParseError::InvalidJson { line: 0, column: 0 })
            })
        }
    }

    fn envelope(status: &str) -> Envelope {
        Envelope {
            schema_version: SCHEMA_VERSION,
            provider: Provider::from_static("test"),
            event: Event::from_static("thing.changed"),
            family: EventFamily::from_static("things"),
            entity_type: "thing".to_owned(),
            entity_id: "T1".to_owned(),
            entity_key: "thing#T1".to_owned(),
            account_id: None,
            status: Some(status.to_owned()),
            dedup_key: crate::canonical::sha256_hex(status.as_bytes()),
            sequence: None,
            repeat_of: None,
            received_at: AT,
            data: Data::Json(serde_json::json!({ "status": status })),
            extra: Fields::new(),
            gap: None,
        }
    }

    async fn deliver(store: &MemoryStore, queue: &MemoryQueue, status: &str) -> Accepted {
        let envelope = envelope(status);
        let body = serde_json::to_string(&envelope).expect("serialises");
        let settings = DeliverySettings::default();
        let accepted = store_and_forward(store, queue, &AsJson, envelope, &body, &settings, "d")
            .await
            .expect("stored and forwarded");
        if let Some(to_mark) = &accepted.mark {
            mark(store, to_mark, &crate::clock::ManualClock::at(AT), 1)
                .await
                .expect("marked");
        }
        accepted
    }

    #[tokio::test]
    async fn each_new_notification_takes_the_next_sequence_and_a_copy_sends_nothing() {
        let (store, queue) = (MemoryStore::default(), MemoryQueue::default());
        let first = deliver(&store, &queue, "open").await;
        assert_eq!(
            (
                first.outcome,
                first.sequence,
                first.forwarded,
                first.in_queue
            ),
            (Outcome::Stored, Some(1), 1, true)
        );
        let second = deliver(&store, &queue, "closed").await;
        assert_eq!(
            (second.outcome, second.sequence),
            (Outcome::Stored, Some(2))
        );
        let again = deliver(&store, &queue, "closed").await;
        assert_eq!((again.outcome, again.forwarded), (Outcome::Retry, 0));
        let sent: Vec<Option<u64>> = queue.envelopes().iter().map(|e| e.sequence).collect();
        assert_eq!(sent, [Some(1), Some(2)]);
    }

    #[test]
    fn the_answer_says_duplicate_for_a_retry_or_a_resend_and_the_log_tells_them_apart() {
        let said = |o: Outcome| (o.status(), o.as_str());
        assert_eq!(said(Outcome::Stored), ("stored", "stored"));
        assert_eq!(said(Outcome::Repeat), ("repeat", "repeat"));
        assert_eq!(said(Outcome::Retry), ("duplicate", "retry"));
        assert_eq!(said(Outcome::Resend), ("duplicate", "resend"));
    }
}
