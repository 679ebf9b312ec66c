//! A notification as the store keeps it, and the envelope rebuilt from it: what a forward of
//! an earlier notification (the request path keeping order, `recover replay`) sends.

use time::OffsetDateTime;

use crate::envelope::{Envelope, RepeatOf};
use crate::error::ParseError;

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

/// Each in turn: the first that knows the provider parses.
impl Parsers for [&dyn Parsers] {
    fn parse_stored(
        &self,
        provider: &str,
        event: &str,
        body: &[u8],
        received_at: OffsetDateTime,
    ) -> Option<Result<Envelope, ParseError>> {
        self.iter()
            .find_map(|parsers| parsers.parse_stored(provider, event, body, received_at))
    }
}

impl<const N: usize> Parsers for [&dyn Parsers; N] {
    fn parse_stored(
        &self,
        provider: &str,
        event: &str,
        body: &[u8],
        received_at: OffsetDateTime,
    ) -> Option<Result<Envelope, ParseError>> {
        self.as_slice()
            .parse_stored(provider, event, body, received_at)
    }
}

/// What the store keeps of a notification that matters to forward it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredNotification {
    pub provider: String,
    /// The event name as received (iPag sends it in a header, so the body alone lacks it).
    pub event: String,
    pub raw_body: String,
    /// Its first delivery's arrival.
    pub received_at: OffsetDateTime,
    pub dedup_key: String,
    pub entity_key: String,
    pub sequence: Option<u64>,
    pub repeat_of: Option<RepeatOf>,
}

impl StoredNotification {
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
