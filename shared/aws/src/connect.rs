//! A function's AWS clients, built once at start-up with [`crate::sdk::sdk_settings`]: the
//! store and the forwarder over them, the secret read and the warm-up. What the edge calls;
//! it names no SDK type.

use std::time::Duration;

use aws_config::BehaviorVersion;

use crate::warm::WarmUp;
use crate::{DynamoStore, SqsForwarder};

/// The DynamoDB and SQS clients of one function, and the settings they were built with. The
/// clients share one HTTP client, and so one connection pool: what [`Clients::warm_up`] opens,
/// the store and the forwarder use.
pub struct Clients {
    sdk: aws_config::SdkConfig,
    dynamodb: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
}

/// Builds a function's clients from the environment (region, credentials; `AWS_ENDPOINT_URL`,
/// or `AWS_ENDPOINT_URL_DYNAMODB` and the like per service, points them at a local server) with
/// the functions' settings ([`crate::sdk::sdk_settings`]).
pub async fn connect() -> Clients {
    let sdk = crate::sdk::sdk_settings(aws_config::defaults(BehaviorVersion::latest()))
        .load()
        .await;
    Clients {
        dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
        sqs: aws_sdk_sqs::Client::new(&sdk),
        sdk,
    }
}

impl Clients {
    /// The event store on `table`.
    pub fn store(&self, table: impl Into<String>) -> DynamoStore {
        DynamoStore::new(self.dynamodb.clone(), table)
    }

    /// The forwarder to the FIFO queue `queue_url`.
    pub fn forwarder(&self, queue_url: impl Into<String>) -> SqsForwarder {
        SqsForwarder::new(self.sqs.clone(), queue_url)
    }

    /// A Secrets Manager client with the same settings (built when asked: the sweeper reads
    /// no secret).
    pub fn secrets(&self) -> crate::secrets::Client {
        crate::secrets::client(&self.sdk)
    }

    /// Opens the connections to `table` and `queue_url` within `budget` ([`crate::warm`]).
    pub async fn warm_up(&self, table: &str, queue_url: &str, budget: Duration) -> WarmUp {
        crate::warm::connections(&self.dynamodb, table, &self.sqs, queue_url, budget).await
    }
}
