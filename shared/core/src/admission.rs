//! What a request's body becomes on a route: its envelope, or the [`Refusal`]. The handler calls
//! it once the request is authenticated; `recover quarantine retry` calls it again on a
//! quarantined request, with the parser of the day.
//!
//! It parses through the route's gateway (`gateway::Gateway`: its parser, with whatever it
//! reads from the headers) and checks the route takes the event. Then [`body_text`] gives the
//! body as the text it is stored as.

use http::HeaderMap;
use time::OffsetDateTime;

use crate::envelope::Envelope;
use crate::gateway::Gateway;
use crate::refusal::Refusal;

/// The envelope of `body` for `gateway` (as a route serves it), arrived at `now`, or why not.
pub fn admit_to(
    gateway: &dyn Gateway,
    headers: &HeaderMap,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<Envelope, Refusal> {
    let envelope = gateway
        .parse(headers, body, now)
        .map_err(|fault| Refusal::unparsable(&fault))?;
    match gateway.misrouted(&envelope) {
        Some(why) => Err(Refusal::wrong_route(envelope, why)),
        None => Ok(envelope),
    }
}

/// An admitted body as the text it is stored as: the one place it is checked to be UTF-8.
/// Every gateway's parser has refused a body that is not (a form's once percent-decoded, which
/// a body with any non-UTF-8 byte is not), so this does not fail; it never panics either way.
pub fn body_text(body: &[u8]) -> Result<&str, Refusal> {
    std::str::from_utf8(body).map_err(|_| Refusal::invalid_utf8())
}
