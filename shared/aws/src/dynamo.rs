//! The event store on DynamoDB, in the layout of [`super::table`].
//!
//! | step | calls |
//! |---|---|
//! | snapshot | one `BatchGetItem` (strongly consistent): the entity's head and the content's marker |
//! | resend entries (rare: same content, not a plain retry) | one `Query` of `resend#<dedup_key>` |
//! | append | one `TransactWriteItems`: put the event item (it must not exist), put the marker (it must be as read), put or update the head (`last_sequence` must be as read; the new sequence into `unacked`) |
//! | use a resend entry (rare) | one `UpdateItem` of the entry, conditional on no other delivery having used it |
//! | earlier notifications waiting (rare) | one `Query` of the entity's `sk` range |
//! | set aside (rare: a notification that can no longer be read) | one `UpdateItem` of the event item, one `PutItem` of its pointer |
//! | mark | one `UpdateItem` of the head: `forwarded_sequence` up (never down), this sequence out of `unacked` |
//!
//! The sweeper's port ([`SweepStore`]): the `by_arrival` index a page at a time (one `Query`
//! per partition of each day, at once), heads at a glance (`BatchGetItem`, eventually
//! consistent, 100 keys a call, a few calls at once), its state (one item), and, during the
//! upgrade from the version with `by_pending`, that index.
//!
//! Every write is conditional on what the snapshot read, so two deliveries never both store a
//! notification, never give one sequence twice, and never overwrite each other's marker: the
//! loser gets [`WriteError::Conflict`] and judges again.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use time::OffsetDateTime;

use super::error_text;
use super::table::{self, attr, n, s, Item};
use webhook_core::delivery::{EntityHead, ResendEntry, ResendRequest, Snapshot};
use webhook_core::envelope::{Envelope, Gap};
use webhook_core::ingest::{Append, DownstreamError, EventStore, Mark, WriteError};
use webhook_core::quarantine::{Kept, QuarantineStore, QuarantinedRequest};
use webhook_core::stored::StoredNotification;
use webhook_core::sweep::{Arrival, Arrivals, PendingEntity, SweepState, SweepStore};

pub struct DynamoStore {
    client: Client,
    table: String,
    /// The previous version's sweeper index, while the table has it (`SWEEP_PENDING_INDEX`):
    /// the sweeper sweeps and clears what it lists.
    legacy_pending: Option<String>,
}

/// Most heads one `BatchGetItem` reads.
const BATCH_GET: usize = 100;
/// `BatchGetItem` calls the sweeper's glance makes at once.
const GLANCES_AT_ONCE: usize = 4;

/// How often a `BatchGetItem` (or `BatchWriteItem`) asks again for keys DynamoDB left
/// unprocessed (throttling).
const BATCH_GET_ROUNDS: usize = 4;
/// Most items per `BatchWriteItem`.
const BATCH_WRITE: usize = 25;

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
            legacy_pending: None,
        }
    }

    /// The same, reading the previous version's sweeper index `index` too (an upgrade).
    pub fn with_legacy_pending(self, index: impl Into<String>) -> Self {
        DynamoStore {
            legacy_pending: Some(index.into()),
            ..self
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
        self.get_many_read(keys, true).await
    }

    /// The same, `consistent` or not (an eventually consistent read costs half).
    async fn get_many_read(
        &self,
        keys: Vec<Item>,
        consistent: bool,
    ) -> Result<Vec<Item>, DownstreamError> {
        let mut found = Vec::new();
        let mut pending = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(consistent)
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

    /// Keeps an operator's resend request and the entries naming each stored notification it
    /// covers until its `expires_at` (`recover resend`). The entries first: a delivery is taken
    /// for a resend by its entry alone; the request item is what an operator reads.
    pub async fn record_resend(
        &self,
        provider: &str,
        request: &ResendRequest,
        entries: &[ResendEntry],
        requested_at: OffsetDateTime,
    ) -> Result<(), DownstreamError> {
        for chunk in entries.chunks(BATCH_WRITE) {
            let mut writes = chunk
                .iter()
                .map(|entry| {
                    aws_sdk_dynamodb::types::PutRequest::builder()
                        .set_item(Some(table::resend_entry_item(entry)))
                        .build()
                        .map(|put| {
                            aws_sdk_dynamodb::types::WriteRequest::builder()
                                .put_request(put)
                                .build()
                        })
                        .map_err(|e| DownstreamError::new("building the DynamoDB request", e))
                })
                .collect::<Result<Vec<_>, _>>()?;
            for _ in 0..BATCH_GET_ROUNDS {
                if writes.is_empty() {
                    break;
                }
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, std::mem::take(&mut writes))
                    .send()
                    .await
                    .map_err(|e| DownstreamError::new("DynamoDB BatchWriteItem", error_text(&e)))?;
                writes = out
                    .unprocessed_items
                    .and_then(|mut left| left.remove(&self.table))
                    .unwrap_or_default();
            }
            if !writes.is_empty() {
                return Err(DownstreamError::new(
                    "DynamoDB BatchWriteItem",
                    "items left unprocessed after every retry (throttled)",
                ));
            }
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(table::resend_item(
                provider,
                request,
                requested_at,
                entries.len(),
            )))
            .send()
            .await
            .map_err(|e| DownstreamError::new("DynamoDB PutItem", error_text(&e)))?;
        Ok(())
    }

    /// One conditional `UpdateItem` of the head at `entity_key`: `forwarded_sequence` up to
    /// `through` (never down), and `answered` out of `unacked`. `Ok(false)` when the condition
    /// did not hold (another delivery moved it as far already).
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
        let mut remove = Vec::new();
        let mut condition = "attribute_exists(#pk)".to_owned();
        if let Some(through) = through {
            set.push("#fwd = :through, #fwd_at = :at");
            // Never move `forwarded_sequence` down.
            condition.push_str(" AND #fwd < :through");
            update = update
                .expression_attribute_names("#fwd", attr::FORWARDED_SEQUENCE)
                .expression_attribute_names("#fwd_at", attr::FORWARDED_AT)
                .expression_attribute_values(":through", n(through))
                .expression_attribute_values(":at", s(table::format_time(at)));
        }
        if let Some(answered) = answered {
            remove.push("#unacked.#answered");
            update = update
                .expression_attribute_names("#unacked", attr::UNACKED)
                .expression_attribute_names("#answered", answered.to_string());
        }
        let mut expression = String::new();
        if !set.is_empty() {
            expression = format!("SET {}", set.join(", "));
        }
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
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

    /// One `Query` of `by_arrival`'s partition `partition` for `(after, until]`, at most
    /// `limit` entries, from `start`: the entries and where the next page starts.
    async fn arrival_page(
        &self,
        partition: &str,
        (after, until): (OffsetDateTime, OffsetDateTime),
        limit: usize,
        start: Option<Item>,
    ) -> Result<(Vec<Arrival>, Option<Item>), DownstreamError> {
        let page = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(table::ARRIVAL_INDEX)
            .key_condition_expression("#day = :day AND #at BETWEEN :from AND :to")
            .expression_attribute_names("#day", attr::ARRIVAL_DAY)
            .expression_attribute_names("#at", attr::RECEIVED_AT)
            .expression_attribute_values(":day", s(partition))
            .expression_attribute_values(
                ":from",
                s(table::format_time(after + time::Duration::microseconds(1))),
            )
            .expression_attribute_values(":to", s(table::format_time(until)))
            .limit(i32::try_from(limit.clamp(1, 10_000)).unwrap_or(1_000))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| DownstreamError::new("DynamoDB Query (by_arrival)", error_text(&e)))?;
        let mut entries = Vec::new();
        for item in page.items.unwrap_or_default() {
            let received_at = table::text(&item, attr::RECEIVED_AT)
                .and_then(|at| {
                    OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).ok()
                })
                .ok_or_else(|| {
                    DownstreamError::new("reading an arrival", "no readable `received_at`")
                })?;
            let sequence = table::text(&item, attr::SK)
                .and_then(|sk| sk.strip_prefix("seq#"))
                .and_then(|n| n.parse().ok());
            // Only notifications numbered per entity are found here (legacy items never
            // entered this index).
            let (Some(entity_key), Some(sequence)) = (table::text(&item, attr::PK), sequence)
            else {
                continue;
            };
            entries.push(Arrival {
                entity_key: entity_key.to_owned(),
                sequence,
                received_at,
            });
        }
        Ok((entries, page.last_evaluated_key))
    }

    /// The previous version's sweeper index (`index`), every shard: the entities it lists.
    async fn pending_in(
        &self,
        index: &str,
        limit: usize,
    ) -> Result<Vec<PendingEntity>, DownstreamError> {
        let mut found = Vec::new();
        for shard in 0..table::SWEEP_SHARDS {
            let mut start = None;
            loop {
                let page = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(index)
                    .key_condition_expression("#shard = :shard")
                    .expression_attribute_names("#shard", attr::SWEEP_SHARD)
                    .expression_attribute_values(":shard", s(format!("pending#{shard}")))
                    .limit(i32::try_from(limit.clamp(1, 1_000)).unwrap_or(1_000))
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| {
                        DownstreamError::new("DynamoDB Query (by_pending)", error_text(&e))
                    })?;
                for item in page.items.unwrap_or_default() {
                    let since = table::text(&item, attr::PENDING_SINCE).unwrap_or_default();
                    let since = OffsetDateTime::parse(
                        since,
                        &time::format_description::well_known::Rfc3339,
                    )
                    .map_err(|e| DownstreamError::new("reading a pending head", e))?;
                    found.push(PendingEntity {
                        entity_key: table::text(&item, attr::PK).unwrap_or_default().to_owned(),
                        since,
                    });
                }
                start = page.last_evaluated_key;
                if start.is_none() || found.len() >= limit {
                    break;
                }
            }
        }
        found.sort_by(|a, b| (a.since, &a.entity_key).cmp(&(b.since, &b.entity_key)));
        found.truncate(limit);
        Ok(found)
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

    async fn resend_entries(
        &self,
        envelope: &Envelope,
        now: OffsetDateTime,
    ) -> Result<Vec<ResendEntry>, DownstreamError> {
        let items = self
            .query_range(&table::resend_entry_pk(&envelope.dedup_key), None)
            .await?;
        let mut open = Vec::new();
        for item in &items {
            let entry = table::resend_entry(item).map_err(failed("reading a resend entry"))?;
            if entry.expires_at > now {
                open.push(entry);
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
                // The new notification is owed its answer from the moment it is stored.
                let mut expression = "SET #last = :n, #unacked.#own = :at".to_owned();
                let mut update = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(&envelope.entity_key, table::HEAD_SK)))
                    .condition_expression("#last = :seen")
                    .expression_attribute_names("#unacked", attr::UNACKED)
                    .expression_attribute_names("#own", sequence.to_string())
                    .expression_attribute_names("#last", attr::LAST_SEQUENCE)
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

    async fn use_resend(&self, entry: &ResendEntry, delivery_id: &str) -> Result<(), WriteError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                &table::resend_entry_pk(&entry.dedup_key),
                &table::resend_entry_sk(&entry.request, &entry.entity_key, entry.sequence),
            )))
            .update_expression("SET #used = :me")
            // Once: of two deliveries racing, only one is the resend; the same delivery's write
            // repeated (its answer was lost) finds its own id and succeeds.
            .condition_expression(
                "attribute_exists(#pk) AND (attribute_not_exists(#used) OR #used = :me)",
            )
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#used", attr::USED_BY)
            .expression_attribute_values(":me", s(delivery_id))
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

    async fn set_aside(
        &self,
        entity_key: &str,
        sequence: u64,
        gap: &Gap,
        at: OffsetDateTime,
    ) -> Result<(), DownstreamError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(entity_key, &table::event_sk(sequence))))
            .update_expression("SET #reason = :reason, #detail = :detail, #at = :at")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#reason", attr::ASIDE_REASON)
            .expression_attribute_names("#detail", attr::ASIDE_DETAIL)
            .expression_attribute_names("#at", attr::ASIDE_AT)
            .expression_attribute_values(":reason", s(gap.reason.as_str()))
            .expression_attribute_values(":detail", s(gap.detail.as_str()))
            .expression_attribute_values(":at", s(table::format_time(at)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        let expires_at = match result {
            Ok(out) => out
                .attributes
                .and_then(|item| table::stored_notification(&item).ok())
                .and_then(|n| n.expires_at),
            // Nothing stored there (deleted after its retention): nothing to set aside.
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                return Ok(())
            }
            Err(e) => return Err(DownstreamError::new("DynamoDB UpdateItem", error_text(&e))),
        };
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(table::aside_item(
                entity_key, sequence, gap, at, expires_at,
            )))
            .send()
            .await
            .map_err(|e| DownstreamError::new("DynamoDB PutItem", error_text(&e)))?;
        Ok(())
    }

    async fn mark(&self, mark: &Mark, at: OffsetDateTime) -> Result<(), DownstreamError> {
        let key = &mark.entity_key;
        // Usually one call moves the entity on and records the answer; if another delivery
        // already moved it as far, only the answer is left to record.
        if mark.through.is_some()
            && self
                .update_head(key, mark.through, mark.answered, at)
                .await?
        {
            return Ok(());
        }
        if mark.answered.is_some() {
            self.update_head(key, None, mark.answered, at).await?;
        }
        Ok(())
    }
}

impl SweepStore for DynamoStore {
    /// The partitions of the first day of `(after, until]` ([`table::ARRIVAL_SHARDS`]), one
    /// `Query` each, at once: complete at most to that day's end (the next call goes on with
    /// the next day). A partition with more than `limit` entries is read on until its page
    /// ends at a later instant than it starts (entries of one instant are never split), and
    /// the page is complete up to the earliest place a partition stopped.
    async fn arrivals(
        &self,
        after: OffsetDateTime,
        until: OffsetDateTime,
        limit: usize,
    ) -> Result<Arrivals, DownstreamError> {
        if until <= after {
            return Ok(Arrivals {
                entries: Vec::new(),
                complete_to: until,
            });
        }
        // One day at a time: its partitions are read at once, and a page complete to some
        // instant of one day never waits on the next day's partitions.
        let day = (after + time::Duration::microseconds(1))
            .to_offset(time::UtcOffset::UTC)
            .date();
        let end_of_day = day
            .next_day()
            .map(|next| next.midnight().assume_utc() - time::Duration::microseconds(1));
        let until = end_of_day.map_or(until, |end| until.min(end));
        let name = table::day_of(day.midnight().assume_utc());
        let partitions: Vec<String> = (0..table::ARRIVAL_SHARDS)
            .map(|shard| format!("{name}#{shard}"))
            .collect();
        let pages = futures_util::future::join_all(partitions.iter().map(|partition| async move {
            let mut entries = Vec::new();
            let mut start = None;
            loop {
                let (mut page, next) = self
                    .arrival_page(partition, (after, until), limit, start)
                    .await?;
                entries.append(&mut page);
                start = next;
                // Stop at a page's end unless every entry of it is of one instant.
                let one_instant = entries
                    .first()
                    .zip(entries.last())
                    .is_some_and(|(a, b)| a.received_at == b.received_at);
                if start.is_none() || !one_instant {
                    break;
                }
            }
            let complete_to = match (&start, entries.last()) {
                (Some(_), Some(last)) => last.received_at - time::Duration::microseconds(1),
                _ => until,
            };
            Ok::<_, DownstreamError>((entries, complete_to))
        }))
        .await;
        let mut entries = Vec::new();
        let mut complete_to = until;
        for page in pages {
            let (mut page, to) = page?;
            complete_to = complete_to.min(to);
            entries.append(&mut page);
        }
        let complete_to = complete_to.max(after);
        entries.retain(|e| e.received_at <= complete_to);
        entries.sort_by(|a, b| {
            (a.received_at, &a.entity_key, a.sequence).cmp(&(
                b.received_at,
                &b.entity_key,
                b.sequence,
            ))
        });
        Ok(Arrivals {
            entries,
            complete_to,
        })
    }

    async fn glance(
        &self,
        entity_keys: &[String],
    ) -> Result<BTreeMap<String, EntityHead>, DownstreamError> {
        let mut heads = BTreeMap::new();
        for calls in entity_keys.chunks(BATCH_GET * GLANCES_AT_ONCE) {
            let read = futures_util::future::join_all(calls.chunks(BATCH_GET).map(|chunk| {
                self.get_many_read(
                    chunk
                        .iter()
                        .map(|entity_key| key(entity_key, table::HEAD_SK))
                        .collect(),
                    false,
                )
            }))
            .await;
            for items in read {
                for item in items? {
                    let entity_key = table::text(&item, attr::PK).unwrap_or_default().to_owned();
                    heads.insert(
                        entity_key,
                        table::head(&item).map_err(failed("reading a head"))?,
                    );
                }
            }
        }
        Ok(heads)
    }

    async fn head(&self, entity_key: &str) -> Result<Option<EntityHead>, DownstreamError> {
        let items = self.get_many(vec![key(entity_key, table::HEAD_SK)]).await?;
        items
            .first()
            .map(|item| table::head(item).map_err(failed("reading the head")))
            .transpose()
    }

    async fn sweep_state(&self) -> Result<Option<SweepState>, DownstreamError> {
        let items = self
            .get_many(vec![key(table::SWEEPER_PK, table::SWEEP_STATE_SK)])
            .await?;
        items
            .first()
            .map(|item| table::sweep_state(item).map_err(failed("reading the sweeper's state")))
            .transpose()
    }

    async fn set_sweep_state(&self, state: &SweepState) -> Result<(), DownstreamError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(table::sweep_state_item(state)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                DownstreamError::new("DynamoDB PutItem (the sweeper's state)", error_text(&e))
            })
    }

    async fn legacy_pending(&self, limit: usize) -> Result<Vec<PendingEntity>, DownstreamError> {
        match &self.legacy_pending {
            Some(index) => self.pending_in(index, limit).await,
            None => Ok(Vec::new()),
        }
    }

    async fn forget_legacy(&self, entity_key: &str) -> Result<(), DownstreamError> {
        if self.legacy_pending.is_none() {
            return Ok(());
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(entity_key, table::HEAD_SK)))
            .update_expression("REMOVE #pending, #shard")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#pending", attr::PENDING_SINCE)
            .expression_attribute_names("#shard", attr::SWEEP_SHARD)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(())
            }
            Err(e) => Err(DownstreamError::new("DynamoDB UpdateItem", error_text(&e))),
        }
    }
}

impl QuarantineStore for DynamoStore {
    /// A body kept already: one `UpdateItem` (a delivery more). A new one: one `UpdateItem` of
    /// the day's counter for its gateway (`items` up, unless at `max_items`), then one of the
    /// item; over the cap, one more of the counter (`over_cap` up) and no item. Two deliveries
    /// of one new body at once may both count an item: the counter errs high, never low.
    async fn quarantine(
        &self,
        request: &QuarantinedRequest,
        expires_at: OffsetDateTime,
        max_items: u64,
    ) -> Result<Kept, DownstreamError> {
        let pk = table::quarantine_pk(&table::day_of(request.received_at));
        let now = s(table::format_time(request.received_at));
        let expires = AttributeValue::N(expires_at.unix_timestamp().to_string());
        let failed = |e: String| DownstreamError::new("DynamoDB UpdateItem (quarantine)", e);
        let conditional = |e: &SdkError<_, _>| {
            match e {
            SdkError::ServiceError(e) => {
                aws_sdk_dynamodb::operation::update_item::UpdateItemError::is_conditional_check_failed_exception(e.err())
            }
            _ => false,
        }
        };
        // A body kept already today: count the delivery on its item.
        let again = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&pk, &request.body_sha256)))
            .update_expression(
                "SET #error = :error, #message = :message, #last = :now ADD #deliveries :one",
            )
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#error", attr::ERROR)
            .expression_attribute_names("#message", attr::MESSAGE)
            .expression_attribute_names("#last", attr::LAST_SEEN)
            .expression_attribute_names("#deliveries", attr::DELIVERIES)
            .expression_attribute_values(":error", s(request.error.as_str()))
            .expression_attribute_values(":message", s(request.message.as_str()))
            .expression_attribute_values(":now", now.clone())
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        match again {
            Ok(_) => return Ok(Kept::Again),
            Err(e) if conditional(&e) => {}
            Err(e) => return Err(failed(error_text(&e))),
        }
        // A new one: a place under the day's cap, or only a count.
        let counter = key(&pk, &table::quarantine_count_sk(&request.provider));
        let counted = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(counter.clone()))
            .update_expression("SET #kind = :kind, #expires = :expires ADD #items :one")
            .condition_expression("attribute_not_exists(#items) OR #items < :max")
            .expression_attribute_names("#kind", attr::KIND)
            .expression_attribute_names("#expires", attr::EXPIRES_AT)
            .expression_attribute_names("#items", attr::ITEMS)
            .expression_attribute_values(":kind", s(table::kind::QUARANTINE))
            .expression_attribute_values(":expires", expires.clone())
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(max_items))
            .send()
            .await;
        match counted {
            Ok(_) => {}
            Err(e) if conditional(&e) => {
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(counter))
                    .update_expression("ADD #over :one")
                    .expression_attribute_names("#over", attr::OVER_CAP)
                    .expression_attribute_values(":one", n(1))
                    .send()
                    .await
                    .map_err(|e| failed(error_text(&e)))?;
                return Ok(Kept::OverCap);
            }
            Err(e) => return Err(failed(error_text(&e))),
        }
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&pk, &request.body_sha256)))
            .update_expression(
                "SET #kind = :kind, #provider = :provider, #path = :path, #method = :method, \
                 #error = :error, #message = :message, #headers = :headers, #body = :body, \
                 #size = :size, #truncated = :truncated, #first = if_not_exists(#first, :now), \
                 #last = :now, #expires = :expires ADD #deliveries :one",
            )
            .expression_attribute_names("#kind", attr::KIND)
            .expression_attribute_names("#provider", attr::PROVIDER)
            .expression_attribute_names("#path", attr::PATH)
            .expression_attribute_names("#method", attr::METHOD)
            .expression_attribute_names("#error", attr::ERROR)
            .expression_attribute_names("#message", attr::MESSAGE)
            .expression_attribute_names("#headers", attr::HEADERS)
            .expression_attribute_names("#body", attr::BODY)
            .expression_attribute_names("#size", attr::BODY_SIZE)
            .expression_attribute_names("#truncated", attr::TRUNCATED)
            .expression_attribute_names("#first", attr::FIRST_SEEN)
            .expression_attribute_names("#last", attr::LAST_SEEN)
            .expression_attribute_names("#expires", attr::EXPIRES_AT)
            .expression_attribute_names("#deliveries", attr::DELIVERIES)
            .expression_attribute_values(":kind", s(table::kind::QUARANTINE))
            .expression_attribute_values(":provider", s(request.provider.as_str()))
            .expression_attribute_values(":path", s(request.path.as_str()))
            .expression_attribute_values(":method", s(request.method.as_str()))
            .expression_attribute_values(":error", s(request.error.as_str()))
            .expression_attribute_values(":message", s(request.message.as_str()))
            .expression_attribute_values(":headers", table::headers_attribute(&request.headers))
            .expression_attribute_values(
                ":body",
                AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(
                    request.body.clone(),
                )),
            )
            .expression_attribute_values(":size", n(request.body_size as u64))
            .expression_attribute_values(":truncated", AttributeValue::Bool(request.truncated()))
            .expression_attribute_values(":now", now)
            .expression_attribute_values(":expires", expires)
            .expression_attribute_values(":one", n(1))
            .send()
            .await
            .map_err(|e| failed(error_text(&e)))?;
        Ok(Kept::New)
    }
}
