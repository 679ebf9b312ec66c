//! From iPag's request (the JSON body and the event header) to an [`Envelope`].
//!
//! Rules, in the order they are checked (each refusal is a [`ParseError`]):
//! - the body is at most [`MAX_BODY_BYTES`], not blank, and UTF-8;
//! - it is JSON (strictly: no key twice in an object, no empty key; see `json`);
//! - it is a JSON object (iPag sends its v2 resource, `{"id", "uuid", "resource", "attributes"}`);
//! - the event name is the `X-Ipag-Event` header (or `Ipag-Event`, which iPag's own Magento
//!   module also reads); without one, an `event` string in the body (an assumption: no iPag
//!   body we know of has it, but a relay or a test tool might put it there); neither is 422;
//! - an unknown event name is accepted (stored and forwarded), like iugu's;
//! - the entity is found as `entity` says.

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::dedup::dedup_key;
use super::entity;
use super::event::IpagEvent;
use super::json::parse_strict;
use super::{Ipag, PROVIDER};
use webhook_core::envelope::{Data, Envelope};
use webhook_core::error::ParseError;
use webhook_core::fields::Fields;
use webhook_core::stored::Parsers;

/// The stored `event` is the header the notification came with.
impl Parsers for Ipag {
    fn parse_stored(
        &self,
        provider: &str,
        event: &str,
        body: &[u8],
        received_at: OffsetDateTime,
    ) -> Option<Result<Envelope, ParseError>> {
        (provider == PROVIDER.as_str()).then(|| parse(body, Some(event), received_at))
    }
}

/// Largest body accepted. iPag's documented transaction (with customer, card, products and
/// three history entries) is about 3 KiB; 64 KiB leaves room for long histories, split rules and
/// receivables, and still fits a DynamoDB item (400 KB) with its `data` map.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The header that names the event, as iPag sends it.
pub const EVENT_HEADER: &str = "X-Ipag-Event";
/// The same without `X-`: iPag's Magento 2 module reads both.
pub const EVENT_HEADER_PLAIN: &str = "Ipag-Event";

/// The event name the request's event headers carry: every value of `X-Ipag-Event` and
/// `Ipag-Event`, in any order. Blank values are ignored; values that disagree are refused, since
/// we could not say which one iPag meant.
pub fn event_from_headers<'h>(
    values: impl IntoIterator<Item = &'h [u8]>,
) -> Result<Option<&'h str>, ParseError> {
    let mut found: Option<&str> = None;
    for raw in values {
        let value = std::str::from_utf8(raw)
            .map_err(|_| ParseError::InvalidEvent {
                why: "the event header is not UTF-8",
            })?
            .trim();
        if value.is_empty() {
            continue;
        }
        match found {
            Some(seen) if seen != value => {
                return Err(ParseError::InvalidEvent {
                    why: "the event headers disagree",
                })
            }
            _ => found = Some(value),
        }
    }
    Ok(found)
}

/// Parses, identifies and normalises an iPag notification. `event_header` is the event name
/// from the request's headers (see [`event_from_headers`]).
pub fn parse(
    body: &[u8],
    event_header: Option<&str>,
    received_at: OffsetDateTime,
) -> Result<Envelope, ParseError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ParseError::BodyTooLarge {
            size: body.len(),
            max: MAX_BODY_BYTES,
        });
    }
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ParseError::EmptyBody);
    }
    // The raw body is stored as a string; JSON is UTF-8 by definition (RFC 8259).
    if let Err(e) = std::str::from_utf8(body) {
        return Err(ParseError::InvalidUtf8 {
            offset: e.valid_up_to(),
        });
    }
    let value = parse_strict(body)?;
    let Value::Object(object) = &value else {
        return Err(ParseError::NotAnObject {
            found: kind_of(&value),
        });
    };
    let event = event_name(event_header, object)?;
    let dedup_key = dedup_key(PROVIDER.as_str(), event.as_str(), &value);
    let entity = entity::resolve(&event, object, &dedup_key)?;
    let status = status_of(object);
    Ok(Envelope {
        schema_version: webhook_core::SCHEMA_VERSION,
        provider: PROVIDER,
        family: event.family().into(),
        event: event.into_event(),
        entity_key: entity.key(),
        entity_type: entity.kind,
        entity_id: entity.id,
        account_id: None,
        status,
        dedup_key,
        sequence: None,
        repeat_of: None,
        received_at,
        data: Data::Json(value),
        extra: Fields::new(),
        gap: None,
    })
}

fn event_name(header: Option<&str>, body: &Map<String, Value>) -> Result<IpagEvent, ParseError> {
    match (header, body.get("event")) {
        (Some(name), _) => IpagEvent::parse(name),
        (None, Some(Value::String(name))) => IpagEvent::parse(name),
        (None, Some(_)) => Err(ParseError::InvalidEvent {
            why: "`event` in the body is not a string",
        }),
        (None, None) => Err(ParseError::MissingEventName {
            header: EVENT_HEADER,
        }),
    }
}

/// The resource's status: a transaction's `attributes.status.code` (iPag's numeric codes: 1
/// CREATED ... 8 CAPTURED ... 10 IN DISPUTE), or `attributes.status` when it is a plain string
/// (transfers: `"failed"`).
fn status_of(body: &Map<String, Value>) -> Option<String> {
    match body.get("attributes")?.get("status")? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Object(status) => match status.get("code")? {
            Value::Number(n) => Some(n.to_string()),
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
