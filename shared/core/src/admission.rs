//! What a request's body becomes on a route: its envelope, or the refusal (status, code,
//! message). The handler calls it once the request is authenticated; `recover quarantine
//! retry` calls it again on a quarantined request, with the parser of the day.
//!
//! It parses through the route's gateway (`gateway::Gateway`: iugu's form, or iPag's JSON with
//! the event named by its header, which must agree with the signed body), checks the route
//! takes the event, and that the body is UTF-8 (it is stored as text).

use http::{HeaderMap, StatusCode};
use time::OffsetDateTime;

use crate::envelope::Envelope;
use crate::gateway::Gateway;
use crate::ErrorClass;

/// Why a body is refused on a route.
#[derive(Debug)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// The envelope, when the body parsed but the route does not take it (`wrong_route`).
    pub envelope: Option<Box<Envelope>>,
}

fn refusal(status: StatusCode, code: &'static str, message: String) -> Refusal {
    Refusal {
        status,
        code,
        message,
        envelope: None,
    }
}

/// The envelope of `body` for `gateway` (as a route serves it), arrived at `now`, or why not.
pub fn admit_to(
    gateway: &dyn Gateway,
    headers: &HeaderMap,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<Envelope, Refusal> {
    let envelope = gateway.parse(headers, body, now).map_err(|e| {
        let status = match e.class() {
            ErrorClass::Malformed => StatusCode::BAD_REQUEST,
            ErrorClass::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorClass::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
        };
        refusal(status, e.code(), e.to_string())
    })?;
    if let Some(message) = gateway.misrouted(&envelope) {
        return Err(Refusal {
            envelope: Some(Box::new(envelope)),
            ..refusal(StatusCode::UNPROCESSABLE_ENTITY, "wrong_route", message)
        });
    }
    // Both parsers have checked the body is UTF-8 (the form parser once percent-decoded, which
    // a body with any non-UTF-8 byte is not); this cannot fail, but never panic.
    if std::str::from_utf8(body).is_err() {
        return Err(refusal(
            StatusCode::BAD_REQUEST,
            "invalid_utf8",
            "the body is not valid UTF-8".to_owned(),
        ));
    }
    Ok(envelope)
}
