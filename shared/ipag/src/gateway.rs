//! iPag behind the handler's seam ([`Gateway`]): JSON bodies, `POST` or `PUT`, the event named
//! by a header, and (with a key) a signature, then a bounded timestamp.

use http::{HeaderMap, Method};
use time::OffsetDateTime;

use super::parse::{EVENT_HEADER, EVENT_HEADER_PLAIN};
use super::replay::{check_envelope, check_timestamp, Timestamp, TIMESTAMP_HEADER};
use super::signature::{SIGNATURE_HEADER, SIGNATURE_HEADER_PLAIN};
use super::{event_from_headers, Ipag, SignatureKey, NAME, ROUTE};
use webhook_core::envelope::Envelope;
use webhook_core::error::ParseError;
use webhook_core::gateway::{Checked, Gateway};
use webhook_core::refusal::Refusal;

/// [`EVENT_HEADER`], [`EVENT_HEADER_PLAIN`] and [`TIMESTAMP_HEADER`], lower case.
const KEPT_HEADERS: [&str; 3] = ["x-ipag-event", "ipag-event", "x-ipag-timestamps"];

impl Gateway for Ipag {
    fn provider(&self) -> &'static str {
        NAME
    }

    fn path(&self) -> &'static str {
        ROUTE
    }

    fn paths(&self) -> &'static [&'static str] {
        &[ROUTE]
    }

    fn route_of(&self, path: &str) -> Option<Box<dyn Gateway>> {
        let route: Box<dyn Gateway> = Box::new(Ipag::of_path(path)?);
        Some(route)
    }

    /// iPag signs with the merchant's key when one is configured (`signature`).
    fn signs(&self) -> bool {
        true
    }

    fn verify_with(&mut self, key: &str) -> Result<(), String> {
        self.signing_key = Some(SignatureKey::from_secret(key).map_err(str::to_owned)?);
        Ok(())
    }

    fn media_type(&self) -> &'static str {
        "application/json"
    }

    fn max_body_bytes(&self) -> usize {
        crate::MAX_BODY_BYTES
    }

    /// The event's name (in either header) and the timestamps: a retry reads the body with
    /// them. Never the signature.
    fn kept_headers(&self) -> &'static [&'static str] {
        &KEPT_HEADERS
    }

    /// iPag's webhook registration lets the merchant choose `POST` or `PUT` (`http_method`).
    fn allows(&self, method: &Method) -> bool {
        method == Method::POST || method == Method::PUT
    }

    /// With a signing key, authentic only once the signature is checked too.
    fn token_suffices(&self) -> bool {
        self.signing_key.is_none()
    }

    fn check(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Checked, Refusal> {
        let mut checked = Checked::default();
        if let Some(key) = &self.signing_key {
            let signatures = headers
                .get_all(SIGNATURE_HEADER)
                .iter()
                .chain(headers.get_all(SIGNATURE_HEADER_PLAIN).iter())
                .map(|v| v.as_bytes());
            if let Err(why) = key.verify(body, signatures) {
                tracing::warn!(reason = why.message(), "refused: iPag signature");
                return Err(Refusal::invalid_signature(why.message()));
            }
            checked.verified = true;
        }
        let stamps = headers.get_all(TIMESTAMP_HEADER);
        match check_timestamp(stamps.iter().map(|v| v.as_bytes()), now) {
            Ok(Timestamp::Unreadable) => checked.timestamp = Some("unreadable"),
            Ok(Timestamp::Absent | Timestamp::Recent) => {}
            Err(why) => {
                tracing::warn!("refused: iPag timestamp out of bounds");
                return Err(Refusal::stale_timestamp(why.message()));
            }
        }
        Ok(checked)
    }

    fn parse(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Envelope, ParseError> {
        let names = headers
            .get_all(EVENT_HEADER)
            .iter()
            .chain(headers.get_all(EVENT_HEADER_PLAIN).iter())
            .map(|v| v.as_bytes());
        let envelope = super::parse(body, event_from_headers(names)?, now)?;
        // The event header is not signed: it must agree with the (signed) body.
        check_envelope(&envelope)?;
        Ok(envelope)
    }

    /// Every iPag event is this route's.
    fn misrouted(&self, _: &Envelope) -> Option<String> {
        None
    }

    fn family_label(&self) -> &'static str {
        "any"
    }

    /// 5 s on the first attempt (10 s and 20 s on its two retries), by iPag's support article
    /// "Funcionamento dos Webhooks iPag".
    fn waits(&self) -> std::time::Duration {
        std::time::Duration::from_secs(5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kept_headers_are_those_it_reads_beside_the_body() {
        let read = [EVENT_HEADER, EVENT_HEADER_PLAIN, TIMESTAMP_HEADER];
        let lower: Vec<String> = read.iter().map(|h| h.to_ascii_lowercase()).collect();
        assert_eq!(lower, KEPT_HEADERS);
        assert!(!KEPT_HEADERS.contains(&SIGNATURE_HEADER.to_ascii_lowercase().as_str()));
    }
}
