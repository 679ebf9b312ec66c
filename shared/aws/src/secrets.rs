//! Secrets Manager: the text of a secret, read once at a function's start-up. What the text
//! means (the webhook tokens, iPag's signing key) is the edge's to say (`webhook_lambda::secrets`).

use aws_sdk_secretsmanager::error::DisplayErrorContext;

/// The Secrets Manager client (what [`crate::Clients::secrets`] gives).
pub use aws_sdk_secretsmanager::Client;

/// Why a secret's text could not be read. Never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The call failed: AWS's reason, as one line.
    Unreadable(String),
    /// The secret holds binary data, not text.
    Binary,
}

/// A client with `sdk`'s settings (the functions': `sdk::sdk_settings`).
pub fn client(sdk: &aws_config::SdkConfig) -> Client {
    Client::new(sdk)
}

/// The text of secret `id`'s current version (`AWSCURRENT`).
pub async fn secret_text(client: &Client, id: &str) -> Result<String, ReadError> {
    let output = client
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| ReadError::Unreadable(DisplayErrorContext(&e).to_string()))?;
    output
        .secret_string()
        .map(str::to_owned)
        .ok_or(ReadError::Binary)
}
