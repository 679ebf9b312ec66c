//! The de-duplication rule: is this delivery a notification we already have (a gateway retry,
//! an operator's resend) or a new one, perhaps with the same content as an earlier one (a
//! subscription suspended again, renewed again a month later)?
//!
//! Neither gateway sends a delivery id, so the content hash ([`crate::canonical`], `iugu::dedup`,
//! `ipag::dedup`) cannot decide alone. The rule looks at the entity's history as the store keeps
//! it ([`Snapshot`]): the entity's counters ([`EntityHead`]) and the latest stored notification
//! with the same content ([`Previous`]), at the time, and at the open resend requests that name
//! a stored notification with this content ([`ResendEntry`]).
//!
//! **A delivery is dropped only when it is sure to be a copy**; every other doubt is stored and
//! forwarded with `repeat_of` and its [`RepeatReason`], and the consumer decides (by asking the
//! gateway's API):
//!
//! | what the store has | verdict |
//! |---|---|
//! | nothing with this content (or only past the retention period) | [`Verdict::New`] |
//! | the same content, as the entity's latest notification, first received within the window | [`Verdict::Retry`]: a gateway retry |
//! | an open resend request names a stored notification of this entity with this content, not yet delivered again | [`Verdict::Resend`] of that notification, once |
//! | the same content otherwise | [`Verdict::Repeat`], with the reason below |
//!
//! | reason (first that applies) | when |
//! |---|---|
//! | [`RepeatReason::PossibleRetry`] | the earlier one's delivery was never answered 200 (it is *owed*: see [`EntityHead::unacked`]) |
//! | [`RepeatReason::ResendUnmatched`] | an open resend request named notifications with this content, each already delivered again |
//! | [`RepeatReason::AfterOther`] | other notifications of the entity came since |
//! | [`RepeatReason::AfterWindow`] | nothing came since, and the earlier one is older than the window |
//!
//! The window ([`DeliverySettings::window`], `DEDUP_WINDOW`) bounds how long a retry is
//! believed. A resend request names the notifications it covers (read when `recover resend`
//! asks the gateway), each used at most once, by one delivery ([`ResendEntry::used_by`]), so a
//! second resend of the same content and a real new occurrence are never both dropped.

use std::collections::BTreeMap;

use time::{Duration, OffsetDateTime};

use crate::envelope::{Envelope, RepeatOf, RepeatReason};

/// How long a retry is believed: 22 hours. docs/delivery-semantics.md says why.
pub const DEFAULT_WINDOW: Duration = Duration::hours(22);
/// How long notifications are kept: 90 days (`RetentionDays`).
pub const DEFAULT_RETENTION_DAYS: u32 = 90;

/// The rule's two settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliverySettings {
    /// How long after a notification's first arrival an identical delivery may be a retry.
    pub window: Duration,
    /// How long a stored notification (and what the rule knows of it) is kept.
    pub retention: Duration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            window: DEFAULT_WINDOW,
            retention: Duration::days(i64::from(DEFAULT_RETENTION_DAYS)),
        }
    }
}

impl DeliverySettings {
    /// Reads `DEDUP_WINDOW` (`90s`, `45m`, `22h`, `2d`) and `RETENTION_DAYS` (a whole number
    /// of days); either absent means its default. The retention must be longer than the
    /// window: the rule cannot judge a retry of a notification it no longer has.
    pub fn from_values(window: Option<&str>, retention_days: Option<&str>) -> Result<Self, String> {
        let window = match window.map(str::trim).filter(|v| !v.is_empty()) {
            None => DEFAULT_WINDOW,
            Some(v) => parse_duration(v).map_err(|why| format!("DEDUP_WINDOW `{v}`: {why}"))?,
        };
        let days = match retention_days.map(str::trim).filter(|v| !v.is_empty()) {
            None => DEFAULT_RETENTION_DAYS,
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|d| (1..=3650).contains(d))
                .ok_or_else(|| {
                    format!("RETENTION_DAYS `{v}` is not a whole number of days from 1 to 3650")
                })?,
        };
        let retention = Duration::days(i64::from(days));
        if window <= Duration::ZERO {
            return Err("DEDUP_WINDOW must be longer than zero".to_owned());
        }
        if retention <= window {
            return Err(format!(
                "RETENTION_DAYS ({days} days) must be longer than DEDUP_WINDOW ({window})"
            ));
        }
        Ok(DeliverySettings { window, retention })
    }
}

/// `90s`, `45m`, `22h`, `2d`.
pub fn parse_duration(v: &str) -> Result<Duration, &'static str> {
    const SHAPE: &str = "write a whole number and a unit: 90s, 45m, 22h, 2d";
    if !v.is_ascii() || v.ends_with(|c: char| c.is_ascii_digit()) {
        return Err(SHAPE);
    }
    let (number, unit) = v.split_at(v.len().saturating_sub(1));
    let n: i64 = number.parse().map_err(|_| SHAPE)?;
    let d = match unit {
        "s" => Duration::seconds(n),
        "m" => Duration::minutes(n),
        "h" => Duration::hours(n),
        "d" => Duration::days(n),
        _ => return Err("the unit is s, m, h or d: 90s, 45m, 22h, 2d"),
    };
    Ok(d)
}

/// An entity's counters: the one place its order is kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntityHead {
    /// The sequence of the entity's latest stored notification (1, 2, 3, ...).
    pub last_sequence: u64,
    /// Every notification up to this sequence is forwarded (they are forwarded in order, so
    /// the forwarded ones are always a prefix).
    pub forwarded_sequence: u64,
    /// Stored notifications whose own delivery has not been answered 200 (yet), with their
    /// arrival: each is written here by the store that keeps it, in the same write, and
    /// cleared by the mark that precedes its 200. One still here when an identical delivery
    /// comes after other notifications may be owed its retry by the gateway
    /// ([`RepeatReason::PossibleRetry`]). Entries older than the window are dropped by the
    /// next store.
    pub unacked: BTreeMap<u64, OffsetDateTime>,
}

/// How a [`Previous`] notification was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreviousKind {
    /// With its place in the entity's sequence.
    Sequenced(u64),
    /// By a version before sequences: its marker says only whether it was forwarded.
    Legacy { forwarded: bool },
}

/// The latest stored notification with this delivery's content, as its de-duplication marker
/// says, whether or not it is still live (see [`Previous::is_live`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Previous {
    pub entity_key: String,
    pub kind: PreviousKind,
    /// Its first delivery's arrival.
    pub received_at: OffsetDateTime,
    /// When it is deleted (the retention period); `None` for legacy markers, kept for ever.
    pub expires_at: Option<OffsetDateTime>,
    /// What the store compares to make sure nothing changed the marker since it was read.
    pub version: String,
}

impl Previous {
    /// DynamoDB deletes expired items up to about two days late: an expired marker still
    /// present counts as absent.
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }

    pub fn sequence(&self) -> Option<u64> {
        match self.kind {
            PreviousKind::Sequenced(n) => Some(n),
            PreviousKind::Legacy { .. } => None,
        }
    }

    pub fn repeat_of(&self, reason: RepeatReason) -> RepeatOf {
        RepeatOf {
            sequence: self.sequence(),
            received_at: self.received_at,
            reason: Some(reason),
        }
    }
}

/// What the store holds that the rule needs, read in one round trip.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The entity's counters; `None` before its first notification.
    pub head: Option<EntityHead>,
    /// The latest notification with the same content, live or not.
    pub previous: Option<Previous>,
}

impl Snapshot {
    /// The sequence the next stored notification of the entity takes.
    pub fn next_sequence(&self) -> u64 {
        self.head.as_ref().map_or(0, |h| h.last_sequence) + 1
    }

    pub fn forwarded_sequence(&self) -> u64 {
        self.head.as_ref().map_or(0, |h| h.forwarded_sequence)
    }
}

/// An operator's request that a gateway deliver a period's notifications again (`recover
/// resend`), as the store keeps it until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResendRequest {
    pub id: String,
    /// Notifications that first arrived from `from`, until `until` (excluded), ...
    pub from: OffsetDateTime,
    pub until: OffsetDateTime,
    /// ... of this event only, if set ...
    pub event: Option<String>,
    /// ... of this entity only, if set (`invoice#<id>`).
    pub entity_key: Option<String>,
    /// Until when deliveries are taken as this request's.
    pub expires_at: OffsetDateTime,
}

impl ResendRequest {
    /// Whether the request covers a stored notification of `entity_key` and `event` that first
    /// arrived at `received_at`. A gateway delivers a notification of the last minutes of the
    /// period after its retries, so the period is stretched by the window.
    pub fn covers(
        &self,
        entity_key: &str,
        event: &str,
        received_at: OffsetDateTime,
        window: Duration,
    ) -> bool {
        self.from <= received_at
            && received_at < self.until + window
            && self.event.as_deref().is_none_or(|e| e == event)
            && self.entity_key.as_deref().is_none_or(|k| k == entity_key)
    }

    /// The entry that names stored notification `sequence` of `entity_key` for this request.
    pub fn entry(&self, entity_key: &str, sequence: u64, dedup_key: &str) -> ResendEntry {
        ResendEntry {
            request: self.id.clone(),
            entity_key: entity_key.to_owned(),
            sequence,
            dedup_key: dedup_key.to_owned(),
            expires_at: self.expires_at,
            used_by: None,
        }
    }
}

/// One stored notification an open resend request names: its delivery again is that
/// resend, once. `recover resend` records one per notification of the period (or invoice) it
/// asks the gateway to deliver again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResendEntry {
    /// The request ([`ResendRequest::id`]).
    pub request: String,
    pub entity_key: String,
    pub sequence: u64,
    /// The notification's content key.
    pub dedup_key: String,
    /// Until when a delivery may be this resend (the request's `expires_at`).
    pub expires_at: OffsetDateTime,
    /// The delivery that was taken for this resend, if one was: its id (a Lambda request id).
    pub used_by: Option<String>,
}

/// What a delivery is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing stored has this content: store it as the entity's next notification.
    New,
    /// The same content as an earlier notification, taken as a new occurrence: store it as
    /// the entity's next notification, with `repeat_of` (which says why).
    Repeat(RepeatOf),
    /// `Previous` delivered again by the gateway: nothing new to store.
    Retry(Previous),
    /// A stored notification delivered again because an operator asked for it: nothing new to
    /// store. `entry` names it (it need not be `previous`, the latest with this content).
    Resend {
        previous: Previous,
        entry: ResendEntry,
    },
}

/// The rule's first look, from the snapshot alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstLook {
    Decided(Verdict),
    /// A new occurrence of `previous` for `reason`, unless an open resend request names a
    /// stored notification with this content: ask [`judge_resend`] with the content's entries.
    UnlessResent {
        previous: Previous,
        reason: RepeatReason,
    },
}

/// Judges a delivery of `envelope` from what the store holds, at `now`.
pub fn judge(
    snapshot: &Snapshot,
    envelope: &Envelope,
    now: OffsetDateTime,
    settings: &DeliverySettings,
) -> FirstLook {
    let Some(previous) = snapshot.previous.as_ref().filter(|p| p.is_live(now)) else {
        return FirstLook::Decided(Verdict::New);
    };
    // Measured from its first arrival; a retry cannot come before it (but clocks of two
    // instances may differ by a little: that is within the window too).
    let within_window = now - previous.received_at <= settings.window;
    let same_entity = previous.entity_key == envelope.entity_key;
    let (latest, owed) = match (previous.kind, &snapshot.head) {
        // Stored before sequences and never forwarded: no consumer ever saw it. This delivery
        // stores it anew, in the entity's sequence, and forwards it once.
        (PreviousKind::Legacy { forwarded: false }, _) => {
            return FirstLook::Decided(Verdict::New);
        }
        // Before sequences, and nothing stored since (no head): it is the latest.
        (PreviousKind::Legacy { forwarded: true }, head) => (head.is_none(), false),
        (PreviousKind::Sequenced(n), Some(head)) if same_entity => {
            (head.last_sequence <= n, head.unacked.contains_key(&n))
        }
        // The entity rules changed between versions (another key for the same content):
        // judge it as the legacy case.
        (PreviousKind::Sequenced(_), head) => (head.is_none(), false),
    };
    // The only copy the rule is sure of: the same content again, nothing else in between, soon.
    if within_window && latest {
        return FirstLook::Decided(Verdict::Retry(previous.clone()));
    }
    let reason = if owed {
        RepeatReason::PossibleRetry
    } else if !latest {
        RepeatReason::AfterOther
    } else {
        RepeatReason::AfterWindow
    };
    FirstLook::UnlessResent {
        previous: previous.clone(),
        reason,
    }
}

/// The rule's second look, for [`FirstLook::UnlessResent`]: an open resend entry for this
/// entity and content, not yet used (or used by this very delivery, whose write is being
/// repeated), makes this delivery that resend; the lowest sequence first, so that a period's
/// notifications with the same content are each explained once, in order. Otherwise a new
/// occurrence, flagged.
pub fn judge_resend(
    previous: Previous,
    reason: RepeatReason,
    envelope: &Envelope,
    entries: &[ResendEntry],
    now: OffsetDateTime,
    delivery_id: &str,
) -> Verdict {
    let open: Vec<&ResendEntry> = entries
        .iter()
        .filter(|e| {
            e.expires_at > now
                && e.entity_key == envelope.entity_key
                && e.dedup_key == envelope.dedup_key
        })
        .collect();
    let mine = open
        .iter()
        .find(|e| e.used_by.as_deref() == Some(delivery_id));
    let free = open
        .iter()
        .filter(|e| e.used_by.is_none())
        .min_by_key(|e| (e.sequence, e.request.as_str()));
    if let Some(entry) = mine.or(free) {
        return Verdict::Resend {
            previous,
            entry: (*entry).clone(),
        };
    }
    let reason = match reason {
        RepeatReason::PossibleRetry => reason,
        _ if !open.is_empty() => RepeatReason::ResendUnmatched,
        _ => reason,
    };
    Verdict::Repeat(previous.repeat_of(reason))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-23 10:00 UTC);
    /// iugu's `event=subscription.suspended&data[id]=S1&data[account_id]=A`, as its parser
    /// gives it (the core knows no gateway: the envelope is written out).
    fn suspended() -> Envelope {
        use crate::envelope::{Data, Event, EventFamily, Provider};
        use crate::fields::{Fields, Node};
        let mut data = Fields::new();
        data.insert("account_id".to_owned(), Node::Text("A".to_owned()));
        data.insert("id".to_owned(), Node::Text("S1".to_owned()));
        Envelope {
            schema_version: crate::SCHEMA_VERSION,
            provider: Provider::from_static("iugu"),
            event: Event::from_static("subscription.suspended"),
            family: EventFamily::from_static("subscriptions"),
            entity_type: "subscription".to_owned(),
            entity_id: "S1".to_owned(),
            entity_key: "subscription#S1".to_owned(),
            account_id: Some("A".to_owned()),
            status: None,
            dedup_key: "5".repeat(64),
            sequence: None,
            repeat_of: None,
            received_at: T0,
            data: Data::Fields(data),
            extra: Fields::new(),
            gap: None,
        }
    }

    fn settings() -> DeliverySettings {
        DeliverySettings::default()
    }

    /// The entity has `last` notifications, `forwarded` of them forwarded; the previous one
    /// with this content is number `n`, first received at `at`.
    fn snapshot(last: u64, forwarded: u64, n: u64, at: OffsetDateTime) -> Snapshot {
        Snapshot {
            head: Some(EntityHead {
                last_sequence: last,
                forwarded_sequence: forwarded,
                unacked: BTreeMap::new(),
            }),
            previous: Some(Previous {
                entity_key: "subscription#S1".to_owned(),
                kind: PreviousKind::Sequenced(n),
                received_at: at,
                expires_at: Some(at + Duration::days(90)),
                version: format!("v{n}"),
            }),
        }
    }

    const ME: &str = "delivery-1";

    fn verdict(s: &Snapshot, now: OffsetDateTime, entries: &[ResendEntry]) -> Verdict {
        let env = suspended();
        match judge(s, &env, now, &settings()) {
            FirstLook::Decided(v) => v,
            FirstLook::UnlessResent { previous, reason } => {
                judge_resend(previous, reason, &env, entries, now, ME)
            }
        }
    }

    fn is_retry(v: &Verdict) -> bool {
        matches!(v, Verdict::Retry(_))
    }

    fn reason(v: &Verdict) -> Option<RepeatReason> {
        match v {
            Verdict::Repeat(of) => of.reason,
            _ => None,
        }
    }

    #[test]
    fn nothing_stored_is_new() {
        assert_eq!(verdict(&Snapshot::default(), T0, &[]), Verdict::New);
    }

    #[test]
    fn the_latest_again_within_the_window_is_a_retry_and_after_it_a_repeat() {
        for later in [
            Duration::seconds(1),
            Duration::minutes(10),
            Duration::hours(20),
        ] {
            let v = verdict(&snapshot(1, 1, 1, T0), T0 + later, &[]);
            assert!(is_retry(&v), "{later}: {v:?}");
        }
        let v = verdict(&snapshot(1, 1, 1, T0), T0 + Duration::days(30), &[]);
        assert_eq!(
            v,
            Verdict::Repeat(RepeatOf {
                sequence: Some(1),
                received_at: T0,
                reason: Some(RepeatReason::AfterWindow),
            })
        );
    }

    #[test]
    fn the_same_content_after_other_notifications_is_a_new_occurrence() {
        // suspended (1), activated (2), suspended again minutes later.
        let v = verdict(&snapshot(2, 2, 1, T0), T0 + Duration::minutes(5), &[]);
        assert!(matches!(&v, Verdict::Repeat(r) if r.sequence == Some(1)));
        assert_eq!(reason(&v), Some(RepeatReason::AfterOther));
    }

    #[test]
    fn an_owed_notification_makes_a_retry_only_while_it_is_the_latest() {
        let owed = |mut s: Snapshot| {
            if let Some(head) = s.head.as_mut() {
                head.unacked.insert(1, T0);
            }
            s
        };
        // X stored, answered 503 (owed); X again, nothing in between: the retry.
        assert!(is_retry(&verdict(
            &owed(snapshot(1, 1, 1, T0)),
            T0 + Duration::minutes(5),
            &[]
        )));
        // X owed; Y arrived since; X again: the gateway's retry, or X happening again. Forwarded,
        // flagged as a possible retry, within the window or after it.
        for later in [Duration::minutes(5), Duration::days(2)] {
            let v = verdict(&owed(snapshot(2, 2, 1, T0)), T0 + later, &[]);
            assert_eq!(reason(&v), Some(RepeatReason::PossibleRetry), "{later}");
        }
        // Owed and the latest, after the window: possible retry too.
        let v = verdict(&owed(snapshot(1, 1, 1, T0)), T0 + Duration::days(2), &[]);
        assert_eq!(reason(&v), Some(RepeatReason::PossibleRetry));
    }

    fn entry(request: &str, sequence: u64) -> ResendEntry {
        ResendEntry {
            request: request.to_owned(),
            entity_key: "subscription#S1".to_owned(),
            sequence,
            dedup_key: "5".repeat(64),
            expires_at: T0 + Duration::days(3),
            used_by: None,
        }
    }

    fn resent(v: &Verdict) -> Option<u64> {
        match v {
            Verdict::Resend { entry, .. } => Some(entry.sequence),
            _ => None,
        }
    }

    #[test]
    fn a_resend_entry_explains_one_delivery_of_the_notification_it_names() {
        let now = T0 + Duration::days(2);
        // Suspended (1), activated (2), suspended (3): the marker points at 3.
        let s = snapshot(3, 3, 3, T0);
        let mut entries = vec![entry("r1", 3), entry("r1", 1)];
        // The first delivery of that content is the resend of number 1 (the lowest) ...
        assert_eq!(resent(&verdict(&s, now, &entries)), Some(1));
        entries[1].used_by = Some("another".to_owned());
        // ... the second the resend of number 3 ...
        assert_eq!(resent(&verdict(&s, now, &entries)), Some(3));
        entries[0].used_by = Some("another-2".to_owned());
        // ... and a third is a new occurrence, flagged: the resend matched nothing left.
        let v = verdict(&s, now, &entries);
        assert_eq!(reason(&v), Some(RepeatReason::ResendUnmatched));
    }

    #[test]
    fn an_entry_this_delivery_used_is_its_own_again() {
        // The write that used it committed, but its answer was lost: the delivery judges again.
        let now = T0 + Duration::days(2);
        let mut e = entry("r1", 1);
        e.used_by = Some(ME.to_owned());
        assert_eq!(resent(&verdict(&snapshot(2, 2, 1, T0), now, &[e])), Some(1));
    }

    #[test]
    fn a_resend_of_an_older_notification_is_not_taken_for_a_newer_one() {
        // October's renewal (1) resent while November's (2) is the latest with that content.
        let now = T0 + Duration::days(40);
        let s = snapshot(2, 2, 2, T0 + Duration::days(30));
        let mut e = entry("r1", 1);
        e.expires_at = now + Duration::days(1);
        assert_eq!(resent(&verdict(&s, now, &[e])), Some(1));
    }

    #[test]
    fn entries_that_do_not_fit_change_nothing() {
        let now = T0 + Duration::days(2);
        let s = snapshot(2, 2, 1, T0);
        let expired = ResendEntry {
            expires_at: now,
            ..entry("r1", 1)
        };
        let other_entity = ResendEntry {
            entity_key: "subscription#S2".to_owned(),
            ..entry("r2", 1)
        };
        let other_content = ResendEntry {
            dedup_key: "6".repeat(64),
            ..entry("r3", 1)
        };
        for e in [expired, other_entity, other_content] {
            let v = verdict(&s, now, std::slice::from_ref(&e));
            assert_eq!(reason(&v), Some(RepeatReason::AfterOther), "{e:?}");
        }
    }

    #[test]
    fn a_possible_retry_stays_one_when_a_resend_is_used_up() {
        let now = T0 + Duration::days(2);
        let mut s = snapshot(2, 2, 1, T0);
        if let Some(head) = s.head.as_mut() {
            head.unacked.insert(1, T0);
        }
        let mut e = entry("r1", 1);
        e.used_by = Some("another".to_owned());
        assert_eq!(
            reason(&verdict(&s, now, &[e])),
            Some(RepeatReason::PossibleRetry)
        );
    }

    #[test]
    fn a_request_covers_its_period_stretched_by_the_window_its_event_and_entity() {
        let request = ResendRequest {
            id: "r1".to_owned(),
            from: T0,
            until: T0 + Duration::days(1),
            event: Some("subscription.suspended".to_owned()),
            entity_key: None,
            expires_at: T0 + Duration::days(3),
        };
        let w = settings().window;
        let covers = |key: &str, event: &str, at| request.covers(key, event, at, w);
        assert!(covers("subscription#S1", "subscription.suspended", T0));
        // First delivered 2 hours after the period's end (the gateway's retries): still its.
        assert!(covers(
            "subscription#S1",
            "subscription.suspended",
            T0 + Duration::hours(26)
        ));
        assert!(!covers(
            "subscription#S1",
            "subscription.suspended",
            T0 - Duration::seconds(1)
        ));
        assert!(!covers(
            "subscription#S1",
            "subscription.suspended",
            T0 + Duration::days(1) + w
        ));
        assert!(!covers("subscription#S1", "subscription.activated", T0));
        let one = ResendRequest {
            entity_key: Some("subscription#S2".to_owned()),
            ..request.clone()
        };
        assert!(!one.covers("subscription#S1", "subscription.suspended", T0, w));
        let e = request.entry("subscription#S1", 4, "k");
        assert_eq!(
            (e.request.as_str(), e.sequence, e.expires_at, e.used_by),
            ("r1", 4, request.expires_at, None)
        );
    }

    #[test]
    fn an_expired_marker_still_present_counts_as_absent() {
        let mut s = snapshot(1, 1, 1, T0);
        if let Some(p) = s.previous.as_mut() {
            p.expires_at = Some(T0 + Duration::days(90));
        }
        assert!(is_retry(&verdict(&s, T0 + Duration::hours(1), &[])));
        assert_eq!(
            verdict(&s, T0 + Duration::days(90), &[]),
            Verdict::New,
            "at expires_at it is gone, whether or not DynamoDB deleted it yet"
        );
    }

    fn legacy(forwarded: bool) -> Snapshot {
        Snapshot {
            head: None,
            previous: Some(Previous {
                entity_key: "subscription#S1".to_owned(),
                kind: PreviousKind::Legacy { forwarded },
                received_at: T0,
                expires_at: None,
                version: "legacy".to_owned(),
            }),
        }
    }

    #[test]
    fn legacy_markers_keep_their_old_meaning_within_the_window() {
        // Forwarded by the old version, nothing since: a retry within the window.
        assert!(is_retry(&verdict(
            &legacy(true),
            T0 + Duration::hours(1),
            &[]
        )));
        // After the window: a new occurrence, flagged, with no sequence to point at.
        assert_eq!(
            verdict(&legacy(true), T0 + Duration::days(30), &[]),
            Verdict::Repeat(RepeatOf {
                sequence: None,
                received_at: T0,
                reason: Some(RepeatReason::AfterWindow),
            })
        );
        // Something stored since by this version: not the latest any more.
        let mut since = legacy(true);
        since.head = Some(EntityHead {
            last_sequence: 1,
            forwarded_sequence: 1,
            unacked: BTreeMap::new(),
        });
        assert_eq!(
            reason(&verdict(&since, T0 + Duration::hours(1), &[])),
            Some(RepeatReason::AfterOther)
        );
        // Stored by the old version but never forwarded: no consumer saw it; store it anew.
        assert_eq!(
            verdict(&legacy(false), T0 + Duration::hours(1), &[]),
            Verdict::New
        );
    }

    #[test]
    fn settings_are_read_and_checked() {
        let s = DeliverySettings::from_values(None, None).expect("defaults");
        assert_eq!(s, DeliverySettings::default());
        let s = DeliverySettings::from_values(Some("90s"), Some("1")).expect("valid");
        assert_eq!(
            (s.window, s.retention),
            (Duration::seconds(90), Duration::days(1))
        );
        assert_eq!(
            DeliverySettings::from_values(Some("2d"), Some("7"))
                .expect("valid")
                .window,
            Duration::days(2)
        );
        for (window, days, why) in [
            (
                Some("22"),
                None,
                "DEDUP_WINDOW `22`: write a whole number and a unit",
            ),
            (
                Some("22w"),
                None,
                "DEDUP_WINDOW `22w`: the unit is s, m, h or d",
            ),
            (Some("0h"), None, "DEDUP_WINDOW must be longer than zero"),
            (None, Some("0"), "RETENTION_DAYS `0` is not a whole number"),
            (
                None,
                Some("ninety"),
                "RETENTION_DAYS `ninety` is not a whole number",
            ),
            (
                Some("2d"),
                Some("2"),
                "RETENTION_DAYS (2 days) must be longer than DEDUP_WINDOW",
            ),
        ] {
            let err = DeliverySettings::from_values(window, days).expect_err(why);
            assert!(err.starts_with(why), "{err}");
        }
    }
}
