//! What can go wrong, said so an operator knows what to do next. No message ever holds the API
//! token or personal data: ids, statuses, dates and counts only.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum RecoverError {
    /// The command line asks for something that makes no sense; nothing was sent anywhere.
    #[error("{0}")]
    Refused(String),

    /// A required environment variable is missing.
    #[error("{name} is not set: {why}")]
    Config {
        name: &'static str,
        why: &'static str,
    },

    /// iugu refused the token: retrying cannot help, so the whole run stops.
    #[error(
        "iugu answered {status} to {what}: the API token was refused. Check IUGU_API_TOKEN: it \
         must be an API token (live or test) of the account that owns the webhooks; a \
         sub-account's webhooks need the sub-account's token"
    )]
    Unauthorized { status: u16, what: String },

    /// iugu answered an error that is not worth retrying (4xx other than 401/403/429).
    #[error("iugu answered {status} to {what}: {message}")]
    Rejected {
        status: u16,
        what: String,
        message: String,
    },

    /// 429, 5xx or no answer, still so after every retry.
    #[error("iugu still failed after {attempts} attempts at {what}: {last}")]
    GaveUp {
        attempts: u32,
        what: String,
        last: String,
    },

    /// iugu answered 2xx with something this tool cannot read.
    #[error("iugu's answer to {what} is not what its reference documents: {why}")]
    BadAnswer { what: String, why: String },

    /// DynamoDB or SQS failed.
    #[error("{operation} failed: {message}")]
    Aws {
        operation: &'static str,
        message: String,
    },

    /// A stored item cannot be turned back into its envelope.
    #[error("the stored item {pk} / {sk} cannot be replayed: {why}")]
    Unreplayable { pk: String, sk: String, why: String },
}

impl RecoverError {
    pub fn aws(operation: &'static str, err: impl std::fmt::Display) -> Self {
        RecoverError::Aws {
            operation,
            message: err.to_string(),
        }
    }

    /// A failure that concerns the whole run (bad token, bad configuration), not one item.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            RecoverError::Unauthorized { .. }
                | RecoverError::Config { .. }
                | RecoverError::Refused(_)
        )
    }
}
