//! The forwarder on SQS: one message per notification, the envelope as JSON.

use aws_sdk_sqs::types::MessageAttributeValue;
use aws_sdk_sqs::Client;

use crate::envelope::Envelope;
use crate::ingest::{DownstreamError, Forwarder};

pub struct SqsForwarder {
    client: Client,
    queue_url: String,
    /// A `.fifo` queue: messages are grouped by entity (ordered per invoice, subscription...)
    /// and de-duplicated by the notification's key.
    fifo: bool,
}

impl SqsForwarder {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        let queue_url = queue_url.into();
        SqsForwarder {
            client,
            fifo: queue_url.ends_with(".fifo"),
            queue_url,
        }
    }
}

fn text_attribute(value: &str) -> Result<MessageAttributeValue, DownstreamError> {
    MessageAttributeValue::builder()
        .data_type("String")
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
            .message_attributes("provider", text_attribute(envelope.provider.as_str())?)
            .message_attributes("event", text_attribute(envelope.event.as_str())?);
        if self.fifo {
            send = send
                .message_group_id(&envelope.entity_key)
                .message_deduplication_id(&envelope.dedup_key);
        }
        send.send()
            .await
            .map_err(|e| DownstreamError::new("SQS SendMessage", e))?;
        Ok(())
    }
}
