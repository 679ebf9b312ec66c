//! From iugu's request body (a form) to an [`Envelope`]: parsed, typed by event, identified
//! and normalised.

use time::OffsetDateTime;

use super::dedup::{dedup_key, DELIVERY_FIELDS};
use super::entity;
use super::event::EventName;
use super::form::parse_form;
use super::{Iugu, PROVIDER};
use webhook_core::envelope::{Data, Envelope};
use webhook_core::error::ParseError;
use webhook_core::fields::{Fields, Node};
use webhook_core::stored::Parsers;

impl Parsers for Iugu {
    fn parse_stored(
        &self,
        provider: &str,
        _event: &str,
        body: &[u8],
        received_at: OffsetDateTime,
    ) -> Option<Result<Envelope, ParseError>> {
        (provider == PROVIDER.as_str()).then(|| parse(body, received_at))
    }
}

/// Parses, types, identifies and normalises an iugu notification body.
pub fn parse(body: &[u8], received_at: OffsetDateTime) -> Result<Envelope, ParseError> {
    let mut fields = parse_form(body)?;
    let event = match fields.get("event") {
        Some(Node::Text(name)) => EventName::parse(name)?,
        Some(_) => {
            return Err(ParseError::InvalidEvent {
                why: "it is a group of fields, not a value",
            });
        }
        None => return Err(ParseError::MissingEvent { field: "event" }),
    };
    let dedup_key = dedup_key(PROVIDER.as_str(), &fields);
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
    let text = |name: &str| data.get(name).and_then(Node::as_text).map(str::to_owned);
    Ok(Envelope {
        schema_version: webhook_core::SCHEMA_VERSION,
        provider: PROVIDER,
        family: event.family().into(),
        entity_key: entity.key(),
        entity_type: entity.kind,
        entity_id: entity.id,
        account_id: text("account_id"),
        status: text("status"),
        event: event.into_event(),
        dedup_key,
        sequence: None,
        repeat_of: None,
        received_at,
        data: Data::Fields(data),
        extra: fields,
        gap: None,
    })
}
