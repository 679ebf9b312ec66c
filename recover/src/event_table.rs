//! Reading the events table, in the layout of `webhook_aws::table` (the one definition), and
//! the few writes `recover` makes there: an entity's `forwarded_sequence` after a replay, and
//! the resend requests the functions' de-duplication rule reads.
//!
//! Items past their `expires_at` (the retention period) are never returned, whether or not
//! DynamoDB has deleted them yet. Items stored before sequences ("legacy") are returned with
//! the others: by entity from the entity's partition, by period from the legacy day index
//! while the table has it (TableIndexes `without-legacy` drops it, once `recover
//! backfill-retention` has given them an expiry).

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use time::{Duration, OffsetDateTime};
use webhook_aws::error_text;
use webhook_aws::table::{self, attr};
use webhook_aws::DynamoStore;
use webhook_core::delivery::{EntityHead, ResendEntry, ResendRequest};
use webhook_core::envelope::{Gap, GapReason};
use webhook_core::ingest::EventStore;
use webhook_core::sweep::{PendingEntity, SweepStore};

use crate::error::RecoverError;

pub type Item = table::Item;

pub use webhook_aws::table::text;

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

/// Most keys per `BatchGetItem`.
const BATCH: usize = 100;

pub struct EventTable {
    store: DynamoStore,
    /// Whether the table has the legacy day index, once asked.
    legacy_index: std::sync::OnceLock<bool>,
    /// The functions' `DEDUP_WINDOW`: how late after a resend period a notification of it
    /// may have arrived.
    window: Duration,
}

fn aws(operation: &'static str) -> impl Fn(webhook_core::ingest::DownstreamError) -> RecoverError {
    move |e| RecoverError::aws(operation, error_text(&e))
}

fn day_index(why: String) -> RecoverError {
    RecoverError::aws("DynamoDB Query (day index)", why)
}

impl EventTable {
    pub fn new(client: Client, table: impl Into<String>) -> EventTable {
        EventTable {
            store: DynamoStore::new(client, table),
            legacy_index: std::sync::OnceLock::new(),
            window: webhook_core::delivery::DEFAULT_WINDOW,
        }
    }

    /// The same, for functions whose `DEDUP_WINDOW` is `window`.
    pub fn with_window(self, window: Duration) -> EventTable {
        EventTable { window, ..self }
    }

    /// The store, for what the functions' own code does with it (forwarding in order).
    pub fn store(&self) -> &DynamoStore {
        &self.store
    }

    /// Every live notification stored under one entity key, legacy ones first (in arrival
    /// order), then in `sequence` order.
    pub async fn events_of(
        &self,
        pk: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<Item>, RecoverError> {
        let items = self
            .store
            .query_range(pk, None)
            .await
            .map_err(aws("DynamoDB Query"))?;
        Ok(items
            .into_iter()
            .filter(|i| table::is_event(i) && !table::is_expired(i, now))
            .collect())
    }

    /// The entity's counters, if it has any (legacy entities have none).
    pub async fn head(&self, pk: &str) -> Result<Option<EntityHead>, RecoverError> {
        let key = HashMap::from([
            (attr::PK.to_owned(), table::s(pk)),
            (attr::SK.to_owned(), table::s(table::HEAD_SK)),
        ]);
        let items = self
            .store
            .get_many(vec![key])
            .await
            .map_err(aws("DynamoDB BatchGetItem"))?;
        items
            .first()
            .map(|item| table::head(item).map_err(|why| RecoverError::aws("reading a head", why)))
            .transpose()
    }

    /// The live notifications that first arrived on `day` (`YYYY-MM-DD`, UTC) in
    /// `[since, until)`, in arrival order: the new ones through the `by_arrival` index (keys
    /// only, every partition of the day: its shards, and the day alone for notifications
    /// stored before shards; then the items themselves), the legacy ones through
    /// `by_received_day`.
    pub async fn events_of_day(
        &self,
        day: &str,
        since: OffsetDateTime,
        until: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Vec<Item>, RecoverError> {
        let (from, to) = (table::format_time(since), table::format_time(until));
        let mut keys = Vec::new();
        for partition in table::arrival_partitions(day) {
            keys.extend(
                self.store
                    .arrival_keys(&partition, &from, &to)
                    .await
                    .map_err(day_index)?,
            );
        }
        let mut items = Vec::new();
        for chunk in keys.chunks(BATCH) {
            let keys = chunk
                .iter()
                .map(|k| {
                    [attr::PK, attr::SK]
                        .iter()
                        .filter_map(|name| Some(((*name).to_owned(), k.get(*name)?.clone())))
                        .collect::<HashMap<_, _>>()
                })
                .collect();
            items.extend(
                self.store
                    .get_many(keys)
                    .await
                    .map_err(aws("DynamoDB BatchGetItem"))?,
            );
        }
        // Legacy items: `sk` starts with the arrival time. `to` is an arrival time, which no
        // key equals (every key goes on with `#<dedup_key>`).
        if self.has_legacy_index().await? {
            items.extend(
                self.store
                    .legacy_day_items(day, &from, &to)
                    .await
                    .map_err(day_index)?,
            );
        }
        // BETWEEN includes its upper end: `until` is excluded here.
        items.retain(|i| {
            table::is_event(i)
                && !table::is_expired(i, now)
                && text(i, attr::RECEIVED_AT).is_some_and(|at| *at < *to)
        });
        items.sort_by(|a, b| {
            let key = |i: &Item| {
                (
                    text(i, attr::RECEIVED_AT).unwrap_or_default().to_owned(),
                    text(i, attr::PK).unwrap_or_default().to_owned(),
                    text(i, attr::SK).unwrap_or_default().to_owned(),
                )
            };
            key(a).cmp(&key(b))
        });
        Ok(items)
    }

    /// Whether the table still has the legacy day index (asked once).
    async fn has_legacy_index(&self) -> Result<bool, RecoverError> {
        if let Some(known) = self.legacy_index.get() {
            return Ok(*known);
        }
        let has = self
            .store
            .has_index(table::LEGACY_DAY_INDEX)
            .await
            .map_err(|why| RecoverError::aws("DynamoDB DescribeTable", why))?;
        // Another call may have set it meanwhile, to the same answer.
        let _ = self.legacy_index.set(has);
        Ok(has)
    }

    /// Entities with a notification stored and not yet forwarded, oldest first, at most
    /// `limit`: those the sweeper lists as waiting, and those with a notification that arrived
    /// in `(since, until]` their head has not forwarded (the `by_arrival` index, then the
    /// heads, read consistently).
    pub async fn unforwarded(
        &self,
        since: OffsetDateTime,
        until: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<PendingEntity>, RecoverError> {
        let store = &self.store;
        let listed: Vec<(String, OffsetDateTime)> = store
            .sweep_state()
            .await
            .map_err(aws("DynamoDB BatchGetItem (the sweeper's state)"))?
            .map(|state| {
                state
                    .waiting
                    .into_iter()
                    .map(|(key, w)| (key, w.since))
                    .collect()
            })
            .unwrap_or_default();
        // Each entity's head is read once, consistently: only one that has not caught up counts
        // (so that `limit` bounds what is found, not what was looked at).
        let mut checked = std::collections::BTreeSet::new();
        let mut waiting: std::collections::BTreeMap<String, OffsetDateTime> =
            std::collections::BTreeMap::new();
        for (entity_key, at) in listed {
            if checked.insert(entity_key.clone()) && self.behind(&entity_key).await? {
                waiting.insert(entity_key, at);
            }
        }
        let mut from = since;
        while from < until && waiting.len() < limit {
            let page = store
                .arrivals(from, until, webhook_core::sweep::LOOK_PAGE)
                .await
                .map_err(aws("DynamoDB Query (by_arrival)"))?;
            for arrival in page.entries {
                if let Some(at) = waiting.get_mut(&arrival.entity_key) {
                    *at = (*at).min(arrival.received_at);
                } else if checked.insert(arrival.entity_key.clone())
                    && self.behind(&arrival.entity_key).await?
                {
                    waiting.insert(arrival.entity_key, arrival.received_at);
                }
            }
            from = page.complete_to.max(from + Duration::microseconds(1));
        }
        let mut found: Vec<PendingEntity> = waiting
            .into_iter()
            .map(|(entity_key, since)| PendingEntity { entity_key, since })
            .collect();
        found.sort_by(|a, b| (a.since, &a.entity_key).cmp(&(b.since, &b.entity_key)));
        found.truncate(limit);
        Ok(found)
    }

    /// Whether the entity has a notification stored and not yet forwarded (its head, read
    /// consistently).
    async fn behind(&self, entity_key: &str) -> Result<bool, RecoverError> {
        let head = self
            .store
            .head(entity_key)
            .await
            .map_err(aws("DynamoDB BatchGetItem"))?;
        Ok(head.is_some_and(|h| h.forwarded_sequence < h.last_sequence))
    }

    /// The invoice status we last stored for `invoice#<id>`, newest notification first.
    ///
    /// `invoice.bank_slip_status` is skipped: its `data[status]` is the bank slip's registration
    /// state ("processing"), not the invoice's status (https://dev.iugu.com/docs/gatilhos-fatura).
    pub async fn latest_invoice_status(
        &self,
        invoice_id: &str,
        now: OffsetDateTime,
    ) -> Result<StoredStatus, RecoverError> {
        // Sequenced items sort after legacy ones: newest first is the reverse order.
        let items = self
            .events_of(&format!("invoice#{invoice_id}"), now)
            .await?;
        if items.is_empty() {
            return Ok(StoredStatus::Never);
        }
        Ok(items
            .iter()
            .rev()
            .filter(|i| text(i, attr::EVENT) != Some("invoice.bank_slip_status"))
            .find_map(|i| text(i, attr::STATUS))
            .map_or(StoredStatus::NoStatus, |s| {
                StoredStatus::Latest(s.to_owned())
            }))
    }

    /// The requests quarantined on `day` (`YYYY-MM-DD`, UTC) that are still live, oldest
    /// first.
    pub async fn quarantined(
        &self,
        day: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<table::QuarantineItem>, RecoverError> {
        let items = self
            .store
            .query_range(&table::quarantine_pk(day), None)
            .await
            .map_err(aws("DynamoDB Query"))?;
        let mut kept = Vec::new();
        let counter = |i: &&table::Item| {
            table::text(i, attr::SK)
                .is_some_and(|sk| sk.starts_with(table::QUARANTINE_COUNT_PREFIX))
        };
        for item in items
            .iter()
            .filter(|i| !table::is_expired(i, now) && !counter(i))
        {
            kept.push(
                table::quarantine_item(item)
                    .map_err(|why| RecoverError::aws("reading a quarantined request", why))?,
            );
        }
        kept.sort_by_key(|q| q.first_seen);
        Ok(kept)
    }

    /// How many refused requests were counted and not kept on `day` (`YYYY-MM-DD`, UTC), every
    /// gateway's day's cap together (`webhook_core::quarantine::MAX_ITEMS_PER_DAY`).
    pub async fn quarantine_not_kept(&self, day: &str) -> Result<u64, RecoverError> {
        let items = self
            .store
            .query_range(
                &table::quarantine_pk(day),
                Some((table::QUARANTINE_COUNT_PREFIX, "count$")),
            )
            .await
            .map_err(aws("DynamoDB Query"))?;
        Ok(items
            .iter()
            .filter_map(|i| table::number(i, attr::OVER_CAP))
            .sum())
    }

    /// Records what a retry made of a quarantined request.
    pub async fn resolve_quarantined(
        &self,
        item: &table::QuarantineItem,
        resolution: &str,
        now: OffsetDateTime,
    ) -> Result<(), RecoverError> {
        self.store
            .resolve_quarantined(
                &item.day,
                item.request.body_sha256.as_str(),
                resolution,
                now,
            )
            .await
            .map_err(|why| RecoverError::aws("DynamoDB UpdateItem", why))
    }

    /// Keeps a resend request where the functions read it, with one entry for each live
    /// stored notification it covers (`webhook_core::delivery`): a delivery of one of them
    /// while the request is open is its resend, once. A period's last notifications may have
    /// arrived up to the functions' window late ([`EventTable::with_window`]). Returns how
    /// many notifications the request names.
    pub async fn record_resend(
        &self,
        request: &ResendRequest,
        now: OffsetDateTime,
    ) -> Result<usize, RecoverError> {
        let window = self.window;
        let items = match &request.entity_key {
            Some(pk) => self.events_of(pk, now).await?,
            None => {
                let until = request.until + window;
                let mut items = Vec::new();
                let mut day = request.from.to_offset(time::UtcOffset::UTC).date();
                let last = until.to_offset(time::UtcOffset::UTC).date();
                while day <= last {
                    let midnight = day.midnight().assume_utc();
                    items.extend(
                        self.events_of_day(&table::day_of(midnight), request.from, until, now)
                            .await?,
                    );
                    let Some(next) = day.next_day() else { break };
                    day = next;
                }
                items
            }
        };
        let entries: Vec<ResendEntry> = items
            .iter()
            .filter_map(|item| {
                let n = table::stored_notification(item).ok()?;
                let sequence = n.sequence?;
                request
                    .covers(&n.entity_key, &n.event, n.received_at, window)
                    .then(|| request.entry(&n.entity_key, sequence, &n.dedup_key))
            })
            .collect();
        self.store
            .record_resend("iugu", request, &entries, now)
            .await
            .map_err(aws("DynamoDB BatchWriteItem/PutItem"))?;
        Ok(entries.len())
    }

    /// Sets notification `sequence` of `pk` aside with `reason` (`recover skip`): it is
    /// forwarded as a gap record. Only one still waiting to be forwarded.
    pub async fn skip(
        &self,
        pk: &str,
        sequence: u64,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<(), RecoverError> {
        let head = self
            .head(pk)
            .await?
            .ok_or_else(|| RecoverError::Refused(format!("no entity `{pk}` in the table")))?;
        if sequence <= head.forwarded_sequence || sequence > head.last_sequence {
            return Err(RecoverError::Refused(format!(
                "{pk} has notifications 1 to {}, forwarded through {}: only one still waiting \
                 ({} to {}) can be skipped",
                head.last_sequence,
                head.forwarded_sequence,
                head.forwarded_sequence + 1,
                head.last_sequence
            )));
        }
        let gap = Gap {
            reason: GapReason::Skipped,
            detail: reason.to_owned(),
        };
        self.store
            .set_aside(pk, sequence, &gap, now)
            .await
            .map_err(aws("DynamoDB UpdateItem/PutItem"))
    }

    /// Every notification set aside (the pointers `set_aside` writes), oldest entity first.
    pub async fn aside(&self, now: OffsetDateTime) -> Result<Vec<table::Aside>, RecoverError> {
        let items = self
            .store
            .query_range(table::ASIDE_PK, None)
            .await
            .map_err(aws("DynamoDB Query"))?;
        items
            .iter()
            .filter(|i| !table::is_expired(i, now))
            .map(|i| table::aside(i).map_err(|why| RecoverError::aws("reading an aside item", why)))
            .collect()
    }
}

/// The SDK's `Display` of an error is often just "service error"; its source says what.
pub fn aws_message(err: &(dyn std::error::Error + 'static)) -> String {
    error_text(err)
}
