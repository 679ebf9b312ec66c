//! The forwarder on SQS: one message per notification, the envelope as JSON, on a FIFO queue
//! (the functions refuse to start on any other: `runtime::Config`). Messages are grouped by
//! entity (`MessageGroupId` = the entity key: ordered per invoice, subscription, ...) and
//! de-duplicated per stored notification (`MessageDeduplicationId` = content key and sequence,
//! [`Envelope::message_deduplication_id`]).

use aws_sdk_sqs::types::MessageAttributeValue;
use aws_sdk_sqs::Client;

use webhook_core::envelope::Envelope;
use webhook_core::ingest::{DownstreamError, Forwarder};

pub struct SqsForwarder {
    client: Client,
    queue_url: String,
}

impl SqsForwarder {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        SqsForwarder {
            client,
            queue_url: queue_url.into(),
        }
    }
}

/// Whether `queue_url` names a FIFO queue (its name ends in `.fifo`): order and
/// de-duplication depend on it.
pub fn is_fifo(queue_url: &str) -> bool {
    queue_url.trim_end_matches('/').ends_with(".fifo")
}

fn attribute(data_type: &str, value: &str) -> Result<MessageAttributeValue, DownstreamError> {
    MessageAttributeValue::builder()
        .data_type(data_type)
        .string_value(value)
        .build()
        .map_err(|e| DownstreamError::new("building the SQS message", e))
}

impl Forwarder for SqsForwarder {
    async fn forward(&self, envelope: &Envelope) -> Result<(), DownstreamError> {
        let body = serde_json::to_string(envelope)
            .map_err(|e| DownstreamError::new("serialising the envelope", e))?;
        let mut send = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .message_attributes("provider", attribute("String", envelope.provider.as_str())?)
            .message_attributes("event", attribute("String", envelope.event.as_str())?)
            .message_group_id(&envelope.entity_key)
            .message_deduplication_id(envelope.message_deduplication_id());
        if let Some(sequence) = envelope.sequence {
            send = send.message_attributes("sequence", attribute("Number", &sequence.to_string())?);
        }
        send.send()
            .await
            .map_err(|e| DownstreamError::new("SQS SendMessage", super::error_text(&e)))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_a_fifo_queue_is_one() {
        assert!(super::is_fifo(
            "https://sqs.us-east-1.amazonaws.com/123456789012/events.fifo"
        ));
        assert!(super::is_fifo(
            "http://127.0.0.1:5000/123456789012/events.fifo/"
        ));
        assert!(!super::is_fifo(
            "https://sqs.us-east-1.amazonaws.com/123456789012/events"
        ));
        assert!(!super::is_fifo(
            "https://sqs.us-east-1.amazonaws.com/123456789012/fifo"
        ));
    }
}
