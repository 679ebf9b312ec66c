//! The quarantine: an authenticated request refused as malformed, too large or unprocessable
//! (400, 413, 422) is kept, so that a notification the gateway will stop retrying is not gone
//! when nobody looks. The answer to the gateway does not change. `recover quarantine list`
//! shows what was kept; `recover quarantine retry` runs it through the parser of the day (once
//! a fix is deployed) and stores and forwards what now parses, as the request path would.
//!
//! Kept: the raw body (at most [`MAX_BODY_BYTES`]; longer ones are cut and marked so), the
//! headers in [`KEPT_HEADERS`] (never `Authorization`; the token travels in the query string,
//! which is not kept either), the route, the method, the error code and message, when it first
//! and last arrived, and how often. One item per body and day (the body's SHA-256), so the
//! gateway's retries add a count, not items. It holds personal data: it expires with the
//! notifications (`RETENTION_DAYS`). Unauthenticated requests (401, 403) are never kept.

use std::future::Future;

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::ingest::DownstreamError;

/// The most of a body kept (iugu's bodies are refused above 16 KiB, iPag's above 64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The headers kept, lower case: what says how to read the body, nothing that authenticates.
pub const KEPT_HEADERS: [&str; 6] = [
    "content-type",
    "content-length",
    "user-agent",
    "x-ipag-event",
    "ipag-event",
    "x-ipag-timestamps",
];

/// Whether an answer with `status` to an authenticated request is quarantined.
pub fn is_quarantined(status: u16) -> bool {
    matches!(status, 400 | 413 | 422)
}

/// A refused request, as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantinedRequest {
    pub received_at: OffsetDateTime,
    /// The request's path (`/iugu/invoices`), which names its route.
    pub path: String,
    pub method: String,
    pub error: String,
    pub message: String,
    /// The kept headers, lower-case names, in request order.
    pub headers: Vec<(String, String)>,
    /// The body, cut at [`MAX_BODY_BYTES`].
    pub body: Vec<u8>,
    /// The body's whole size.
    pub body_size: usize,
    /// SHA-256 of the whole body, hex: the item's key with the day.
    pub body_sha256: String,
}

impl QuarantinedRequest {
    pub fn new<'h>(
        received_at: OffsetDateTime,
        path: &str,
        method: &str,
        (error, message): (&str, &str),
        headers: impl IntoIterator<Item = (&'h str, &'h [u8])>,
        body: &[u8],
    ) -> QuarantinedRequest {
        let headers = headers
            .into_iter()
            .filter(|(name, _)| KEPT_HEADERS.contains(&name.to_ascii_lowercase().as_str()))
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
            path: path.to_owned(),
            method: method.to_owned(),
            error: error.to_owned(),
            message: message.to_owned(),
            headers,
            body: body[..body.len().min(MAX_BODY_BYTES)].to_vec(),
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
    /// Keeps `request` until `expires_at`, or counts one more delivery of it.
    fn quarantine(
        &self,
        request: &QuarantinedRequest,
        expires_at: OffsetDateTime,
    ) -> impl Future<Output = Result<(), DownstreamError>> + Send;
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
            ("X-Ipag-Event", b"TransactionCaptured"),
            ("X-Ipag-Signature", b"abcdef"),
        ];
        let body = vec![b'x'; MAX_BODY_BYTES + 10];
        let q = QuarantinedRequest::new(
            datetime!(2026-11-23 10:00 UTC),
            "/ipag/events",
            "POST",
            ("invalid_json", "the body is not JSON"),
            headers,
            &body,
        );
        assert_eq!(
            q.headers,
            [
                ("content-type".to_owned(), "application/json".to_owned()),
                ("x-ipag-event".to_owned(), "TransactionCaptured".to_owned()),
            ]
        );
        assert!(q.truncated());
        assert_eq!(
            (q.body.len(), q.body_size),
            (MAX_BODY_BYTES, MAX_BODY_BYTES + 10)
        );
        assert_eq!(q.body_sha256.len(), 64);
        assert!(is_quarantined(422) && is_quarantined(413) && is_quarantined(400));
        assert!(!is_quarantined(401) && !is_quarantined(415) && !is_quarantined(503));
    }
}
