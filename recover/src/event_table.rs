//! Reading the events table (layout: `shared/src/aws/dynamo.rs`). This tool only reads it.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use crate::error::RecoverError;

pub type Item = HashMap<String, AttributeValue>;

/// The index over `received_day` (`YYYY-MM-DD`, UTC) and `sk` (template.yaml says why).
pub const RECEIVED_DAY_INDEX: &str = "by_received_day";

/// A string attribute, if the item has one.
pub fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(s)) => Some(s.as_str()),
        _ => None,
    }
}

/// What we last stored about an invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredStatus {
    /// No notification of this invoice was ever stored.
    Never,
    /// Notifications were stored, none with an invoice status.
    NoStatus,
    /// The invoice status of the latest notification that carried one.
    Latest(String),
}

pub struct EventTable {
    client: Client,
    table: String,
}

impl EventTable {
    pub fn new(client: Client, table: impl Into<String>) -> EventTable {
        EventTable {
            client,
            table: table.into(),
        }
    }

    /// Every notification stored under one entity key, in arrival order.
    pub async fn events_of(&self, pk: &str) -> Result<Vec<Item>, RecoverError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| RecoverError::aws("DynamoDB Query", aws_message(&e)))?;
            items.extend(
                page.items
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|i| text(i, "kind") == Some("event")),
            );
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// The notifications that arrived on `day` with `from_sk <= sk < to_sk`, in arrival order
    /// (`sk` starts with the arrival time, fixed width, so string order is time order).
    pub async fn events_of_day(
        &self,
        day: &str,
        from_sk: &str,
        to_sk: &str,
    ) -> Result<Vec<Item>, RecoverError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(RECEIVED_DAY_INDEX)
                .key_condition_expression("received_day = :day AND sk BETWEEN :from AND :to")
                .expression_attribute_values(":day", AttributeValue::S(day.to_owned()))
                .expression_attribute_values(":from", AttributeValue::S(from_sk.to_owned()))
                .expression_attribute_values(":to", AttributeValue::S(to_sk.to_owned()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| {
                    RecoverError::aws("DynamoDB Query (by_received_day)", aws_message(&e))
                })?;
            // BETWEEN includes its upper end; `to_sk` is an arrival time, which no key equals
            // (every key goes on with `#<dedup_key>`), so nothing at `to_sk` itself slips in.
            items.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// The invoice status we last stored for `invoice#<id>`, newest notification first.
    ///
    /// `invoice.bank_slip_status` is skipped: its `data[status]` is the bank slip's registration
    /// state ("processing"), not the invoice's status (../shared/reference/iugu-webhook-events.txt).
    pub async fn latest_invoice_status(
        &self,
        invoice_id: &str,
    ) -> Result<StoredStatus, RecoverError> {
        let mut seen = false;
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(
                    ":pk",
                    AttributeValue::S(format!("invoice#{invoice_id}")),
                )
                .scan_index_forward(false)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| RecoverError::aws("DynamoDB Query", aws_message(&e)))?;
            for item in page.items.unwrap_or_default() {
                if text(&item, "kind") != Some("event") {
                    continue;
                }
                seen = true;
                if text(&item, "event") == Some("invoice.bank_slip_status") {
                    continue;
                }
                if let Some(status) = text(&item, "status") {
                    return Ok(StoredStatus::Latest(status.to_owned()));
                }
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(if seen {
                    StoredStatus::NoStatus
                } else {
                    StoredStatus::Never
                });
            }
        }
    }
}

/// The SDK's `Display` of an error is often just "service error"; its source says what.
pub fn aws_message(err: &(dyn std::error::Error + 'static)) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}
