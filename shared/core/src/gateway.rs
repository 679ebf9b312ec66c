//! The seam between the HTTP edge and a gateway: what the handler (and `recover quarantine
//! retry`, through `admission`) asks of whichever gateway a route serves. The handler runs
//! admit → deliver → answer and knows no gateway of its own; each gateway says what it sends,
//! how a request of its is verified, what of a refused one is kept, and how its body becomes an
//! envelope (each gateway's crate implements it; `webhook_gateways::ALL` lists them). Feature
//! `http` (the request's types, from the `http` crate).

use http::{HeaderMap, Method};
use time::OffsetDateTime;

use crate::envelope::Envelope;
use crate::error::ParseError;
use crate::refusal::Refusal;
use crate::stored::Parsers;

/// What a gateway's checks found about a request that passed them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    /// The request's authenticity was verified beyond the token (a signature).
    pub verified: bool,
    /// A timestamp the gateway sent and we could not read: `unreadable` (the log line's
    /// `gateway_timestamp` says so).
    pub timestamp: Option<&'static str>,
}

/// One gateway, as a route serves it; it also rebuilds its stored notifications ([`Parsers`]).
/// A function serves one, chosen in its `main`; the handler and the start-up ask it everything
/// that differs between gateways, so the edge names none (adding one: docs/architecture.md).
pub trait Gateway: Parsers + Send {
    /// Its envelopes' `provider`, also the metrics' `Provider` and the secret's `gateway`.
    fn provider(&self) -> &'static str;

    /// The path of the route it serves (after any stage or base-path prefix).
    fn path(&self) -> &'static str;

    /// Every path its routes end in: a request whose path ends in none is refused (404).
    fn paths(&self) -> &'static [&'static str];

    /// The gateway as the route whose path `path` ends in (after any stage or base-path
    /// prefix) serves it, or `None` when it is none of [`Gateway::paths`]: what `recover
    /// quarantine retry` admits a kept request with. Without a signing key: the request was
    /// authenticated when it was kept.
    fn route_of(&self, path: &str) -> Option<Box<dyn Gateway>>;

    /// Whether it signs its deliveries, so that its secret may hold a `signing_key`.
    fn signs(&self) -> bool;

    /// From now on, verify every request with `key` (a `signing_key` from its secret; only
    /// called when [`Gateway::signs`]). A key the gateway cannot sign with (blank, too short)
    /// is an error that says why, never the key: the function does not start, rather than
    /// run with the check silently off.
    fn verify_with(&mut self, key: &str) -> Result<(), String>;

    /// The one media type it sends (parameters such as `charset` aside).
    fn media_type(&self) -> &'static str;

    /// Whether it sends with `method`.
    fn allows(&self, method: &Method) -> bool;

    /// Whether the token alone makes a request authentic; `false` when [`Gateway::check`]
    /// verifies more (a signature), so a refusal before that is not kept in the quarantine.
    fn token_suffices(&self) -> bool;

    /// The checks beyond the token, once the body is at hand and before it is parsed (a
    /// signature, the age of a timestamp). Each refusal logs its own warning.
    fn check(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Checked, Refusal>;

    /// The body, arrived at `now`, as an envelope, with whatever the gateway reads from the
    /// headers (an event's name, say, which must agree with the signed body).
    fn parse(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Envelope, ParseError>;

    /// Why this route does not take `envelope` (the `wrong_route` message), or `None`.
    fn misrouted(&self, envelope: &Envelope) -> Option<String>;

    /// The family a refusal is counted under when the body named none: the route's own.
    fn family_label(&self) -> &'static str;

    /// The largest body it takes (a larger one is refused 413): also the most of a refused
    /// body the quarantine keeps.
    fn max_body_bytes(&self) -> usize;

    /// The headers it reads beside the body (lower case; never one that authenticates): a
    /// refused request keeps them in the quarantine, beside `quarantine::KEPT_HEADERS`, so
    /// that a retry reads the body as the request path did.
    fn kept_headers(&self) -> &'static [&'static str];

    /// How long it waits for an answer before it takes a delivery for failed (and retries it):
    /// a 200 that comes later is a failure to the gateway, so the handler answers well within
    /// it (docs/delivery-semantics.md, per gateway).
    fn waits(&self) -> std::time::Duration;
}

/// Each gateway in turn, as a list of them rebuilds stored notifications: the first that
/// knows the provider parses (`webhook_gateways::ALL`).
impl<const N: usize> Parsers for [&dyn Gateway; N] {
    fn parse_stored(
        &self,
        provider: &str,
        event: &str,
        body: &[u8],
        received_at: OffsetDateTime,
    ) -> Option<Result<Envelope, ParseError>> {
        self.iter()
            .find_map(|gateway| gateway.parse_stored(provider, event, body, received_at))
    }
}
