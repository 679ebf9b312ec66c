//! The quarantine: an authenticated request refused as malformed, too large or unprocessable
//! (400, 413, 422) is kept, so that a notification the gateway will stop retrying is not gone
//! when nobody looks. The answer to the gateway does not change. `recover quarantine list`
//! shows what was kept; `recover quarantine retry` runs it through the parser of the day (once
//! a fix is deployed) and stores and forwards what now parses, as the request path would.
//!
//! Kept: the raw body (at most the gateway's own body limit, `Gateway::max_body_bytes`; longer
//! ones are cut and marked so), the headers in [`KEPT_HEADERS`] and those the gateway names
//! (`Gateway::kept_headers`: what it reads beside the body) (never `Authorization`; the token
//! travels in the query string, which is not kept either),
//! the route, the method, the error code and message, when it first and last arrived, and how
//! often. One item per body and day (the body's SHA-256), so the gateway's retries add a count,
//! not items. It holds personal data: it expires with the notifications (`RETENTION_DAYS`).
//! Unauthenticated requests (401, 403) are never kept.
//!
//! **Bounded**: at most [`MAX_ITEMS_PER_DAY`] new items a UTC day per gateway. Past that, a
//! refused request that is not already kept is counted ([`Kept::OverCap`]: the day's counter
//! says how many), not stored, and the answer is the same refusal: whoever holds a token (the
//! only gate of a gateway that signs when its secret has no signing key) cannot fill the table. A retry of a body
//! already kept is still counted on its item. The metrics line of each (`QuarantinedBytes`,
//! `QuarantinedItems`, `QuarantineOverCap`) feeds the volume alarms (`template.yaml`).

use std::future::Future;

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::ingest::DownstreamError;

/// New items a UTC day, per gateway, past which refused requests are counted, not kept. An
/// honest parser fault refuses every delivery of its kind: a thousand is a busy day's worth
/// for one event, and at most a thousand times the gateway's body limit a day, expired with the
/// notifications.
pub const MAX_ITEMS_PER_DAY: u64 = 1_000;

/// What became of a refused request offered to the quarantine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// A new item: the first delivery of this body today.
    New,
    /// One more delivery counted on the item kept for this body today.
    Again,
    /// Not kept: the day's [`MAX_ITEMS_PER_DAY`] for the gateway were reached; counted.
    OverCap,
}

impl Kept {
    /// Whether the request is in the quarantine (to be retried from there).
    pub fn kept(self) -> bool {
        matches!(self, Kept::New | Kept::Again)
    }
}

/// The headers kept of every gateway's requests, lower case: what says how to read the body,
/// nothing that authenticates. A gateway adds its own ([`KeptOfBody::headers`]).
pub const KEPT_HEADERS: [&str; 3] = ["content-type", "content-length", "user-agent"];

/// What the gateway wants kept of a refused request beyond [`KEPT_HEADERS`]
/// (`Gateway::kept_headers`, `Gateway::max_body_bytes`).
#[derive(Debug, Clone, Copy)]
pub struct KeptOfBody<'a> {
    /// The headers it reads beside the body, lower case (never one that authenticates).
    pub headers: &'a [&'a str],
    /// The most of the body kept: its own body limit.
    pub max_body: usize,
}

/// Whether an answer with `status` to an authenticated request is quarantined.
pub fn is_quarantined(status: u16) -> bool {
    matches!(status, 400 | 413 | 422)
}

/// A refused request, as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantinedRequest {
    pub received_at: OffsetDateTime,
    /// The gateway's name (its `provider`): whose day's cap it counts against.
    pub provider: String,
    /// The request's path, which names its route.
    pub path: String,
    pub method: String,
    pub error: String,
    pub message: String,
    /// The kept headers, lower-case names, in request order.
    pub headers: Vec<(String, String)>,
    /// The body, cut at the gateway's body limit.
    pub body: Vec<u8>,
    /// The body's whole size.
    pub body_size: usize,
    /// SHA-256 of the whole body, hex: the item's key with the day.
    pub body_sha256: String,
}

impl QuarantinedRequest {
    /// `keep`: the headers the gateway reads, and the most of the body kept.
    #[allow(
        clippy::too_many_arguments,
        reason = "each is one field of what is kept"
    )]
    pub fn new<'h>(
        received_at: OffsetDateTime,
        provider: &str,
        path: &str,
        method: &str,
        (error, message): (&str, &str),
        headers: impl IntoIterator<Item = (&'h str, &'h [u8])>,
        body: &[u8],
        keep: KeptOfBody<'_>,
    ) -> QuarantinedRequest {
        let kept = |name: &str| KEPT_HEADERS.contains(&name) || keep.headers.contains(&name);
        let headers = headers
            .into_iter()
            .filter(|(name, _)| kept(name.to_ascii_lowercase().as_str()))
            .map(|(name, value)| {
                (
                    name.to_ascii_lowercase(),
                    String::from_utf8_lossy(value).into_owned(),
                )
            })
            .collect();
        let digest = Sha256::digest(body);
        QuarantinedRequest {
            received_at,
            provider: provider.to_owned(),
            path: path.to_owned(),
            method: method.to_owned(),
            error: error.to_owned(),
            message: message.to_owned(),
            headers,
            body: body[..body.len().min(keep.max_body)].to_vec(),
            body_size: body.len(),
            body_sha256: digest.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    /// Whether the body was cut (such a request cannot be retried).
    pub fn truncated(&self) -> bool {
        self.body.len() < self.body_size
    }
}

/// Keeps refused requests.
pub trait QuarantineStore: Send + Sync {
    /// Keeps `request` until `expires_at` if its gateway kept fewer than `max_items` new ones
    /// on its day, or counts one more delivery of it if it is kept already; otherwise counts
    /// it on the day's counter ([`Kept::OverCap`]).
    fn quarantine(
        &self,
        request: &QuarantinedRequest,
        expires_at: OffsetDateTime,
        max_items: u64,
    ) -> impl Future<Output = Result<Kept, DownstreamError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn keeps_only_safe_headers_and_cuts_long_bodies() {
        let headers: [(&str, &[u8]); 4] = [
            ("Content-Type", b"application/json"),
            ("Authorization", b"Bearer secret-token-value"),
            ("X-Gateway-Event", b"TransactionCaptured"),
            ("X-Gateway-Signature", b"abcdef"),
        ];
        const MAX: usize = 64 * 1024;
        let body = vec![b'x'; MAX + 10];
        let q = QuarantinedRequest::new(
            datetime!(2026-11-23 10:00 UTC),
            "gateway",
            "/gateway/events",
            "POST",
            ("invalid_json", "the body is not JSON"),
            headers,
            &body,
            KeptOfBody {
                headers: &["x-gateway-event"],
                max_body: MAX,
            },
        );
        assert_eq!(
            q.headers,
            [
                ("content-type".to_owned(), "application/json".to_owned()),
                (
                    "x-gateway-event".to_owned(),
                    "TransactionCaptured".to_owned()
                ),
            ]
        );
        assert!(q.truncated());
        assert_eq!((q.body.len(), q.body_size), (MAX, MAX + 10));
        assert_eq!(q.body_sha256.len(), 64);
        assert!(is_quarantined(422) && is_quarantined(413) && is_quarantined(400));
        assert!(!is_quarantined(401) && !is_quarantined(415) && !is_quarantined(503));
    }
}
