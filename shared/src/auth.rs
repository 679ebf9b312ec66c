//! Is a request from the gateway? It is when it carries the shared secret (`WEBHOOK_TOKEN`).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The shared secret, or its absence. With none configured every request is refused:
/// a front door with no lock fails closed.
#[derive(Clone)]
pub struct Token {
    /// SHA-256 of the token: comparing fixed-size digests in constant time leaks neither the
    /// token's bytes nor its length.
    digest: Option<[u8; 32]>,
}

/// Why a request is not authentic. The messages never echo what was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    NotConfigured,
    Missing,
    Wrong,
}

impl AuthError {
    pub fn message(self) -> &'static str {
        match self {
            AuthError::NotConfigured => {
                "this endpoint has no WEBHOOK_TOKEN configured, so it accepts nothing"
            }
            AuthError::Missing => {
                "send the token as `?token=<token>` in the URL or in the Authorization header"
            }
            AuthError::Wrong => "the token does not match",
        }
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.digest.is_some() {
            "Token(configured)"
        } else {
            "Token(none)"
        })
    }
}

impl Token {
    /// `None` or a blank value means "not configured".
    pub fn new(secret: Option<&str>) -> Token {
        Token {
            digest: secret
                .filter(|s| !s.trim().is_empty())
                .map(|s| Sha256::digest(s.as_bytes()).into()),
        }
    }

    pub fn is_configured(&self) -> bool {
        self.digest.is_some()
    }

    /// Checks the credentials a request carries: the `Authorization` header (the token bare or
    /// as `Bearer <token>`) and the `token` query parameter. Every one that is present must
    /// match, and at least one must be present.
    pub fn check(&self, header: Option<&str>, query: Option<&str>) -> Result<(), AuthError> {
        let digest = self.digest.as_ref().ok_or(AuthError::NotConfigured)?;
        let header = header.map(|h| h.strip_prefix("Bearer ").unwrap_or(h));
        let presented: Vec<&str> = header.into_iter().chain(query).collect();
        if presented.is_empty() {
            return Err(AuthError::Missing);
        }
        let all_match = presented.iter().fold(true, |ok, candidate| {
            let candidate: [u8; 32] = Sha256::digest(candidate.as_bytes()).into();
            ok & bool::from(candidate.ct_eq(digest))
        });
        if all_match {
            Ok(())
        } else {
            Err(AuthError::Wrong)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr3t-token-0123456789";

    #[test]
    fn header_bare_or_bearer_or_query() {
        let t = Token::new(Some(SECRET));
        assert_eq!(t.check(Some(SECRET), None), Ok(()));
        assert_eq!(
            t.check(Some("Bearer s3cr3t-token-0123456789"), None),
            Ok(())
        );
        assert_eq!(t.check(None, Some(SECRET)), Ok(()));
        assert_eq!(t.check(Some(SECRET), Some(SECRET)), Ok(()));
    }

    #[test]
    fn wrong_missing_or_disagreeing() {
        let t = Token::new(Some(SECRET));
        assert_eq!(t.check(None, None), Err(AuthError::Missing));
        assert_eq!(t.check(Some("nope"), None), Err(AuthError::Wrong));
        assert_eq!(
            t.check(None, Some("s3cr3t-token-0123456788")),
            Err(AuthError::Wrong)
        );
        assert_eq!(
            t.check(None, Some("s3cr3t-token-0123456789 ")),
            Err(AuthError::Wrong)
        );
        assert_eq!(t.check(Some(SECRET), Some("other")), Err(AuthError::Wrong));
        assert_eq!(t.check(Some("Bearer"), None), Err(AuthError::Wrong));
    }

    #[test]
    fn fails_closed_without_a_token() {
        for t in [
            Token::new(None),
            Token::new(Some("")),
            Token::new(Some("  ")),
        ] {
            assert!(!t.is_configured());
            assert_eq!(
                t.check(Some(SECRET), Some(SECRET)),
                Err(AuthError::NotConfigured)
            );
        }
    }
}
