//! The ledger on DynamoDB: one table (`LedgerTable` in consumer/template.yaml), keyed by
//! `pk` (the entity key) and `sk`:
//!
//! | item | `sk` | attributes |
//! |---|---|---|
//! | the entity's head | `head` | `watermark`, `highest`, `gaps` (a list, absent when empty), `version` |
//! | a row | `seq#<20 digits>` (or `content#<dedup key>` for a message without a sequence) | `status`, `event`, `dedup_key`, `sequence`; while claimed `claim_token`, `claim_expires_at` (Unix ms); once settled `settled_at`, `late`, `confirmation`, `api_status`, `repeat_reason`, `gap_reason`, `filled_gap` |
//! | a contradicted notification | `aside#<the row's sk>` | `envelope` (its JSON), `api` (what the API said), `why`, `expires_at` (Unix s: the table's TTL) |
//!
//! Rows and heads hold no personal data and never expire; an aside holds the envelope (names,
//! documents) and expires. Every read is strongly consistent. A message in order costs four
//! calls: `GetItem` (head), `UpdateItem` (claim), the business code's, `TransactWriteItems`
//! (settle: row, head, aside at once); a copy known from the head, one.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, Put, ReturnValue,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TimeToLiveSpecification,
    TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::ledger::{
    Claim, ClaimRequest, Entry, Head, Ledger, LedgerError, Settlement, Slot, Status,
    SEQUENCE_PREFIX,
};

type Item = HashMap<String, AttributeValue>;

/// The head's sort key.
pub const HEAD_SK: &str = "head";
/// The TTL attribute (asides only).
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// The ledger in table `table`.
#[derive(Debug, Clone)]
pub struct DynamoLedger {
    client: Client,
    table: String,
}

impl DynamoLedger {
    pub fn new(client: Client, table: impl Into<String>) -> DynamoLedger {
        DynamoLedger {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

fn unavailable(e: &(dyn std::error::Error + 'static)) -> LedgerError {
    LedgerError::Unavailable(webhook_aws::error_text(e))
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v),
        _ => None,
    }
}

fn number(item: &Item, name: &str) -> Option<u64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

fn flag(item: &Item, name: &str) -> bool {
    matches!(item.get(name), Some(AttributeValue::Bool(true)))
}

fn millis(t: OffsetDateTime) -> i128 {
    t.unix_timestamp_nanos() / 1_000_000
}

/// A head as stored (the default one when there is none).
pub fn head_of(item: Option<&Item>) -> Head {
    let Some(item) = item else {
        return Head::default();
    };
    let gaps = match item.get("gaps") {
        Some(AttributeValue::L(list)) => list
            .iter()
            .filter_map(|v| match v {
                AttributeValue::N(n) => n.parse().ok(),
                _ => None,
            })
            .collect(),
        _ => BTreeSet::new(),
    };
    Head {
        watermark: number(item, "watermark").unwrap_or(0),
        highest: number(item, "highest").unwrap_or(0),
        gaps,
        version: number(item, "version").unwrap_or(0),
    }
}

/// A row as stored, if it reads as one.
pub fn entry_of(item: &Item) -> Option<Entry> {
    Some(Entry {
        sequence: number(item, "sequence").unwrap_or(0),
        status: Status::parse(text(item, "status")?)?,
        event: text(item, "event").unwrap_or_default().to_owned(),
        dedup_key: text(item, "dedup_key").unwrap_or_default().to_owned(),
        late: flag(item, "late"),
    })
}

impl DynamoLedger {
    fn key(&self, entity: &str, sk: String) -> Item {
        HashMap::from([("pk".to_owned(), s(entity)), ("sk".to_owned(), s(sk))])
    }

    fn head_put(&self, entity: &str, before: &Head, after: &Head) -> Result<Put, LedgerError> {
        let mut item = self.key(entity, HEAD_SK.to_owned());
        item.insert("watermark".to_owned(), n(after.watermark));
        item.insert("highest".to_owned(), n(after.highest));
        item.insert("version".to_owned(), n(after.version));
        if !after.gaps.is_empty() {
            item.insert(
                "gaps".to_owned(),
                AttributeValue::L(after.gaps.iter().map(n).collect()),
            );
        }
        let put = Put::builder().table_name(&self.table).set_item(Some(item));
        let put = if before.version == 0 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("version = :version")
                .expression_attribute_values(":version", n(before.version))
        };
        put.build().map_err(|e| unavailable(&e))
    }
}

impl Ledger for DynamoLedger {
    async fn head(&self, entity: &str) -> Result<Head, LedgerError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.key(entity, HEAD_SK.to_owned())))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(head_of(out.item()))
    }

    async fn entries_after(&self, entity: &str, sequence: u64) -> Result<Vec<Entry>, LedgerError> {
        let mut entries = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                .expression_attribute_values(":pk", s(entity))
                .expression_attribute_values(":from", s(Slot::Sequence(sequence + 1).sort_key()))
                .expression_attribute_values(":to", s(format!("{SEQUENCE_PREFIX}~")))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| unavailable(&e))?;
            entries.extend(page.items().iter().filter_map(entry_of));
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(entries);
            }
        }
    }

    async fn claim(&self, entity: &str, request: &ClaimRequest<'_>) -> Result<Claim, LedgerError> {
        let mut condition =
            "attribute_not_exists(pk) OR (#status = :in_progress AND claim_expires_at < :now)"
                .to_owned();
        if request.may_fill_gap {
            condition.push_str(" OR #status = :gap");
        }
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.key(entity, request.slot.sort_key())))
            .update_expression(
                "SET #status = :in_progress, claim_token = :token, claim_expires_at = :expires, \
                 event = :event, dedup_key = :dedup",
            )
            .condition_expression(condition)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":in_progress", s(Status::InProgress.as_str()))
            .expression_attribute_values(":token", s(request.token))
            .expression_attribute_values(":expires", n(millis(request.expires_at)))
            .expression_attribute_values(":now", n(millis(request.now)))
            .expression_attribute_values(":event", s(request.event))
            .expression_attribute_values(":dedup", s(request.dedup_key))
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if request.may_fill_gap {
            update = update.expression_attribute_values(":gap", s(Status::Gap.as_str()));
        }
        if let Some(sequence) = request.slot.sequence() {
            update = update
                .update_expression(
                    "SET #status = :in_progress, claim_token = :token, \
                     claim_expires_at = :expires, event = :event, dedup_key = :dedup, \
                     #sequence = :sequence",
                )
                .expression_attribute_names("#sequence", "sequence")
                .expression_attribute_values(":sequence", n(sequence));
        }
        match update.send().await {
            Ok(out) => {
                let was_gap = out
                    .attributes()
                    .and_then(|old| text(old, "status"))
                    .is_some_and(|status| status == Status::Gap.as_str());
                Ok(Claim::Claimed {
                    filled_gap: was_gap,
                })
            }
            Err(SdkError::ServiceError(e)) => match e.err() {
                UpdateItemError::ConditionalCheckFailedException(failed) => {
                    let entry = failed.item().and_then(entry_of);
                    match entry {
                        Some(entry) if entry.status == Status::InProgress => Ok(Claim::Busy),
                        Some(entry) => Ok(Claim::Settled(entry)),
                        None => Ok(Claim::Busy),
                    }
                }
                other => Err(unavailable(other)),
            },
            Err(e) => Err(unavailable(&e)),
        }
    }

    async fn settle(&self, entity: &str, settlement: &Settlement<'_>) -> Result<(), LedgerError> {
        let d = &settlement.details;
        let settled_at = settlement
            .settled_at
            .format(&Rfc3339)
            .map_err(|e| unavailable(&e))?;
        let mut set = vec![
            "#status = :status",
            "settled_at = :settled_at",
            "late = :late",
            "confirmation = :confirmation",
            "filled_gap = :filled_gap",
        ];
        let mut values: Item = HashMap::from([
            (":status".to_owned(), s(settlement.status.as_str())),
            (":settled_at".to_owned(), s(settled_at)),
            (":late".to_owned(), AttributeValue::Bool(d.late)),
            (":confirmation".to_owned(), s(d.confirmation)),
            (":filled_gap".to_owned(), AttributeValue::Bool(d.filled_gap)),
            (":token".to_owned(), s(settlement.token)),
        ]);
        for (name, value) in [
            ("api_status", d.api_status.as_deref()),
            ("repeat_reason", d.repeat_reason),
            ("gap_reason", d.gap_reason),
        ] {
            if let Some(value) = value {
                values.insert(format!(":{name}"), s(value));
                set.push(match name {
                    "api_status" => "api_status = :api_status",
                    "repeat_reason" => "repeat_reason = :repeat_reason",
                    _ => "gap_reason = :gap_reason",
                });
            }
        }
        let row = Update::builder()
            .table_name(&self.table)
            .set_key(Some(self.key(entity, settlement.slot.sort_key())))
            .update_expression(format!(
                "SET {} REMOVE claim_token, claim_expires_at",
                set.join(", ")
            ))
            .condition_expression("claim_token = :token")
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| unavailable(&e))?;
        let mut items = vec![TransactWriteItem::builder().update(row).build()];
        if let Some((before, after)) = &settlement.head {
            items.push(
                TransactWriteItem::builder()
                    .put(self.head_put(entity, before, after)?)
                    .build(),
            );
        }
        if let Some(aside) = &settlement.aside {
            let mut item = self.key(entity, format!("aside#{}", settlement.slot.sort_key()));
            item.insert("envelope".to_owned(), s(&aside.envelope));
            item.insert("api".to_owned(), s(&aside.api));
            item.insert("why".to_owned(), s(&aside.why));
            item.insert(
                TTL_ATTRIBUTE.to_owned(),
                n(aside.expires_at.unix_timestamp()),
            );
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .build()
                .map_err(|e| unavailable(&e))?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) => match e.err() {
                TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                    let failed = |i: usize| {
                        cancelled
                            .cancellation_reasons()
                            .get(i)
                            .and_then(|r| r.code())
                            == Some("ConditionalCheckFailed")
                    };
                    if failed(0) {
                        Err(LedgerError::ClaimLost)
                    } else if failed(1) {
                        Err(LedgerError::HeadMoved)
                    } else {
                        Err(unavailable(cancelled))
                    }
                }
                other => Err(unavailable(other)),
            },
            Err(e) => Err(unavailable(&e)),
        }
    }

    async fn release(
        &self,
        entity: &str,
        slot: Slot<'_>,
        token: &str,
        filled_gap: bool,
    ) -> Result<(), LedgerError> {
        let key = self.key(entity, slot.sort_key());
        let result = if filled_gap {
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key))
                .update_expression("SET #status = :gap REMOVE claim_token, claim_expires_at")
                .condition_expression("claim_token = :token")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":gap", s(Status::Gap.as_str()))
                .expression_attribute_values(":token", s(token))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    (
                        e.as_service_error()
                            .is_some_and(|e| e.is_conditional_check_failed_exception()),
                        unavailable(&e),
                    )
                })
        } else {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key))
                .condition_expression("claim_token = :token")
                .expression_attribute_values(":token", s(token))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    (
                        e.as_service_error()
                            .is_some_and(|e| e.is_conditional_check_failed_exception()),
                        unavailable(&e),
                    )
                })
        };
        match result {
            // Not ours any more: nothing to give up.
            Err((true, _)) | Ok(()) => Ok(()),
            Err((false, e)) => Err(e),
        }
    }
}

/// Creates the ledger table as consumer/template.yaml defines it (tests, the local run).
pub async fn create_table(client: &Client, table: &str) -> Result<(), String> {
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(|e| e.to_string())
    };
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| e.to_string())
    };
    let created = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .attribute_definitions(attribute("pk")?)
        .attribute_definitions(attribute("sk")?)
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) => {}
        Err(e) => return Err(webhook_aws::error_text(&e)),
    }
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(TTL_ATTRIBUTE)
                .enabled(true)
                .build()
                .map_err(|e| e.to_string())?,
        )
        .send()
        .await
        .map(|_| ())
        .or_else(|e| {
            // Set already (a second run against the same table).
            if webhook_aws::error_text(&e).contains("already enabled") {
                Ok(())
            } else {
                Err(webhook_aws::error_text(&e))
            }
        })
}
