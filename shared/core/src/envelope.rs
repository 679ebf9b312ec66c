//! The one shape consumers read: a notification, normalised, whichever gateway sent it.
//!
//! Nothing here knows a gateway. A gateway's parser (`iugu`, `ipag`) fills an [`Envelope`]:
//! the names it gives (its [`Provider`] name, the [`Event`] and its [`EventFamily`]) are plain
//! strings, and the notification's [`Data`] is in one of two neutral shapes, [`Data::Fields`]
//! (a form's nested fields) or [`Data::Json`] (a JSON body as received). Serialised, each name
//! is its string and the data its map or JSON, so the bytes are those the gateway-specific
//! types gave (`shared/gateways/tests/golden/` pins them). Read back, the JSON needs no gateway either
//! (see [`Data`] for how the shape is told).

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::ParseError;
use crate::fields::{Fields, Node};

/// Declares a name a gateway gives: static for the names it knows, owned for the others (an
/// unknown event, an envelope read back).
macro_rules! gateway_name {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
        #[serde(transparent)]
        pub struct $name(Cow<'static, str>);

        impl $name {
            /// A name known when the code was written: no allocation.
            pub const fn from_static(name: &'static str) -> Self {
                $name(Cow::Borrowed(name))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(name: String) -> Self {
                $name(Cow::Owned(name))
            }
        }

        impl From<Cow<'static, str>> for $name {
            fn from(name: Cow<'static, str>) -> Self {
                $name(name)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

gateway_name! {
    /// The gateway a notification came from (`iugu`, `ipag`): each gateway's module has its
    /// `PROVIDER`.
    Provider
}

gateway_name! {
    /// An event's name as its gateway sends it (`invoice.status_changed`, `TransactionCaptured`).
    /// Whether the gateway documents it is the gateway's to say.
    Event
}

gateway_name! {
    /// The family an event belongs to, as its gateway names it (`invoices`, `transactions`).
    EventFamily
}

/// The longest event name any gateway may send. iugu's longest today is 37 bytes.
pub const MAX_EVENT_BYTES: usize = 100;

/// What every gateway's event name must be: not blank, not over [`MAX_EVENT_BYTES`],
/// printable ASCII without spaces.
pub fn check_event_name(raw: &str) -> Result<(), ParseError> {
    if raw.is_empty() {
        return Err(ParseError::InvalidEvent { why: "it is empty" });
    }
    if raw.len() > MAX_EVENT_BYTES {
        return Err(ParseError::InvalidEvent {
            why: "it is longer than 100 bytes",
        });
    }
    if !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ParseError::InvalidEvent {
            why: "it has characters other than printable ASCII",
        });
    }
    Ok(())
}

/// Longest `<entity_type>#<id>` key. The key is also the SQS FIFO `MessageGroupId`, which
/// takes at most 128 printable ASCII characters; iugu ids are 32 hex digits.
pub const MAX_ENTITY_KEY_BYTES: usize = 128;

/// The entity a notification is about, e.g. `invoice` `1757E1D7...`: a gateway's parser says
/// which (`iugu::entity`, `ipag::entity`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityRef {
    pub kind: String,
    pub id: String,
}

impl EntityRef {
    /// `invoice#1757E1D7...`: the DynamoDB partition key and the FIFO message group.
    pub fn key(&self) -> String {
        [self.kind.as_str(), "#", self.id.as_str()].concat()
    }
}

/// The notification's own data, in the shape its gateway gives: a form's fields, nested
/// (iugu's `data[...]`), or a JSON body as received (iPag's).
///
/// Serialised untagged: a map of strings for fields, the JSON as it is. Read back, a map whose
/// values are strings, lists of strings and such maps is [`Data::Fields`], anything else
/// [`Data::Json`]; a JSON body that happens to have only strings reads back as fields, so
/// equality is by meaning: two data are equal when they serialise to the same JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Data {
    Fields(Fields),
    Json(serde_json::Value),
}

impl PartialEq for Data {
    fn eq(&self, other: &Data) -> bool {
        match (self, other) {
            (Data::Fields(a), Data::Fields(b)) => a == b,
            (Data::Json(a), Data::Json(b)) => a == b,
            (Data::Fields(fields), Data::Json(json)) | (Data::Json(json), Data::Fields(fields)) => {
                serde_json::to_value(fields).is_ok_and(|as_json| as_json == *json)
            }
        }
    }
}

impl Eq for Data {}

impl Data {
    /// The fields, if the data is in that shape.
    pub fn as_fields(&self) -> Option<&Fields> {
        match self {
            Data::Fields(fields) => Some(fields),
            Data::Json(_) => None,
        }
    }

    /// The JSON body, if the data is in that shape.
    pub fn as_json(&self) -> Option<&serde_json::Value> {
        match self {
            Data::Json(value) => Some(value),
            Data::Fields(_) => None,
        }
    }

    /// A top-level field (`data[name]`); `None` for JSON.
    pub fn get(&self, name: &str) -> Option<&Node> {
        self.as_fields().and_then(|fields| fields.get(name))
    }

    /// Whether the fields have a top-level field `name`; `false` for JSON.
    pub fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// A parsed, validated notification. Serialised, it is the message forwarded to the queue;
/// it reads back from that JSON (consumers' tests, say) without knowing the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Envelope {
    /// The version of this shape: [`SCHEMA_VERSION`] for every message this version sends; a
    /// message without it is of version 1 (before `repeat_of.reason`, `gap` and this field).
    #[serde(default = "version_one")]
    pub schema_version: u32,
    pub provider: Provider,
    pub event: Event,
    pub family: EventFamily,
    pub entity_type: String,
    pub entity_id: String,
    /// `<entity_type>#<entity_id>`: the storage partition and the FIFO message group.
    pub entity_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    pub dedup_key: String,
    /// The notification's place among its entity's (1, 2, 3, ...), given when it is stored:
    /// consumers see order and gaps. `None` only before it is stored (and for notifications
    /// stored by a version before sequences).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    /// Set when this notification's content equals an earlier one of the same entity and it
    /// was taken as a new occurrence (a subscription suspended again): which one, and when
    /// that arrived. docs/delivery-semantics.md.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_of: Option<RepeatOf>,
    /// When its first delivery arrived.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(
        feature = "schema",
        schemars(with = "String", extend("format" = "date-time"))
    )]
    pub received_at: OffsetDateTime,
    /// iugu: everything under `data[...]`, nested. iPag: the JSON body as received.
    pub data: Data,
    /// Other top-level fields, if iugu sends any (never for iPag), but not delivery counters such as
    /// `retry_count`: they differ between deliveries of the same notification.
    #[serde(default, skip_serializing_if = "Fields::is_empty")]
    pub extra: Fields,
    /// Set on a gap record: notification `sequence` of the entity is not forwarded (it can no
    /// longer be read, it expired before it could be forwarded, or an operator set it aside),
    /// and why; `data` is then `null`. The entity goes on after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gap: Option<Gap>,
}

/// The version of the envelope's shape this code sends (see [`Envelope::schema_version`]).
/// Version 2 added `schema_version`, `repeat_of.reason` and `gap`.
pub const SCHEMA_VERSION: u32 = 2;

fn version_one() -> u32 {
    1
}

/// The earlier notification a new occurrence repeats (see [`Envelope::repeat_of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RepeatOf {
    /// Its sequence; `None` if it was stored by a version before sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    /// When it first arrived.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(
        feature = "schema",
        schemars(with = "String", extend("format" = "date-time"))
    )]
    pub received_at: OffsetDateTime,
    /// Why this delivery was taken for a new occurrence rather than a copy (`None` only in
    /// messages of schema version 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<RepeatReason>,
}

/// Why a delivery whose content equals an earlier notification's was stored and forwarded as
/// a new one. Each is a doubt the front door cannot settle without a delivery id; the gateway's
/// API can (docs/delivery-semantics.md says what a consumer does with each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum RepeatReason {
    /// Nothing else of the entity came since the earlier one, which arrived longer ago than
    /// the window: a late gateway retry, or the same thing again (a monthly renewal).
    AfterWindow,
    /// Other notifications of the entity came since the earlier one: most likely the state
    /// really changed back (suspended again), possibly a late retry or a manual resend.
    AfterOther,
    /// The earlier one's own delivery was never answered 200, so the gateway still owes its
    /// retry: this may be that retry, or a new occurrence.
    PossibleRetry,
    /// An operator's resend was open for this content, and each notification it named was
    /// already delivered again: a resend delivered twice, or a new occurrence.
    ResendUnmatched,
}

impl RepeatReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RepeatReason::AfterWindow => "after_window",
            RepeatReason::AfterOther => "after_other",
            RepeatReason::PossibleRetry => "possible_retry",
            RepeatReason::ResendUnmatched => "resend_unmatched",
        }
    }

    /// The reason named `name` (as [`RepeatReason::as_str`] writes it).
    pub fn parse(name: &str) -> Option<RepeatReason> {
        [
            RepeatReason::AfterWindow,
            RepeatReason::AfterOther,
            RepeatReason::PossibleRetry,
            RepeatReason::ResendUnmatched,
        ]
        .into_iter()
        .find(|r| r.as_str() == name)
    }
}

/// A gap record's cause (see [`Envelope::gap`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Gap {
    pub reason: GapReason,
    /// What happened, for a person (never the body).
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum GapReason {
    /// Its stored body no longer parses to the notification it was stored as (a parser or
    /// key-rule change): it is set aside in the table, with this reason.
    Unreadable,
    /// It was kept its retention period without being forwarded, and is deleted.
    Expired,
    /// An operator set it aside (`recover skip`).
    Skipped,
}

impl GapReason {
    pub fn as_str(self) -> &'static str {
        match self {
            GapReason::Unreadable => "unreadable",
            GapReason::Expired => "expired",
            GapReason::Skipped => "skipped",
        }
    }
}

impl Envelope {
    /// The queue's de-duplication id for this notification: its content key and its sequence,
    /// so a new occurrence of the same content (another sequence) is never taken by SQS for a
    /// copy of the first. A notification stored before sequences keeps its content key.
    ///
    /// A gap record takes the id its notification would have had, so that of the two (sent by
    /// versions that disagree on whether it can be read) the queue keeps one; a gap for a
    /// notification whose content is unknown (deleted) names the entity by its hash instead.
    pub fn message_deduplication_id(&self) -> String {
        match self.sequence {
            Some(n) if self.dedup_key.is_empty() => {
                let entity = crate::canonical::sha256_hex(self.entity_key.as_bytes());
                format!("gap-{}-{n}", entity.get(..40).unwrap_or(&entity))
            }
            Some(n) => format!("{}-{n}", self.dedup_key),
            None => self.dedup_key.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Node::Text((*v).to_owned())))
            .collect()
    }

    #[test]
    fn an_event_name_is_printable_ascii_of_at_most_100_bytes() {
        assert!(check_event_name("invoice.status_changed").is_ok());
        assert!(check_event_name(&"a".repeat(MAX_EVENT_BYTES)).is_ok());
        for bad in ["", "has space", "tab\t", "ç"] {
            assert_eq!(
                check_event_name(bad).map_err(|e| e.code()),
                Err("invalid_event")
            );
        }
        assert!(check_event_name(&"a".repeat(MAX_EVENT_BYTES + 1)).is_err());
    }

    #[test]
    fn fields_and_json_are_equal_when_they_serialise_alike() {
        let as_fields = Data::Fields(fields(&[("id", "1"), ("status", "paid")]));
        let as_json = Data::Json(serde_json::json!({"status": "paid", "id": "1"}));
        assert_eq!(as_fields, as_json);
        assert_eq!(as_json, as_fields);
        assert_ne!(
            as_fields,
            Data::Json(serde_json::json!({"id": 1, "status": "paid"}))
        );
        assert_eq!(
            as_fields.get("status").and_then(Node::as_text),
            Some("paid")
        );
        assert!(as_json.get("status").is_none() && !as_json.contains_key("id"));
    }

    #[test]
    fn data_reads_back_as_fields_when_every_value_is_text_and_as_json_otherwise() {
        let read = |json: &str| serde_json::from_str::<Data>(json).expect("reads");
        assert!(read(r#"{"a": "1", "b": ["x"], "c": {"d": "2"}}"#)
            .as_fields()
            .is_some());
        assert!(read(r#"{"a": 1}"#).as_json().is_some());
        assert_eq!(read("null").as_json(), Some(&serde_json::Value::Null));
    }

    #[test]
    fn the_queues_deduplication_id_is_the_content_key_and_the_sequence() {
        let mut gap = crate::stored::gap_record(
            "thing#T1",
            4,
            Gap {
                reason: GapReason::Expired,
                detail: String::new(),
            },
        );
        let entity = crate::canonical::sha256_hex(b"thing#T1");
        assert_eq!(
            gap.message_deduplication_id(),
            format!("gap-{}-4", &entity[..40])
        );
        gap.dedup_key = "k".to_owned();
        assert_eq!(gap.message_deduplication_id(), "k-4");
        gap.sequence = None;
        assert_eq!(gap.message_deduplication_id(), "k");
    }

    #[test]
    fn a_message_without_a_schema_version_is_of_version_one_and_reasons_read_back() {
        let gap = crate::stored::gap_record(
            "thing#T1",
            1,
            Gap {
                reason: GapReason::Skipped,
                detail: "set aside".to_owned(),
            },
        );
        let mut json = serde_json::to_value(&gap).expect("serialises");
        assert_eq!(json["schema_version"], SCHEMA_VERSION);
        json.as_object_mut().map(|o| o.remove("schema_version"));
        let back: Envelope = serde_json::from_value(json).expect("reads back");
        assert_eq!(back.schema_version, 1);
        for reason in [
            RepeatReason::AfterWindow,
            RepeatReason::AfterOther,
            RepeatReason::PossibleRetry,
            RepeatReason::ResendUnmatched,
        ] {
            assert_eq!(RepeatReason::parse(reason.as_str()), Some(reason));
        }
        assert_eq!(RepeatReason::parse("other"), None);
    }
}
