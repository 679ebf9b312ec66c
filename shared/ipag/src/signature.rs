//! iPag's webhook signature, checked when a key is configured (`signing_key` in iPag's secret,
//! see `secrets`).
//!
//! iPag's public documentation only says a request carries a "security signature (when
//! applicable)" ("Assinatura de segurança (quando aplicável)",
//! <https://suporte.ipag.com.br/support/solutions/articles/35000293483-funcionamento-dos-webhooks-ipag>),
//! without naming the header or the scheme. What is implemented is what independent
//! integrations verify: the header `X-Ipag-Signature` holds the lowercase hex HMAC-SHA256 of
//! the raw body, keyed with the merchant's iPag API key; iPag's own Magento 2 module
//! (`ipagdevs/magento2`, `Controller/Notification/Callback.php`) reads `Ipag-Signature`, so
//! that spelling is accepted too. Since this is not documented, the check is off unless a key
//! is configured; once it is, a request without a valid signature is refused (401).
//!
//! The comparison is HMAC's own constant-time `verify_slice`; the key is never logged or shown.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The header iPag signs with, as third-party integrations read it.
pub const SIGNATURE_HEADER: &str = "X-Ipag-Signature";
/// The same without `X-`, as iPag's Magento 2 module reads it.
pub const SIGNATURE_HEADER_PLAIN: &str = "Ipag-Signature";

/// The key iPag signs with, if one is configured.
#[derive(Clone)]
pub struct SignatureKey {
    key: Vec<u8>,
}

impl std::fmt::Debug for SignatureKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignatureKey(configured)")
    }
}

/// Why a signature does not hold. The messages never echo what was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    Missing,
    Wrong,
}

impl SignatureError {
    pub fn message(self) -> &'static str {
        match self {
            SignatureError::Missing => {
                "this endpoint checks iPag's signature: send X-Ipag-Signature (HMAC-SHA256 of the body, hex)"
            }
            SignatureError::Wrong => "the signature does not match the body",
        }
    }
}

/// The shortest key [`SignatureKey::from_secret`] takes: an HMAC key any shorter is a
/// mistake (a placeholder, a truncated paste), not iPag's API key.
pub const MIN_KEY_LEN: usize = 16;

impl SignatureKey {
    /// The key from iPag's secret (`signing_key`), which turns the check on: a blank key, or
    /// one shorter than [`MIN_KEY_LEN`] once trimmed, is refused (the message never shows it).
    /// Before, a key of blanks turned the check off without a word.
    pub fn from_secret(key: &str) -> Result<SignatureKey, &'static str> {
        let key = key.trim();
        if key.is_empty() {
            return Err("\"signing_key\" is blank: remove the field (no signature check) or put iPag's API key in it");
        }
        if key.chars().count() < MIN_KEY_LEN {
            return Err("\"signing_key\" is shorter than 16 characters: it is not an iPag API key");
        }
        Ok(SignatureKey {
            key: key.as_bytes().to_vec(),
        })
    }

    /// `None` or a blank value: no key, no check (tests and tools; a function's key comes
    /// from its secret through [`SignatureKey::from_secret`]).
    pub fn new(secret: Option<&str>) -> Option<SignatureKey> {
        secret
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| SignatureKey {
                key: s.as_bytes().to_vec(),
            })
    }

    /// Checks every signature header value the request carries (`X-Ipag-Signature`,
    /// `Ipag-Signature`): at least one must be present, and every one must match.
    pub fn verify<'h>(
        &self,
        body: &[u8],
        signatures: impl IntoIterator<Item = &'h [u8]>,
    ) -> Result<(), SignatureError> {
        let mut seen = false;
        let mut all_match = true;
        for value in signatures {
            seen = true;
            all_match &= self.matches(body, value);
        }
        match (seen, all_match) {
            (false, _) => Err(SignatureError::Missing),
            (true, true) => Ok(()),
            (true, false) => Err(SignatureError::Wrong),
        }
    }

    fn matches(&self, body: &[u8], value: &[u8]) -> bool {
        let value = value.trim_ascii();
        // Some senders prefix the algorithm, as GitHub does: accept `sha256=<hex>` too.
        let hex = value.strip_prefix(b"sha256=").unwrap_or(value);
        let Some(expected) = decode_hex(hex) else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return false;
        };
        mac.update(body);
        mac.verify_slice(&expected).is_ok()
    }

    /// The signature iPag would send for `body` (for tests and the samples script).
    pub fn sign(&self, body: &[u8]) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return String::new();
        };
        mac.update(body);
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// Hex to bytes, either case; `None` for an odd length or a non-hex digit.
fn decode_hex(hex: &[u8]) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let digit = |b: u8| char::from(b).to_digit(16).map(|d| d as u8);
    hex.chunks_exact(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "my-ipag-api-key";
    const BODY: &[u8] = br#"{"id":1,"resource":"transactions"}"#;

    #[test]
    fn hmac_sha256_hex_of_the_raw_body() {
        let key = SignatureKey::new(Some(KEY)).expect("configured");
        let good = key.sign(BODY);
        assert_eq!(good.len(), 64);
        assert_eq!(key.verify(BODY, [good.as_bytes()]), Ok(()));
        let upper = good.to_uppercase();
        assert_eq!(key.verify(BODY, [upper.as_bytes()]), Ok(()));
        let prefixed = format!("sha256={good}");
        assert_eq!(key.verify(BODY, [prefixed.as_bytes()]), Ok(()));
        // A different body, a wrong key, garbage, a truncated value, one bad of two.
        assert_eq!(
            key.verify(br#"{"id":2,"resource":"transactions"}"#, [good.as_bytes()]),
            Err(SignatureError::Wrong)
        );
        let other = SignatureKey::new(Some("other"))
            .expect("configured")
            .sign(BODY);
        assert_eq!(
            key.verify(BODY, [other.as_bytes()]),
            Err(SignatureError::Wrong)
        );
        for bad in [&b"zz"[..], b"", &good.as_bytes()[..62], b"\xff\xfe"] {
            assert_eq!(key.verify(BODY, [bad]), Err(SignatureError::Wrong));
        }
        assert_eq!(
            key.verify(BODY, [good.as_bytes(), other.as_bytes()]),
            Err(SignatureError::Wrong)
        );
        assert_eq!(key.verify(BODY, []), Err(SignatureError::Missing));
    }

    #[test]
    fn blank_means_off_and_debug_hides_the_key() {
        assert!(SignatureKey::new(None).is_none());
        assert!(SignatureKey::new(Some("  ")).is_none());
        // From a secret, a blank or short key is an error, never "no check".
        assert!(SignatureKey::from_secret("  \t").is_err_and(|e| e.contains("blank")));
        assert!(SignatureKey::from_secret("abc").is_err_and(|e| e.contains("shorter")));
        let from_secret = SignatureKey::from_secret(" 0123456789abcdef ").expect("a key");
        let plain = SignatureKey::new(Some("0123456789abcdef")).expect("a key");
        assert_eq!(from_secret.sign(b"{}"), plain.sign(b"{}"));
        let key = SignatureKey::new(Some(KEY)).expect("configured");
        assert!(!format!("{key:?}").contains(KEY));
    }
}
