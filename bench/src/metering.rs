//! What DynamoDB and SQS bill for the calls a function made: the round trips and units of
//! `cargo run -p perf-bench --example units` and the cost table of `--example cost`
//! (bench/METHOD.md). The calls are recorded on the wire by the tests' SDK interceptor
//! (`pipeline_tests::recorder`) or, for the Python receivers, by botocore's event hooks
//! (`bench/naive_cost.py`). [`tally`] turns them into units with DynamoDB's published rules
//! (`capacity`), from the items as they are in the table after the calls and as the reads
//! returned them: the local server (moto) reports no real consumed capacity.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use serde_json::Value;
use webhook_aws::table::attr;

use crate::capacity::{
    eventually_consistent_read_units, index_entry_size, item_size, read_units, write_units, Item,
};
use crate::pricing;

/// One call as it went on the wire: what its bill is computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// `BatchGetItem`, `SendMessage`, ...
    pub op: String,
    /// The request body (JSON: both DynamoDB and SQS speak JSON to the SDKs used here).
    pub request: Value,
    /// The HTTP status of the answer; 0 when none came.
    pub status: u16,
    /// The items a read returned (BatchGetItem, GetItem, Query), as returned.
    pub returned: Vec<Item>,
}

impl Call {
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// An attribute value from DynamoDB's JSON (`{"S": "..."}`, `{"M": {...}}`, ...).
pub fn attribute_from_json(value: &Value) -> Option<AttributeValue> {
    let (kind, inner) = value.as_object()?.iter().next()?;
    let strings = |v: &Value| -> Option<Vec<String>> {
        v.as_array()?
            .iter()
            .map(|s| s.as_str().map(str::to_owned))
            .collect()
    };
    let blob = |v: &Value| -> Option<Blob> {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str()?)
            .ok()
            .map(Blob::new)
    };
    Some(match kind.as_str() {
        "S" => AttributeValue::S(inner.as_str()?.to_owned()),
        "N" => AttributeValue::N(inner.as_str()?.to_owned()),
        "B" => AttributeValue::B(blob(inner)?),
        "BOOL" => AttributeValue::Bool(inner.as_bool()?),
        "NULL" => AttributeValue::Null(true),
        "SS" => AttributeValue::Ss(strings(inner)?),
        "NS" => AttributeValue::Ns(strings(inner)?),
        "BS" => AttributeValue::Bs(inner.as_array()?.iter().filter_map(blob).collect()),
        "L" => AttributeValue::L(
            inner
                .as_array()?
                .iter()
                .filter_map(attribute_from_json)
                .collect(),
        ),
        "M" => AttributeValue::M(item_from_json(inner)),
        _ => return None,
    })
}

/// An item from DynamoDB's JSON (`{"pk": {"S": "..."}, ...}`).
pub fn item_from_json(value: &Value) -> Item {
    value
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(name, v)| Some((name.clone(), attribute_from_json(v)?)))
        .collect()
}

/// The bytes of an SQS message that count toward its size (and its billed 64 KB chunks): the
/// body and every message attribute's name, type and value.
pub fn sqs_payload(message: &Value) -> usize {
    let body = message["MessageBody"].as_str().map_or(0, str::len);
    let attributes: usize = message["MessageAttributes"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, a)| {
            let text = |field: &str| a[field].as_str().map_or(0, str::len);
            name.len() + text("DataType") + text("StringValue") + text("BinaryValue")
        })
        .sum();
    body + attributes
}

/// What a list of calls is billed, and which calls they were.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    /// The operations, in order (one per round trip).
    pub calls: Vec<String>,
    pub read_units: f64,
    pub write_units: u64,
    pub sqs_requests: u64,
}

impl Tally {
    /// What `self` has beyond `base`: the calls `base` does not make, in `self`'s order (the
    /// longest sequence the two have in common taken out), and the units between them.
    pub fn less(&self, base: &Tally) -> Tally {
        let (a, b) = (&self.calls, &base.calls);
        // common[i][j]: the longest common subsequence of a[i..] and b[j..].
        let mut common = vec![vec![0usize; b.len() + 1]; a.len() + 1];
        for i in (0..a.len()).rev() {
            for j in (0..b.len()).rev() {
                common[i][j] = if a[i] == b[j] {
                    common[i + 1][j + 1] + 1
                } else {
                    common[i + 1][j].max(common[i][j + 1])
                };
            }
        }
        let (mut i, mut j, mut calls) = (0, 0, Vec::new());
        while i < a.len() {
            if j < b.len() && a[i] == b[j] {
                i += 1;
                j += 1;
            } else if j < b.len() && common[i][j + 1] >= common[i + 1][j] {
                j += 1;
            } else {
                calls.push(a[i].clone());
                i += 1;
            }
        }
        Tally {
            calls,
            read_units: (self.read_units - base.read_units).max(0.0),
            write_units: self.write_units.saturating_sub(base.write_units),
            sqs_requests: self.sqs_requests.saturating_sub(base.sqs_requests),
        }
    }
}

/// Where the items of one table are read back from, and its key's attributes.
pub struct Table<'a> {
    pub client: &'a aws_sdk_dynamodb::Client,
    pub name: &'a str,
    pub key: &'a [&'a str],
}

impl Table<'_> {
    fn key_of(&self, item: &Value) -> Item {
        let all = item_from_json(item);
        self.key
            .iter()
            .filter_map(|name| Some(((*name).to_owned(), all.get(*name)?.clone())))
            .collect()
    }

    /// The item at `key` as it is now (strongly consistent), if any.
    async fn item(&self, key: Item) -> Option<Item> {
        self.client
            .get_item()
            .table_name(self.name)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .ok()?
            .item
    }
}

/// The entry of an event item in `by_arrival` (keys only).
const ARRIVAL_ENTRY: [&str; 4] = [attr::PK, attr::SK, attr::ARRIVAL_DAY, attr::RECEIVED_AT];

/// Whether a transaction entry makes a head pending (the first head's Put carries
/// `pending_since`; an Update sets it with `if_not_exists`, a write only if it was not set:
/// counted, since a new notification's head is not pending on the common path).
fn sets_pending(entry: &Value) -> bool {
    entry["Put"]["Item"].get(attr::PENDING_SINCE).is_some()
        || entry["Update"]["ExpressionAttributeNames"]
            .to_string()
            .contains(attr::PENDING_SINCE)
}

/// Read units of a read returning `size` bytes, by the consistency the request asked for.
fn read_cost(request: &Value, size: usize) -> f64 {
    if request["ConsistentRead"].as_bool() == Some(true) {
        read_units(size) as f64
    } else {
        eventually_consistent_read_units(size)
    }
}

/// What `calls` are billed, from the items as the reads returned them and as the writes left
/// them in `table` (read now). The rules (`capacity`, and the AWS pages it cites):
///
/// - `BatchGetItem`/`GetItem`: per key, one unit per started 4 KiB of the item (a missing item
///   still costs the minimum); half for an eventually consistent read.
/// - `Query`: the sizes of what it returned (index entries for an index), summed, then rounded
///   up to 4 KiB; at least the minimum. An index is read eventually consistently.
/// - `PutItem`/`UpdateItem`: one unit per started KiB of the item (the larger of before and
///   after: the item as it is now, or for a failed conditional write, the larger of the item
///   there and the one attempted). `TransactWriteItems`: twice that per item, charged even when
///   the transaction is cancelled. A write that adds or removes an index entry costs that
///   entry's units on top (our `by_arrival` and `by_pending`, both keys only).
/// - `DeleteItem`: the deleted item's size, at least one unit. The functions' only delete is
///   the sweeper's cursor (a few dozen bytes, or already gone): one unit.
/// - `SendMessage`: one SQS request per started 64 KB of payload (body and attributes).
pub async fn tally(table: &Table<'_>, calls: &[Call]) -> Tally {
    let mut t = Tally::default();
    for call in calls {
        let body = &call.request;
        match call.op.as_str() {
            "BatchGetItem" => {
                for (_, request) in body["RequestItems"].as_object().into_iter().flatten() {
                    for key in request["Keys"].as_array().into_iter().flatten() {
                        let key = item_from_json(key);
                        let size = call
                            .returned
                            .iter()
                            .find(|item| key.iter().all(|(k, v)| item.get(k) == Some(v)))
                            .map_or(0, item_size);
                        t.read_units += read_cost(request, size);
                    }
                }
            }
            "GetItem" | "Query" => {
                let size = call.returned.iter().map(item_size).sum();
                t.read_units += read_cost(body, size);
            }
            "TransactWriteItems" => {
                for entry in body["TransactItems"].as_array().into_iter().flatten() {
                    let (key, attempted) = match (&entry["Put"], &entry["Update"]) {
                        (Value::Object(put), _) => (
                            table.key_of(&put["Item"]),
                            Some(item_from_json(&put["Item"])),
                        ),
                        (_, Value::Object(update)) => (table.key_of(&update["Key"]), None),
                        _ => continue,
                    };
                    let now = table.item(key).await;
                    let size = now.as_ref().map_or(0, item_size);
                    if !call.succeeded() {
                        let tried = attempted.as_ref().map_or(0, item_size);
                        t.write_units += 2 * write_units(size.max(tried)) as u64;
                        continue;
                    }
                    let Some(written) = now else { continue };
                    t.write_units += 2 * write_units(size) as u64;
                    if written.contains_key(attr::ARRIVAL_DAY) {
                        t.write_units +=
                            write_units(index_entry_size(&written, &ARRIVAL_ENTRY)) as u64;
                    }
                    // A head made pending enters the sweeper's index (keys only, < 1 KiB).
                    if sets_pending(entry) {
                        t.write_units += 1;
                    }
                }
            }
            "PutItem" | "UpdateItem" => {
                let (key, attempted) = if call.op == "PutItem" {
                    (table.key_of(&body["Item"]), item_from_json(&body["Item"]))
                } else {
                    (table.key_of(&body["Key"]), Item::new())
                };
                let now = table.item(key).await;
                let size = now.as_ref().map_or(0, item_size);
                if !call.succeeded() {
                    t.write_units += write_units(size.max(item_size(&attempted))) as u64;
                } else if let Some(written) = now {
                    t.write_units += write_units(size) as u64;
                    // A mark that caught up removes the head from the sweeper's index.
                    let names = body["ExpressionAttributeNames"].to_string();
                    if names.contains(attr::PENDING_SINCE)
                        && !written.contains_key(attr::PENDING_SINCE)
                    {
                        t.write_units += 1;
                    }
                }
            }
            "DeleteItem" => t.write_units += write_units(0) as u64,
            "SendMessage" => t.sqs_requests += pricing::sqs_requests(sqs_payload(body)),
            "SendMessageBatch" => {
                let payload = body["Entries"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(sqs_payload)
                    .sum();
                t.sqs_requests += pricing::sqs_requests(payload);
            }
            _ => {}
        }
        t.calls.push(call.op.clone());
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn items_come_back_from_dynamodb_json() {
        let item = item_from_json(&json!({
            "pk": {"S": "invoice#1"},
            "n": {"N": "12"},
            "ok": {"BOOL": true},
            "m": {"M": {"a": {"L": [{"S": "x"}, {"NULL": true}]}}},
            "b": {"B": "AAEC"},
            "ss": {"SS": ["a", "bc"]},
        }));
        assert_eq!(item["pk"], AttributeValue::S("invoice#1".into()));
        assert_eq!(item["n"], AttributeValue::N("12".into()));
        assert_eq!(item["b"], AttributeValue::B(Blob::new(vec![0, 1, 2])));
        // Sizes by the published rules: "pk" 2 + 9, "n" 1 + 2, "ok" 2 + 1, "m" 1 + (3 + 1 + "a"
        // 1 + list (3 + (1 + 1) + (1 + 1))), "b" 1 + 3, "ss" 2 + 3.
        assert_eq!(
            item_size(&item),
            11 + 3 + 3 + (1 + 3 + 1 + 1 + 3 + 2 + 2) + 4 + 5
        );
    }

    #[test]
    fn an_sqs_payload_is_its_body_and_attributes() {
        let message = json!({
            "MessageBody": "x".repeat(100),
            "MessageAttributes": {"event": {"DataType": "String", "StringValue": "invoice.created"}},
        });
        assert_eq!(sqs_payload(&message), 100 + 5 + 6 + 15);
    }

    #[test]
    fn less_keeps_what_the_base_does_not_make_in_order() {
        let ops = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        // The sweeper: an idle run reads its cursor, queries the index, deletes the cursor and
        // queries again; a run that forwards does its entity's work in the middle.
        let idle = Tally {
            calls: ops(&[
                "BatchGetItem",
                "Query",
                "Query",
                "DeleteItem",
                "Query",
                "Query",
            ]),
            read_units: 3.0,
            write_units: 1,
            sqs_requests: 0,
        };
        let run = Tally {
            calls: ops(&[
                "BatchGetItem",
                "Query",
                "Query",
                "BatchGetItem",
                "Query",
                "SendMessage",
                "UpdateItem",
                "DeleteItem",
                "Query",
                "Query",
            ]),
            read_units: 5.5,
            write_units: 3,
            sqs_requests: 1,
        };
        let more = run.less(&idle);
        assert_eq!(
            more.calls,
            ops(&["BatchGetItem", "Query", "SendMessage", "UpdateItem"])
        );
        assert_eq!(
            (more.read_units, more.write_units, more.sqs_requests),
            (2.5, 2, 1)
        );
        assert_eq!(idle.less(&idle).calls, Vec::<String>::new());
    }
}
