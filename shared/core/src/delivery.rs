//! The de-duplication rule: is this delivery a notification we already have (a gateway retry,
//! an operator's resend) or a new one, perhaps with the same content as an earlier one (a
//! subscription suspended again, renewed again a month later)?
//!
//! Neither gateway sends a delivery id, so the content hash ([`crate::canonical`], `iugu::dedup`, `ipag::dedup`) cannot decide
//! alone. The rule looks at the entity's history as the store keeps it ([`Snapshot`]): the
//! entity's counters ([`EntityHead`]) and the latest stored notification with the same content
//! ([`Previous`]), and at the time.
//!
//! | what the store has | verdict |
//! |---|---|
//! | nothing with this content (or only past the retention period) | [`Verdict::New`] |
//! | the same content, as the entity's latest notification, within the window | [`Verdict::Retry`]: a gateway retry |
//! | the same content, whose own delivery was never answered 200, within the window | [`Verdict::Retry`]: the gateway still owes us that retry, whatever came since |
//! | the same content, and an operator asked the gateway to resend a period (or entity) that holds it, and this request has not yet been used for it | [`Verdict::Resend`] |
//! | the same content otherwise (other notifications came since, or it is older than the window) | [`Verdict::Repeat`]: a new occurrence, stored and forwarded with `repeat_of` |
//!
//! The window ([`DeliverySettings::window`], `DEDUP_WINDOW`) bounds how long a retry is
//! believed. Where the rule cannot be sure (a repeat after the window, a real second
//! `invoice.payment_failed` while a resend is open), it forwards the notification flagged with
//! `repeat_of` rather than drop it: nothing lost beats nothing doubled, and the consumer is told.
//! A resend request is used at most once per notification, so of two identical deliveries while
//! it is open (the resend, and a real new occurrence) one is forwarded, flagged.

use std::collections::BTreeMap;

use time::{Duration, OffsetDateTime};

use crate::envelope::{Envelope, RepeatOf};

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
    /// Stored notifications whose own delivery has not been answered 200 yet (it failed
    /// after the store), with their arrival: the gateway still owes us their retry.
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
    /// The resend requests already taken to explain a delivery of it.
    pub resends_used: Vec<String>,
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

    pub fn repeat_of(&self) -> RepeatOf {
        RepeatOf {
            sequence: self.sequence(),
            received_at: self.received_at,
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
    /// Whether a delivery of `envelope`, whose content is `previous`'s, may be this request's
    /// resend. A gateway delivers a notification of the last minutes of the period after
    /// its retries, so the period is stretched by the window.
    fn covers(
        &self,
        previous: &Previous,
        envelope: &Envelope,
        now: OffsetDateTime,
        window: Duration,
    ) -> bool {
        now < self.expires_at
            && self.from <= previous.received_at
            && previous.received_at < self.until + window
            && self
                .event
                .as_deref()
                .is_none_or(|e| e == envelope.event.as_str())
            && self
                .entity_key
                .as_deref()
                .is_none_or(|k| k == envelope.entity_key)
            && !previous.resends_used.contains(&self.id)
    }
}

/// What a delivery is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing stored has this content: store it as the entity's next notification.
    New,
    /// The same content as an earlier notification, taken as a new occurrence: store it as
    /// the entity's next notification, with `repeat_of`.
    Repeat(RepeatOf),
    /// `Previous` delivered again by the gateway: nothing new to store.
    Retry(Previous),
    /// `Previous` delivered again because an operator asked for it (`request` is the
    /// [`ResendRequest::id`]): nothing new to store.
    Resend { previous: Previous, request: String },
}

/// The rule's first look, from the snapshot alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstLook {
    Decided(Verdict),
    /// A new occurrence of `Previous`, unless an open resend request covers it: ask
    /// [`judge_resend`] with the provider's open requests.
    UnlessResent(Previous),
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
    if within_window && (latest || owed) {
        return FirstLook::Decided(Verdict::Retry(previous.clone()));
    }
    FirstLook::UnlessResent(previous.clone())
}

/// The rule's second look, for [`FirstLook::UnlessResent`]: an open resend request that covers
/// `previous` and was not yet used for it makes this delivery that resend; otherwise it is a
/// new occurrence.
pub fn judge_resend(
    previous: Previous,
    envelope: &Envelope,
    open_requests: &[ResendRequest],
    now: OffsetDateTime,
    settings: &DeliverySettings,
) -> Verdict {
    match open_requests
        .iter()
        .find(|r| r.covers(&previous, envelope, now, settings.window))
    {
        Some(request) => Verdict::Resend {
            request: request.id.clone(),
            previous,
        },
        None => Verdict::Repeat(previous.repeat_of()),
    }
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
                resends_used: Vec::new(),
                version: format!("v{n}"),
            }),
        }
    }

    fn verdict(s: &Snapshot, now: OffsetDateTime, open: &[ResendRequest]) -> Verdict {
        let env = suspended();
        match judge(s, &env, now, &settings()) {
            FirstLook::Decided(v) => v,
            FirstLook::UnlessResent(p) => judge_resend(p, &env, open, now, &settings()),
        }
    }

    fn is_retry(v: &Verdict) -> bool {
        matches!(v, Verdict::Retry(_))
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
                received_at: T0
            })
        );
    }

    #[test]
    fn the_same_content_after_other_notifications_is_a_new_occurrence() {
        // suspended (1), activated (2), suspended again minutes later.
        let v = verdict(&snapshot(2, 2, 1, T0), T0 + Duration::minutes(5), &[]);
        assert!(matches!(v, Verdict::Repeat(r) if r.sequence == Some(1)));
    }

    #[test]
    fn a_notification_whose_own_delivery_failed_is_still_owed_a_retry() {
        // X stored but answered 503 (1, unacked); Y arrived and forwarded both (2); X again.
        let mut s = snapshot(2, 2, 1, T0);
        if let Some(head) = s.head.as_mut() {
            head.unacked.insert(1, T0);
        }
        assert!(is_retry(&verdict(&s, T0 + Duration::minutes(5), &[])));
        // ... but not for ever: after the window it is a new occurrence, flagged.
        let v = verdict(&s, T0 + Duration::days(2), &[]);
        assert!(matches!(v, Verdict::Repeat(_)), "{v:?}");
    }

    fn resend(id: &str, from: OffsetDateTime, until: OffsetDateTime) -> ResendRequest {
        ResendRequest {
            id: id.to_owned(),
            from,
            until,
            event: None,
            entity_key: None,
            expires_at: until + Duration::days(3),
        }
    }

    #[test]
    fn an_open_resend_covering_it_makes_it_a_resend_once() {
        let now = T0 + Duration::days(2);
        let open = [resend(
            "r1",
            T0 - Duration::hours(1),
            T0 + Duration::hours(1),
        )];
        let s = snapshot(2, 2, 1, T0);
        assert!(matches!(
            verdict(&s, now, &open),
            Verdict::Resend { request, .. } if request == "r1"
        ));
        // Used once for this notification: the next identical delivery is a new occurrence.
        let mut used = s.clone();
        if let Some(p) = used.previous.as_mut() {
            p.resends_used.push("r1".to_owned());
        }
        assert!(matches!(verdict(&used, now, &open), Verdict::Repeat(_)));
    }

    #[test]
    fn a_resend_that_does_not_cover_it_changes_nothing() {
        let now = T0 + Duration::days(2);
        let s = snapshot(2, 2, 1, T0);
        let later_period = resend("r1", T0 + Duration::days(1), T0 + Duration::days(2));
        let expired = ResendRequest {
            expires_at: now,
            ..resend("r2", T0 - Duration::days(1), T0 + Duration::days(1))
        };
        let other_event = ResendRequest {
            event: Some("invoice.status_changed".to_owned()),
            ..resend("r3", T0 - Duration::days(1), T0 + Duration::days(1))
        };
        let other_entity = ResendRequest {
            entity_key: Some("subscription#S2".to_owned()),
            ..resend("r4", T0 - Duration::days(1), T0 + Duration::days(1))
        };
        for request in [later_period, expired, other_event, other_entity] {
            let v = verdict(&s, now, std::slice::from_ref(&request));
            assert!(matches!(v, Verdict::Repeat(_)), "{}: {v:?}", request.id);
        }
    }

    #[test]
    fn the_period_of_a_resend_is_stretched_by_the_window() {
        // First delivered 2 hours after the period's end (the gateway's retries): still its.
        let s = snapshot(2, 2, 1, T0 + Duration::hours(2));
        let open = [resend("r1", T0 - Duration::days(1), T0)];
        assert!(matches!(
            verdict(&s, T0 + Duration::days(2), &open),
            Verdict::Resend { .. }
        ));
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
                resends_used: Vec::new(),
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
                received_at: T0
            })
        );
        // Something stored since by this version: not the latest any more.
        let mut since = legacy(true);
        since.head = Some(EntityHead {
            last_sequence: 1,
            forwarded_sequence: 1,
            unacked: BTreeMap::new(),
        });
        assert!(matches!(
            verdict(&since, T0 + Duration::hours(1), &[]),
            Verdict::Repeat(_)
        ));
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
