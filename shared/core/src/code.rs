//! Every `error` code an answer carries, in one place: the handler's checks, a gateway's
//! checks, the parse faults (`ParseError::code`), the route, storing and forwarding. Clients
//! match on them: each is stable. `refusal::Refusal` (feature `http`) is the answer that carries one.

// Before the body is read: the request itself.
pub const INVALID_URI: &str = "invalid_uri";
pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
pub const NOT_FOUND: &str = "not_found";
pub const FORBIDDEN: &str = "forbidden";
pub const UNAUTHORIZED: &str = "unauthorized";
pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
pub const INVALID_BASE64: &str = "invalid_base64";
// A gateway's checks beyond the token.
pub const INVALID_SIGNATURE: &str = "invalid_signature";
pub const STALE_TIMESTAMP: &str = "stale_timestamp";
// The body: its parse (`ParseError::code`), then its route.
pub const EMPTY_BODY: &str = "empty_body";
pub const BODY_TOO_LARGE: &str = "body_too_large";
pub const TOO_MANY_FIELDS: &str = "too_many_fields";
pub const INVALID_PERCENT_ESCAPE: &str = "invalid_percent_escape";
pub const INVALID_UTF8: &str = "invalid_utf8";
pub const KEY_TOO_LONG: &str = "key_too_long";
pub const NUL_BYTE: &str = "nul_byte";
pub const MALFORMED_KEY: &str = "malformed_key";
pub const TOO_DEEP: &str = "too_deep";
pub const DUPLICATE_KEY: &str = "duplicate_key";
pub const CONFLICTING_KEY: &str = "conflicting_key";
pub const MISSING_EVENT: &str = "missing_event";
pub const INVALID_JSON: &str = "invalid_json";
pub const NOT_AN_OBJECT: &str = "not_an_object";
pub const INVALID_EVENT: &str = "invalid_event";
pub const MISSING_ENTITY_ID: &str = "missing_entity_id";
pub const INVALID_ENTITY_ID: &str = "invalid_entity_id";
pub const EVENT_MISMATCH: &str = "event_mismatch";
pub const WRONG_ROUTE: &str = "wrong_route";
// Storing and forwarding (503: the gateway retries).
pub const TIMEOUT: &str = "timeout";
pub const STORE_FAILED: &str = "store_failed";
pub const FORWARD_FAILED: &str = "forward_failed";
pub const FORWARD_BACKLOG: &str = "forward_backlog";
