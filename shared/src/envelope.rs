//! The one shape consumers read: a notification, normalised, without any form encoding.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::dedup::{dedup_key, DELIVERY_FIELDS};
use crate::entity::{self, EntityRef};
use crate::error::ParseError;
use crate::event::{EventName, Family};
use crate::form::{self, Fields, Node};
use crate::typed::TypedEvent;

/// The gateway a notification came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Iugu,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Iugu => "iugu",
        }
    }
}

/// A parsed, validated notification. Serialised, it is the message forwarded to the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub provider: Provider,
    pub event: EventName,
    pub family: Family,
    pub entity_type: String,
    pub entity_id: String,
    /// `<entity_type>#<entity_id>`: the storage partition and the FIFO message group.
    pub entity_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    pub dedup_key: String,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    /// Everything under `data[...]`, nested.
    pub data: Fields,
    /// Other top-level fields, if iugu sends any, but not delivery counters such as
    /// `retry_count`: they differ between deliveries of the same notification.
    #[serde(default, skip_serializing_if = "Fields::is_empty")]
    pub extra: Fields,
}

impl Envelope {
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
            family: event.family(),
            entity_key: entity.key(),
            entity_type: entity.kind,
            entity_id: entity.id,
            account_id: text("account_id"),
            status: text("status"),
            event,
            dedup_key,
            received_at,
            data,
            extra,
        }
    }

    /// The documented fields, typed; computed on demand so the hot path does not pay for it.
    pub fn typed(&self) -> TypedEvent<'_> {
        TypedEvent::from_data(&self.event, &self.data)
    }
}
