//! Lambda's SQS event source, both ways: the event a function receives and the batch response
//! it answers with (`ReportBatchItemFailures`), and a [`Poller`] that feeds a queue to the
//! consumer as Lambda would, for the local run (an event source mapping does not exist there)
//! and the tests.

use std::collections::HashMap;
use std::time::Instant;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
    MessageSystemAttributeName,
};

use crate::batch::{self, Fate};
use crate::business::Business;
use crate::confirm::GatewayApi;
use crate::consumer::{Consumer, Failure, Outcome};
use crate::ledger::Ledger;
use crate::message::Record;

/// The attribute Lambda puts a FIFO message's group in.
pub const GROUP_ATTRIBUTE: &str = "MessageGroupId";

/// The records of an SQS event, in its order.
pub fn records(event: &SqsEvent) -> Vec<Record> {
    event
        .records
        .iter()
        .map(|m| Record {
            message_id: m.message_id.clone().unwrap_or_default(),
            group: m.attributes.get(GROUP_ATTRIBUTE).cloned(),
            body: m.body.clone().unwrap_or_default(),
        })
        .collect()
}

/// The batch response naming every message that did not succeed.
pub fn response<T, E>(records: &[Record], fates: &[Fate<T, E>]) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for id in batch::failures(records, fates) {
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = id;
        response.batch_item_failures.push(failure);
    }
    response
}

/// One invocation: the event's messages through `consumer`, and the batch response.
pub async fn handle_event<L: Ledger, A: GatewayApi, B: Business>(
    consumer: &Consumer<L, A, B>,
    event: &SqsEvent,
    deadline: Option<Instant>,
) -> (SqsBatchResponse, Vec<Fate<Outcome, Failure>>) {
    let records = records(event);
    let fates = consumer.handle_batch(&records, deadline).await;
    (response(&records, &fates), fates)
}

/// What one [`Poller::poll`] did.
#[derive(Debug, Default)]
pub struct Round {
    pub received: usize,
    pub failed: usize,
    pub fates: Vec<Fate<Outcome, Failure>>,
}

/// Receives from a queue and hands each batch to the consumer as Lambda's event source does:
/// up to 10 messages, the batch response's failures left on the queue, the rest deleted.
#[derive(Debug, Clone)]
pub struct Poller {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    /// The queue's ARN, as the event's `eventSourceARN`.
    pub queue_arn: String,
    /// Make a failed message visible again at once (tests), instead of when its visibility
    /// timeout ends (as Lambda leaves it).
    pub release_failed: bool,
}

impl Poller {
    /// One receive (waiting up to `wait_seconds` for a message), one invocation, the deletes.
    pub async fn poll<L: Ledger, A: GatewayApi, B: Business>(
        &self,
        consumer: &Consumer<L, A, B>,
        wait_seconds: i32,
    ) -> Result<Round, String> {
        let received = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait_seconds)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| webhook_aws::error_text(&e))?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(Round::default());
        }
        let event = self.event(&messages);
        let (response, fates) = handle_event(consumer, &event, None).await;
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        let mut delete = Vec::new();
        let mut release = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            let id = m.message_id().unwrap_or_default();
            let handle = m.receipt_handle().unwrap_or_default();
            if failed.contains(&id) {
                release.push(
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(handle)
                        .visibility_timeout(0)
                        .build()
                        .map_err(|e| e.to_string())?,
                );
            } else {
                delete.push(
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(handle)
                        .build()
                        .map_err(|e| e.to_string())?,
                );
            }
        }
        if !delete.is_empty() {
            self.sqs
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(delete))
                .send()
                .await
                .map_err(|e| webhook_aws::error_text(&e))?;
        }
        if self.release_failed && !release.is_empty() {
            self.sqs
                .change_message_visibility_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(release))
                .send()
                .await
                .map_err(|e| webhook_aws::error_text(&e))?;
        }
        Ok(Round {
            received: messages.len(),
            failed: failed.len(),
            fates,
        })
    }

    /// The event Lambda would build for `messages`.
    pub fn event(&self, messages: &[aws_sdk_sqs::types::Message]) -> SqsEvent {
        let mut event = SqsEvent::default();
        for m in messages {
            let mut message = SqsMessage::default();
            message.message_id = m.message_id().map(str::to_owned);
            message.receipt_handle = m.receipt_handle().map(str::to_owned);
            message.body = m.body().map(str::to_owned);
            message.md5_of_body = m.md5_of_body().map(str::to_owned);
            message.attributes = m
                .attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                        .collect()
                })
                .unwrap_or_else(HashMap::new);
            message.event_source = Some("aws:sqs".to_owned());
            message.event_source_arn = Some(self.queue_arn.clone());
            event.records.push(message);
        }
        event
    }
}
