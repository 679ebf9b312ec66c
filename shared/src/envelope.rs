//! The one shape consumers read: a notification, normalised, without any form encoding.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::dedup::{dedup_key, DELIVERY_FIELDS};
use crate::entity::{self, EntityRef};
use crate::error::ParseError;
use crate::event::EventName;
use crate::form::{self, Fields, Node};
use crate::gateway::{Data, Event, EventFamily};
use crate::typed::TypedEvent;

/// The gateway a notification came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Iugu,
    Ipag,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Iugu => "iugu",
            Provider::Ipag => "ipag",
        }
    }
}

/// A parsed, validated notification. Serialised, it is the message forwarded to the queue.
/// Read back (by consumers' tests, say) through [`crate::wire::WireEnvelope`], which decides
/// by `provider` how `event`, `family` and `data` are to be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "crate::wire::WireEnvelope")]
pub struct Envelope {
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
    pub received_at: OffsetDateTime,
    /// iugu: everything under `data[...]`, nested. iPag: the JSON body as received.
    pub data: Data,
    /// Other top-level fields, if iugu sends any (never for iPag), but not delivery counters such as
    /// `retry_count`: they differ between deliveries of the same notification.
    #[serde(default, skip_serializing_if = "Fields::is_empty")]
    pub extra: Fields,
}

/// The earlier notification a new occurrence repeats (see [`Envelope::repeat_of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepeatOf {
    /// Its sequence; `None` if it was stored by a version before sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    /// When it first arrived.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
}

impl Envelope {
    /// The queue's de-duplication id for this notification: its content key and its sequence,
    /// so a new occurrence of the same content (another sequence) is never taken by SQS for a
    /// copy of the first. A notification stored before sequences keeps its content key.
    pub fn message_deduplication_id(&self) -> String {
        match self.sequence {
            Some(n) => format!("{}-{n}", self.dedup_key),
            None => self.dedup_key.clone(),
        }
    }

    /// Parses, types, identifies and normalises an iugu notification body.
    pub fn from_iugu_form(body: &[u8], received_at: OffsetDateTime) -> Result<Self, ParseError> {
        let mut fields = form::parse_form(body)?;
        let event = match fields.get("event") {
            Some(Node::Text(name)) => EventName::parse(name)?,
            Some(_) => {
                return Err(ParseError::InvalidEvent {
                    why: "it is a group of fields, not a value",
                });
            }
            None => return Err(ParseError::MissingEvent { field: "event" }),
        };
        let provider = Provider::Iugu;
        let dedup_key = dedup_key(provider.as_str(), &fields);
        let data = match fields.remove("data") {
            Some(Node::Map(data)) => data,
            None => Fields::new(),
            Some(_) => {
                return Err(ParseError::ConflictingKey {
                    key: "data".to_owned(),
                });
            }
        };
        let entity = entity::resolve(&event, Some(&data), &dedup_key)?;
        fields.remove("event");
        fields.retain(|name, _| !DELIVERY_FIELDS.contains(&name));
        Ok(Envelope::new(
            provider,
            event,
            entity,
            dedup_key,
            received_at,
            data,
            fields,
        ))
    }

    /// Parses, identifies and normalises an iPag notification: its JSON body and the event
    /// name from its `X-Ipag-Event` header (see [`crate::ipag::parse`]).
    pub fn from_ipag_json(
        body: &[u8],
        event_header: Option<&str>,
        received_at: OffsetDateTime,
    ) -> Result<Self, ParseError> {
        crate::ipag::parse::parse(body, event_header, received_at)
    }

    fn new(
        provider: Provider,
        event: EventName,
        entity: EntityRef,
        dedup_key: String,
        received_at: OffsetDateTime,
        data: Fields,
        extra: Fields,
    ) -> Self {
        let text = |name: &str| data.get(name).and_then(Node::as_text).map(str::to_owned);
        Envelope {
            provider,
            family: EventFamily::Iugu(event.family()),
            entity_key: entity.key(),
            entity_type: entity.kind,
            entity_id: entity.id,
            account_id: text("account_id"),
            status: text("status"),
            event: Event::Iugu(event),
            dedup_key,
            sequence: None,
            repeat_of: None,
            received_at,
            data: Data::Form(data),
            extra,
        }
    }

    /// The documented fields, typed; computed on demand so the hot path does not pay for it.
    /// iPag's events have no typed view yet: [`TypedEvent::Other`].
    pub fn typed(&self) -> TypedEvent<'_> {
        match (&self.event, &self.data) {
            (Event::Iugu(event), Data::Form(data)) => TypedEvent::from_data(event, data),
            _ => TypedEvent::Other,
        }
    }
}
