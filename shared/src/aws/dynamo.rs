//! The event store on DynamoDB, in the layout of [`super::table`].
//!
//! | step | calls |
//! |---|---|
//! | snapshot | one `BatchGetItem` (strongly consistent): the entity's head and the content's marker |
//! | open resends (rare: same content, not a plain retry) | one `Query` of `resend#<provider>` |
//! | append | one `TransactWriteItems`: put the event item (it must not exist), put the marker (it must be as read), put or update the head (`last_sequence` must be as read) |
//! | use a resend (rare) | one `UpdateItem` of the marker, conditional on it being as read |
//! | earlier notifications waiting (rare) | one `Query` of the entity's `sk` range |
//! | mark | one `UpdateItem` of the head: `forwarded_sequence` up (never down), this sequence out of `unacked` |
//!
//! Every write is conditional on what the snapshot read, so two deliveries never both store a
//! notification, never give one sequence twice, and never overwrite each other's marker: the
//! loser gets [`WriteError::Conflict`] and judges again.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use time::OffsetDateTime;

use super::error_text;
use super::table::{self, attr, n, s, Item};
use crate::delivery::{ResendRequest, Snapshot};
use crate::envelope::{Envelope, Provider};
use crate::ingest::{Append, DownstreamError, EventStore, Mark, WriteError};
use crate::stored::StoredNotification;

pub struct DynamoStore {
    client: Client,
    table: String,
}

/// How often a `BatchGetItem` asks again for keys DynamoDB left unprocessed (throttling).
const BATCH_GET_ROUNDS: usize = 4;

fn key(pk: &str, sk: &str) -> Item {
    HashMap::from([(attr::PK.to_owned(), s(pk)), (attr::SK.to_owned(), s(sk))])
}

fn failed(operation: &'static str) -> impl Fn(String) -> DownstreamError {
    move |why| DownstreamError::new(operation, why)
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The items at `keys` that exist, strongly consistent, in one round trip unless
    /// DynamoDB leaves some keys unprocessed.
    pub async fn get_many(&self, keys: Vec<Item>) -> Result<Vec<Item>, DownstreamError> {
        let mut found = Vec::new();
        let mut pending = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(|e| DownstreamError::new("building the DynamoDB request", e))?,
        );
        for _ in 0..BATCH_GET_ROUNDS {
            let Some(request) = pending.take() else {
                return Ok(found);
            };
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| DownstreamError::new("DynamoDB BatchGetItem", error_text(&e)))?;
            if let Some(mut responses) = out.responses {
                found.extend(responses.remove(&self.table).unwrap_or_default());
            }
            pending = out
                .unprocessed_keys
                .and_then(|mut left| left.remove(&self.table))
                .filter(|left| !left.keys().is_empty());
        }
        match pending {
            None => Ok(found),
            Some(_) => Err(DownstreamError::new(
                "DynamoDB BatchGetItem",
                "keys left unprocessed after every retry (throttled)",
            )),
        }
    }

    /// Every item of `pk` with `from <= sk <= to`, in `sk` order, strongly consistent.
    pub async fn query_range(
        &self,
        pk: &str,
        range: Option<(&str, &str)>,
    ) -> Result<Vec<Item>, DownstreamError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .expression_attribute_names("#pk", attr::PK)
                .expression_attribute_values(":pk", s(pk))
                .set_exclusive_start_key(start);
            query = match range {
                Some((from, to)) => query
                    .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :to")
                    .expression_attribute_names("#sk", attr::SK)
                    .expression_attribute_values(":from", s(from))
                    .expression_attribute_values(":to", s(to)),
                None => query.key_condition_expression("#pk = :pk"),
            };
            let page = query
                .send()
                .await
                .map_err(|e| DownstreamError::new("DynamoDB Query", error_text(&e)))?;
            items.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// Keeps an operator's resend request until its `expires_at` (`recover resend`).
    pub async fn record_resend(
        &self,
        provider: &str,
        request: &ResendRequest,
        requested_at: OffsetDateTime,
    ) -> Result<(), DownstreamError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(table::resend_item(provider, request, requested_at)))
            .send()
            .await
            .map_err(|e| DownstreamError::new("DynamoDB PutItem", error_text(&e)))?;
        Ok(())
    }

    /// One conditional `UpdateItem` of the head at `entity_key`: `Ok(false)` when its
    /// condition did not hold.
    async fn update_head(
        &self,
        entity_key: &str,
        through: Option<u64>,
        answered: Option<u64>,
        at: OffsetDateTime,
    ) -> Result<bool, DownstreamError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(entity_key, table::HEAD_SK)))
            .expression_attribute_names("#pk", attr::PK);
        let mut set = Vec::new();
        let mut condition = "attribute_exists(#pk)".to_owned();
        if let Some(through) = through {
            set.push("#fwd = :through, #fwd_at = :at");
            condition.push_str(" AND #fwd < :through");
            update = update
                .expression_attribute_names("#fwd", attr::FORWARDED_SEQUENCE)
                .expression_attribute_names("#fwd_at", attr::FORWARDED_AT)
                .expression_attribute_values(":through", n(through))
                .expression_attribute_values(":at", s(table::format_time(at)));
        }
        let mut expression = String::new();
        if !set.is_empty() {
            expression = format!("SET {}", set.join(", "));
        }
        if let Some(answered) = answered {
            expression.push_str(" REMOVE #unacked.#answered");
            update = update
                .expression_attribute_names("#unacked", attr::UNACKED)
                .expression_attribute_names("#answered", answered.to_string());
        }
        let result = update
            .update_expression(expression.trim())
            .condition_expression(condition)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(false)
            }
            Err(e) => Err(DownstreamError::new("DynamoDB UpdateItem", error_text(&e))),
        }
    }
}

/// Whether a cancelled transaction lost a race (a condition, or a concurrent transaction on
/// the same items) rather than failed.
fn lost_a_race<R>(
    err: &SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError, R>,
) -> bool {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
            cancelled.cancellation_reasons().iter().any(|reason| {
                matches!(
                    reason.code(),
                    Some("ConditionalCheckFailed") | Some("TransactionConflict")
                )
            })
        }
        _ => false,
    }
}

impl EventStore for DynamoStore {
    async fn snapshot(&self, envelope: &Envelope) -> Result<Snapshot, DownstreamError> {
        let items = self
            .get_many(vec![
                key(&envelope.entity_key, table::HEAD_SK),
                key(&table::marker_pk(&envelope.dedup_key), table::MARKER_SK),
            ])
            .await?;
        let mut snapshot = Snapshot::default();
        for item in &items {
            match table::text(item, attr::SK) {
                Some(table::HEAD_SK) => {
                    snapshot.head = Some(table::head(item).map_err(failed("reading the head"))?);
                }
                Some(table::MARKER_SK) => {
                    snapshot.previous =
                        Some(table::previous(item).map_err(failed("reading the marker"))?);
                }
                _ => {}
            }
        }
        Ok(snapshot)
    }

    async fn open_resends(
        &self,
        provider: Provider,
        now: OffsetDateTime,
    ) -> Result<Vec<ResendRequest>, DownstreamError> {
        let items = self
            .query_range(&table::resend_pk(provider.as_str()), None)
            .await?;
        let mut open = Vec::new();
        for item in &items {
            let request =
                table::resend_request(item).map_err(failed("reading a resend request"))?;
            if request.expires_at > now {
                open.push(request);
            }
        }
        Ok(open)
    }

    async fn append(&self, append: Append<'_>) -> Result<(), WriteError> {
        let build = |e| DownstreamError::new("building the DynamoDB request", e);
        let envelope = append.envelope;
        let sequence = envelope.sequence.unwrap_or_default();
        let event = Put::builder()
            .table_name(&self.table)
            .set_item(Some(table::event_item(
                envelope,
                append.raw_body,
                append.expires_at,
            )))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", attr::PK)
            .build()
            .map_err(build)?;
        let marker = Put::builder()
            .table_name(&self.table)
            .set_item(Some(table::marker_item(envelope, append.expires_at)))
            .expression_attribute_names("#pk", attr::PK);
        let marker = match &append.seen.previous {
            None => marker.condition_expression("attribute_not_exists(#pk)"),
            Some(previous) => marker
                .condition_expression("attribute_exists(#pk) AND #version = :version")
                .expression_attribute_names("#version", attr::EVENT_SK)
                .expression_attribute_values(":version", s(previous.version.as_str())),
        }
        .build()
        .map_err(build)?;
        let head = match &append.seen.head {
            None => TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(table::first_head_item(
                            &envelope.entity_key,
                            envelope.received_at,
                        )))
                        .condition_expression("attribute_not_exists(#pk)")
                        .expression_attribute_names("#pk", attr::PK)
                        .build()
                        .map_err(build)?,
                )
                .build(),
            Some(head) => {
                let mut expression = "SET #last = :n, #unacked.#n = :at".to_owned();
                let mut update = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(&envelope.entity_key, table::HEAD_SK)))
                    .condition_expression("#last = :seen")
                    .expression_attribute_names("#last", attr::LAST_SEQUENCE)
                    .expression_attribute_names("#unacked", attr::UNACKED)
                    .expression_attribute_names("#n", sequence.to_string())
                    .expression_attribute_values(":n", n(sequence))
                    .expression_attribute_values(":seen", n(head.last_sequence))
                    .expression_attribute_values(
                        ":at",
                        s(table::format_time(envelope.received_at)),
                    );
                for (i, old) in append.forget_unacked.iter().enumerate() {
                    expression.push_str(if i == 0 { " REMOVE " } else { ", " });
                    expression.push_str(&format!("#unacked.#old{i}"));
                    update = update.expression_attribute_names(format!("#old{i}"), old.to_string());
                }
                TransactWriteItem::builder()
                    .update(
                        update
                            .update_expression(expression)
                            .build()
                            .map_err(build)?,
                    )
                    .build()
            }
        };
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(event).build())
            .transact_items(TransactWriteItem::builder().put(marker).build())
            .transact_items(head)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if lost_a_race(&e) => Err(WriteError::Conflict),
            Err(e) => Err(WriteError::Failed(DownstreamError::new(
                "DynamoDB TransactWriteItems",
                error_text(&e),
            ))),
        }
    }

    async fn use_resend(
        &self,
        envelope: &Envelope,
        seen: &Snapshot,
        request: &str,
    ) -> Result<(), WriteError> {
        let Some(previous) = &seen.previous else {
            return Err(WriteError::Conflict);
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                &table::marker_pk(&envelope.dedup_key),
                table::MARKER_SK,
            )))
            .update_expression("ADD #used :request")
            .condition_expression("#version = :version")
            .expression_attribute_names("#used", attr::RESENDS_USED)
            .expression_attribute_names("#version", attr::EVENT_SK)
            .expression_attribute_values(":request", AttributeValue::Ss(vec![request.to_owned()]))
            .expression_attribute_values(":version", s(previous.version.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Err(WriteError::Conflict)
            }
            Err(e) => Err(WriteError::Failed(DownstreamError::new(
                "DynamoDB UpdateItem",
                error_text(&e),
            ))),
        }
    }

    async fn stored_range(
        &self,
        entity_key: &str,
        from: u64,
        to: u64,
    ) -> Result<Vec<StoredNotification>, DownstreamError> {
        let items = self
            .query_range(
                entity_key,
                Some((&table::event_sk(from), &table::event_sk(to))),
            )
            .await?;
        items
            .iter()
            .map(|item| {
                table::stored_notification(item).map_err(failed("reading a stored notification"))
            })
            .collect()
    }

    async fn mark(&self, mark: &Mark, at: OffsetDateTime) -> Result<(), DownstreamError> {
        let moved = self
            .update_head(&mark.entity_key, mark.through, mark.answered, at)
            .await?;
        // Already forwarded further by another delivery: only the answer is left to record.
        if !moved && mark.through.is_some() && mark.answered.is_some() {
            self.update_head(&mark.entity_key, None, mark.answered, at)
                .await?;
        }
        Ok(())
    }
}
