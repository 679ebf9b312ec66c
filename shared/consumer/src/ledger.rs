//! The ledger: each `(entity_key, sequence)` settled once, and where each entity stands.
//!
//! Not "the last sequence per entity": a message the consumer failed 5 times goes to the
//! dead-letter queue, its group goes on, and when it is redriven it arrives after later ones of
//! its entity. "Skip what is at or below the last sequence" would skip it, and a payment would
//! never be booked. Here every sequence has its own row, written once by a conditional write,
//! so a copy finds its row and is skipped, and a redriven message finds none and is booked,
//! marked late, with what was booked since.
//!
//! Each entity has a head: the **watermark** (every sequence from 1 to it is settled), the
//! highest sequence settled, and the sequences settled as gap records (the front door sent a
//! gap record: the notification itself may still come, after a parser fix). A sequence at or
//! below the watermark and not a gap is a copy, known from the head alone (one read); above it,
//! the row decides. The watermark is what tells a copy from a gap: a sequence above the
//! highest is new (after missing ones if it skips any), one between the watermark and the
//! highest fills a hole (late) unless its row is there.
//!
//! A row is first **claimed** (status `in_progress`, with an expiry), then settled once the
//! business code has run; a failure releases the claim, so the message's retry runs again. A
//! claim whose holder died (a timeout) expires and can be taken over. This is AWS Lambda
//! Powertools' idempotency record (`INPROGRESS` with `in_progress_expiration`, then
//! `COMPLETED`; deleted when the handler fails), with the key the front door gives
//! (`entity_key` + `sequence`) instead of a hash of the payload, and the settled status the
//! ledger needs (booked, gap, copy, contradicted) instead of a cached response.

use std::collections::BTreeSet;
use std::future::Future;
use std::ops::RangeInclusive;

use time::OffsetDateTime;

/// Where an entity's ledger stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Head {
    /// Every sequence from 1 to this one is settled.
    pub watermark: u64,
    /// The highest sequence settled.
    pub highest: u64,
    /// Sequences settled as gap records: their notification may still come.
    pub gaps: BTreeSet<u64>,
    /// Bumped by every change: a change is conditional on the version it was computed from.
    pub version: u64,
}

impl Head {
    /// Whether `sequence` is settled by the head alone: at or below the watermark, not a gap.
    pub fn settled(&self, sequence: u64) -> bool {
        sequence <= self.watermark && !self.gaps.contains(&sequence)
    }
}

/// Where a message's sequence falls, by the head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// Settled already: a copy (a replay, or a send again after SQS's 5 minutes).
    Copy,
    /// The next one: the highest settled is the one before it.
    Next,
    /// New, after sequences never seen: they are in the dead-letter queue, or the ledger
    /// started after them.
    AfterMissing(RangeInclusive<u64>),
    /// Below the highest settled: a message that comes after later ones of its entity (a
    /// redrive from the dead-letter queue, or a gap record's notification), unless its row says
    /// it is a copy.
    Late,
}

/// Where `sequence` falls for an entity whose head is `head`.
pub fn place(head: &Head, sequence: u64) -> Place {
    if head.settled(sequence) {
        Place::Copy
    } else if sequence == head.highest + 1 {
        Place::Next
    } else if sequence > head.highest {
        Place::AfterMissing(head.highest + 1..=sequence - 1)
    } else {
        Place::Late
    }
}

/// A row's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Claimed by a consumer that has not settled it (yet).
    InProgress,
    /// Handed to the business code, which booked it.
    Booked,
    /// A gap record: the notification was not received (the business code was told).
    Gap,
    /// A copy of an earlier state, by the gateway's API: not booked.
    Copy,
    /// Contradicted by the gateway's API: not booked, kept aside with both versions.
    Contradicted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::InProgress => "in_progress",
            Status::Booked => "booked",
            Status::Gap => "gap",
            Status::Copy => "copy",
            Status::Contradicted => "contradicted",
        }
    }

    pub fn parse(name: &str) -> Option<Status> {
        [
            Status::InProgress,
            Status::Booked,
            Status::Gap,
            Status::Copy,
            Status::Contradicted,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }

    pub fn is_settled(self) -> bool {
        self != Status::InProgress
    }
}

/// Which row a message takes: its sequence, or (for a message from a front door before
/// sequences) its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot<'a> {
    Sequence(u64),
    Content(&'a str),
}

impl Slot<'_> {
    /// The row's sort key: `seq#<20 digits>` (sorted as numbers), or `content#<dedup key>`.
    pub fn sort_key(&self) -> String {
        match self {
            Slot::Sequence(n) => format!("{SEQUENCE_PREFIX}{n:020}"),
            Slot::Content(key) => format!("content#{key}"),
        }
    }

    pub fn sequence(&self) -> Option<u64> {
        match self {
            Slot::Sequence(n) => Some(*n),
            Slot::Content(_) => None,
        }
    }
}

/// The prefix of a sequence row's sort key.
pub const SEQUENCE_PREFIX: &str = "seq#";

/// One row of the ledger, as the business code and the tests see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its sequence (0 for a row keyed by content).
    pub sequence: u64,
    pub status: Status,
    pub event: String,
    pub dedup_key: String,
    /// Booked after a later sequence of its entity.
    pub late: bool,
}

/// A claim on a row, before the business code runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRequest<'a> {
    pub slot: Slot<'a>,
    /// Who claims: only this token settles or releases the claim.
    pub token: &'a str,
    pub now: OffsetDateTime,
    /// When the claim may be taken over (its holder is taken for dead).
    pub expires_at: OffsetDateTime,
    pub event: &'a str,
    pub dedup_key: &'a str,
    /// The row may be a gap record's (its notification arrives after it): true for a message
    /// with a body, false for a gap record (a second gap record is a copy).
    pub may_fill_gap: bool,
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The row is ours; `filled_gap` when it was a gap record's.
    Claimed { filled_gap: bool },
    /// Settled already: this message is a copy of it.
    Settled(Entry),
    /// Another consumer holds a live claim on it: try again later.
    Busy,
}

/// What a settled row records besides its status (none of it personal data).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Details {
    /// How it was confirmed (`confirmed`, `fetched`, `not_needed`, `off`, `not_confirmable`).
    pub confirmation: &'static str,
    /// The status the gateway's API gave, when it was asked.
    pub api_status: Option<String>,
    pub repeat_reason: Option<&'static str>,
    pub gap_reason: Option<&'static str>,
    pub late: bool,
    pub filled_gap: bool,
}

/// A contradicted notification, kept aside with both versions for a person to look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aside {
    /// The envelope's JSON, as received (it may hold personal data: the row expires).
    pub envelope: String,
    /// What the gateway's API said (the fields compared, never a person's data).
    pub api: String,
    /// Why they disagree.
    pub why: String,
    pub expires_at: OffsetDateTime,
}

/// A row settled, and its entity's head moved, in one write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement<'a> {
    pub slot: Slot<'a>,
    pub token: &'a str,
    pub status: Status,
    pub details: Details,
    pub settled_at: OffsetDateTime,
    /// The head it was computed from, and the new one (`None` for a row keyed by content).
    pub head: Option<(Head, Head)>,
    pub aside: Option<Aside>,
}

/// The head once `sequence` is settled as `status`. `above` holds the rows above it (read when
/// it came below the highest), so the watermark moves past those settled already.
pub fn settled_head(before: &Head, sequence: u64, status: Status, above: &[Entry]) -> Head {
    let mut after = before.clone();
    after.version = before.version + 1;
    after.highest = before.highest.max(sequence);
    if status == Status::Gap {
        after.gaps.insert(sequence);
    } else {
        after.gaps.remove(&sequence);
    }
    if sequence == after.watermark + 1 {
        after.watermark = sequence;
        let settled: BTreeSet<u64> = above
            .iter()
            .filter(|e| e.status.is_settled())
            .map(|e| e.sequence)
            .collect();
        while settled.contains(&(after.watermark + 1)) {
            after.watermark += 1;
        }
    }
    after
}

/// Why the ledger could not answer or write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// The store failed or could not be reached (the message is retried).
    #[error("the ledger is unavailable: {0}")]
    Unavailable(String),
    /// The head changed since it was read (another message of the entity settled meanwhile):
    /// read it again and settle again.
    #[error("the entity's head changed since it was read")]
    HeadMoved,
    /// The claim is no longer ours (it expired and another consumer took it over).
    #[error("the claim on the row is no longer ours")]
    ClaimLost,
}

/// The ledger's store. `webhook_consumer::dynamo` implements it on DynamoDB, [`crate::memory`]
/// in memory; both with the same conditions.
pub trait Ledger {
    /// The entity's head (the default one if nothing was settled yet). Strongly consistent.
    fn head(&self, entity: &str) -> impl Future<Output = Result<Head, LedgerError>>;

    /// The entity's sequence rows above `sequence`, in order. Strongly consistent.
    fn entries_after(
        &self,
        entity: &str,
        sequence: u64,
    ) -> impl Future<Output = Result<Vec<Entry>, LedgerError>>;

    /// Claims the row: it is absent, a claim that expired, or (when `may_fill_gap`) a gap
    /// record's row.
    fn claim(
        &self,
        entity: &str,
        request: &ClaimRequest<'_>,
    ) -> impl Future<Output = Result<Claim, LedgerError>>;

    /// Settles a row this token claimed, moves the head (conditional on `head.0`'s version)
    /// and writes the aside, all at once.
    fn settle(
        &self,
        entity: &str,
        settlement: &Settlement<'_>,
    ) -> impl Future<Output = Result<(), LedgerError>>;

    /// Gives a claim up (the business code failed): the row is as it was before the claim
    /// (absent, or the gap record's).
    fn release(
        &self,
        entity: &str,
        slot: Slot<'_>,
        token: &str,
        filled_gap: bool,
    ) -> impl Future<Output = Result<(), LedgerError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(watermark: u64, highest: u64, gaps: &[u64]) -> Head {
        Head {
            watermark,
            highest,
            gaps: gaps.iter().copied().collect(),
            version: 1,
        }
    }

    fn entry(sequence: u64, status: Status) -> Entry {
        Entry {
            sequence,
            status,
            event: "e".to_owned(),
            dedup_key: "k".to_owned(),
            late: false,
        }
    }

    #[test]
    fn the_watermark_tells_a_copy_from_a_gap_and_from_a_late_one() {
        let h = head(3, 6, &[2]);
        assert_eq!(place(&h, 1), Place::Copy);
        assert_eq!(place(&h, 3), Place::Copy);
        assert_eq!(place(&h, 2), Place::Late, "a gap record's notification");
        assert_eq!(
            place(&h, 4),
            Place::Late,
            "a hole: redriven, or a copy of one above"
        );
        assert_eq!(place(&h, 6), Place::Late, "the row decides");
        assert_eq!(place(&h, 7), Place::Next);
        assert_eq!(place(&h, 9), Place::AfterMissing(7..=8));
        assert_eq!(place(&Head::default(), 1), Place::Next);
        assert_eq!(place(&Head::default(), 3), Place::AfterMissing(1..=2));
    }

    #[test]
    fn the_old_rule_would_skip_a_redrive_and_this_one_does_not() {
        // N (1) went to the dead-letter queue; N+1 (2) was booked.
        let after_n1 = settled_head(&Head::default(), 2, Status::Booked, &[]);
        assert_eq!((after_n1.watermark, after_n1.highest), (0, 2));
        // "Skip at or below the last sequence" skips 1; the watermark does not.
        assert_eq!(place(&after_n1, 1), Place::Late);
        let after_n = settled_head(&after_n1, 1, Status::Booked, &[entry(2, Status::Booked)]);
        assert_eq!((after_n.watermark, after_n.highest), (2, 2));
        assert_eq!(place(&after_n, 1), Place::Copy);
        assert_eq!(place(&after_n, 2), Place::Copy);
    }

    #[test]
    fn the_watermark_moves_past_settled_rows_but_not_past_claims_nor_holes() {
        let before = head(1, 5, &[]);
        let above = [
            entry(3, Status::Booked),
            entry(4, Status::InProgress),
            entry(5, Status::Booked),
        ];
        let after = settled_head(&before, 2, Status::Booked, &above);
        assert_eq!((after.watermark, after.highest, after.version), (3, 5, 2));
    }

    #[test]
    fn a_gap_is_passed_by_the_watermark_and_remembered_until_its_notification_comes() {
        let after_gap = settled_head(&head(1, 1, &[]), 2, Status::Gap, &[]);
        assert_eq!(after_gap.watermark, 2);
        assert!(after_gap.gaps.contains(&2));
        assert_eq!(
            place(&after_gap, 2),
            Place::Late,
            "not a copy: the body may come"
        );
        let filled = settled_head(&after_gap, 2, Status::Booked, &[]);
        assert!(filled.gaps.is_empty());
        assert_eq!(place(&filled, 2), Place::Copy);
    }

    #[test]
    fn sort_keys_sort_as_numbers() {
        assert!(Slot::Sequence(9).sort_key() < Slot::Sequence(10).sort_key());
        assert_eq!(Slot::Sequence(42).sort_key(), "seq#00000000000000000042");
    }
}
