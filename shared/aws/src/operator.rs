//! The operator's access to the events table (`recover`), beside the functions' own
//! ([`super::dynamo`]) and in the same layout ([`super::table`]): a day's arrivals through the
//! `by_arrival` index and the legacy day index, whether the table still has an index, what a
//! retry made of a quarantined request, and the back-fill of the legacy notifications' expiry
//! (a `Scan`, then one conditional `UpdateItem` per item); and its look at the queue
//! ([`queue`], `recover smoke --receive`).
//!
//! Errors are the SDK's as one line ([`super::error_text`]); the caller names the operation.

use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;

use super::error_text;
use super::table::{self, attr, kind, Item};
use super::DynamoStore;

/// One page of a `Scan`: its items, and where the next page starts (`None`: the last one).
pub struct Page {
    pub items: Vec<Item>,
    pub next: Option<Item>,
}

impl DynamoStore {
    /// Whether the table has the global secondary index `index` (one `DescribeTable`).
    pub async fn has_index(&self, index: &str) -> Result<bool, String> {
        let described = self
            .client()
            .describe_table()
            .table_name(self.table())
            .send()
            .await
            .map_err(|e| error_text(&e))?;
        Ok(described
            .table
            .and_then(|t| t.global_secondary_indexes)
            .unwrap_or_default()
            .iter()
            .any(|i| i.index_name() == Some(index)))
    }

    /// The keys of the notifications of one partition of the `by_arrival` index
    /// ([`table::arrival_partitions`]) that arrived in `[from, to]` (times as
    /// [`table::format_time`] writes them), every page.
    pub async fn arrival_keys(
        &self,
        partition: &str,
        from: &str,
        to: &str,
    ) -> Result<Vec<Item>, String> {
        self.query_day_index(
            table::ARRIVAL_INDEX,
            "#day = :day AND #at BETWEEN :from AND :to",
            [("#day", attr::ARRIVAL_DAY), ("#at", attr::RECEIVED_AT)],
            partition,
            (from, to),
        )
        .await
    }

    /// The legacy notifications (stored before sequences) of `day` whose `sk`, which starts
    /// with the arrival time, is in `[from, to]`, through the legacy day index, every page.
    pub async fn legacy_day_items(
        &self,
        day: &str,
        from: &str,
        to: &str,
    ) -> Result<Vec<Item>, String> {
        self.query_day_index(
            table::LEGACY_DAY_INDEX,
            "#day = :day AND #sk BETWEEN :from AND :to",
            [("#day", attr::RECEIVED_DAY), ("#sk", attr::SK)],
            day,
            (from, to),
        )
        .await
    }

    async fn query_day_index(
        &self,
        index: &'static str,
        condition: &str,
        names: [(&str, &str); 2],
        day: &str,
        (from, to): (&str, &str),
    ) -> Result<Vec<Item>, String> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let mut query = self
                .client()
                .query()
                .table_name(self.table())
                .index_name(index)
                .key_condition_expression(condition)
                .expression_attribute_values(":day", AttributeValue::S(day.to_owned()))
                .expression_attribute_values(":from", AttributeValue::S(from.to_owned()))
                .expression_attribute_values(":to", AttributeValue::S(to.to_owned()))
                .set_exclusive_start_key(start);
            for (placeholder, name) in names {
                query = query.expression_attribute_names(placeholder, name);
            }
            let page = query.send().await.map_err(|e| error_text(&e))?;
            items.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// Records what a retry made of the request quarantined on `day` whose body's SHA-256 is
    /// `body_sha256` (`resolution`, at `now`); only an item that exists.
    pub async fn resolve_quarantined(
        &self,
        day: &str,
        body_sha256: &str,
        resolution: &str,
        now: OffsetDateTime,
    ) -> Result<(), String> {
        self.client()
            .update_item()
            .table_name(self.table())
            .key(attr::PK, table::s(table::quarantine_pk(day)))
            .key(attr::SK, table::s(body_sha256))
            .update_expression("SET #at = :at, #resolution = :resolution")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#at", attr::RESOLVED_AT)
            .expression_attribute_names("#resolution", attr::RESOLUTION)
            .expression_attribute_values(":at", table::s(table::format_time(now)))
            .expression_attribute_values(":resolution", table::s(resolution))
            .send()
            .await
            .map_err(|e| error_text(&e))?;
        Ok(())
    }

    /// One page of a `Scan` of the whole table for legacy event items without an expiry
    /// (`kind = event`, no `expires_at`, no `sequence`), from `start`: their `pk`, `sk` and
    /// `received_at` only.
    pub async fn legacy_without_expiry(&self, start: Option<Item>) -> Result<Page, String> {
        let page = self
            .client()
            .scan()
            .table_name(self.table())
            .filter_expression(
                "#kind = :event AND attribute_not_exists(#expires) AND attribute_not_exists(#sequence)",
            )
            .projection_expression("#pk, #sk, #received")
            .expression_attribute_names("#kind", attr::KIND)
            .expression_attribute_names("#expires", attr::EXPIRES_AT)
            .expression_attribute_names("#sequence", attr::SEQUENCE)
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#sk", attr::SK)
            .expression_attribute_names("#received", attr::RECEIVED_AT)
            .expression_attribute_values(":event", table::s(kind::EVENT))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| error_text(&e))?;
        Ok(Page {
            items: page.items.unwrap_or_default(),
            next: page.last_evaluated_key,
        })
    }

    /// Gives the item at (`pk`, `sk`) the `expires_at` `expires`, unless it has one already (or
    /// no longer exists): `false` when the condition failed (someone gave it one meanwhile).
    pub async fn set_expiry_if_absent(
        &self,
        pk: &str,
        sk: &str,
        expires: OffsetDateTime,
    ) -> Result<bool, String> {
        let updated = self
            .client()
            .update_item()
            .table_name(self.table())
            .key(attr::PK, table::s(pk))
            .key(attr::SK, table::s(sk))
            .update_expression("SET #expires = :expires")
            .condition_expression("attribute_exists(#pk) AND attribute_not_exists(#expires)")
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#expires", attr::EXPIRES_AT)
            .expression_attribute_values(
                ":expires",
                AttributeValue::N(expires.unix_timestamp().to_string()),
            )
            .send()
            .await;
        match updated {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(error_text(&e)),
        }
    }
}

/// The operator's look at the queue (`recover smoke --receive`): how many messages it holds,
/// and receiving, deleting or releasing one.
pub mod queue {
    use aws_sdk_sqs::types::QueueAttributeName;
    use aws_sdk_sqs::Client;

    use crate::error_text;

    /// The queue's approximate depth: messages visible, and being read (not visible).
    pub async fn depth(sqs: &Client, url: &str) -> Result<(u64, u64), String> {
        let got = sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|e| error_text(&e))?;
        let attrs = got.attributes.unwrap_or_default();
        let number = |name: QueueAttributeName| {
            attrs
                .get(&name)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or_default()
        };
        Ok((
            number(QueueAttributeName::ApproximateNumberOfMessages),
            number(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        ))
    }

    /// A message received: its receipt handle and its body (each empty if SQS gave none).
    pub struct Received {
        pub handle: String,
        pub body: String,
    }

    /// Up to `max` messages, waiting up to `wait_seconds` for the first (long polling).
    pub async fn receive(
        sqs: &Client,
        url: &str,
        max: i32,
        wait_seconds: i32,
    ) -> Result<Vec<Received>, String> {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(max)
            .wait_time_seconds(wait_seconds)
            .send()
            .await
            .map_err(|e| error_text(&e))?;
        Ok(got
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|message| Received {
                handle: message.receipt_handle.clone().unwrap_or_default(),
                body: message.body().unwrap_or_default().to_owned(),
            })
            .collect())
    }

    /// Deletes the message received with `handle`.
    pub async fn delete(sqs: &Client, url: &str, handle: &str) -> Result<(), String> {
        sqs.delete_message()
            .queue_url(url)
            .receipt_handle(handle)
            .send()
            .await
            .map_err(|e| error_text(&e))?;
        Ok(())
    }

    /// Makes the message received with `handle` visible again at once.
    pub async fn release(sqs: &Client, url: &str, handle: &str) -> Result<(), String> {
        sqs.change_message_visibility()
            .queue_url(url)
            .receipt_handle(handle)
            .visibility_timeout(0)
            .send()
            .await
            .map_err(|e| error_text(&e))?;
        Ok(())
    }
}
