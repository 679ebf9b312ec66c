//! The events table: every key, attribute name and item shape, in one place. The functions'
//! store ([`super::DynamoStore`]), `recover` and the tests all read and write through this
//! module; `template.yaml` declares the same keys and indexes (a test compares them).
//!
//! String keys `pk` (hash) and `sk` (range). Four kinds of item (`kind`):
//!
//! | kind | pk | sk | holds |
//! |---|---|---|---|
//! | `event` | `<entity_type>#<entity_id>` | `seq#<sequence, 20 digits>` | one notification: the envelope's fields but `data` and `extra` (its gateway rebuilds both from `raw_body`, the one copy of the body), `raw_body`, `sequence`, `repeat_of_*` (`repeat_of_reason` included), `arrival_day` (`<YYYY-MM-DD>#<shard>`: the `by_arrival` index's partition, [`arrival_key`]), `expires_at`; once set aside, `aside_reason`, `aside_detail`, `aside_at` |
//! | `head` | `<entity_type>#<entity_id>` | `head` | the entity's counters: `last_sequence`, `forwarded_sequence`, `forwarded_at`, `unacked` (sequence → arrival, for each notification whose delivery is not answered 200 yet); heads written by the version before this one may also hold `pending_since` and `sweep_shard` (that version's `by_pending` index) until the sweeper clears them |
//! | `dedup` | `dedup#<dedup_key>` | `dedup` | the latest notification with that content: `event_pk`, `event_sk`, `sequence`, `received_at`, `expires_at` |
//! | `resend` | `resend#<provider>` | `<requested_at>#<id>` | an operator's resend request (`recover resend`): `from`, `until`, `event`, `entity_key`, `expires_at`, `entries` (how many notifications it names) |
//! | `resend_entry` | `resend#<dedup_key>` | `<request id>#<entity_key>#<sequence, 20 digits>` | one stored notification a resend request names: `id` (the request), `entity_key`, `sequence`, `dedup_key`, `expires_at`; once a delivery is taken for it, `used_by` (that delivery's id) and `used_at` |
//! | `aside` | `aside` | `<entity_key>#<sequence, 20 digits>` | a pointer to a notification set aside: `entity_key`, `sequence`, `aside_reason`, `aside_detail`, `expires_at` (what `recover aside` lists) |
//! | `sweeper` | `sweeper` | `arrivals` | what the sweeper's last run left ([`webhook_core::sweep::SweepState`]): `state` (JSON: the look's cursor, the runs, the entities known to wait, the spans to count again, the stretches to look at again) |
//! | `sweeper` | `sweeper` | `cursor` | the previous version's sweeper cursor: no longer written or read |
//! | `quarantine` | `quarantine#<YYYY-MM-DD>` | `<body SHA-256>` | a refused authenticated request (`quarantine`): `provider`, `path`, `method`, `error`, `message`, `headers`, `body` (bytes, at most the gateway's body limit), `body_size`, `truncated`, `first_seen`, `last_seen`, `deliveries`, `expires_at`; `resolved_at`, `resolution` once retried |
//! | `quarantine` | `quarantine#<YYYY-MM-DD>` | `count#<provider>` | the day's counter for one gateway: `items` (new items kept, at most `MAX_ITEMS_PER_DAY`), `over_cap` (requests counted and not kept past it), `expires_at` |
//!
//! A `Query` on an entity's `pk` returns its head and its notifications in `sequence` order.
//! An entity's notifications are forwarded in order, so "forwarded" is a prefix: a
//! notification is forwarded when its `sequence` is at most its head's `forwarded_sequence`
//! (no per-item mark, which would rewrite the whole item, raw body included).
//!
//! `expires_at` (epoch seconds, DynamoDB's TTL attribute) is arrival + `RETENTION_DAYS` on
//! event items and on the markers that point at them. DynamoDB deletes expired items up to
//! about two days late, so readers treat an item past its `expires_at` as absent. Heads never
//! expire: they hold no personal data, and an entity's sequence must never start again at 1.
//!
//! **Items of the version before sequences** ("legacy") stay readable: event items with
//! `sk = <received_at>#<dedup_key>`, `received_day` and `forwarded_at`, no `sequence` and no
//! `expires_at`; markers with `received_at` and `forwarded_at`. [`webhook_core::delivery`] says what
//! the rule makes of a legacy marker; `recover` reads legacy events by `pk`, and by day through
//! the legacy `by_received_day` index, which no new item enters.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use webhook_core::delivery::{EntityHead, Previous, PreviousKind, ResendEntry, ResendRequest};
use webhook_core::envelope::{Envelope, Gap, GapReason, RepeatOf, RepeatReason};
use webhook_core::stored::StoredNotification;

/// One item, as the SDK reads and writes it.
pub type Item = HashMap<String, AttributeValue>;

/// Attribute names.
pub mod attr {
    pub const PK: &str = "pk";
    pub const SK: &str = "sk";
    pub const KIND: &str = "kind";
    // event items
    pub const PROVIDER: &str = "provider";
    pub const EVENT: &str = "event";
    pub const FAMILY: &str = "family";
    pub const ENTITY_TYPE: &str = "entity_type";
    pub const ENTITY_ID: &str = "entity_id";
    pub const ACCOUNT_ID: &str = "account_id";
    pub const STATUS: &str = "status";
    pub const RECEIVED_AT: &str = "received_at";
    pub const ARRIVAL_DAY: &str = "arrival_day";
    pub const DEDUP_KEY: &str = "dedup_key";
    pub const SEQUENCE: &str = "sequence";
    pub const REPEAT_OF_SEQUENCE: &str = "repeat_of_sequence";
    pub const REPEAT_OF_RECEIVED_AT: &str = "repeat_of_received_at";
    pub const RAW_BODY: &str = "raw_body";
    pub const EXPIRES_AT: &str = "expires_at";
    // head items
    pub const LAST_SEQUENCE: &str = "last_sequence";
    pub const FORWARDED_SEQUENCE: &str = "forwarded_sequence";
    pub const FORWARDED_AT: &str = "forwarded_at";
    pub const UNACKED: &str = "unacked";
    // dedup markers
    pub const EVENT_PK: &str = "event_pk";
    pub const EVENT_SK: &str = "event_sk";
    // notifications set aside
    pub const REPEAT_OF_REASON: &str = "repeat_of_reason";
    pub const ASIDE_REASON: &str = "aside_reason";
    pub const ASIDE_DETAIL: &str = "aside_detail";
    pub const ASIDE_AT: &str = "aside_at";
    // resend entries
    pub const USED_BY: &str = "used_by";
    pub const USED_AT: &str = "used_at";
    pub const ENTRIES: &str = "entries";
    // resend requests
    pub const ID: &str = "id";
    pub const FROM: &str = "from";
    pub const UNTIL: &str = "until";
    pub const ENTITY_KEY: &str = "entity_key";
    pub const REQUESTED_AT: &str = "requested_at";
    // legacy event items
    pub const RECEIVED_DAY: &str = "received_day";
    // heads of the previous version (its `by_pending` index), and the sweeper's state
    pub const PENDING_SINCE: &str = "pending_since";
    pub const SWEEP_SHARD: &str = "sweep_shard";
    pub const STATE: &str = "state";
    // quarantined requests
    pub const PATH: &str = "path";
    pub const METHOD: &str = "method";
    pub const ERROR: &str = "error";
    pub const MESSAGE: &str = "message";
    pub const HEADERS: &str = "headers";
    pub const BODY: &str = "body";
    pub const BODY_SIZE: &str = "body_size";
    pub const TRUNCATED: &str = "truncated";
    pub const FIRST_SEEN: &str = "first_seen";
    pub const LAST_SEEN: &str = "last_seen";
    pub const DELIVERIES: &str = "deliveries";
    pub const RESOLVED_AT: &str = "resolved_at";
    pub const RESOLUTION: &str = "resolution";
    // a quarantine day's counter per gateway
    pub const ITEMS: &str = "items";
    pub const OVER_CAP: &str = "over_cap";
}

/// Values of `kind`.
pub mod kind {
    pub const EVENT: &str = "event";
    pub const HEAD: &str = "head";
    pub const DEDUP: &str = "dedup";
    pub const RESEND: &str = "resend";
    pub const RESEND_ENTRY: &str = "resend_entry";
    pub const ASIDE: &str = "aside";
    pub const SWEEPER: &str = "sweeper";
    pub const QUARANTINE: &str = "quarantine";
}

/// The index of arrivals: hash `arrival_day`, range `received_at`, keys only. The sweeper
/// finds what waits through it and `recover replay --since` a period's notifications
/// (template.yaml says why). Its partition key is `<YYYY-MM-DD>#<shard>` ([`arrival_key`]);
/// items stored before shards have the day alone.
pub const ARRIVAL_INDEX: &str = "by_arrival";
/// How many partitions of [`ARRIVAL_INDEX`] a day's arrivals are spread over: one partition
/// key takes about 1,000 writes a second
/// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput-scenarios.html),
/// so 8 take about 8,000 notifications a second (docs/capacity.md). Raise it for more;
/// never lower it (the readers ask `0..ARRIVAL_SHARDS`, and entries in a higher shard would
/// no longer be found).
pub const ARRIVAL_SHARDS: u32 = 8;
/// The legacy items' day index (hash `received_day`, range `sk`); no new item enters it.
pub const LEGACY_DAY_INDEX: &str = "by_received_day";
/// What the legacy index projects besides its keys.
pub const LEGACY_DAY_INDEX_ATTRIBUTES: [&str; 5] = [
    attr::PROVIDER,
    attr::EVENT,
    attr::RECEIVED_AT,
    attr::DEDUP_KEY,
    attr::RAW_BODY,
];

/// The previous version's sweeper index: heads with a notification stored and not yet
/// forwarded carried its keys (`sweep_shard`, `pending_since`). Nothing enters it any more;
/// while a table still has it (the upgrade's first step, docs/deploy.md), the sweeper sweeps
/// and clears what it lists.
pub const PENDING_INDEX: &str = "by_pending";
/// How many `sweep_shard` values (`pending#0` ...) spread it.
pub const SWEEP_SHARDS: u32 = 8;

/// The shard (`0..shards`) of an entity: stable, spread by the key's bytes.
pub fn shard_of(entity_key: &str, shards: u32) -> u32 {
    // FNV-1a: tiny, stable across builds and platforms.
    let hash = entity_key.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    hash % shards.max(1)
}

/// The `by_arrival` partition of a notification of `entity_key` that arrived at `at`: its UTC
/// day and its entity's shard, `2026-11-20#3`. Every notification of an entity goes to one
/// shard; the day's entities spread over [`ARRIVAL_SHARDS`].
pub fn arrival_key(entity_key: &str, at: OffsetDateTime) -> String {
    format!("{}#{}", day_of(at), shard_of(entity_key, ARRIVAL_SHARDS))
}

/// Every `by_arrival` partition of `day` (`YYYY-MM-DD`): its shards, then the day alone
/// (notifications stored before shards).
pub fn arrival_partitions(day: &str) -> Vec<String> {
    (0..ARRIVAL_SHARDS)
        .map(|shard| format!("{day}#{shard}"))
        .chain(std::iter::once(day.to_owned()))
        .collect()
}

/// The `pk` of the requests quarantined on `day` (`YYYY-MM-DD`, UTC).
pub fn quarantine_pk(day: &str) -> String {
    format!("quarantine#{day}")
}

/// The `sk` of a gateway's counter in a quarantine day (`pk` [`quarantine_pk`]): `items`, the
/// new items kept that day, and `over_cap`, the requests counted and not kept past
/// `webhook_core::quarantine::MAX_ITEMS_PER_DAY`. Body items' keys are hex digests, so no body
/// is ever at this key.
pub fn quarantine_count_sk(provider: &str) -> String {
    format!("{QUARANTINE_COUNT_PREFIX}{provider}")
}

/// What every quarantine counter's `sk` starts with.
pub const QUARANTINE_COUNT_PREFIX: &str = "count#";

/// The key of the sweeper's items: its state (`arrivals`), and the previous version's cursor.
pub const SWEEPER_PK: &str = "sweeper";
pub const SWEEP_STATE_SK: &str = "arrivals";
pub const CURSOR_SK: &str = "cursor";

pub const HEAD_SK: &str = "head";
pub const MARKER_SK: &str = "dedup";

/// The `pk` of the marker for content `dedup_key` (the same key as before sequences).
pub fn marker_pk(dedup_key: &str) -> String {
    format!("dedup#{dedup_key}")
}

/// The `sk` of an entity's notification number `sequence`: fixed width, so string order is
/// sequence order.
pub fn event_sk(sequence: u64) -> String {
    format!("seq#{sequence:020}")
}

/// The `pk` under which a provider's resend requests are kept.
pub fn resend_pk(provider: &str) -> String {
    format!("resend#{provider}")
}

/// The `pk` under which the resend entries for content `dedup_key` are kept (one `Query` finds
/// them all; a content key is 64 hex digits, never a provider's name).
pub fn resend_entry_pk(dedup_key: &str) -> String {
    format!("resend#{dedup_key}")
}

/// The `sk` of the resend entry of request `request` for notification `sequence` of
/// `entity_key`.
pub fn resend_entry_sk(request: &str, entity_key: &str, sequence: u64) -> String {
    format!("{request}#{entity_key}#{sequence:020}")
}

/// The `pk` of the pointers to notifications set aside.
pub const ASIDE_PK: &str = "aside";

/// Arrival times in items: RFC 3339, UTC, microseconds, always the same width, so that string
/// order is time order.
const TIME_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
);

pub fn format_time(t: OffsetDateTime) -> String {
    let utc = t.to_offset(time::UtcOffset::UTC);
    // Formatting a UTC time with this fixed description cannot fail; fall back to RFC 3339.
    utc.format(TIME_FORMAT)
        .or_else(|_| utc.format(&Rfc3339))
        .unwrap_or_default()
}

/// `YYYY-MM-DD` of `t` in UTC: an `arrival_day`.
pub fn day_of(t: OffsetDateTime) -> String {
    let formatted = format_time(t);
    formatted.get(..10).unwrap_or(&formatted).to_owned()
}

/// Epoch seconds, as DynamoDB's TTL wants them.
fn epoch(t: OffsetDateTime) -> AttributeValue {
    AttributeValue::N(t.unix_timestamp().to_string())
}

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A string attribute, if the item has one.
pub fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.as_str()),
        _ => None,
    }
}

/// A whole-number attribute, if the item has one.
pub fn number(item: &Item, name: &str) -> Option<u64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

fn time_attr(item: &Item, name: &str) -> Result<Option<OffsetDateTime>, String> {
    match item.get(name) {
        None => Ok(None),
        Some(AttributeValue::S(v)) => OffsetDateTime::parse(v, &Rfc3339)
            .map(Some)
            .map_err(|e| format!("`{name}` is not an RFC 3339 time: {e}")),
        Some(_) => Err(format!("`{name}` is not a string")),
    }
}

fn epoch_attr(item: &Item, name: &str) -> Result<Option<OffsetDateTime>, String> {
    match item.get(name) {
        None => Ok(None),
        Some(AttributeValue::N(v)) => v
            .parse::<i64>()
            .ok()
            .and_then(|secs| OffsetDateTime::from_unix_timestamp(secs).ok())
            .map(Some)
            .ok_or_else(|| format!("`{name}` is not epoch seconds")),
        Some(_) => Err(format!("`{name}` is not a number")),
    }
}

fn required<'a>(item: &'a Item, name: &str) -> Result<&'a str, String> {
    text(item, name).ok_or_else(|| format!("it has no `{name}`"))
}

/// Whether `item` is past its `expires_at` at `now` (deleted, whether or not DynamoDB has yet).
pub fn is_expired(item: &Item, now: OffsetDateTime) -> bool {
    matches!(epoch_attr(item, attr::EXPIRES_AT), Ok(Some(at)) if at <= now)
}

/// Whether `item` is a notification (new or legacy).
pub fn is_event(item: &Item) -> bool {
    text(item, attr::KIND) == Some(kind::EVENT)
}

// --- event items -------------------------------------------------------------------------

/// The item of a new notification: `envelope` with its sequence set. Its `data` and `extra`
/// are not written: they are what the gateway's parser makes of `raw_body`, which every reader
/// parses again ([`stored_notification`], then `StoredNotification::envelope`), and a second
/// copy of the body in DynamoDB types more than doubled the item (every started KiB is a write
/// unit, twice in the store's transaction; bench/README.md, "Items under the next 1 KB step").
pub fn event_item(envelope: &Envelope, raw_body: &str, expires_at: OffsetDateTime) -> Item {
    let sequence = envelope.sequence.unwrap_or_default();
    let received_at = envelope.received_at;
    let mut item = HashMap::from([
        (attr::PK.to_owned(), s(envelope.entity_key.as_str())),
        (attr::SK.to_owned(), s(event_sk(sequence))),
        (attr::KIND.to_owned(), s(kind::EVENT)),
        (attr::PROVIDER.to_owned(), s(envelope.provider.as_str())),
        (attr::EVENT.to_owned(), s(envelope.event.as_str())),
        (attr::FAMILY.to_owned(), s(envelope.family.as_str())),
        (
            attr::ENTITY_TYPE.to_owned(),
            s(envelope.entity_type.as_str()),
        ),
        (attr::ENTITY_ID.to_owned(), s(envelope.entity_id.as_str())),
        (attr::RECEIVED_AT.to_owned(), s(format_time(received_at))),
        (
            attr::ARRIVAL_DAY.to_owned(),
            s(arrival_key(&envelope.entity_key, received_at)),
        ),
        (attr::DEDUP_KEY.to_owned(), s(envelope.dedup_key.as_str())),
        (attr::SEQUENCE.to_owned(), n(sequence)),
        (attr::RAW_BODY.to_owned(), s(raw_body)),
        (attr::EXPIRES_AT.to_owned(), epoch(expires_at)),
    ]);
    if let Some(repeat_of) = &envelope.repeat_of {
        if let Some(of) = repeat_of.sequence {
            item.insert(attr::REPEAT_OF_SEQUENCE.to_owned(), n(of));
        }
        item.insert(
            attr::REPEAT_OF_RECEIVED_AT.to_owned(),
            s(format_time(repeat_of.received_at)),
        );
        if let Some(reason) = repeat_of.reason {
            item.insert(attr::REPEAT_OF_REASON.to_owned(), s(reason.as_str()));
        }
    }
    if let Some(account) = &envelope.account_id {
        item.insert(attr::ACCOUNT_ID.to_owned(), s(account.as_str()));
    }
    if let Some(status) = &envelope.status {
        item.insert(attr::STATUS.to_owned(), s(status.as_str()));
    }
    item
}

/// What forwarding a stored notification again needs, from its item (new or legacy).
///
/// A repeat stored before reasons were kept gets the reason its sequences show: `after_other`
/// when other notifications came between, `after_window` when none did.
pub fn stored_notification(item: &Item) -> Result<StoredNotification, String> {
    let received_at =
        time_attr(item, attr::RECEIVED_AT)?.ok_or_else(|| "it has no `received_at`".to_owned())?;
    let sequence = number(item, attr::SEQUENCE);
    let repeat_of = match time_attr(item, attr::REPEAT_OF_RECEIVED_AT)? {
        None => None,
        Some(at) => {
            let of = number(item, attr::REPEAT_OF_SEQUENCE);
            let reason = match text(item, attr::REPEAT_OF_REASON) {
                Some(name) => Some(
                    RepeatReason::parse(name)
                        .ok_or_else(|| format!("`{}` is not a reason", attr::REPEAT_OF_REASON))?,
                ),
                None => Some(match (of, sequence) {
                    (Some(of), Some(n)) if of + 1 < n => RepeatReason::AfterOther,
                    _ => RepeatReason::AfterWindow,
                }),
            };
            Some(RepeatOf {
                sequence: of,
                received_at: at,
                reason,
            })
        }
    };
    let aside = match text(item, attr::ASIDE_REASON) {
        None => None,
        Some(reason) => Some(Gap {
            reason: gap_reason(reason)?,
            detail: text(item, attr::ASIDE_DETAIL)
                .unwrap_or_default()
                .to_owned(),
        }),
    };
    Ok(StoredNotification {
        provider: required(item, attr::PROVIDER)?.to_owned(),
        event: required(item, attr::EVENT)?.to_owned(),
        family: text(item, attr::FAMILY).unwrap_or_default().to_owned(),
        raw_body: required(item, attr::RAW_BODY)?.to_owned(),
        received_at,
        dedup_key: required(item, attr::DEDUP_KEY)?.to_owned(),
        entity_key: required(item, attr::PK)?.to_owned(),
        sequence,
        repeat_of,
        expires_at: epoch_attr(item, attr::EXPIRES_AT)?,
        aside,
    })
}

fn gap_reason(name: &str) -> Result<GapReason, String> {
    [
        GapReason::Unreadable,
        GapReason::Expired,
        GapReason::Skipped,
    ]
    .into_iter()
    .find(|r| r.as_str() == name)
    .ok_or_else(|| format!("`{}` is not a gap reason: {name}", attr::ASIDE_REASON))
}

/// The pointer item to notification `sequence` of `entity_key`, set aside at `at` for `gap`'s
/// cause, kept until `expires_at` (the notification's own).
pub fn aside_item(
    entity_key: &str,
    sequence: u64,
    gap: &Gap,
    at: OffsetDateTime,
    expires_at: Option<OffsetDateTime>,
) -> Item {
    let mut item = HashMap::from([
        (attr::PK.to_owned(), s(ASIDE_PK)),
        (
            attr::SK.to_owned(),
            s(format!("{entity_key}#{sequence:020}")),
        ),
        (attr::KIND.to_owned(), s(kind::ASIDE)),
        (attr::ENTITY_KEY.to_owned(), s(entity_key)),
        (attr::SEQUENCE.to_owned(), n(sequence)),
        (attr::ASIDE_REASON.to_owned(), s(gap.reason.as_str())),
        (attr::ASIDE_DETAIL.to_owned(), s(gap.detail.as_str())),
        (attr::ASIDE_AT.to_owned(), s(format_time(at))),
    ]);
    if let Some(at) = expires_at {
        item.insert(attr::EXPIRES_AT.to_owned(), epoch(at));
    }
    item
}

/// A notification set aside, as its pointer item says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aside {
    pub entity_key: String,
    pub sequence: u64,
    pub gap: Gap,
    pub at: OffsetDateTime,
}

pub fn aside(item: &Item) -> Result<Aside, String> {
    Ok(Aside {
        entity_key: required(item, attr::ENTITY_KEY)?.to_owned(),
        sequence: number(item, attr::SEQUENCE).ok_or("it has no `sequence`")?,
        gap: Gap {
            reason: gap_reason(required(item, attr::ASIDE_REASON)?)?,
            detail: text(item, attr::ASIDE_DETAIL)
                .unwrap_or_default()
                .to_owned(),
        },
        at: time_attr(item, attr::ASIDE_AT)?.ok_or("it has no `aside_at`")?,
    })
}

// --- markers -----------------------------------------------------------------------------

/// The marker of a new notification: the latest one with its content is this one.
pub fn marker_item(envelope: &Envelope, expires_at: OffsetDateTime) -> Item {
    let sequence = envelope.sequence.unwrap_or_default();
    HashMap::from([
        (attr::PK.to_owned(), s(marker_pk(&envelope.dedup_key))),
        (attr::SK.to_owned(), s(MARKER_SK)),
        (attr::KIND.to_owned(), s(kind::DEDUP)),
        (attr::EVENT_PK.to_owned(), s(envelope.entity_key.as_str())),
        (attr::EVENT_SK.to_owned(), s(event_sk(sequence))),
        (attr::SEQUENCE.to_owned(), n(sequence)),
        (
            attr::RECEIVED_AT.to_owned(),
            s(format_time(envelope.received_at)),
        ),
        (attr::EXPIRES_AT.to_owned(), epoch(expires_at)),
    ])
}

/// What a marker (new or legacy) says of the notification it points at.
pub fn previous(item: &Item) -> Result<Previous, String> {
    let received_at =
        time_attr(item, attr::RECEIVED_AT)?.ok_or_else(|| "it has no `received_at`".to_owned())?;
    let kind = match number(item, attr::SEQUENCE) {
        Some(n) => PreviousKind::Sequenced(n),
        None => PreviousKind::Legacy {
            forwarded: item.contains_key(attr::FORWARDED_AT),
        },
    };
    Ok(Previous {
        entity_key: required(item, attr::EVENT_PK)?.to_owned(),
        kind,
        received_at,
        expires_at: epoch_attr(item, attr::EXPIRES_AT)?,
        version: required(item, attr::EVENT_SK)?.to_owned(),
    })
}

// --- heads -------------------------------------------------------------------------------

/// The head of an entity whose first notification (number 1) arrives at `at`: owed its
/// answer until the mark.
pub fn first_head_item(entity_key: &str, at: OffsetDateTime) -> Item {
    HashMap::from([
        (attr::PK.to_owned(), s(entity_key)),
        (attr::SK.to_owned(), s(HEAD_SK)),
        (attr::KIND.to_owned(), s(kind::HEAD)),
        (attr::LAST_SEQUENCE.to_owned(), n(1)),
        (attr::FORWARDED_SEQUENCE.to_owned(), n(0)),
        (
            attr::UNACKED.to_owned(),
            AttributeValue::M(HashMap::from([("1".to_owned(), s(format_time(at)))])),
        ),
    ])
}

/// An entity's counters, from its head item.
pub fn head(item: &Item) -> Result<EntityHead, String> {
    let count = |name: &str| {
        number(item, name).ok_or_else(|| format!("the head has no whole-number `{name}`"))
    };
    let mut unacked = BTreeMap::new();
    if let Some(AttributeValue::M(map)) = item.get(attr::UNACKED) {
        for (sequence, at) in map {
            let sequence = sequence
                .parse()
                .map_err(|_| format!("`unacked` has a key that is not a sequence: {sequence}"))?;
            let at = match at {
                AttributeValue::S(v) => OffsetDateTime::parse(v, &Rfc3339)
                    .map_err(|e| format!("`unacked.{sequence}` is not a time: {e}"))?,
                _ => return Err(format!("`unacked.{sequence}` is not a string")),
            };
            unacked.insert(sequence, at);
        }
    }
    Ok(EntityHead {
        last_sequence: count(attr::LAST_SEQUENCE)?,
        forwarded_sequence: count(attr::FORWARDED_SEQUENCE)?,
        unacked,
    })
}

// --- resend requests ---------------------------------------------------------------------

/// The item of a resend request for `provider`, made at `requested_at`.
pub fn resend_item(
    provider: &str,
    request: &ResendRequest,
    requested_at: OffsetDateTime,
    entries: usize,
) -> Item {
    let mut item = HashMap::from([
        (attr::PK.to_owned(), s(resend_pk(provider))),
        (
            attr::SK.to_owned(),
            s(format!("{}#{}", format_time(requested_at), request.id)),
        ),
        (attr::KIND.to_owned(), s(kind::RESEND)),
        (attr::ID.to_owned(), s(request.id.as_str())),
        (attr::FROM.to_owned(), s(format_time(request.from))),
        (attr::UNTIL.to_owned(), s(format_time(request.until))),
        (attr::REQUESTED_AT.to_owned(), s(format_time(requested_at))),
        (attr::EXPIRES_AT.to_owned(), epoch(request.expires_at)),
        (attr::ENTRIES.to_owned(), n(entries as u64)),
    ]);
    if let Some(event) = &request.event {
        item.insert(attr::EVENT.to_owned(), s(event.as_str()));
    }
    if let Some(entity_key) = &request.entity_key {
        item.insert(attr::ENTITY_KEY.to_owned(), s(entity_key.as_str()));
    }
    item
}

pub fn resend_request(item: &Item) -> Result<ResendRequest, String> {
    let time = |name: &str| {
        time_attr(item, name)?.ok_or_else(|| format!("the resend request has no `{name}`"))
    };
    Ok(ResendRequest {
        id: required(item, attr::ID)?.to_owned(),
        from: time(attr::FROM)?,
        until: time(attr::UNTIL)?,
        event: text(item, attr::EVENT).map(str::to_owned),
        entity_key: text(item, attr::ENTITY_KEY).map(str::to_owned),
        expires_at: epoch_attr(item, attr::EXPIRES_AT)?
            .ok_or_else(|| "the resend request has no `expires_at`".to_owned())?,
    })
}

/// The item of one resend entry (see the layout above).
pub fn resend_entry_item(entry: &ResendEntry) -> Item {
    HashMap::from([
        (attr::PK.to_owned(), s(resend_entry_pk(&entry.dedup_key))),
        (
            attr::SK.to_owned(),
            s(resend_entry_sk(
                &entry.request,
                &entry.entity_key,
                entry.sequence,
            )),
        ),
        (attr::KIND.to_owned(), s(kind::RESEND_ENTRY)),
        (attr::ID.to_owned(), s(entry.request.as_str())),
        (attr::ENTITY_KEY.to_owned(), s(entry.entity_key.as_str())),
        (attr::SEQUENCE.to_owned(), n(entry.sequence)),
        (attr::DEDUP_KEY.to_owned(), s(entry.dedup_key.as_str())),
        (attr::EXPIRES_AT.to_owned(), epoch(entry.expires_at)),
    ])
}

pub fn resend_entry(item: &Item) -> Result<ResendEntry, String> {
    Ok(ResendEntry {
        request: required(item, attr::ID)?.to_owned(),
        entity_key: required(item, attr::ENTITY_KEY)?.to_owned(),
        sequence: number(item, attr::SEQUENCE).ok_or("the resend entry has no `sequence`")?,
        dedup_key: required(item, attr::DEDUP_KEY)?.to_owned(),
        expires_at: epoch_attr(item, attr::EXPIRES_AT)?
            .ok_or("the resend entry has no `expires_at`")?,
        used_by: text(item, attr::USED_BY).map(str::to_owned),
    })
}

// --- quarantined requests ---------------------------------------------------------------

/// A quarantined request as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineItem {
    pub request: webhook_core::quarantine::QuarantinedRequest,
    pub day: String,
    pub first_seen: OffsetDateTime,
    pub last_seen: OffsetDateTime,
    pub deliveries: u64,
    pub resolved_at: Option<OffsetDateTime>,
    pub resolution: Option<String>,
}

pub fn quarantine_item(item: &Item) -> Result<QuarantineItem, String> {
    let time = |name: &str| time_attr(item, name)?.ok_or_else(|| format!("it has no `{name}`"));
    let headers = match item.get(attr::HEADERS) {
        Some(AttributeValue::L(list)) => list
            .iter()
            .filter_map(|pair| match pair {
                AttributeValue::L(kv) => match (kv.first(), kv.get(1)) {
                    (Some(AttributeValue::S(k)), Some(AttributeValue::S(v))) => {
                        Some((k.clone(), v.clone()))
                    }
                    _ => None,
                },
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let body = match item.get(attr::BODY) {
        Some(AttributeValue::B(b)) => b.as_ref().to_vec(),
        _ => Vec::new(),
    };
    let first_seen = time(attr::FIRST_SEEN)?;
    let pk = required(item, attr::PK)?;
    let path = required(item, attr::PATH)?;
    // Items kept before the per-gateway cap have no `provider`: their route says it.
    let provider = text(item, attr::PROVIDER).unwrap_or(if path.contains("/ipag/") {
        "ipag"
    } else {
        "iugu"
    });
    Ok(QuarantineItem {
        request: webhook_core::quarantine::QuarantinedRequest {
            received_at: first_seen,
            provider: provider.to_owned(),
            path: path.to_owned(),
            method: required(item, attr::METHOD)?.to_owned(),
            error: required(item, attr::ERROR)?.to_owned(),
            message: text(item, attr::MESSAGE).unwrap_or_default().to_owned(),
            headers,
            body_size: number(item, attr::BODY_SIZE).unwrap_or(body.len() as u64) as usize,
            body,
            body_sha256: required(item, attr::SK)?.to_owned(),
        },
        day: pk.trim_start_matches("quarantine#").to_owned(),
        first_seen,
        last_seen: time(attr::LAST_SEEN)?,
        deliveries: number(item, attr::DELIVERIES).unwrap_or(1),
        resolved_at: time_attr(item, attr::RESOLVED_AT)?,
        resolution: text(item, attr::RESOLUTION).map(str::to_owned),
    })
}

/// The headers of a quarantined request as a list of `[name, value]` pairs (order kept).
pub fn headers_attribute(headers: &[(String, String)]) -> AttributeValue {
    AttributeValue::L(
        headers
            .iter()
            .map(|(k, v)| AttributeValue::L(vec![s(k.as_str()), s(v.as_str())]))
            .collect(),
    )
}

// --- the sweeper's state -----------------------------------------------------------------

fn micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

fn from_micros(v: &serde_json::Value) -> Result<OffsetDateTime, String> {
    let us = v.as_i64().ok_or("a time is not a whole number")?;
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000)
        .map_err(|e| format!("a time out of range: {e}"))
}

/// The item of the sweeper's state: one JSON attribute, times in microseconds since the epoch,
/// each span `[after, to, seen, level, due]` (and `[counted to, counted]` while a count is
/// under way), each waiting entity `[since, failed run or null, legacy]`: about 60 bytes a
/// span, so that the item stays a few KiB (it is read and written every run).
pub fn sweep_state_item(state: &webhook_core::sweep::SweepState) -> Item {
    use serde_json::{json, Value};
    let spans: Vec<Value> = state
        .spans
        .iter()
        .map(|s| {
            let mut v = vec![
                json!(micros(s.after)),
                json!(micros(s.to)),
                json!(s.seen),
                json!(s.level),
                json!(s.due),
            ];
            if let Some((to, n)) = s.counting {
                v.push(json!([micros(to), n]));
            }
            Value::Array(v)
        })
        .collect();
    let waiting: serde_json::Map<String, Value> = state
        .waiting
        .iter()
        .map(|(key, w)| {
            (
                key.clone(),
                json!([micros(w.since), w.failed_run, w.legacy]),
            )
        })
        .collect();
    let relook: Vec<Value> = state
        .relook
        .iter()
        .map(|(a, b)| json!([micros(*a), micros(*b)]))
        .collect();
    let doc = json!({
        "looked_to": micros(state.looked_to),
        "run": state.run,
        "waiting": waiting,
        "spans": spans,
        "relook": relook,
    });
    HashMap::from([
        (attr::PK.to_owned(), s(SWEEPER_PK)),
        (attr::SK.to_owned(), s(SWEEP_STATE_SK)),
        (attr::KIND.to_owned(), s(kind::SWEEPER)),
        (attr::STATE.to_owned(), s(doc.to_string())),
    ])
}

/// The sweeper's state, from its item.
pub fn sweep_state(item: &Item) -> Result<webhook_core::sweep::SweepState, String> {
    use webhook_core::sweep::{Span, SweepState, Waiting};
    let doc: serde_json::Value = serde_json::from_str(required(item, attr::STATE)?)
        .map_err(|e| format!("the sweeper's state is not JSON: {e}"))?;
    let list = |name: &str| doc[name].as_array().cloned().unwrap_or_default();
    let number = |v: &serde_json::Value, what: &str| {
        v.as_u64()
            .ok_or_else(|| format!("the sweeper's state: {what} is not a number"))
    };
    let mut spans = Vec::new();
    for v in list("spans") {
        let counting = match v.get(5) {
            Some(c) => Some((from_micros(&c[0])?, number(&c[1], "a count")?)),
            None => None,
        };
        spans.push(Span {
            after: from_micros(&v[0])?,
            to: from_micros(&v[1])?,
            seen: number(&v[2], "seen")?,
            level: u32::try_from(number(&v[3], "level")?).unwrap_or(u32::MAX),
            due: number(&v[4], "due")?,
            counting,
        });
    }
    let mut waiting = BTreeMap::new();
    for (key, v) in doc["waiting"].as_object().cloned().unwrap_or_default() {
        waiting.insert(
            key,
            Waiting {
                since: from_micros(&v[0])?,
                failed_run: v[1].as_u64(),
                legacy: v[2].as_bool().unwrap_or(false),
            },
        );
    }
    let mut relook = Vec::new();
    for v in list("relook") {
        relook.push((from_micros(&v[0])?, from_micros(&v[1])?));
    }
    Ok(SweepState {
        looked_to: from_micros(&doc["looked_to"])?,
        run: number(&doc["run"], "run")?,
        waiting,
        spans,
        relook,
    })
}

// --- the table itself --------------------------------------------------------------------

/// Creates the events table as `template.yaml` declares it (keys, the indexes, on-demand
/// billing, TTL on `expires_at`): for the tests and the benchmarks against a local server.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) -> Result<(), String> {
    create_table_of(client, name, false).await
}

/// The same, and with `with_pending` the previous version's `by_pending` index too (a table
/// in the first step of the upgrade, docs/deploy.md).
pub async fn create_table_of(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    with_pending: bool,
) -> Result<(), String> {
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(|e| e.to_string())
    };
    let string = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| e.to_string())
    };
    let keys_only = |name: &str, hash: &str, range: &str| {
        GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key(hash, KeyType::Hash)?)
            .key_schema(key(range, KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::KeysOnly)
                    .build(),
            )
            .build()
            .map_err(|e| e.to_string())
    };
    let arrival = keys_only(ARRIVAL_INDEX, attr::ARRIVAL_DAY, attr::RECEIVED_AT)?;
    let pending = keys_only(PENDING_INDEX, attr::SWEEP_SHARD, attr::PENDING_SINCE)?;
    let legacy = GlobalSecondaryIndex::builder()
        .index_name(LEGACY_DAY_INDEX)
        .key_schema(key(attr::RECEIVED_DAY, KeyType::Hash)?)
        .key_schema(key(attr::SK, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::Include)
                .set_non_key_attributes(Some(
                    LEGACY_DAY_INDEX_ATTRIBUTES.map(String::from).to_vec(),
                ))
                .build(),
        )
        .build()
        .map_err(|e| e.to_string())?;
    let mut create = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(attr::PK, KeyType::Hash)?)
        .key_schema(key(attr::SK, KeyType::Range)?)
        .attribute_definitions(string(attr::PK)?)
        .attribute_definitions(string(attr::SK)?)
        .attribute_definitions(string(attr::ARRIVAL_DAY)?)
        .attribute_definitions(string(attr::RECEIVED_AT)?)
        .attribute_definitions(string(attr::RECEIVED_DAY)?)
        .global_secondary_indexes(arrival)
        .global_secondary_indexes(legacy);
    if with_pending {
        create = create
            .attribute_definitions(string(attr::SWEEP_SHARD)?)
            .attribute_definitions(string(attr::PENDING_SINCE)?)
            .global_secondary_indexes(pending);
    }
    create
        .send()
        .await
        .map_err(|e| format!("CreateTable: {}", crate::error_text(&e)))?;
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(attr::EXPIRES_AT)
                .enabled(true)
                .build()
                .map_err(|e| e.to_string())?,
        )
        .send()
        .await
        .map_err(|e| format!("UpdateTimeToLive: {}", crate::error_text(&e)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const AT: OffsetDateTime = datetime!(2026-11-20 10:00:26.398562 UTC);

    fn envelope() -> Envelope {
        let mut e = webhook_iugu::parse(
            b"event=subscription.suspended&data[id]=S1&data[account_id]=A",
            AT,
        )
        .expect("parses");
        e.sequence = Some(3);
        e.repeat_of = Some(RepeatOf {
            sequence: Some(1),
            received_at: datetime!(2026-11-19 10:00 UTC),
            reason: Some(RepeatReason::AfterOther),
        });
        e
    }

    #[test]
    fn arrival_shards_are_stable_and_spread() {
        let key = "invoice#84F982E1A10F4FF1B483B829F4762C2C";
        assert_eq!(arrival_key(key, AT), arrival_key(key, AT));
        assert_eq!(
            arrival_key(key, AT),
            format!("2026-11-20#{}", shard_of(key, ARRIVAL_SHARDS))
        );
        let shards: std::collections::BTreeSet<String> = (0..200)
            .map(|i| arrival_key(&format!("invoice#{i}"), AT))
            .collect();
        assert_eq!(shards.len(), ARRIVAL_SHARDS as usize);
        let partitions = arrival_partitions("2026-11-20");
        assert!(shards.iter().all(|s| partitions.contains(s)));
        assert_eq!(
            partitions.last().map(String::as_str),
            Some("2026-11-20"),
            "and the day alone, for notifications stored before shards"
        );
    }

    #[test]
    fn the_sweepers_state_reads_back() {
        use webhook_core::sweep::{Span, SweepState, Waiting};
        let state = SweepState {
            looked_to: AT,
            run: 7,
            waiting: BTreeMap::from([
                (
                    "invoice#A".to_owned(),
                    Waiting {
                        since: AT - time::Duration::minutes(3),
                        failed_run: Some(6),
                        legacy: false,
                    },
                ),
                (
                    "invoice#B".to_owned(),
                    Waiting {
                        since: AT,
                        failed_run: None,
                        legacy: true,
                    },
                ),
            ]),
            spans: vec![
                Span {
                    after: AT - time::Duration::hours(1),
                    to: AT - time::Duration::minutes(1),
                    seen: 12,
                    level: 3,
                    due: 15,
                    counting: Some((AT - time::Duration::minutes(30), 4)),
                },
                Span {
                    after: AT - time::Duration::minutes(1),
                    to: AT,
                    seen: 0,
                    level: 0,
                    due: 8,
                    counting: None,
                },
            ],
            relook: vec![(AT - time::Duration::hours(2), AT - time::Duration::hours(1))],
        };
        let item = sweep_state_item(&state);
        assert_eq!(text(&item, attr::SK), Some(SWEEP_STATE_SK));
        assert_eq!(sweep_state(&item).expect("readable"), state);
    }

    #[test]
    fn keys_sort_as_they_must() {
        assert_eq!(event_sk(7), "seq#00000000000000000007");
        assert!(event_sk(9) < event_sk(10));
        assert!(event_sk(u64::MAX).len() == 24);
        // Legacy event keys start with a digit: before every new one, and before the head.
        assert!("2026-11-20T10:00:26.398562Z#ab" < event_sk(1).as_str());
        assert!(
            event_sk(u64::MAX).as_str() > HEAD_SK,
            "seq# sorts after head"
        );
        assert_eq!(format_time(AT), "2026-11-20T10:00:26.398562Z");
        assert_eq!(day_of(AT), "2026-11-20");
    }

    #[test]
    fn an_event_item_reads_back_as_the_stored_notification() {
        let env = envelope();
        let expires = AT + time::Duration::days(90);
        let item = event_item(
            &env,
            "event=subscription.suspended&data[id]=S1&data[account_id]=A",
            expires,
        );
        assert_eq!(text(&item, attr::PK), Some("subscription#S1"));
        assert_eq!(text(&item, attr::SK), Some("seq#00000000000000000003"));
        assert_eq!(
            text(&item, attr::ARRIVAL_DAY),
            Some(arrival_key("subscription#S1", AT).as_str())
        );
        assert_eq!(
            number(&item, attr::EXPIRES_AT),
            Some(expires.unix_timestamp() as u64)
        );
        assert!(
            !item.contains_key(attr::RECEIVED_DAY),
            "no new item enters the legacy index"
        );
        assert!(is_event(&item));
        assert!(!is_expired(&item, expires - time::Duration::seconds(1)));
        assert!(is_expired(&item, expires));
        let stored = stored_notification(&item).expect("readable");
        assert_eq!(
            stored
                .envelope(&webhook_iugu::Iugu::ALL_EVENTS)
                .expect("rebuilt"),
            env
        );
    }

    #[test]
    fn a_marker_reads_back_as_the_previous_notification() {
        let env = envelope();
        let item = marker_item(&env, AT + time::Duration::days(90));
        let p = previous(&item).expect("readable");
        assert_eq!(p.kind, PreviousKind::Sequenced(3));
        assert_eq!(
            (p.entity_key.as_str(), p.received_at),
            ("subscription#S1", AT)
        );
        assert_eq!(p.version, event_sk(3));
        // A legacy marker: no sequence, no expiry; forwarded or not.
        let legacy = HashMap::from([
            (attr::PK.to_owned(), s(marker_pk("k"))),
            (attr::SK.to_owned(), s(MARKER_SK)),
            (attr::EVENT_PK.to_owned(), s("subscription#S1")),
            (
                attr::EVENT_SK.to_owned(),
                s("2026-11-20T10:00:26.398562Z#k"),
            ),
            (
                attr::RECEIVED_AT.to_owned(),
                s("2026-11-20T10:00:26.398562Z"),
            ),
            (
                attr::FORWARDED_AT.to_owned(),
                s("2026-11-20T10:00:26.500000Z"),
            ),
        ]);
        let p = previous(&legacy).expect("readable");
        assert_eq!(p.kind, PreviousKind::Legacy { forwarded: true });
        assert_eq!(p.expires_at, None);
    }

    #[test]
    fn a_head_and_a_resend_request_read_back() {
        let first = first_head_item("subscription#S1", AT);
        assert!(
            !first.contains_key(attr::PENDING_SINCE) && !first.contains_key(attr::SWEEP_SHARD),
            "no head enters the previous version's sweeper index"
        );
        let h = head(&first).expect("readable");
        assert_eq!((h.last_sequence, h.forwarded_sequence), (1, 0));
        assert_eq!(
            h.unacked,
            BTreeMap::from([(1, AT)]),
            "owed an answer from the moment it is stored"
        );
        let request = ResendRequest {
            id: "r1".to_owned(),
            from: datetime!(2026-11-01 03:00 UTC),
            until: datetime!(2026-11-04 03:00 UTC),
            event: Some("invoice.status_changed".to_owned()),
            entity_key: None,
            expires_at: datetime!(2026-11-21 10:00 UTC),
        };
        let item = resend_item("iugu", &request, AT, 0);
        assert_eq!(text(&item, attr::PK), Some("resend#iugu"));
        assert_eq!(resend_request(&item).expect("readable"), request);
    }

    #[test]
    fn a_repeat_stored_without_a_reason_reads_back_with_the_one_its_sequences_show() {
        let body = "event=subscription.suspended&data[id]=S1&data[account_id]=A";
        let mut env = envelope();
        let mut item = event_item(&env, body, AT + time::Duration::days(90));
        item.remove(attr::REPEAT_OF_REASON);
        // Number 3, repeating number 1: number 2 came between.
        let of = |item: &Item| {
            stored_notification(item)
                .expect("readable")
                .repeat_of
                .and_then(|r| r.reason)
        };
        assert_eq!(of(&item), Some(RepeatReason::AfterOther));
        env.repeat_of = env.repeat_of.map(|r| RepeatOf {
            sequence: Some(2),
            ..r
        });
        let mut item = event_item(&env, body, AT + time::Duration::days(90));
        assert_eq!(of(&item), Some(RepeatReason::AfterOther), "as written");
        item.remove(attr::REPEAT_OF_REASON);
        assert_eq!(of(&item), Some(RepeatReason::AfterWindow));
    }

    #[test]
    fn a_resend_entry_and_an_aside_pointer_read_back() {
        let entry = ResendEntry {
            request: "r1".to_owned(),
            entity_key: "subscription#S1".to_owned(),
            sequence: 3,
            dedup_key: "k".repeat(64),
            expires_at: datetime!(2026-11-21 10:00 UTC),
            used_by: None,
        };
        let item = resend_entry_item(&entry);
        assert_eq!(
            text(&item, attr::PK),
            Some(format!("resend#{}", "k".repeat(64)).as_str())
        );
        assert_eq!(resend_entry(&item).expect("readable"), entry);
        let gap = Gap {
            reason: GapReason::Skipped,
            detail: "an operator's decision".to_owned(),
        };
        let item = aside_item("subscription#S1", 3, &gap, AT, None);
        let read = aside(&item).expect("readable");
        assert_eq!(
            (read.entity_key.as_str(), read.sequence, read.gap, read.at),
            ("subscription#S1", 3, gap, AT)
        );
    }
}
