//! Reading an envelope back from its JSON. The names in `event` and `family` and the shape of
//! `data` mean different things per gateway, so the JSON is first read as it stands and then
//! interpreted by its `provider`.

use serde::Deserialize;
use time::OffsetDateTime;

use crate::envelope::{Envelope, Provider, RepeatOf};
use crate::event::EventName;
use crate::form::Fields;
use crate::gateway::{Data, Event, EventFamily};
use crate::ipag::IpagEvent;

/// An envelope's JSON, before the provider says how to read it.
#[derive(Deserialize)]
pub struct WireEnvelope {
    provider: Provider,
    event: String,
    family: String,
    entity_type: String,
    entity_id: String,
    entity_key: String,
    #[serde(default)]
    account_id: Option<String>,
    #[serde(default)]
    status: Option<String>,
    dedup_key: String,
    #[serde(default)]
    sequence: Option<u64>,
    #[serde(default)]
    repeat_of: Option<RepeatOf>,
    #[serde(with = "time::serde::rfc3339")]
    received_at: OffsetDateTime,
    data: serde_json::Value,
    #[serde(default)]
    extra: Fields,
}

impl TryFrom<WireEnvelope> for Envelope {
    type Error = String;

    fn try_from(w: WireEnvelope) -> Result<Envelope, String> {
        let (event, data) = match w.provider {
            Provider::Iugu => {
                let data: Fields = serde_json::from_value(w.data)
                    .map_err(|e| format!("iugu `data` is not a map of strings: {e}"))?;
                (
                    Event::Iugu(EventName::from_name(&w.event)),
                    Data::Form(data),
                )
            }
            Provider::Ipag => (
                Event::Ipag(IpagEvent::from_name(&w.event)),
                Data::Json(w.data),
            ),
        };
        let family = event.family();
        if family.as_str() != w.family {
            return Err(format!(
                "family `{}` is not the family of event `{event}` ({family})",
                w.family
            ));
        }
        let family: EventFamily = family;
        Ok(Envelope {
            provider: w.provider,
            event,
            family,
            entity_type: w.entity_type,
            entity_id: w.entity_id,
            entity_key: w.entity_key,
            account_id: w.account_id,
            status: w.status,
            dedup_key: w.dedup_key,
            sequence: w.sequence,
            repeat_of: w.repeat_of,
            received_at: w.received_at,
            data,
            extra: w.extra,
        })
    }
}
