//! The webhook secrets: each gateway's token (and, during a rotation, the previous one) and
//! iPag's signing key, kept in AWS Secrets Manager and read once, when a function starts.
//!
//! One secret per gateway, a JSON object (the field names are a contract; README.md,
//! "Secrets"):
//!
//! ```json
//! {"gateway": "iugu", "token": "<current>", "previous_token": "<during a rotation only>"}
//! {"gateway": "ipag", "token": "<current>", "previous_token": "...", "signing_key": "<iPag API key>"}
//! ```
//!
//! A function finds its gateway's secret in `IUGU_SECRET_ID` (the eight iugu functions) or
//! `IPAG_SECRET_ID` (the `ipag` function): an ARN or a name. `gateway` must name the function's
//! gateway, so a secret wired to the wrong function stops it at start-up instead of letting one
//! gateway's token open the other's door. Whatever goes wrong (variable unset, secret missing,
//! unreadable, not that JSON, a token too short) is an error at start-up: the function exits
//! before it serves a single request, and Lambda reports the init failure. Nothing here ever
//! logs or formats a secret's value, and the errors name fields, never their values.
//!
//! Why Secrets Manager and not SSM Parameter Store: CloudFormation can create a secret, with a
//! generated token, so the template creates both and a fresh deployment needs no secret
//! typed anywhere; it cannot create a SecureString parameter. A secret keeps its previous
//! version (`AWSPREVIOUS`) for recovery. Cost: $0.40 a month per secret and $0.05 per 10,000
//! reads, one read per cold start; Parameter Store's standard parameters are free, so this is
//! $0.80 a month for the two. Cold start: one `GetSecretValue` call, the same one HTTPS round
//! trip as `GetParameter`. The client crate is small (Secrets Manager has 23 operations, SSM
//! several times as many), which keeps the build and the binary small.

use serde_json::{Map, Value};
use webhook_aws::secrets::ReadError;

use crate::auth::Token;
use webhook_core::gateway::Gateway;

/// The environment variable that holds `gateway`'s secret's ARN or name: its name in capitals
/// (anything but a letter or digit as `_`) and `_SECRET_ID` (`IUGU_SECRET_ID`, `IPAG_SECRET_ID`).
pub fn secret_id_variable(gateway: &dyn Gateway) -> String {
    let name: String = gateway
        .provider()
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' => c.to_ascii_uppercase(),
            _ => '_',
        })
        .collect();
    format!("{name}_SECRET_ID")
}

/// What a function takes from its secret.
#[derive(Debug)]
pub struct Credentials {
    /// The token, and the previous one during a rotation.
    pub token: Token,
    /// The key the gateway signs with, if the signature check is wanted (`signing_key`; only a
    /// gateway that signs may have one, see [`Gateway::signs`]).
    pub signing_key: Option<SigningKey>,
}

impl Credentials {
    /// Makes `gateway` verify every request with the signing key, when the secret has one
    /// ([`parse`] refuses a key for a gateway that does not sign). A key the gateway refuses
    /// (too short for it) is [`SecretError::Key`]: the function does not start.
    pub fn sign(&self, gateway: &mut dyn Gateway) -> Result<(), SecretError> {
        match &self.signing_key {
            Some(key) => gateway
                .verify_with(key.expose())
                .map_err(|why| SecretError::Key { why }),
            None => Ok(()),
        }
    }
}

/// A `signing_key` as the secret holds it. It never prints (`Debug` says only that there is
/// one); [`SigningKey::expose`] hands it to the gateway.
pub struct SigningKey(String);

impl SigningKey {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(configured)")
    }
}

/// Why a function cannot start. The texts name the secret and the field, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("{variable} is not set: this function does not know where its webhook secret is")]
    NotConfigured { variable: String },
    #[error("cannot read the webhook secret {id}: {reason}")]
    Unreadable { id: String, reason: String },
    #[error("the webhook secret {id} is not usable: {why}")]
    Invalid { id: String, why: String },
    #[error("the webhook secret's signing key is not usable: {why}")]
    Key { why: String },
}

/// The fields a secret may have.
const FIELDS: [&str; 4] = ["gateway", "token", "previous_token", "signing_key"];

/// Reads `gateway`'s secret, from the variable that names it ([`secret_id_variable`]), with
/// `client` (the function's: `webhook_aws::Clients::secrets`, with the functions' timeouts and
/// retries; `AWS_ENDPOINT_URL` points it at a local server).
pub async fn load(
    gateway: &dyn Gateway,
    client: &webhook_aws::secrets::Client,
) -> Result<Credentials, SecretError> {
    let variable = secret_id_variable(gateway);
    let Some(id) = std::env::var(&variable)
        .ok()
        .filter(|v| !v.trim().is_empty())
    else {
        return Err(SecretError::NotConfigured { variable });
    };
    read(client, gateway, id.trim()).await
}

/// Reads and checks `gateway`'s secret `id` (its current version, `AWSCURRENT`).
pub async fn read(
    client: &webhook_aws::secrets::Client,
    gateway: &dyn Gateway,
    id: &str,
) -> Result<Credentials, SecretError> {
    let text = webhook_aws::secrets::secret_text(client, id)
        .await
        .map_err(|e| match e {
            ReadError::Unreadable(reason) => SecretError::Unreadable {
                id: id.to_owned(),
                reason,
            },
            ReadError::Binary => SecretError::Invalid {
                id: id.to_owned(),
                why: "it holds binary data, not the JSON text described in README.md, \"Secrets\""
                    .to_owned(),
            },
        })?;
    parse(gateway, &text).map_err(|why| SecretError::Invalid {
        id: id.to_owned(),
        why,
    })
}

/// Checks a secret's JSON text for `gateway` (see the module documentation). The error says
/// what is wrong with which field, never its value.
pub fn parse(gateway: &dyn Gateway, text: &str) -> Result<Credentials, String> {
    let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(text) else {
        return Err(
            "it is not a JSON object such as {\"gateway\": \"...\", \"token\": \"...\"}".to_owned(),
        );
    };
    if let Some(unknown) = fields.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        // Only a plain field name is echoed; anything else could be a value pasted as a key.
        let shown = if unknown.len() <= 32
            && unknown.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        {
            format!("`{unknown}`")
        } else {
            "a field".to_owned()
        };
        return Err(format!(
            "it has {shown} that is none of {}: a misspelt field would be silently ignored",
            FIELDS.join(", ")
        ));
    }
    let serves = gateway.provider();
    match text_field(&fields, "gateway")? {
        Some(name) if name == serves => {}
        // Another gateway's secret, most likely. Its name is not echoed: the edge knows no list
        // of gateways, and whatever the field holds (a token pasted there) must not reach a log.
        Some(_) => {
            return Err(format!(
                "it is another gateway's secret (its \"gateway\" is not \"{serves}\") and this \
                 function serves {serves}: check {}",
                secret_id_variable(gateway)
            ))
        }
        None => return Err(format!("its \"gateway\" must be \"{serves}\"")),
    }
    let token = text_field(&fields, "token")?.ok_or("it has no \"token\"")?;
    check_token("token", token)?;
    let previous = text_field(&fields, "previous_token")?;
    if let Some(previous) = previous {
        check_token("previous_token", previous)?;
    }
    let signing_key = text_field(&fields, "signing_key")?;
    if signing_key.is_some() && !gateway.signs() {
        return Err(format!(
            "\"signing_key\" is for a gateway that signs its deliveries: {serves} does not"
        ));
    }
    // A key of blanks used to turn the signature check off without a word.
    if signing_key.is_some_and(|k| k.trim().is_empty()) {
        return Err(
            "\"signing_key\" is blank: remove the field (no signature check) or put the key in it"
                .to_owned(),
        );
    }
    if signing_key.is_some_and(|k| k.len() > MAX_TOKEN_LEN) {
        return Err(format!(
            "\"signing_key\" is longer than {MAX_TOKEN_LEN} characters"
        ));
    }
    Ok(Credentials {
        token: Token::rotating(Some(token), previous),
        // As written: the gateway reads it (iPag's `SignatureKey` takes a blank one for none).
        signing_key: signing_key.map(|k| SigningKey(k.to_owned())),
    })
}

/// A string field; absent, `null` and `""` are `None`.
fn text_field<'v>(fields: &'v Map<String, Value>, name: &str) -> Result<Option<&'v str>, String> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("\"{name}\" is not a string")),
    }
}

/// Shortest token accepted (the template generates 48 characters).
pub const MIN_TOKEN_LEN: usize = 16;
/// Longest token (or signing key) accepted: iPag's URL field takes 255 characters, token
/// included.
pub const MAX_TOKEN_LEN: usize = 256;

/// A token travels in the query string (`?token=`): URL-safe characters only, as iugu's and
/// iPag's URL fields take them unescaped.
fn check_token(name: &str, token: &str) -> Result<(), String> {
    let url_safe = token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'));
    if (MIN_TOKEN_LEN..=MAX_TOKEN_LEN).contains(&token.len()) && url_safe {
        Ok(())
    } else {
        Err(format!(
            "\"{name}\" must be {MIN_TOKEN_LEN} to {MAX_TOKEN_LEN} URL-safe characters \
             (A-Z a-z 0-9 . _ ~ -)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{AuthError, Matched};
    use webhook_ipag::{Ipag, SignatureKey};
    use webhook_iugu::{Family, Iugu};

    const CURRENT: &str = "current-token-0123456789";
    const OLD: &str = "previous-token-0123456789";

    fn ok(gateway: &dyn Gateway, text: &str) -> Credentials {
        parse(gateway, text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn refused(gateway: &dyn Gateway, text: &str) -> String {
        match parse(gateway, text) {
            Ok(c) => panic!("accepted {text}: {c:?}"),
            Err(why) => why,
        }
    }

    #[test]
    fn a_gateway_secret_gives_its_token_previous_token_and_signing_key() {
        let iugu = ok(
            &Iugu::ALL_EVENTS,
            &format!(r#"{{"gateway":"iugu","token":"{CURRENT}","previous_token":"{OLD}"}}"#),
        );
        assert_eq!(iugu.token.check(None, Some(CURRENT)), Ok(Matched::Current));
        assert_eq!(iugu.token.check(None, Some(OLD)), Ok(Matched::Previous));
        assert!(iugu.signing_key.is_none());
        let ipag = ok(
            &Ipag::UNSIGNED,
            &format!(r#"{{"gateway":"ipag","token":"{CURRENT}","signing_key":"api-key"}}"#),
        );
        assert_eq!(ipag.token.check(None, Some(OLD)), Err(AuthError::Wrong));
        let key = ipag.signing_key.expect("signing key");
        let key = SignatureKey::new(Some(key.expose())).expect("a key");
        assert_eq!(key.verify(b"{}", [key.sign(b"{}").as_bytes()]), Ok(()));
        // Empty and null optional fields are absent.
        let plain = ok(
            &Ipag::UNSIGNED,
            &format!(
                r#"{{"gateway":"ipag","token":"{CURRENT}","previous_token":"","signing_key":null}}"#
            ),
        );
        assert!(plain.signing_key.is_none());
        assert_eq!(plain.token.check(None, Some("")), Err(AuthError::Wrong));
    }

    #[test]
    fn a_secret_for_the_other_gateway_or_of_another_shape_is_refused() {
        let ipags = format!(r#"{{"gateway":"ipag","token":"{CURRENT}"}}"#);
        assert!(refused(&Iugu::ALL_EVENTS, &ipags)
            .contains(r#"it is another gateway's secret (its "gateway" is not "iugu")"#));
        // Whatever the field holds is not echoed: a token pasted there stays out of the logs.
        let pasted = format!(r#"{{"gateway":"{OLD}","token":"{CURRENT}"}}"#);
        let why = refused(&Iugu::ALL_EVENTS, &pasted);
        assert!(
            why.contains("another gateway's secret") && !why.contains(OLD),
            "{why}"
        );
        let lowercase = format!(r#"{{"gateway":"abcdefghijklmnopq","token":"{CURRENT}"}}"#);
        assert!(!refused(&Ipag::UNSIGNED, &lowercase).contains("abcdefghijklmnopq"));
        assert!(refused(&Iugu::ALL_EVENTS, &ipags).contains("IUGU_SECRET_ID"));
        let no_gateway = format!(r#"{{"token":"{CURRENT}"}}"#);
        assert!(refused(&Ipag::UNSIGNED, &no_gateway).contains(r#""gateway" must be "ipag""#));
        for text in ["", "token", CURRENT, "[]", "null", "{"] {
            assert!(refused(&Iugu::ALL_EVENTS, text).contains("not a JSON object"));
        }
        let signed_iugu = format!(r#"{{"gateway":"iugu","token":"{CURRENT}","signing_key":"k"}}"#);
        assert!(refused(&Iugu::ALL_EVENTS, &signed_iugu).contains("signing_key"));
        let misspelt = format!(r#"{{"gateway":"iugu","token":"{CURRENT}","previos_token":"x"}}"#);
        assert!(refused(&Iugu::ALL_EVENTS, &misspelt).contains("`previos_token`"));
    }

    #[test]
    fn tokens_must_be_long_and_url_safe_and_errors_never_show_them() {
        for bad in [
            "",
            "short",
            "has space in it 0123",
            "ümlaut-token-0123456789",
            "a&b=c-0123456789abc",
        ] {
            let text = format!(r#"{{"gateway":"iugu","token":"{bad}"}}"#);
            let why = refused(&Iugu::ALL_EVENTS, &text);
            assert!(bad.is_empty() || !why.contains(bad), "{why}");
        }
        let bad_previous =
            format!(r#"{{"gateway":"iugu","token":"{CURRENT}","previous_token":"x y"}}"#);
        assert!(refused(&Iugu::ALL_EVENTS, &bad_previous).contains("previous_token"));
        let number = r#"{"gateway":"iugu","token":12345678901234567890}"#;
        let why = refused(&Iugu::ALL_EVENTS, number);
        assert!(
            why.contains("not a string") && !why.contains("1234"),
            "{why}"
        );
        // A value pasted where a field name goes is not echoed.
        let pasted = format!(r#"{{"gateway":"iugu","token":"{CURRENT}","{OLD}":""}}"#);
        let why = refused(&Iugu::ALL_EVENTS, &pasted);
        assert!(!why.contains(OLD), "{why}");
        let longest = format!(r#"{{"gateway":"iugu","token":"{}"}}"#, "a".repeat(256));
        assert!(ok(&Iugu::ALL_EVENTS, &longest).token.is_configured());
        let long = format!(r#"{{"gateway":"iugu","token":"{}"}}"#, "a".repeat(257));
        assert!(refused(&Iugu::ALL_EVENTS, &long).contains("16 to 256"));
    }

    #[test]
    fn each_function_reads_its_own_gateways_variable() {
        assert_eq!(secret_id_variable(&Ipag::UNSIGNED), "IPAG_SECRET_ID");
        assert_eq!(secret_id_variable(&Iugu::ALL_EVENTS), "IUGU_SECRET_ID");
        for family in Family::ALL {
            assert_eq!(secret_id_variable(&Iugu::family(family)), "IUGU_SECRET_ID");
        }
    }

    #[test]
    fn a_signing_key_never_prints() {
        let ipag = ok(
            &Ipag::UNSIGNED,
            &format!(r#"{{"gateway":"ipag","token":"{CURRENT}","signing_key":"api-key-value"}}"#),
        );
        let shown = format!("{ipag:?}");
        assert!(!shown.contains("api-key-value"), "{shown}");
        assert!(shown.contains("SigningKey(configured)"), "{shown}");
    }
}
