//! The sweeper: forwards what was stored but never forwarded, once the request path has had
//! its chance. A notification stays unforwarded when the queue (or its permissions) failed for
//! longer than the gateway kept retrying (iPag gives up after about 20 minutes); nothing else
//! would ever send it.
//!
//! Every entity with a notification stored and not yet forwarded is marked *pending* in the
//! store from the moment it is stored (the store's sparse index, `table::PENDING_INDEX`, holds
//! only those), so the sweeper finds them without scanning. Each run, oldest first:
//!
//! 1. reads the entity's counters, then its notifications after `forwarded_sequence`;
//! 2. forwards them in sequence order, with the message the request path would send (same
//!    body, group and de-duplication id), up to the first one younger than the grace period
//!    (the request path may still be on it), in chunks of [`SWEEP_CHUNK`]; one that cannot be
//!    forwarded as stored (unreadable, expired, set aside) goes as a gap record
//!    ([`crate::ingest::forward_stored`]), so the entity never stays blocked;
//! 3. moves `forwarded_sequence` up after each chunk; the entity stops being pending when it
//!    has caught up.
//!
//! A run is bounded by a count and a time budget, checked between chunks: it stops between
//! chunks (each marked before the next is sent, so a run that dies leaves at most one chunk
//! unmarked, sent again by the next run within SQS's 5-minute de-duplication), and the next
//! run goes on after the last entity it finished (a cursor), wrapping around to the oldest, so
//! an entity that fails (the queue refuses it) never keeps the others waiting. A sweep racing a
//! late retry sends the same message twice within seconds: the FIFO queue keeps one.

use std::future::Future;
use std::time::Duration as StdDuration;

use std::collections::BTreeMap;
use time::{Duration, OffsetDateTime};

use crate::clock::Clock;
use crate::delivery::EntityHead;
use crate::ingest::{forward_stored, DownstreamError, EventStore, Forwarder, IngestError, Mark};
use crate::stored::Parsers;

/// How many notifications the sweeper sends before it marks them forwarded.
pub const SWEEP_CHUNK: u64 = 10;

/// An entity the store lists as pending: notifications stored but not yet forwarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEntity {
    pub entity_key: String,
    /// When it became pending (its oldest unforwarded notification arrived then, or later).
    pub since: OffsetDateTime,
}

/// What the sweeper needs of the store beyond the request path's port.
pub trait PendingStore: EventStore {
    /// Pending entities that became pending at or before `before` and strictly after
    /// `after` (a cursor; `None`: from the oldest), oldest first, at most `limit`.
    fn pending(
        &self,
        before: OffsetDateTime,
        after: Option<OffsetDateTime>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<PendingEntity>, DownstreamError>> + Send;

    /// The entity's counters, read consistently.
    fn head(
        &self,
        entity_key: &str,
    ) -> impl Future<Output = Result<Option<EntityHead>, DownstreamError>> + Send;

    /// Where the previous run stopped, if it stopped early.
    fn cursor(
        &self,
    ) -> impl Future<Output = Result<Option<OffsetDateTime>, DownstreamError>> + Send;

    /// Keeps where this run stopped (`None`: it went through everything).
    fn set_cursor(
        &self,
        at: Option<OffsetDateTime>,
    ) -> impl Future<Output = Result<(), DownstreamError>> + Send;
}

/// A run's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepSettings {
    /// How long after its arrival a notification is left to the request path: the gateway's
    /// first retries. Default 2 minutes (`SWEEP_GRACE`).
    pub grace: Duration,
    /// Most notifications one run forwards.
    pub max_forwards: usize,
    /// Most entities one run looks at.
    pub max_entities: usize,
    /// Time after which a run stops starting new entities.
    pub budget: StdDuration,
}

impl Default for SweepSettings {
    fn default() -> Self {
        SweepSettings {
            grace: Duration::minutes(2),
            max_forwards: 1_000,
            max_entities: 500,
            budget: StdDuration::from_secs(40),
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Entities looked at.
    pub entities: usize,
    /// Messages sent, gap records included.
    pub forwarded: usize,
    /// Gap records sent in place of notifications that could not be forwarded as stored.
    pub gaps: usize,
    /// Entities whose forward failed (the queue, or a notification that cannot be rebuilt).
    pub failed: usize,
    /// Why the first failure happened, for the log (never the body).
    pub first_failure: Option<String>,
    /// Age of the oldest notification still waiting when the run ended (of the entities
    /// still pending; `None` when none is).
    pub oldest_waiting: Option<Duration>,
    /// The run stopped on a bound; the next one goes on from the cursor.
    pub stopped_early: bool,
}

/// One run.
pub async fn sweep<S: PendingStore, F: Forwarder>(
    store: &S,
    forwarder: &F,
    parsers: &dyn Parsers,
    clock: &dyn Clock,
    settings: &SweepSettings,
) -> Result<SweepReport, DownstreamError> {
    // The budget runs on the clock, so that a test can move it between chunks.
    let stop_at = clock.now() + settings.budget;
    let now = clock.now();
    let cutoff = now - settings.grace;
    let mut report = SweepReport::default();
    let cursor = store.cursor().await?;
    // From the cursor to the end, then (if the cursor skipped any) from the oldest again.
    let mut candidates = store.pending(cutoff, cursor, settings.max_entities).await?;
    // A full page may hide more entities behind it: then the next run goes on after this
    // one's last, even if every one of these failed fast (they must never keep the rest
    // waiting).
    let more_behind = candidates.len() >= settings.max_entities;
    if cursor.is_some() && candidates.len() < settings.max_entities {
        let wrapped = store
            .pending(cutoff, None, settings.max_entities - candidates.len())
            .await?;
        candidates.extend(wrapped.into_iter().filter(|p| Some(p.since) <= cursor));
    }
    // The last entity this run finished with (swept, or failed): the next one starts after it.
    let mut finished = None;
    for pending in &candidates {
        if report.forwarded >= settings.max_forwards || clock.now() >= stop_at {
            report.stopped_early = true;
            break;
        }
        report.entities += 1;
        let room = settings.max_forwards - report.forwarded;
        let bounds = Bounds {
            cutoff,
            room,
            stop_at,
        };
        match sweep_entity(
            store,
            forwarder,
            parsers,
            &pending.entity_key,
            bounds,
            clock,
        )
        .await
        {
            Ok(swept) => {
                report.forwarded += swept.sent;
                report.gaps += swept.gaps;
                if swept.stopped {
                    // Stopped inside this entity: the next run starts with it again.
                    report.stopped_early = true;
                    break;
                }
            }
            Err(why) => {
                report.failed += 1;
                if report.first_failure.is_none() {
                    report.first_failure = Some(format!("{}: {why}", pending.entity_key));
                }
            }
        }
        finished = Some(pending.since);
    }
    if more_behind {
        report.stopped_early = true;
    }
    store
        .set_cursor(if report.stopped_early { finished } else { None })
        .await?;
    let oldest = store.pending(now, None, 1).await?;
    report.oldest_waiting = oldest.first().map(|p| now - p.since);
    Ok(report)
}

/// What one entity's sweep may take.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    /// Notifications that arrived after it are left to the request path.
    cutoff: OffsetDateTime,
    /// Most messages to send.
    room: usize,
    /// No chunk is started after it.
    stop_at: OffsetDateTime,
}

/// What one entity's sweep did.
#[derive(Debug, Default)]
struct Swept {
    sent: usize,
    gaps: usize,
    /// It stopped on the time budget with notifications of the entity still ready.
    stopped: bool,
}

/// Forwards what waits of one entity, older than the cutoff, at most `room` messages, in
/// marked chunks (the rest next run).
async fn sweep_entity<S: PendingStore, F: Forwarder>(
    store: &S,
    forwarder: &F,
    parsers: &dyn Parsers,
    entity_key: &str,
    bounds: Bounds,
    clock: &dyn Clock,
) -> Result<Swept, IngestError> {
    let Some(head) = store.head(entity_key).await.map_err(IngestError::Store)? else {
        return Ok(Swept::default());
    };
    let mark = |through| Mark {
        entity_key: entity_key.to_owned(),
        through: Some(through),
        answered: None,
    };
    if head.forwarded_sequence >= head.last_sequence {
        // Caught up already (its mark stopped short of clearing it): just clear it.
        store
            .mark(&mark(head.last_sequence), clock.now())
            .await
            .map_err(IngestError::Store)?;
        return Ok(Swept::default());
    }
    let now = clock.now();
    let waiting = store
        .stored_range(entity_key, head.forwarded_sequence + 1, head.last_sequence)
        .await
        .map_err(IngestError::Store)?;
    let arrived: BTreeMap<u64, OffsetDateTime> = waiting
        .iter()
        .filter(|n| n.is_live(now))
        .filter_map(|n| Some((n.sequence?, n.received_at)))
        .collect();
    // Ready: in order, up to the first one the request path may still be on (what is gone
    // or expired is ready: a gap record stands for it).
    let mut ready_to = head.forwarded_sequence;
    for sequence in head.forwarded_sequence + 1..=head.last_sequence {
        let too_young = arrived.get(&sequence).is_some_and(|at| *at > bounds.cutoff);
        if too_young || ready_to - head.forwarded_sequence >= bounds.room as u64 {
            break;
        }
        ready_to = sequence;
    }
    let mut swept = Swept::default();
    let mut from = head.forwarded_sequence + 1;
    while from <= ready_to {
        if swept.sent > 0 && clock.now() >= bounds.stop_at {
            swept.stopped = true;
            break;
        }
        let to = ready_to.min(from + SWEEP_CHUNK - 1);
        // Sent as read: reading them again costs a read per chunk.
        let sent = forward_stored(
            store,
            forwarder,
            parsers,
            entity_key,
            from..=to,
            &waiting,
            now,
        )
        .await?;
        store
            .mark(&mark(to), clock.now())
            .await
            .map_err(IngestError::Store)?;
        swept.sent += sent.sent;
        swept.gaps += sent.gaps.len();
        from = to + 1;
    }
    Ok(swept)
}
