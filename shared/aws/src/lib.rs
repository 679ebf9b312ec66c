//! The AWS adapters: the ports of [`webhook_core::ingest`] (and the sweep's, the
//! quarantine's) over AWS. DynamoDB keeps ([`dynamo`]; [`table`] is its one layout;
//! [`operator`], what `recover` reads and writes there), SQS forwards ([`sqs`]); [`connect`]
//! builds a function's clients with [`sdk::sdk_settings`] (timeouts, retries, rustls on ring,
//! trusting [`trust`]'s roots), [`warm`] opens their connections during init, [`secrets`]
//! reads a secret's text. No gateway, no handler.

pub mod connect;
pub mod dynamo;
pub mod operator;
pub mod sdk;
pub mod secrets;
pub mod sqs;
pub mod table;
pub mod trust;
pub mod warm;

pub use connect::{connect, Clients};
pub use dynamo::DynamoStore;
pub use sqs::SqsForwarder;

/// An SDK error as one line: its `Display` is often just "service error", and the reason is
/// in its sources.
pub fn error_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}
