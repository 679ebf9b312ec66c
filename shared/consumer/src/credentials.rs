//! The merchant's API credentials, one secret in Secrets Manager (`API_SECRET_ID`), read once
//! when the function starts:
//!
//! ```json
//! {"iugu_api_token": "...", "ipag_api_id": "...", "ipag_api_key": "..."}
//! ```
//!
//! A gateway whose fields are absent or blank has no credentials: its confirmations fail (the
//! message is retried, then kept by the dead-letter queue), never book unconfirmed. These are
//! API tokens, not the webhook tokens the front door checks: they read the merchant's
//! invoices and transactions, so only the consumer's role may read this secret.

use serde::Deserialize;

/// The credentials; never printed.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
pub struct ApiCredentials {
    #[serde(default)]
    iugu_api_token: Option<String>,
    #[serde(default)]
    ipag_api_id: Option<String>,
    #[serde(default)]
    ipag_api_key: Option<String>,
}

impl std::fmt::Debug for ApiCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiCredentials")
            .field("iugu", &self.iugu_token().is_some())
            .field("ipag", &self.ipag().is_some())
            .finish()
    }
}

fn present(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl ApiCredentials {
    pub fn new(iugu_api_token: Option<&str>, ipag: Option<(&str, &str)>) -> ApiCredentials {
        ApiCredentials {
            iugu_api_token: iugu_api_token.map(str::to_owned),
            ipag_api_id: ipag.map(|(id, _)| id.to_owned()),
            ipag_api_key: ipag.map(|(_, key)| key.to_owned()),
        }
    }

    /// The secret's text as credentials. The error never quotes the text.
    pub fn parse(text: &str) -> Result<ApiCredentials, String> {
        serde_json::from_str(text).map_err(|e| {
            format!(
                "the API secret is not a JSON object with iugu_api_token, ipag_api_id, \
                 ipag_api_key ({:?} at line {} column {})",
                e.classify(),
                e.line(),
                e.column()
            )
        })
    }

    pub fn iugu_token(&self) -> Option<&str> {
        present(&self.iugu_api_token)
    }

    /// iPag's API id and key.
    pub fn ipag(&self) -> Option<(&str, &str)> {
        Some((present(&self.ipag_api_id)?, present(&self.ipag_api_key)?))
    }
}

/// Reads secret `id` once.
pub async fn load(sdk: &aws_config::SdkConfig, id: &str) -> Result<ApiCredentials, String> {
    let client = webhook_aws::secrets::client(sdk);
    let text = webhook_aws::secrets::secret_text(&client, id)
        .await
        .map_err(|e| match e {
            webhook_aws::secrets::ReadError::Unreadable(why) => {
                format!("cannot read the API secret `{id}`: {why}")
            }
            webhook_aws::secrets::ReadError::Binary => {
                format!("the API secret `{id}` holds binary data, not JSON")
            }
        })?;
    ApiCredentials::parse(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_fields_are_absent_and_nothing_is_ever_printed() {
        let c = ApiCredentials::parse(
            r#"{"iugu_api_token": "tok-123", "ipag_api_id": "merchant", "ipag_api_key": " "}"#,
        )
        .expect("parses");
        assert_eq!(c.iugu_token(), Some("tok-123"));
        assert_eq!(c.ipag(), None);
        assert!(!format!("{c:?}").contains("tok-123"));
        let err = ApiCredentials::parse(r#"{"iugu_api_token": 5"#).expect_err("refused");
        assert!(!err.contains('5'), "{err}");
    }
}
