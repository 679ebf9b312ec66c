//! iugu behind the handler's seam ([`Gateway`]): form bodies, `POST`, the token alone.

use http::{HeaderMap, Method};
use time::OffsetDateTime;

use super::{route_path, Family, Iugu, NAME, PATHS};
use webhook_core::envelope::Envelope;
use webhook_core::error::ParseError;
use webhook_core::gateway::{Checked, Gateway};
use webhook_core::refusal::Refusal;

impl Gateway for Iugu {
    fn provider(&self) -> &'static str {
        NAME
    }

    fn path(&self) -> &'static str {
        route_path(self.family.unwrap_or(Family::Other))
    }

    fn paths(&self) -> &'static [&'static str] {
        &PATHS
    }

    fn route_of(&self, path: &str) -> Option<Box<dyn Gateway>> {
        let route: Box<dyn Gateway> = Box::new(Iugu::of_path(path)?);
        Some(route)
    }

    /// iugu does not sign its deliveries: the token is all there is.
    fn signs(&self) -> bool {
        false
    }

    fn verify_with(&mut self, _: &str) -> Result<(), String> {
        Err("iugu does not sign its deliveries".to_owned())
    }

    fn media_type(&self) -> &'static str {
        "application/x-www-form-urlencoded"
    }

    fn max_body_bytes(&self) -> usize {
        crate::form::MAX_BODY_BYTES
    }

    /// Everything iugu sends is in its form body.
    fn kept_headers(&self) -> &'static [&'static str] {
        &[]
    }

    fn allows(&self, method: &Method) -> bool {
        method == Method::POST
    }

    fn token_suffices(&self) -> bool {
        true
    }

    fn check(&self, _: &HeaderMap, _: &[u8], _: OffsetDateTime) -> Result<Checked, Refusal> {
        Ok(Checked::default())
    }

    fn parse(
        &self,
        _: &HeaderMap,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Envelope, ParseError> {
        super::parse(body, now)
    }

    fn misrouted(&self, envelope: &Envelope) -> Option<String> {
        let route = self.family?;
        if envelope.family == route {
            return None;
        }
        Some(match Family::of_event(envelope.event.as_str()) {
            Family::Other => format!(
                "event `{}` belongs to no known family: send it to {}",
                envelope.event,
                route_path(Family::Other)
            ),
            family => format!(
                "event `{}` belongs to the {family} family: send it to {} (or to {})",
                envelope.event,
                route_path(family),
                route_path(Family::Other)
            ),
        })
    }

    fn family_label(&self) -> &'static str {
        self.family.map_or("any", Family::as_str)
    }

    /// iugu does not document how long it waits for an answer; we take iPag's 5 s, the
    /// shorter of what the two gateways are known to do.
    fn waits(&self) -> std::time::Duration {
        std::time::Duration::from_secs(5)
    }
}
