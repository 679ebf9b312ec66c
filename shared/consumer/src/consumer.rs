//! One message through the kit, and a batch of them.
//!
//! For a message (its body read as the envelope, [`crate::message`]):
//!
//! 1. `smoke.test` (what `recover smoke` posts) is skipped.
//! 2. The entity's head: a sequence it settles already is a copy, skipped (one read).
//! 3. The gateway's API, when the message needs confirming ([`crate::confirm`]): an API that
//!    cannot be asked fails the message, before anything is written.
//! 4. The row is claimed (conditional write). Settled already: a copy, skipped. Claimed by a
//!    live consumer: the message fails (it is retried after the other settles).
//! 5. A gap record: the business code is told, the row settles as `gap`. The API disagrees and
//!    the message may be a copy (`repeat_of.reason`): a copy of an earlier state, settled
//!    `copy`, not booked. The API disagrees otherwise: `contradicted`, kept aside with both
//!    versions, counted (`Outcome=contradicted`), not booked. Else the business code books it
//!    (late, with what was booked since, when it comes below the highest sequence settled).
//! 6. The row settles and the head moves, in one write. A failure before that gives the claim
//!    up, so the message's retry starts over.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use webhook_core::clock::Clock;
use webhook_core::Envelope;

use crate::batch::{self, Fate};
use crate::business::{Booking, Business, BusinessError};
use crate::confirm::{self, ApiError, Confirmation, GatewayApi, Need, Policy, Snapshot, Verdict};
use crate::ledger::{
    self, Aside, Claim, ClaimRequest, Details, Entry, Head, Ledger, LedgerError, Place, Settlement,
    Slot, Status,
};
use crate::message::{read_envelope, MessageError, Record};
use crate::metrics::{MessageMetric, Metrics};

/// What became of a message that did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Booked by the business code.
    Booked,
    /// Booked by the business code, after later notifications of its entity.
    BookedLate,
    /// A gap record, settled as not received (the business code was told).
    Gap,
    /// Settled already: a copy, skipped.
    Copy,
    /// The gateway's API showed it to be a copy of an earlier state: not booked.
    ApiCopy,
    /// The gateway's API contradicts it: not booked, kept aside, counted.
    Contradicted,
    /// `smoke.test`, or nothing a consumer books.
    Skipped,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Booked => "booked",
            Outcome::BookedLate => "booked_late",
            Outcome::Gap => "gap",
            Outcome::Copy => "copy",
            Outcome::ApiCopy => "api_copy",
            Outcome::Contradicted => "contradicted",
            Outcome::Skipped => "skipped",
        }
    }
}

/// Why a message failed: it is reported in the batch response, and SQS delivers it again
/// (after 5 receives, the dead-letter queue keeps it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Unreadable(#[from] MessageError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("the business code failed: {0}")]
    Business(#[from] BusinessError),
    /// Another consumer holds a live claim on the row.
    #[error("another consumer is booking this sequence")]
    Busy,
    /// The ledger settled this sequence with other content: not a copy, and not to be booked
    /// twice. Kept for a person (the dead-letter queue).
    #[error("sequence {0} is settled with other content (dedup key {1})")]
    Mismatch(u64, String),
    /// Not started: the invocation's time was running out.
    #[error("not started: the invocation's time is running out")]
    Deadline,
}

impl Failure {
    pub fn reason(&self) -> &'static str {
        match self {
            Failure::Unreadable(_) => "unreadable",
            Failure::Api(_) => "api",
            Failure::Ledger(_) => "ledger",
            Failure::Business(_) => "business",
            Failure::Busy => "busy",
            Failure::Mismatch(..) => "mismatch",
            Failure::Deadline => "deadline",
        }
    }
}

/// The event `recover smoke` posts; consumers skip it (docs/envelope.md).
pub const SMOKE_EVENT: &str = "smoke.test";

/// The kit, over its three ports.
pub struct Consumer<L, A, B> {
    pub ledger: L,
    pub api: A,
    pub business: B,
    pub policy: Policy,
    pub clock: Arc<dyn Clock>,
    /// How long a claim holds before another consumer may take it over: longer than an
    /// invocation can run.
    pub claim_for: time::Duration,
    /// How long a contradicted notification is kept aside (its envelope may hold personal
    /// data; DynamoDB's TTL deletes it after).
    pub aside_for: time::Duration,
    /// A message is not started with less than this left before the invocation's deadline.
    pub reserve: std::time::Duration,
    pub metrics: Metrics,
    tokens: AtomicU64,
    token_seed: u64,
}

impl<L, A, B> std::fmt::Debug for Consumer<L, A, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("policy", &self.policy)
            .field("claim_for", &self.claim_for)
            .finish_non_exhaustive()
    }
}

/// A claim holds 5 minutes: a Lambda invocation runs at most 15, this one's template gives it
/// 25 s.
pub const CLAIM_FOR: time::Duration = time::Duration::minutes(5);
/// A contradicted notification is kept aside 90 days, as the front door keeps notifications.
pub const ASIDE_FOR: time::Duration = time::Duration::days(90);
/// Room for one message: the API's retries ([`crate::confirm`]) and four ledger writes.
pub const RESERVE: std::time::Duration = std::time::Duration::from_secs(8);

impl<L: Ledger, A: GatewayApi, B: Business> Consumer<L, A, B> {
    pub fn new(ledger: L, api: A, business: B, clock: Arc<dyn Clock>) -> Self {
        use std::hash::{BuildHasher, Hasher};
        // A random seed per process, so claim tokens of two instances never meet.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_i128(clock.now().unix_timestamp_nanos());
        hasher.write_u32(std::process::id());
        Consumer {
            ledger,
            api,
            business,
            policy: Policy::default(),
            clock,
            claim_for: CLAIM_FOR,
            aside_for: ASIDE_FOR,
            reserve: RESERVE,
            metrics: Metrics::default(),
            tokens: AtomicU64::new(0),
            token_seed: hasher.finish(),
        }
    }

    fn token(&self) -> String {
        let n = self.tokens.fetch_add(1, Ordering::Relaxed);
        format!("{:016x}-{n}", self.token_seed)
    }

    /// A batch in order, FIFO-correct ([`crate::batch`]): no message is started with less than
    /// [`Consumer::reserve`] left before `deadline`.
    pub async fn handle_batch(
        &self,
        records: &[Record],
        deadline: Option<Instant>,
    ) -> Vec<Fate<Outcome, Failure>> {
        batch::in_order(records, async |record: &Record| {
            if deadline.is_some_and(|d| Instant::now() + self.reserve > d) {
                self.report(None, Err(&Failure::Deadline), Instant::now());
                return Err(Failure::Deadline);
            }
            self.handle(record).await
        })
        .await
    }

    /// One message: its outcome, a log line and a metric line.
    pub async fn handle(&self, record: &Record) -> Result<Outcome, Failure> {
        let started = Instant::now();
        match read_envelope(&record.body) {
            Ok(envelope) => {
                let result = self.process(&envelope, &record.body).await;
                self.report(Some(&envelope), result.as_ref(), started);
                result
            }
            Err(e) => {
                let failure = Failure::Unreadable(e);
                tracing::warn!(message_id = %record.message_id, error = %failure, "message not read");
                self.report(None, Err(&failure), started);
                Err(failure)
            }
        }
    }

    fn report(
        &self,
        envelope: Option<&Envelope>,
        result: Result<&Outcome, &Failure>,
        started: Instant,
    ) {
        let (outcome, reason) = match result {
            Ok(o) => (o.as_str(), None),
            Err(f) => ("failed", Some(f.reason())),
        };
        let event = envelope.map_or("", |e| e.event.as_str());
        let entity_key = envelope.map_or("", |e| e.entity_key.as_str());
        let sequence = envelope.and_then(|e| e.sequence);
        match result {
            Ok(_) => tracing::info!(event, entity_key, sequence, outcome, "message"),
            Err(f) if envelope.is_some() => {
                tracing::warn!(event, entity_key, sequence, outcome, error = %f, "message failed");
            }
            Err(_) => {}
        }
        self.metrics.message(
            self.clock.now(),
            &MessageMetric {
                outcome,
                reason,
                event,
                entity_key,
                sequence,
                took: started.elapsed(),
            },
        );
    }

    /// Steps 1 to 6 of the module's documentation.
    pub async fn process(&self, envelope: &Envelope, body: &str) -> Result<Outcome, Failure> {
        if envelope.event == SMOKE_EVENT {
            return Ok(Outcome::Skipped);
        }
        let entity = envelope.entity_key.as_str();
        let slot = match envelope.sequence {
            Some(n) => Slot::Sequence(n),
            None => Slot::Content(&envelope.dedup_key),
        };
        let (head, place) = match slot {
            Slot::Sequence(n) => {
                let head = self.ledger.head(entity).await?;
                let place = ledger::place(&head, n);
                (Some(head), Some(place))
            }
            Slot::Content(_) => (None, None),
        };
        if place == Some(Place::Copy) {
            return Ok(Outcome::Copy);
        }
        let (confirmation, verdict) = self.confirm(envelope).await?;
        let token = self.token();
        let now = self.clock.now();
        let claim = self
            .ledger
            .claim(
                entity,
                &ClaimRequest {
                    slot,
                    token: &token,
                    now,
                    expires_at: now + self.claim_for,
                    event: envelope.event.as_str(),
                    dedup_key: &envelope.dedup_key,
                    may_fill_gap: envelope.gap.is_none(),
                },
            )
            .await?;
        let filled_gap = match claim {
            Claim::Busy => return Err(Failure::Busy),
            Claim::Settled(entry) => return copy_of(envelope, &entry),
            Claim::Claimed { filled_gap } => filled_gap,
        };
        let claimed = Claimed {
            envelope,
            body,
            slot,
            token: &token,
            head,
            late: place == Some(Place::Late),
            missing: match place {
                Some(Place::AfterMissing(range)) => Some(range),
                _ => None,
            },
            filled_gap,
        };
        let result = self.book_claimed(&claimed, &confirmation, &verdict).await;
        if let Err(e) = &result {
            if *e != Failure::Ledger(LedgerError::ClaimLost) {
                if let Err(release) = self.ledger.release(entity, slot, &token, filled_gap).await {
                    tracing::warn!(entity_key = entity, error = %release, "claim not released: it expires");
                }
            }
        }
        result
    }

    async fn confirm(&self, envelope: &Envelope) -> Result<(Confirmation, Verdict), Failure> {
        match confirm::need(&self.policy, envelope) {
            Need::Nothing(confirmation) => Ok((confirmation, Verdict::Unjudged)),
            Need::Ask { lookup, compare } => {
                let snapshot = self.api.lookup(&lookup).await?;
                let verdict = if compare {
                    confirm::judge(envelope, &snapshot)
                } else {
                    Verdict::Unjudged
                };
                let confirmation = match verdict {
                    Verdict::Agrees => Confirmation::Confirmed(snapshot),
                    _ => Confirmation::Fetched(snapshot),
                };
                Ok((confirmation, verdict))
            }
        }
    }

    async fn book_claimed(
        &self,
        claimed: &Claimed<'_>,
        confirmation: &Confirmation,
        verdict: &Verdict,
    ) -> Result<Outcome, Failure> {
        let envelope = claimed.envelope;
        let entity = envelope.entity_key.as_str();
        let above = match (claimed.late || claimed.filled_gap, claimed.slot) {
            (true, Slot::Sequence(n)) => self.ledger.entries_after(entity, n).await?,
            _ => Vec::new(),
        };
        let mut aside = None;
        let (status, outcome) = match (envelope.gap.is_some(), verdict) {
            (false, Verdict::Disagrees(_)) if confirm::may_be_a_copy(envelope) => {
                (Status::Copy, Outcome::ApiCopy)
            }
            (false, Verdict::Disagrees(why)) => {
                aside = Some(Aside {
                    envelope: claimed.body.to_owned(),
                    api: serde_json::to_string(
                        &confirmation.snapshot().unwrap_or(&Snapshot::Missing),
                    )
                    .unwrap_or_default(),
                    why: why.clone(),
                    expires_at: self.clock.now() + self.aside_for,
                });
                tracing::warn!(
                    event = envelope.event.as_str(),
                    entity_key = entity,
                    sequence = envelope.sequence,
                    why = why.as_str(),
                    "contradicted by the gateway's API: kept aside, not booked"
                );
                (Status::Contradicted, Outcome::Contradicted)
            }
            (gap, _) => {
                let id = match claimed.slot {
                    Slot::Sequence(n) => format!("{entity}#{n}"),
                    Slot::Content(key) => format!("{entity}#content#{key}"),
                };
                self.business
                    .book(&Booking {
                        id: &id,
                        envelope,
                        confirmation,
                        late: claimed.late.then_some(above.as_slice()),
                        missing_before: claimed.missing.as_ref(),
                        fills_gap: claimed.filled_gap,
                    })
                    .await?;
                match (gap, claimed.late) {
                    (true, _) => (Status::Gap, Outcome::Gap),
                    (false, true) => (Status::Booked, Outcome::BookedLate),
                    (false, false) => (Status::Booked, Outcome::Booked),
                }
            }
        };
        let details = Details {
            confirmation: confirmation.as_str(),
            api_status: confirmation.snapshot().map(Snapshot::status),
            repeat_reason: envelope
                .repeat_of
                .and_then(|r| r.reason)
                .map(|r| r.as_str()),
            gap_reason: envelope.gap.as_ref().map(|g| g.reason.as_str()),
            late: claimed.late,
            filled_gap: claimed.filled_gap,
        };
        self.settle(claimed, status, details, aside, above).await?;
        Ok(outcome)
    }

    /// Settles the claimed row and moves the head; when another message of the entity moved
    /// the head meanwhile, reads it again and settles again (a few times).
    async fn settle(
        &self,
        claimed: &Claimed<'_>,
        status: Status,
        details: Details,
        aside: Option<Aside>,
        mut above: Vec<Entry>,
    ) -> Result<(), Failure> {
        let entity = claimed.envelope.entity_key.as_str();
        let mut head = claimed.head.clone();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let heads = match (claimed.slot, &head) {
                (Slot::Sequence(n), Some(before)) => Some((
                    before.clone(),
                    ledger::settled_head(before, n, status, &above),
                )),
                _ => None,
            };
            let settlement = Settlement {
                slot: claimed.slot,
                token: claimed.token,
                status,
                details: details.clone(),
                settled_at: self.clock.now(),
                head: heads,
                aside: aside.clone(),
            };
            match self.ledger.settle(entity, &settlement).await {
                Ok(()) => return Ok(()),
                Err(LedgerError::HeadMoved) if attempts < 4 => {
                    let fresh = self.ledger.head(entity).await?;
                    if let Slot::Sequence(n) = claimed.slot {
                        above = if n < fresh.highest {
                            self.ledger.entries_after(entity, n).await?
                        } else {
                            Vec::new()
                        };
                    }
                    head = Some(fresh);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// A claimed row and what is known of its message.
struct Claimed<'a> {
    envelope: &'a Envelope,
    body: &'a str,
    slot: Slot<'a>,
    token: &'a str,
    head: Option<Head>,
    late: bool,
    missing: Option<std::ops::RangeInclusive<u64>>,
    filled_gap: bool,
}

/// A message whose row is settled: a copy, unless it carries other content than the row (a
/// gap record and its notification share the row, whichever came first).
fn copy_of(envelope: &Envelope, entry: &Entry) -> Result<Outcome, Failure> {
    let same = entry.dedup_key == envelope.dedup_key
        || envelope.gap.is_some()
        || entry.status == Status::Gap
        || envelope.dedup_key.is_empty();
    if same {
        Ok(Outcome::Copy)
    } else {
        Err(Failure::Mismatch(entry.sequence, entry.dedup_key.clone()))
    }
}

#[cfg(test)]
mod tests;
