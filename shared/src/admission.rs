//! What a request's body becomes on a route: `webhook_core::admission` (through the route's
//! gateway), here for a [`Route`] of the handler's table.

use lambda_http::http::HeaderMap;
use time::OffsetDateTime;

use crate::envelope::Envelope;
use crate::http::Route;
pub use webhook_core::admission::{admit_to, Refusal};

/// The envelope of `body` on `route`, arrived at `now`, or why not.
pub fn admit(
    route: Route,
    headers: &HeaderMap,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<Envelope, Refusal> {
    admit_to(route.gateway(None).as_dyn(), headers, body, now)
}
