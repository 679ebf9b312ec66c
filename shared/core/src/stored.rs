//! A notification as the store keeps it, and the envelope rebuilt from it: what a forward of
//! an earlier notification (the request path keeping order, `recover replay`) sends.

use time::OffsetDateTime;

use crate::envelope::{Data, Envelope, Event, EventFamily, Gap, Provider, RepeatOf};
use crate::error::ParseError;
use crate::fields::Fields;

/// What turns a stored raw body back into its envelope: the parser of the gateway that sent
/// it (`iugu::Iugu`, `ipag::Ipag`), chosen by the stored `provider`. The core parses nothing
/// itself; whoever forwards stored notifications passes the gateways it serves (a function its
/// own, the sweeper and `recover` every one: a list of them is `Parsers` too).
pub trait Parsers: Sync {
    /// The envelope `provider`'s parser makes of `body` (with the stored `event` name: iPag
    /// names the event in a header, not the body), or `None` if this knows no such provider.
    fn parse_stored(
        &self,
        provider: &str,
        event: &str,
        body: &[u8],
        received_at: OffsetDateTime,
    ) -> Option<Result<Envelope, ParseError>>;
}

/// What the store keeps of a notification that matters to forward it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredNotification {
    pub provider: String,
    /// The event name as received (iPag sends it in a header, so the body alone lacks it).
    pub event: String,
    /// Its family, as the gateway named it when it was stored (empty if the item has none).
    pub family: String,
    pub raw_body: String,
    /// Its first delivery's arrival.
    pub received_at: OffsetDateTime,
    pub dedup_key: String,
    pub entity_key: String,
    pub sequence: Option<u64>,
    pub repeat_of: Option<RepeatOf>,
    /// When it is deleted (arrival + retention); `None` for items stored before sequences.
    pub expires_at: Option<OffsetDateTime>,
    /// Set aside (it can no longer be read, or an operator skipped it): forwarded as a gap
    /// record with this cause, never with its body.
    pub aside: Option<Gap>,
}

impl StoredNotification {
    /// Whether it is still kept at `now`: past its `expires_at` it is gone, whether or not the
    /// store has deleted it yet (DynamoDB's TTL deletes up to about two days late). The one
    /// rule every store's reader applies.
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }

    /// The gap record that stands for it in its entity's order, with `gap`'s cause: the
    /// envelope's names and keys, no data.
    pub fn gap(&self, gap: Gap) -> Envelope {
        let mut envelope = gap_record(&self.entity_key, self.sequence.unwrap_or_default(), gap);
        envelope.provider = Provider::from(self.provider.clone());
        envelope.event = Event::from(self.event.clone());
        envelope.family = EventFamily::from(self.family.clone());
        envelope.dedup_key = self.dedup_key.clone();
        envelope.received_at = self.received_at;
        envelope.repeat_of = self.repeat_of;
        envelope
    }

    /// The envelope its first forward sent, rebuilt from the raw body: same bytes, same
    /// sequence, same de-duplication id. The raw body must still parse to the stored key and
    /// entity, or nothing is rebuilt: a forward never sends what the first one did not.
    pub fn envelope(&self, parsers: &dyn Parsers) -> Result<Envelope, String> {
        let body = self.raw_body.as_bytes();
        let Some(parsed) =
            parsers.parse_stored(&self.provider, &self.event, body, self.received_at)
        else {
            return Err(format!("unknown provider `{}`", self.provider));
        };
        let mut envelope = parsed.map_err(|e| format!("its raw body no longer parses: {e}"))?;
        if envelope.dedup_key != self.dedup_key || envelope.entity_key != self.entity_key {
            return Err(
                "its raw body now parses to another key or entity than it was stored under"
                    .to_owned(),
            );
        }
        envelope.sequence = self.sequence;
        envelope.repeat_of = self.repeat_of;
        Ok(envelope)
    }
}

/// The gap record for notification `sequence` of `entity_key` when nothing else is known of it
/// (it was deleted before it could be forwarded): names empty, `received_at` the epoch.
pub fn gap_record(entity_key: &str, sequence: u64, gap: Gap) -> Envelope {
    let (entity_type, entity_id) = entity_key.split_once('#').unwrap_or(("", entity_key));
    Envelope {
        schema_version: crate::envelope::SCHEMA_VERSION,
        provider: Provider::from_static(""),
        event: Event::from_static(""),
        family: EventFamily::from_static(""),
        entity_type: entity_type.to_owned(),
        entity_id: entity_id.to_owned(),
        entity_key: entity_key.to_owned(),
        account_id: None,
        status: None,
        dedup_key: String::new(),
        sequence: Some(sequence),
        repeat_of: None,
        received_at: OffsetDateTime::UNIX_EPOCH,
        data: Data::Json(serde_json::Value::Null),
        extra: Fields::new(),
        gap: Some(gap),
    }
}
