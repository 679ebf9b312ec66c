//! The sweeper: forwards what was stored but never forwarded, once the request path has had
//! its chance. A notification stays unforwarded when the queue (or its permissions) failed for
//! longer than the gateway kept retrying (iPag gives up after about 20 minutes), or when a
//! function died between the store and the send; nothing else would ever send it.
//!
//! It finds them through the store's arrival index (`table::ARRIVAL_INDEX`), which every
//! notification enters when it is stored (the same write), and which `recover replay --since`
//! reads too: no write is spent on the sweeper alone. Each run:
//!
//! 1. **looks** at the index entries that arrived since the last look (a cursor,
//!    [`SweepState::looked_to`]), a page at a time: each entry's entity head is read at a
//!    glance (eventually consistent: a stale head is only ever older, so it can only make a
//!    forwarded notification look waiting, never the reverse), and an entity whose head has
//!    not forwarded the entry is **listed** as waiting ([`SweepState::waiting`], with the
//!    arrival of its oldest waiting notification). The cursor stays [`SweepSettings::settle`]
//!    behind now: entries of the last seconds are looked at again by the next run;
//! 2. **counts again** what it looked at, later: every stretch of arrival time it looked at
//!    is a [`Span`] with the number of entries the index showed then; the span is counted
//!    again at the next run, then after 2, 4, 8, ... runs (adjacent spans of one level merge,
//!    up to a day wide), until its entries are past the retention. An index is updated after
//!    the write that feeds it, so an entry can show after the cursor passed it, by any delay:
//!    when a span shows more entries than it did, the span is looked at again in full
//!    ([`SweepState::relook`]), and whatever waits in it is listed. The counts read index
//!    keys only; the heads are read again only for a span that changed;
//! 3. **sweeps** the listed entities, oldest first, an entity that failed last run after the
//!    others: reads the entity's counters, then its notifications after
//!    `forwarded_sequence`, and forwards them in sequence order with the message the request
//!    path would send (same body, group and de-duplication id), up to the first one younger
//!    than the grace period (the request path may still be on it), in chunks of
//!    [`SWEEP_CHUNK`]; one that cannot be forwarded as stored (unreadable, expired, set aside)
//!    goes as a gap record ([`crate::ingest::forward_stored`]), so the entity never stays
//!    blocked; `forwarded_sequence` moves up after each chunk. An entity leaves the list when
//!    it has caught up; one that fails (the queue refuses it) stays listed and never keeps the
//!    others waiting.
//!
//! A run is bounded by a count and a time budget: the look takes at most half of the time,
//! the sweep stops between chunks (each marked before the next is sent, so a run that dies
//! leaves at most one chunk unmarked, sent again by the next run within SQS's 5-minute
//! de-duplication). The list holds at most [`SweepSettings::max_waiting`] entities: when it is
//! full (the queue is down for everything), the look stops and goes on once the list has room.
//! A sweep racing a late retry sends the same message twice within seconds: the FIFO queue
//! keeps one.
//!
//! The oldest-waiting age ([`SweepReport::oldest_waiting`], behind the Unforwarded alarm) is
//! that of the oldest listed entity, or of the cursor when the look is behind: at least as old
//! as anything the sweeper knows or has not looked at yet.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration as StdDuration;

use time::{Duration, OffsetDateTime};

use crate::clock::Clock;
use crate::delivery::EntityHead;
use crate::ingest::{forward_stored, DownstreamError, EventStore, Forwarder, IngestError, Mark};
use crate::stored::Parsers;

/// How many notifications the sweeper sends before it marks them forwarded.
pub const SWEEP_CHUNK: u64 = 10;

/// Most index entries a look asks the store for at a time.
pub const LOOK_PAGE: usize = 1_000;

/// Widest stretch of arrival time adjacent spans merge into: counting one again reads the
/// partitions of at most two days.
pub const MAX_SPAN: Duration = Duration::days(1);

/// Most spans kept; past it the oldest adjacent ones merge whatever their level.
pub const MAX_SPANS: usize = 256;

/// A micro-second: arrival times in the index have this precision.
const TICK: Duration = Duration::microseconds(1);

/// An entity with notifications stored and not yet forwarded, and since when it waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEntity {
    pub entity_key: String,
    /// When its oldest unforwarded notification arrived (as far as the sweeper knows).
    pub since: OffsetDateTime,
}

/// One entry of the arrival index: notification `sequence` of `entity_key`, arrived at
/// `received_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    pub entity_key: String,
    pub sequence: u64,
    pub received_at: OffsetDateTime,
}

/// A page of the arrival index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrivals {
    /// The entries that arrived after the page's start and at or before `complete_to`, in
    /// arrival order: every one the index shows in that stretch.
    pub entries: Vec<Arrival>,
    /// How far the page is complete: the end asked for, or less when there was more.
    pub complete_to: OffsetDateTime,
}

/// An entity the sweeper knows waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiting {
    /// When its oldest waiting notification arrived.
    pub since: OffsetDateTime,
    /// The run in which its last sweep failed: the next run tries it after the others.
    pub failed_run: Option<u64>,
    /// It came from the index of the version before this one (`by_pending`), whose entry a
    /// caught-up sweep clears.
    pub legacy: bool,
}

/// A stretch of arrival time the sweeper looked at, `(after, to]`, and what the index showed
/// in it then, to be counted again at run `due`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub after: OffsetDateTime,
    pub to: OffsetDateTime,
    /// Index entries in it at the last count.
    pub seen: u64,
    /// Counts so far: the next one is 2^level runs after this one.
    pub level: u32,
    /// The run of the next count.
    pub due: u64,
    /// A count under way (it did not fit in a run): counted up to, and how many so far.
    pub counting: Option<(OffsetDateTime, u64)>,
}

/// What the sweeper keeps from one run to the next (one small item in the store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepState {
    /// Every index entry that arrived at or before it was looked at (its entity listed if it
    /// waited), as the index showed it then.
    pub looked_to: OffsetDateTime,
    /// Runs so far (the counts' schedule is in runs).
    pub run: u64,
    /// Entities known to wait.
    pub waiting: BTreeMap<String, Waiting>,
    /// What was looked at, to count again.
    pub spans: Vec<Span>,
    /// Stretches `(after, to]` to look at again in full: a count found more entries than the
    /// look did. `after` moves up as the look goes.
    pub relook: Vec<(OffsetDateTime, OffsetDateTime)>,
}

impl SweepState {
    /// The state of a sweeper that never ran: it looks from `from`.
    pub fn starting_at(from: OffsetDateTime) -> SweepState {
        SweepState {
            looked_to: from,
            run: 0,
            waiting: BTreeMap::new(),
            spans: Vec::new(),
            relook: Vec::new(),
        }
    }

    /// Lists `entity_key` as waiting since `since` (or earlier, if it was listed already).
    /// `false` when the list is full and the entity is not on it.
    fn list(&mut self, entity_key: &str, since: OffsetDateTime, legacy: bool, max: usize) -> bool {
        let room = self.waiting.len() < max;
        match self.waiting.get_mut(entity_key) {
            Some(w) => {
                w.since = w.since.min(since);
                w.legacy |= legacy;
                true
            }
            None if room => {
                self.waiting.insert(
                    entity_key.to_owned(),
                    Waiting {
                        since,
                        failed_run: None,
                        legacy,
                    },
                );
                true
            }
            None => false,
        }
    }
}

/// What the sweeper needs of the store beyond the request path's port.
pub trait SweepStore: EventStore {
    /// The arrival index's entries that arrived in `(after, until]`, oldest first, complete up
    /// to [`Arrivals::complete_to`]; about `limit` per partition of the index at most.
    fn arrivals(
        &self,
        after: OffsetDateTime,
        until: OffsetDateTime,
        limit: usize,
    ) -> impl Future<Output = Result<Arrivals, DownstreamError>> + Send;

    /// The heads of `entity_keys` that exist, read cheaply: a head may be older than it is
    /// (an eventually consistent read), never newer.
    fn glance(
        &self,
        entity_keys: &[String],
    ) -> impl Future<Output = Result<BTreeMap<String, EntityHead>, DownstreamError>> + Send;

    /// The entity's counters, read consistently.
    fn head(
        &self,
        entity_key: &str,
    ) -> impl Future<Output = Result<Option<EntityHead>, DownstreamError>> + Send;

    /// What the previous run left ([`SweepState`]); `None` before the first.
    fn sweep_state(
        &self,
    ) -> impl Future<Output = Result<Option<SweepState>, DownstreamError>> + Send;

    /// Keeps what this run leaves.
    fn set_sweep_state(
        &self,
        state: &SweepState,
    ) -> impl Future<Output = Result<(), DownstreamError>> + Send;

    /// Entities the index of the previous version (`by_pending`) lists, while the table has
    /// it (an upgrade: docs/deploy.md). None by default.
    fn legacy_pending(
        &self,
        _limit: usize,
    ) -> impl Future<Output = Result<Vec<PendingEntity>, DownstreamError>> + Send {
        async { Ok(Vec::new()) }
    }

    /// Takes a caught-up entity out of that index. Nothing by default.
    fn forget_legacy(
        &self,
        _entity_key: &str,
    ) -> impl Future<Output = Result<(), DownstreamError>> + Send {
        async { Ok(()) }
    }
}

/// A run's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepSettings {
    /// How long after its arrival a notification is left to the request path: the gateway's
    /// first retries. Default 2 minutes (`SWEEP_GRACE`).
    pub grace: Duration,
    /// Most notifications one run forwards.
    pub max_forwards: usize,
    /// Most entities one run sweeps.
    pub max_entities: usize,
    /// Most entities listed as waiting: past it the look waits for room.
    pub max_waiting: usize,
    /// Time after which a run stops starting new work (the look: half of it).
    pub budget: StdDuration,
    /// How far behind now the look's cursor stays: an entry the index shows later than this
    /// after its arrival is found by a count instead.
    pub settle: Duration,
    /// Where a sweeper that never ran starts looking, behind now.
    pub first_look_back: Duration,
    /// How long notifications are kept (`RETENTION_DAYS`): spans older are no longer counted.
    pub retention: Duration,
}

impl Default for SweepSettings {
    fn default() -> Self {
        SweepSettings {
            grace: Duration::minutes(2),
            max_forwards: 1_000,
            max_entities: 500,
            max_waiting: 1_000,
            budget: StdDuration::from_secs(40),
            settle: Duration::seconds(10),
            first_look_back: Duration::days(2),
            retention: Duration::days(90),
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Entities swept.
    pub entities: usize,
    /// Messages sent, gap records included.
    pub forwarded: usize,
    /// Gap records sent in place of notifications that could not be forwarded as stored.
    pub gaps: usize,
    /// Entities whose forward failed (the queue, or a notification that cannot be rebuilt).
    pub failed: usize,
    /// Why the first failure happened, for the log (never the body).
    pub first_failure: Option<String>,
    /// Age of the oldest notification the sweeper knows waits, or of the oldest it has not
    /// looked at yet when its look is behind (`None` when nothing waits).
    pub oldest_waiting: Option<Duration>,
    /// The run stopped on a bound; the next one goes on.
    pub stopped_early: bool,
    /// Index entries looked at.
    pub looked: usize,
    /// Entries a count found that no look had seen (an index that showed them late).
    pub late: u64,
}

/// One run.
pub async fn sweep<S: SweepStore, F: Forwarder>(
    store: &S,
    forwarder: &F,
    parsers: &dyn Parsers,
    clock: &dyn Clock,
    settings: &SweepSettings,
) -> Result<SweepReport, DownstreamError> {
    // The budget runs on the clock, so that a test can move it between chunks.
    let now = clock.now();
    let stop_at = Deadline {
        clock,
        at: now + settings.budget,
    };
    let look_until = Deadline {
        clock,
        at: now + settings.budget / 2,
    };
    let mut report = SweepReport::default();
    let mut state = store
        .sweep_state()
        .await?
        .unwrap_or_else(|| SweepState::starting_at(now - settings.first_look_back));
    state.run += 1;

    for p in store.legacy_pending(settings.max_waiting).await? {
        state.list(&p.entity_key, p.since, true, settings.max_waiting);
    }
    count_again(store, &mut state, now, settings, look_until, &mut report).await?;
    let caught_up =
        look_everywhere(store, &mut state, now, settings, look_until, &mut report).await?;
    sweep_listed(
        store,
        forwarder,
        parsers,
        settings,
        stop_at,
        &mut state,
        &mut report,
    )
    .await;
    if !caught_up {
        report.stopped_early = true;
    }
    let oldest_listed = state.waiting.values().map(|w| w.since).min();
    let behind = (!caught_up).then_some(state.looked_to);
    report.oldest_waiting = oldest_listed
        .into_iter()
        .chain(behind)
        .min()
        .map(|since| (now - since).max(Duration::ZERO));
    store.set_sweep_state(&state).await?;
    Ok(report)
}

/// Counts again the spans that are due, as far as the time allows (a count that does not fit
/// goes on next run); a span that shows more entries than it did is looked at again.
async fn count_again<S: SweepStore>(
    store: &S,
    state: &mut SweepState,
    now: OffsetDateTime,
    settings: &SweepSettings,
    stop_at: Deadline<'_>,
    report: &mut SweepReport,
) -> Result<(), DownstreamError> {
    // Past the retention their entries are deleted: a count would only go down.
    state.spans.retain(|s| s.after + settings.retention > now);
    let run = state.run;
    for span in state.spans.iter_mut().filter(|s| s.due <= run) {
        let (mut from, mut counted) = span.counting.unwrap_or((span.after, 0));
        while from < span.to && !stop_at.passed() {
            let page = store.arrivals(from, span.to, LOOK_PAGE).await?;
            if page.complete_to <= from {
                break;
            }
            counted += page.entries.len() as u64;
            from = page.complete_to;
        }
        if from < span.to {
            span.counting = Some((from, counted));
            continue;
        }
        span.counting = None;
        if counted > span.seen {
            report.late += counted - span.seen;
            state.relook.push((span.after, span.to));
        }
        span.seen = counted;
        span.level = span.level.saturating_add(1);
        span.due = run.saturating_add(1u64 << span.level.min(40));
    }
    merge_spans(&mut state.spans);
    Ok(())
}

/// Adjacent spans of one level, neither being counted, merge while no wider than
/// [`MAX_SPAN`]; past [`MAX_SPANS`] the oldest adjacent pairs merge whatever their level.
fn merge_spans(spans: &mut Vec<Span>) {
    spans.sort_by_key(|s| s.after);
    let mut merged: Vec<Span> = Vec::with_capacity(spans.len());
    for span in spans.drain(..) {
        match merged.last_mut() {
            Some(last)
                if last.to == span.after
                    && last.level == span.level
                    && last.counting.is_none()
                    && span.counting.is_none()
                    && span.to - last.after <= MAX_SPAN =>
            {
                last.to = span.to;
                last.seen += span.seen;
                last.due = last.due.min(span.due);
            }
            _ => merged.push(span),
        }
    }
    while merged.len() > MAX_SPANS {
        let Some(i) = (0..merged.len() - 1).find(|&i| {
            merged[i].to == merged[i + 1].after
                && merged[i].counting.is_none()
                && merged[i + 1].counting.is_none()
        }) else {
            break;
        };
        let next = merged.remove(i + 1);
        let first = &mut merged[i];
        first.to = next.to;
        first.seen += next.seen;
        first.level = first.level.min(next.level);
        first.due = first.due.min(next.due);
    }
    *spans = merged;
}

/// Looks at the stretches to look at again, then at what arrived since the cursor. `true`
/// when the cursor caught up with now (less the settle time).
async fn look_everywhere<S: SweepStore>(
    store: &S,
    state: &mut SweepState,
    now: OffsetDateTime,
    settings: &SweepSettings,
    stop_at: Deadline<'_>,
    report: &mut SweepReport,
) -> Result<bool, DownstreamError> {
    let mut relook = std::mem::take(&mut state.relook);
    let mut left = Vec::new();
    for (after, to) in relook.drain(..) {
        let looked = look(store, state, (after, to), to, settings, stop_at, report).await?;
        if looked.reached < to {
            left.push((looked.reached, to));
        }
    }
    state.relook = left;

    let settled = now - settings.settle;
    let from = state.looked_to;
    // Up to now: what arrived within the settle time is looked at now and again next run,
    // so a notification that waits is listed from its first second.
    let looked = look(
        store,
        state,
        (from, now),
        settled,
        settings,
        stop_at,
        report,
    )
    .await?;
    let to = looked.reached.min(settled);
    if to > from {
        let seen = if looked.reached <= settled {
            looked.entries
        } else {
            looked.entries_to_settled
        };
        state.spans.push(Span {
            after: from,
            to,
            seen,
            level: 0,
            due: state.run + 1,
            counting: None,
        });
        state.looked_to = to;
    }
    Ok(state.looked_to >= settled)
}

/// What one look did.
struct Looked {
    /// Every entry up to it was looked at.
    reached: OffsetDateTime,
    /// Entries looked at up to `reached`.
    entries: u64,
    /// Of those, the ones at or before the settle time (the fresh look's span).
    entries_to_settled: u64,
}

/// Looks at the index entries of `(after, until]`, a page at a time, and lists the entities
/// that have not forwarded them, until done, out of time or out of room in the list; counts
/// the entries up to `settled` apart.
async fn look<S: SweepStore>(
    store: &S,
    state: &mut SweepState,
    (after, until): (OffsetDateTime, OffsetDateTime),
    settled: OffsetDateTime,
    settings: &SweepSettings,
    stop_at: Deadline<'_>,
    report: &mut SweepReport,
) -> Result<Looked, DownstreamError> {
    let mut looked = Looked {
        reached: after,
        entries: 0,
        entries_to_settled: 0,
    };
    while looked.reached < until && !stop_at.passed() {
        let page = store.arrivals(looked.reached, until, LOOK_PAGE).await?;
        let keys: Vec<String> = page
            .entries
            .iter()
            .map(|e| e.entity_key.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let heads = store.glance(&keys).await?;
        let mut reached = page.complete_to.max(looked.reached);
        for entry in &page.entries {
            let forwarded = heads
                .get(&entry.entity_key)
                .is_some_and(|h| h.forwarded_sequence >= entry.sequence);
            if !forwarded
                && !state.list(
                    &entry.entity_key,
                    entry.received_at,
                    false,
                    settings.max_waiting,
                )
            {
                // No room: stop before it (and before any entry of the same instant).
                reached = (entry.received_at - TICK).max(looked.reached);
                break;
            }
        }
        let counted = page.entries.iter().filter(|e| e.received_at <= reached);
        let (all, to_settled) = counted.fold((0u64, 0u64), |(all, to_settled), e| {
            (all + 1, to_settled + u64::from(e.received_at <= settled))
        });
        looked.entries += all;
        looked.entries_to_settled += to_settled;
        report.looked += all as usize;
        let stuck = reached < page.complete_to || reached <= looked.reached;
        looked.reached = reached;
        if stuck {
            break;
        }
    }
    Ok(looked)
}

/// Sweeps the listed entities that are older than the grace period, oldest first (one that
/// failed in a recent run after the others), within the run's bounds.
async fn sweep_listed<S: SweepStore, F: Forwarder>(
    store: &S,
    forwarder: &F,
    parsers: &dyn Parsers,
    settings: &SweepSettings,
    stop_at: Deadline<'_>,
    state: &mut SweepState,
    report: &mut SweepReport,
) {
    let clock = stop_at.clock;
    let now = clock.now();
    let cutoff = now - settings.grace;
    let mut order: Vec<(Option<u64>, OffsetDateTime, String)> = state
        .waiting
        .iter()
        .filter(|(_, w)| w.since <= cutoff)
        .map(|(key, w)| (w.failed_run, w.since, key.clone()))
        .collect();
    order.sort();
    for (_, _, entity_key) in order {
        if report.forwarded >= settings.max_forwards
            || report.entities >= settings.max_entities
            || stop_at.passed()
        {
            report.stopped_early = true;
            break;
        }
        report.entities += 1;
        let bounds = Bounds {
            cutoff,
            room: settings.max_forwards - report.forwarded,
            stop_at: stop_at.at,
        };
        let legacy = state.waiting.get(&entity_key).is_some_and(|w| w.legacy);
        match sweep_entity(
            store,
            forwarder,
            parsers,
            &entity_key,
            bounds,
            clock,
            legacy,
        )
        .await
        {
            Ok(swept) => {
                report.forwarded += swept.sent;
                report.gaps += swept.gaps;
                match swept.left {
                    None => {
                        state.waiting.remove(&entity_key);
                    }
                    Some(since) => {
                        if let Some(w) = state.waiting.get_mut(&entity_key) {
                            w.since = since;
                            w.failed_run = None;
                        }
                    }
                }
                if swept.stopped {
                    report.stopped_early = true;
                    break;
                }
            }
            Err(why) => {
                report.failed += 1;
                if report.first_failure.is_none() {
                    report.first_failure = Some(format!("{entity_key}: {why}"));
                }
                if let Some(w) = state.waiting.get_mut(&entity_key) {
                    w.failed_run = Some(state.run);
                }
            }
        }
    }
}

/// When a run stops starting new work, on the run's clock.
#[derive(Clone, Copy)]
struct Deadline<'a> {
    clock: &'a dyn Clock,
    at: OffsetDateTime,
}

impl Deadline<'_> {
    fn passed(&self) -> bool {
        self.clock.now() >= self.at
    }
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
    /// What still waits of it, if anything: the arrival of the first notification left.
    left: Option<OffsetDateTime>,
}

/// Forwards what waits of one entity, older than the cutoff, at most `room` messages, in
/// marked chunks (the rest next run).
async fn sweep_entity<S: SweepStore, F: Forwarder>(
    store: &S,
    forwarder: &F,
    parsers: &dyn Parsers,
    entity_key: &str,
    bounds: Bounds,
    clock: &dyn Clock,
    legacy: bool,
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
        // Caught up already (the request path forwarded it after the look).
        if legacy {
            store
                .forget_legacy(entity_key)
                .await
                .map_err(IngestError::Store)?;
        }
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
    if from <= head.last_sequence {
        // Left for a later run: younger than the grace period, or past this run's bounds.
        // (One gone or expired is ready at once: a gap record stands for it.)
        swept.left = Some(arrived.get(&from).copied().unwrap_or(bounds.cutoff));
    } else if legacy {
        store
            .forget_legacy(entity_key)
            .await
            .map_err(IngestError::Store)?;
    }
    Ok(swept)
}
