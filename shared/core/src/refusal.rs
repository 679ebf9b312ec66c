//! Every answer that is not a 200: one `Refusal` (status, `error` code, message), made by its
//! named constructor, its code from [`crate::code`]. The handler's checks, a gateway's own
//! checks, the admission of a body and the store and queue failing all refuse with it, so a
//! refusal's status, code and message are written once, here (the answers' table:
//! docs/envelope.md#answers). Feature `http` (the status is `http`'s).

use http::StatusCode;

use crate::code;
use crate::envelope::Envelope;
use crate::error::{ErrorClass, ParseError};

/// A request refused: the answer's status, its `error` code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// The envelope, when the body parsed but the route does not take it (`wrong_route`):
    /// the log line names its event and family.
    pub envelope: Option<Box<Envelope>>,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            code,
            message: message.into(),
            envelope: None,
        }
    }

    /// 400: the URL cannot be read (the screen marked it).
    pub fn invalid_uri() -> Refusal {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            code::INVALID_URI,
            "the request's URL cannot be read (too long, or characters a URL may not hold)",
        )
    }

    /// 405: the gateway does not send with `method`.
    pub fn method_not_allowed(method: &http::Method) -> Refusal {
        Refusal::new(
            StatusCode::METHOD_NOT_ALLOWED,
            code::METHOD_NOT_ALLOWED,
            format!("use POST, not {method}"),
        )
    }

    /// 404: the path is none of the gateway's routes.
    pub fn not_found() -> Refusal {
        Refusal::new(
            StatusCode::NOT_FOUND,
            code::NOT_FOUND,
            "no route here: POST to one of the URLs the deployment printed",
        )
    }

    /// 403: the source address is not allowed.
    pub fn forbidden() -> Refusal {
        Refusal::new(
            StatusCode::FORBIDDEN,
            code::FORBIDDEN,
            "this address may not send notifications here",
        )
    }

    /// 401: no token, a wrong one, or none configured (`why` says which, never the token).
    pub fn unauthorized(why: &str) -> Refusal {
        Refusal::new(StatusCode::UNAUTHORIZED, code::UNAUTHORIZED, why)
    }

    /// 415: not the gateway's media type (`why` names the expected one).
    pub fn unsupported_media_type(why: String) -> Refusal {
        Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code::UNSUPPORTED_MEDIA_TYPE,
            why,
        )
    }

    /// 400: the body is flagged base64 and is not (the screen marked it).
    pub fn invalid_base64() -> Refusal {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            code::INVALID_BASE64,
            "the body is flagged base64-encoded but is not valid base64",
        )
    }

    /// 401: the gateway's signature is missing or wrong (`why`, never the key).
    pub fn invalid_signature(why: &str) -> Refusal {
        Refusal::new(StatusCode::UNAUTHORIZED, code::INVALID_SIGNATURE, why)
    }

    /// 422: the gateway's timestamp is too old or too far ahead: a replay's refusal, never
    /// kept in the quarantine.
    pub fn stale_timestamp(why: String) -> Refusal {
        Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, code::STALE_TIMESTAMP, why)
    }

    /// 400, 413 or 422 by the fault's class: the body does not parse.
    pub fn unparsable(fault: &ParseError) -> Refusal {
        let status = match fault.class() {
            ErrorClass::Malformed => StatusCode::BAD_REQUEST,
            ErrorClass::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorClass::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
        };
        Refusal::new(status, fault.code(), fault.to_string())
    }

    /// 422: the route does not take `envelope` (`why` names the route that does).
    pub fn wrong_route(envelope: Envelope, why: String) -> Refusal {
        Refusal {
            envelope: Some(Box::new(envelope)),
            ..Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, code::WRONG_ROUTE, why)
        }
    }

    /// 400: the body is not UTF-8 (it is stored as text).
    pub fn invalid_utf8() -> Refusal {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            code::INVALID_UTF8,
            "the body is not valid UTF-8",
        )
    }

    /// 503: storing and forwarding did not end within the request's budget.
    pub fn timeout() -> Refusal {
        Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            code::TIMEOUT,
            "the notification could not be stored and forwarded in time; retry later",
        )
    }

    /// 503: the store failed.
    pub fn store_failed() -> Refusal {
        Refusal::downstream(code::STORE_FAILED)
    }

    /// 503: the queue failed.
    pub fn forward_failed() -> Refusal {
        Refusal::downstream(code::FORWARD_FAILED)
    }

    fn downstream(code: &'static str) -> Refusal {
        Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            code,
            "the notification could not be stored and forwarded; retry later",
        )
    }

    /// 503: stored, but earlier notifications of its entity are still being forwarded.
    pub fn forward_backlog() -> Refusal {
        Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            code::FORWARD_BACKLOG,
            "stored; earlier notifications of its entity are still being forwarded: retry later",
        )
    }

    /// Whether an authenticated request refused so is kept in the quarantine: a body that
    /// did not parse or was refused on its route (400, 413, 422), but not a replay's stale
    /// timestamp, which is no notification we failed to read.
    pub fn is_quarantined(&self) -> bool {
        crate::quarantine::is_quarantined(self.status.as_u16())
            && self.code != code::STALE_TIMESTAMP
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parse_fault_is_answered_by_its_class_with_its_code() {
        let too_large = Refusal::unparsable(&ParseError::BodyTooLarge { size: 9, max: 8 });
        assert_eq!(too_large.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(too_large.code, code::BODY_TOO_LARGE);
        assert_eq!(too_large.message, "the body is 9 bytes; the limit is 8");
        let empty = Refusal::unparsable(&ParseError::EmptyBody);
        assert_eq!(
            (empty.status, empty.code),
            (StatusCode::BAD_REQUEST, "empty_body")
        );
        let no_id = Refusal::unparsable(&ParseError::MissingEvent { field: "event" });
        assert_eq!(no_id.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(empty.is_quarantined() && no_id.is_quarantined());
    }

    #[test]
    fn a_stale_timestamp_and_the_checks_before_the_body_are_not_quarantined() {
        assert!(!Refusal::stale_timestamp("old".to_owned()).is_quarantined());
        assert!(!Refusal::unauthorized("no").is_quarantined());
        assert!(!Refusal::unsupported_media_type("json".to_owned()).is_quarantined());
        assert!(!Refusal::timeout().is_quarantined());
        assert!(Refusal::invalid_base64().is_quarantined());
    }
}
