//! Adapters from the ports of [`crate::ingest`] to AWS: DynamoDB keeps ([`table`] is its one
//! layout), SQS forwards.

pub mod dynamo;
pub mod sqs;
pub mod table;

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
