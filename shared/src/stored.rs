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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipag::Ipag;
    use crate::iugu::Iugu;
    use time::macros::datetime;

    const GATEWAYS: [&dyn Parsers; 2] = [&Iugu::ALL_EVENTS, &Ipag::UNSIGNED];

    const PAID: &str = "event=invoice.status_changed&data%5Bid%5D=84F982E1A10F4FF1B483B829F4762C2C&data%5Bstatus%5D=paid";
    const AT: OffsetDateTime = datetime!(2026-11-20 10:00:26.398562 UTC);

    fn stored(body: &str, provider: &str, event: &str) -> (Envelope, StoredNotification) {
        let mut original = match provider {
            "ipag" => crate::ipag::parse(body.as_bytes(), Some(event), AT),
            _ => crate::iugu::parse(body.as_bytes(), AT),
        }
        .expect("parses");
        original.sequence = Some(3);
        original.repeat_of = Some(RepeatOf {
            sequence: Some(1),
            received_at: datetime!(2026-11-19 10:00 UTC),
        });
        let stored = StoredNotification {
            provider: provider.to_owned(),
            event: event.to_owned(),
            raw_body: body.to_owned(),
            received_at: AT,
            dedup_key: original.dedup_key.clone(),
            entity_key: original.entity_key.clone(),
            sequence: original.sequence,
            repeat_of: original.repeat_of,
        };
        (original, stored)
    }

    #[test]
    fn the_envelope_is_rebuilt_exactly() {
        let (original, stored) = stored(PAID, "iugu", "invoice.status_changed");
        let rebuilt = stored.envelope(&GATEWAYS).expect("rebuilt");
        assert_eq!(rebuilt, original);
        assert_eq!(
            serde_json::to_string(&rebuilt).expect("json"),
            serde_json::to_string(&original).expect("json")
        );
        assert_eq!(
            rebuilt.message_deduplication_id(),
            format!("{}-3", original.dedup_key)
        );
    }

    /// iPag's event name comes from a header: the stored `event` carries it back.
    #[test]
    fn an_ipag_envelope_is_rebuilt_from_its_body_and_event() {
        let body = r#"{"id":3012161,"uuid":"178dea199ac2071615afc44551baf794","resource":"transactions","attributes":{"status":{"code":8,"message":"CAPTURED"}}}"#;
        let (original, mut stored) = stored(body, "ipag", "TransactionCaptured");
        assert_eq!(stored.entity_key, "ipag-transaction#3012161");
        assert_eq!(stored.envelope(&GATEWAYS).expect("rebuilt"), original);
        // Another event name is another notification (another key): refused, not resent.
        stored.event = "TransactionDenied".to_owned();
        let err = stored.envelope(&GATEWAYS).expect_err("other key");
        assert!(err.contains("another key"), "{err}");
    }

    #[test]
    fn an_unknown_provider_or_a_changed_key_is_refused() {
        let (_, mut s) = stored(PAID, "iugu", "invoice.status_changed");
        s.provider = "stripe".to_owned();
        assert_eq!(
            s.envelope(&GATEWAYS).expect_err("unknown"),
            "unknown provider `stripe`"
        );
        let (_, mut s) = stored(PAID, "iugu", "invoice.status_changed");
        s.dedup_key = "0".repeat(64);
        assert!(s
            .envelope(&GATEWAYS)
            .expect_err("other key")
            .contains("another key"));
        let (_, mut s) = stored(PAID, "iugu", "invoice.status_changed");
        s.raw_body = "event=".to_owned();
        assert!(s
            .envelope(&GATEWAYS)
            .expect_err("no longer parses")
            .starts_with("its raw body no longer parses"));
    }
}
