//! Why a body was refused. Each variant names one precise fault; [`ParseError::class`] tells
//! the HTTP layer which status it maps to, and [`ParseError::code`] is the stable machine code
//! that goes into the JSON error body.
//!
//! The named variants are the faults today's gateways report, kept as they are because their
//! codes are part of the answers' contract: the form faults are iugu's (`invalid_percent_escape`
//! ... `conflicting_key`), the JSON ones and `event_mismatch` iPag's, the rest shared. A new
//! gateway reports a fault of its own as [`ParseError::Gateway`], with its code and class,
//! without a change here.

use thiserror::Error;

/// The most of a name an error echoes (into the answer, and the quarantine's message).
pub const MAX_ECHOED_KEY_BYTES: usize = 64;

/// `key` as an error echoes it: at most [`MAX_ECHOED_KEY_BYTES`] (cut at a character
/// boundary, then `…`), whatever the body sent.
pub fn clip_key(key: &str) -> String {
    if key.len() <= MAX_ECHOED_KEY_BYTES {
        return key.to_owned();
    }
    let mut end = MAX_ECHOED_KEY_BYTES;
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &key[..end])
}

/// A notification body we refuse. Refusing never loses data silently: the gateway is told
/// (4xx) and the body is not stored.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    #[error("the body is empty")]
    EmptyBody,
    #[error("the body is {size} bytes; the limit is {max}")]
    BodyTooLarge { size: usize, max: usize },
    #[error("the body has more than {max} fields")]
    TooManyFields { max: usize },
    #[error("a `%` is not followed by two hex digits (in the field at byte {offset})")]
    InvalidPercentEscape { offset: usize },
    #[error("the body is not valid UTF-8 once percent-decoded (at decoded byte {offset})")]
    InvalidUtf8 { offset: usize },
    #[error("a field name is {len} bytes; the limit is {max}")]
    KeyTooLong { len: usize, max: usize },
    #[error("field `{key}` contains a NUL byte")]
    NulByte { key: String },
    #[error("field name `{key}` is malformed: {why}")]
    MalformedKey { key: String, why: &'static str },
    #[error("a field name nests deeper than {max} levels")]
    TooDeep { max: usize },
    #[error("field `{key}` is sent twice with different values")]
    DuplicateKey { key: String },
    #[error("field `{key}` is used both as a value and as a group of fields")]
    ConflictingKey { key: String },
    #[error("the body has no `{field}` field")]
    MissingEvent { field: &'static str },
    #[error("the body is not JSON (at line {line}, column {column})")]
    InvalidJson { line: usize, column: usize },
    #[error("the body is JSON {found}, not an object")]
    NotAnObject { found: &'static str },
    #[error("no event name: no `{header}` header, and no `event` field in the body")]
    MissingEventName { header: &'static str },
    #[error("the event name is invalid: {why}")]
    InvalidEvent { why: &'static str },
    #[error("event `{event}` needs `{field}`, the id it is stored under, and the body has none")]
    MissingEntityId { event: String, field: String },
    #[error("`{field}` of event `{event}` is not a usable id: {why}")]
    InvalidEntityId {
        event: String,
        field: String,
        why: &'static str,
    },
    #[error("event `{event}` does not match the body: {why}")]
    EventMismatch { event: String, why: String },
    /// A fault only one gateway has and none of the above names: its code (snake case, stable:
    /// clients match on it), the status class, and the message (never the body's secrets).
    #[error("{message}")]
    Gateway {
        code: &'static str,
        class: ErrorClass,
        message: String,
    },
}

/// How the HTTP layer answers a [`ParseError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// 400: the body is not a well-formed notification.
    Malformed,
    /// 413: the body is over a size bound.
    TooLarge,
    /// 422: well-formed, but it lacks what identifies the notification.
    Unprocessable,
}

impl ParseError {
    pub fn class(&self) -> ErrorClass {
        use ParseError::*;
        match self {
            BodyTooLarge { .. } | TooManyFields { .. } => ErrorClass::TooLarge,
            MissingEvent { .. }
            | MissingEventName { .. }
            | InvalidEvent { .. }
            | MissingEntityId { .. }
            | InvalidEntityId { .. }
            | EventMismatch { .. } => ErrorClass::Unprocessable,
            EmptyBody
            | InvalidPercentEscape { .. }
            | InvalidUtf8 { .. }
            | KeyTooLong { .. }
            | NulByte { .. }
            | MalformedKey { .. }
            | TooDeep { .. }
            | DuplicateKey { .. }
            | ConflictingKey { .. }
            | InvalidJson { .. }
            | NotAnObject { .. } => ErrorClass::Malformed,
            Gateway { class, .. } => *class,
        }
    }

    /// A stable, machine-readable code for the JSON error body.
    pub fn code(&self) -> &'static str {
        use crate::code;
        use ParseError::*;
        match self {
            EmptyBody => code::EMPTY_BODY,
            BodyTooLarge { .. } => code::BODY_TOO_LARGE,
            TooManyFields { .. } => code::TOO_MANY_FIELDS,
            InvalidPercentEscape { .. } => code::INVALID_PERCENT_ESCAPE,
            InvalidUtf8 { .. } => code::INVALID_UTF8,
            KeyTooLong { .. } => code::KEY_TOO_LONG,
            NulByte { .. } => code::NUL_BYTE,
            MalformedKey { .. } => code::MALFORMED_KEY,
            TooDeep { .. } => code::TOO_DEEP,
            DuplicateKey { .. } => code::DUPLICATE_KEY,
            ConflictingKey { .. } => code::CONFLICTING_KEY,
            MissingEvent { .. } | MissingEventName { .. } => code::MISSING_EVENT,
            InvalidJson { .. } => code::INVALID_JSON,
            NotAnObject { .. } => code::NOT_AN_OBJECT,
            InvalidEvent { .. } => code::INVALID_EVENT,
            MissingEntityId { .. } => code::MISSING_ENTITY_ID,
            InvalidEntityId { .. } => code::INVALID_ENTITY_ID,
            EventMismatch { .. } => code::EVENT_MISMATCH,
            Gateway { code: own, .. } => own,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gateways_own_fault_keeps_its_code_class_and_message() {
        let fault = ParseError::Gateway {
            code: "bad_checksum",
            class: ErrorClass::Unprocessable,
            message: "the body's checksum does not match".to_owned(),
        };
        assert_eq!(fault.code(), "bad_checksum");
        assert_eq!(fault.class(), ErrorClass::Unprocessable);
        assert_eq!(fault.to_string(), "the body's checksum does not match");
        let too_large = ParseError::Gateway {
            code: "too_many_lines",
            class: ErrorClass::TooLarge,
            message: String::new(),
        };
        assert_eq!(too_large.class(), ErrorClass::TooLarge);
    }
}
