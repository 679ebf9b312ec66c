//! Is a request from the gateway? It is when it carries the gateway's token: the current one,
//! or, while a rotation is in progress, the previous one (see `secrets` and
//! docs/operations.md, "Rotating a token").
//!
//! The token comes in the query string (`?token=`) or in the `Authorization` header: bare,
//! as `Bearer <token>`, or as `Basic <base64>`. iugu's `POST /v1/web_hooks` takes an
//! `authorization` value that iugu sends back on every delivery as "Basic Authentication"
//! (`recover register` registers the token there, so that it is in no URL); whether iugu sends
//! it as written or base64-encoded after `Basic ` is not documented, so both are taken: the
//! header bare, `Basic base64(token)`, and `Basic base64(token:)` (the token as user name with
//! an empty password, as HTTP Basic clients write it).

use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The token a route accepts, and the previous one while a rotation is in progress; or nothing.
/// With none configured every request is refused: a front door with no lock fails closed.
#[derive(Clone)]
pub struct Token {
    /// SHA-256 of the current token: comparing fixed-size digests in constant time leaks
    /// neither the token's bytes nor its length.
    current: Option<[u8; 32]>,
    /// SHA-256 of the previous token, accepted until the operator drops it.
    previous: Option<[u8; 32]>,
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
                "this endpoint has no webhook token configured, so it accepts nothing"
            }
            AuthError::Missing => {
                "send the token as `?token=<token>` in the URL or in the Authorization header"
            }
            AuthError::Wrong => "the token does not match",
        }
    }
}

/// Which configured value a request's token matched: what tells an operator, from the logs,
/// that no delivery carries the previous token any more and it can be dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matched {
    Current,
    Previous,
}

impl Matched {
    pub fn as_str(self) -> &'static str {
        match self {
            Matched::Current => "current",
            Matched::Previous => "previous",
        }
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match (self.current.is_some(), self.previous.is_some()) {
            (false, _) => "Token(none)",
            (true, false) => "Token(configured)",
            (true, true) => "Token(configured, with a previous one)",
        })
    }
}

fn digest(secret: Option<&str>) -> Option<[u8; 32]> {
    secret
        .filter(|s| !s.trim().is_empty())
        .map(|s| Sha256::digest(s.as_bytes()).into())
}

impl Token {
    /// One token. `None` or a blank value means "not configured".
    pub fn new(secret: Option<&str>) -> Token {
        Token::rotating(secret, None)
    }

    /// The current token and, during a rotation, the previous one (blank = none). Without a
    /// current token nothing is accepted, the previous one included.
    pub fn rotating(current: Option<&str>, previous: Option<&str>) -> Token {
        let current = digest(current);
        Token {
            previous: current.and(digest(previous)),
            current,
        }
    }

    pub fn is_configured(&self) -> bool {
        self.current.is_some()
    }

    /// Checks the credentials a request carries: the `Authorization` header (the token bare,
    /// as `Bearer <token>` or as `Basic <base64>`: [`header_candidates`]) and the `token` query
    /// parameter. Every one that is present must match the current or the previous token, and
    /// at least one must be present. Says which one matched ([`Matched::Previous`] if any did).
    pub fn check(&self, header: Option<&str>, query: Option<&str>) -> Result<Matched, AuthError> {
        let current = self.current.as_ref().ok_or(AuthError::NotConfigured)?;
        // One entry per credential present: the values it may stand for.
        let presented: Vec<Vec<Vec<u8>>> = header
            .map(header_candidates)
            .into_iter()
            .chain(query.map(|q| vec![q.as_bytes().to_vec()]))
            .collect();
        if presented.is_empty() {
            return Err(AuthError::Missing);
        }
        // Every candidate is compared with both values, whatever the outcome, in constant time:
        // how many comparisons run depends on the request's shape only, never on the token.
        let (all_match, any_previous) =
            presented
                .iter()
                .fold((true, false), |(all, any_previous), candidates| {
                    let (is_current, is_previous) = candidates.iter().fold(
                        (false, false),
                        |(is_current, is_previous), candidate| {
                            let candidate: [u8; 32] = Sha256::digest(candidate).into();
                            let current = bool::from(candidate.ct_eq(current));
                            let previous = self
                                .previous
                                .as_ref()
                                .is_some_and(|previous| bool::from(candidate.ct_eq(previous)));
                            (is_current | current, is_previous | previous)
                        },
                    );
                    (
                        all & (is_current | is_previous),
                        any_previous | (is_previous & !is_current),
                    )
                });
        match (all_match, any_previous) {
            (false, _) => Err(AuthError::Wrong),
            (true, false) => Ok(Matched::Current),
            (true, true) => Ok(Matched::Previous),
        }
    }
}

/// The values an `Authorization` header may stand for. `Bearer <token>`: the token.
/// `Basic <base64>`: the decoded value, and, when it ends in `:`, the value without it (HTTP
/// Basic with the token as user name and no password). Anything else: the header as sent. The
/// scheme's name is case-insensitive (RFC 9110, section 11.1). A `Basic` value that is not
/// base64 stands for nothing, so it matches no token. None of this depends on the token.
fn header_candidates(header: &str) -> Vec<Vec<u8>> {
    let scheme_and_rest = header.split_once(' ');
    match scheme_and_rest {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => {
            vec![rest.trim_start().as_bytes().to_vec()]
        }
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("basic") => {
            let encoded = rest.trim();
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(encoded));
            match decoded {
                Ok(value) => match value.strip_suffix(b":") {
                    Some(user) => {
                        let user = user.to_vec();
                        vec![user, value]
                    }
                    None => vec![value],
                },
                Err(_) => Vec::new(),
            }
        }
        _ => vec![header.as_bytes().to_vec()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr3t-token-0123456789";

    #[test]
    fn header_bare_or_bearer_or_query() {
        let t = Token::new(Some(SECRET));
        let ok = Ok(Matched::Current);
        assert_eq!(t.check(Some(SECRET), None), ok);
        assert_eq!(t.check(Some("Bearer s3cr3t-token-0123456789"), None), ok);
        assert_eq!(t.check(None, Some(SECRET)), ok);
        assert_eq!(t.check(Some(SECRET), Some(SECRET)), ok);
    }

    fn basic(value: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(value)
        )
    }

    #[test]
    fn basic_with_the_token_encoded_as_user_or_alone() {
        let t = Token::new(Some(SECRET));
        let ok = Ok(Matched::Current);
        // iugu's `authorization` value, base64-encoded after `Basic `: alone, or as the user
        // name of HTTP Basic with an empty password.
        assert_eq!(t.check(Some(&basic(SECRET)), None), ok);
        assert_eq!(t.check(Some(&basic(&format!("{SECRET}:"))), None), ok);
        // The scheme's name in any case; no padding.
        let encoded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(SECRET);
        assert_eq!(t.check(Some(&format!("basic {encoded}")), None), ok);
        assert_eq!(t.check(Some(&format!("BEARER {SECRET}")), None), ok);
        // With the query as well, both must match.
        assert_eq!(t.check(Some(&basic(SECRET)), Some(SECRET)), ok);
        assert_eq!(
            t.check(Some(&basic(SECRET)), Some("other")),
            Err(AuthError::Wrong)
        );
    }

    #[test]
    fn basic_with_anything_else_is_wrong() {
        let t = Token::new(Some(SECRET));
        for header in [
            basic("other-token-0123456789"),
            // A password is not the token's place, nor is a user name before it.
            basic(&format!(":{SECRET}")),
            basic(&format!("{SECRET}:password")),
            basic(&format!("user:{SECRET}")),
            // Not base64, or the token itself (not encoded) after `Basic `.
            "Basic %%%".to_owned(),
            format!("Basic {SECRET}"),
            "Basic".to_owned(),
            "Basic ".to_owned(),
        ] {
            assert_eq!(
                t.check(Some(&header), None),
                Err(AuthError::Wrong),
                "{header}"
            );
        }
    }

    #[test]
    fn a_rotation_takes_the_previous_token_in_basic_too() {
        let t = Token::rotating(Some(SECRET), Some(OLD));
        assert_eq!(t.check(Some(&basic(OLD)), None), Ok(Matched::Previous));
        assert_eq!(
            t.check(Some(&basic(&format!("{OLD}:"))), None),
            Ok(Matched::Previous)
        );
        assert_eq!(t.check(Some(&basic(SECRET)), None), Ok(Matched::Current));
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

    const OLD: &str = "old-token-0123456789abcdef";

    #[test]
    fn during_a_rotation_both_values_are_accepted_and_the_previous_one_is_named() {
        let t = Token::rotating(Some(SECRET), Some(OLD));
        assert_eq!(t.check(None, Some(SECRET)), Ok(Matched::Current));
        assert_eq!(t.check(None, Some(OLD)), Ok(Matched::Previous));
        assert_eq!(
            t.check(Some(&format!("Bearer {OLD}")), None),
            Ok(Matched::Previous)
        );
        // Header and query may each be either value; any other value still fails.
        assert_eq!(t.check(Some(OLD), Some(SECRET)), Ok(Matched::Previous));
        assert_eq!(t.check(Some("other"), Some(OLD)), Err(AuthError::Wrong));
        assert_eq!(t.check(None, Some("other")), Err(AuthError::Wrong));
        // Once the previous value is dropped it is refused.
        let after = Token::rotating(Some(SECRET), None);
        assert_eq!(after.check(None, Some(OLD)), Err(AuthError::Wrong));
        assert_eq!(after.check(None, Some(SECRET)), Ok(Matched::Current));
        // A blank previous value is none; a previous value alone opens nothing.
        assert_eq!(
            Token::rotating(Some(SECRET), Some(" ")).check(None, Some(" ")),
            Err(AuthError::Wrong)
        );
        assert_eq!(
            Token::rotating(None, Some(OLD)).check(None, Some(OLD)),
            Err(AuthError::NotConfigured)
        );
    }

    #[test]
    fn debug_never_shows_a_token() {
        let t = Token::rotating(Some(SECRET), Some(OLD));
        let shown = format!("{t:?}");
        assert!(!shown.contains(SECRET) && !shown.contains(OLD), "{shown}");
    }
}
