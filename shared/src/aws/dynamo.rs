//! The event store on DynamoDB.
//!
//! Table: string keys `pk` (hash) and `sk` (range). Two kinds of item per notification:
//!
//! | kind | pk | sk | holds |
//! |---|---|---|---|
//! | `event` | `<entity_type>#<entity_id>` | `<received_at>#<dedup_key>` | the notification; `received_day` (`YYYY-MM-DD`, UTC) keys the `by_received_day` index |
//! | `dedup` | `dedup#<dedup_key>` | `dedup` | where its `event` item is; `forwarded_at` |
//!
//! The `event` item's sort key starts with the arrival time (UTC, fixed width), so a `Query`
//! on one `pk` returns that entity's notifications in arrival order. That key differs between
//! two deliveries of the same notification, so it cannot make the write conditional by itself:
//! the `dedup` item does. Both are written in one transaction whose condition is that the
//! `dedup` item does not exist, so a notification is stored exactly once however often, and
//! however concurrently, it is delivered.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::envelope::Envelope;
use crate::form::{Fields, Node};
use crate::gateway::Data;
use crate::ingest::{Claim, DownstreamError, EventStore, Stored};

/// Arrival times in keys and items: RFC 3339, UTC, microseconds, always the same width, so
/// that string order is time order.
const TIME_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
);

pub fn format_time(t: OffsetDateTime) -> String {
    let utc = t.to_offset(time::UtcOffset::UTC);
    // Formatting a UTC time with this fixed description cannot fail; fall back to RFC 3339.
    utc.format(TIME_FORMAT)
        .or_else(|_| utc.format(&Rfc3339))
        .unwrap_or_default()
}

/// Where a notification's `event` item lives, and the arrival time its key starts with.
pub struct EventKey {
    pub pk: String,
    pub sk: String,
    /// `received_at`, formatted as in [`format_time`].
    pub received_at: String,
}

/// The key of a notification's `event` item (computed once per write: both items use it).
pub fn event_key(envelope: &Envelope) -> EventKey {
    let received_at = format_time(envelope.received_at);
    EventKey {
        pk: envelope.entity_key.clone(),
        sk: format!("{received_at}#{}", envelope.dedup_key),
        received_at,
    }
}

/// The `pk` and `sk` of a notification's `dedup` item.
pub fn dedup_item_key(dedup_key: &str) -> (String, String) {
    (format!("dedup#{dedup_key}"), "dedup".to_owned())
}

pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    async fn read_dedup_item(
        &self,
        dedup_key: &str,
    ) -> Result<Option<HashMap<String, AttributeValue>>, DownstreamError> {
        let (pk, sk) = dedup_item_key(dedup_key);
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| DownstreamError::new("DynamoDB GetItem", e))?;
        Ok(out.item)
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// `data` as a DynamoDB map: strings stay strings, lists lists, groups maps.
pub fn fields_to_attribute(fields: &Fields) -> AttributeValue {
    AttributeValue::M(
        fields
            .iter()
            .map(|(name, node)| (name.clone(), node_to_attribute(node)))
            .collect(),
    )
}

/// An envelope's `data`: iugu's fields as above, iPag's JSON as [`json_to_attribute`].
pub fn data_to_attribute(data: &Data) -> AttributeValue {
    match data {
        Data::Form(fields) => fields_to_attribute(fields),
        Data::Json(value) => json_to_attribute(value),
    }
}

/// JSON as DynamoDB's own types: objects maps, arrays lists, `null` NULL, booleans BOOL.
/// Numbers are numbers (N) when DynamoDB can hold them (at most 38 digits, magnitude within
/// 1e-130..1e125); any other is kept as its text (S) rather than fail the write on every retry.
/// `raw_body` keeps the exact JSON regardless.
pub fn json_to_attribute(value: &serde_json::Value) -> AttributeValue {
    use serde_json::Value;
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => {
            let text = n.to_string();
            let fits = match n.as_f64() {
                _ if n.is_i64() || n.is_u64() => true,
                Some(f) => f == 0.0 || (1e-130..1e125).contains(&f.abs()),
                None => false,
            };
            if fits {
                AttributeValue::N(text)
            } else {
                AttributeValue::S(text)
            }
        }
        Value::String(v) => s(v.as_str()),
        Value::Array(items) => AttributeValue::L(items.iter().map(json_to_attribute).collect()),
        Value::Object(map) => AttributeValue::M(
            map.iter()
                .map(|(k, v)| (k.clone(), json_to_attribute(v)))
                .collect(),
        ),
    }
}

fn node_to_attribute(node: &Node) -> AttributeValue {
    match node {
        Node::Text(v) => s(v.as_str()),
        Node::List(items) => AttributeValue::L(items.iter().map(|v| s(v.as_str())).collect()),
        Node::Map(map) => fields_to_attribute(map),
    }
}

fn event_item(
    envelope: &Envelope,
    key: &EventKey,
    raw_body: &str,
) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        ("pk".to_owned(), s(key.pk.as_str())),
        ("sk".to_owned(), s(key.sk.as_str())),
        ("kind".to_owned(), s("event")),
        ("provider".to_owned(), s(envelope.provider.as_str())),
        ("event".to_owned(), s(envelope.event.as_str())),
        ("family".to_owned(), s(envelope.family.as_str())),
        ("entity_type".to_owned(), s(envelope.entity_type.as_str())),
        ("entity_id".to_owned(), s(envelope.entity_id.as_str())),
        ("received_at".to_owned(), s(key.received_at.as_str())),
        // The arrival day: the partition key of the `by_received_day` index, through which the
        // operator's `recover replay --since` finds a period's notifications (template.yaml).
        (
            "received_day".to_owned(),
            s(key
                .received_at
                .get(..10)
                .unwrap_or(key.received_at.as_str())),
        ),
        ("dedup_key".to_owned(), s(envelope.dedup_key.as_str())),
        ("raw_body".to_owned(), s(raw_body)),
        ("data".to_owned(), data_to_attribute(&envelope.data)),
    ]);
    if let Some(account) = &envelope.account_id {
        item.insert("account_id".to_owned(), s(account.as_str()));
    }
    if let Some(status) = &envelope.status {
        item.insert("status".to_owned(), s(status.as_str()));
    }
    if !envelope.extra.is_empty() {
        item.insert("extra".to_owned(), fields_to_attribute(&envelope.extra));
    }
    item
}

fn dedup_item(envelope: &Envelope, key: &EventKey) -> HashMap<String, AttributeValue> {
    let (pk, sk) = dedup_item_key(&envelope.dedup_key);
    HashMap::from([
        ("pk".to_owned(), s(pk)),
        ("sk".to_owned(), s(sk)),
        ("kind".to_owned(), s("dedup")),
        ("event_pk".to_owned(), s(key.pk.as_str())),
        ("event_sk".to_owned(), s(key.sk.as_str())),
        ("received_at".to_owned(), s(key.received_at.as_str())),
    ])
}

/// Reads what a `dedup` item says of its notification.
fn stored_from(item: &HashMap<String, AttributeValue>) -> Result<Stored, DownstreamError> {
    let time = |name: &str| -> Result<Option<OffsetDateTime>, DownstreamError> {
        match item.get(name) {
            None => Ok(None),
            Some(AttributeValue::S(v)) => OffsetDateTime::parse(v, &Rfc3339)
                .map(Some)
                .map_err(|e| DownstreamError::new("reading the dedup item", e)),
            Some(_) => Err(DownstreamError::new(
                "reading the dedup item",
                format!("`{name}` is not a string"),
            )),
        }
    };
    let first_received_at = time("received_at")?
        .ok_or_else(|| DownstreamError::new("reading the dedup item", "it has no `received_at`"))?;
    Ok(Stored {
        first_received_at,
        forwarded_at: time("forwarded_at")?,
    })
}

impl EventStore for DynamoStore {
    async fn claim(&self, envelope: &Envelope, raw_body: &str) -> Result<Claim, DownstreamError> {
        let build = |e| DownstreamError::new("building the DynamoDB request", e);
        let key = event_key(envelope);
        let dedup = Put::builder()
            .table_name(&self.table)
            .set_item(Some(dedup_item(envelope, &key)))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build)?;
        let event = Put::builder()
            .table_name(&self.table)
            .set_item(Some(event_item(envelope, &key, raw_body)))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(dedup).build())
            .transact_items(TransactWriteItem::builder().put(event).build())
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(Claim::New),
            Err(err) => err,
        };
        // Only "the dedup item exists" makes a duplicate; any other cancellation (a conflict
        // with a concurrent transaction, throttling) is an error, and the gateway retries.
        let old_item = match err.as_service_error() {
            Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(
                cancelled,
            )) => {
                let first = cancelled.cancellation_reasons().first();
                match first {
                    Some(reason) if reason.code() == Some("ConditionalCheckFailed") => {
                        reason.item().cloned()
                    }
                    _ => return Err(DownstreamError::new("DynamoDB TransactWriteItems", err)),
                }
            }
            _ => return Err(DownstreamError::new("DynamoDB TransactWriteItems", err)),
        };
        // DynamoDB returns the existing item with the cancellation; read it if it did not.
        let item = match old_item {
            Some(item) if !item.is_empty() => item,
            _ => self
                .read_dedup_item(&envelope.dedup_key)
                .await?
                .ok_or_else(|| {
                    DownstreamError::new("DynamoDB GetItem", "the dedup item vanished")
                })?,
        };
        Ok(Claim::Duplicate(stored_from(&item)?))
    }

    async fn mark_forwarded(
        &self,
        envelope: &Envelope,
        at: OffsetDateTime,
    ) -> Result<(), DownstreamError> {
        let build = |e| DownstreamError::new("building the DynamoDB request", e);
        let at = s(format_time(at));
        let event = event_key(envelope);
        let update = |(pk, sk): (String, String)| {
            Update::builder()
                .table_name(&self.table)
                .key("pk", s(pk))
                .key("sk", s(sk))
                .update_expression("SET forwarded_at = :at")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_values(":at", at.clone())
                .build()
                .map_err(build)
        };
        self.client
            .transact_write_items()
            .transact_items(
                TransactWriteItem::builder()
                    .update(update(dedup_item_key(&envelope.dedup_key))?)
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .update(update((event.pk, event.sk))?)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| DownstreamError::new("DynamoDB TransactWriteItems", e))?;
        Ok(())
    }
}
