//! Adapters from the ports of [`crate::ingest`] to AWS: DynamoDB keeps, SQS forwards.

pub mod dynamo;
pub mod sqs;

pub use dynamo::DynamoStore;
pub use sqs::SqsForwarder;
