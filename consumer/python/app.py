"""The consumer kit in Python: an AWS Lambda handler on the events queue (SQS FIFO) with AWS Lambda
Powertools, booking each (entity_key, sequence) once, by the same ledger rule, on the same
DynamoDB layout as the Rust consumer (shared/consumer/src/dynamo.rs; docs/consumers.md).

- Batches: Powertools' SqsFifoPartialProcessor with skip_group_on_error=True. After a message
  group's first failure in a batch every later message of that group is reported failed too,
  unprocessed; other groups go on. The function's event source must have
  FunctionResponseTypes: [ReportBatchItemFailures].
- Validation: each body against the envelope's JSON Schema (schema/envelope.schema.json,
  generated from the Rust types), with Powertools' validation (fastjsonschema). A body that does
  not validate, or a schema_version newer than 2, fails: it is retried, then kept by the
  dead-letter queue; it is never dropped.
- The ledger: the entity's head (watermark, highest, gaps) tells a copy from the head alone;
  above the watermark the row is claimed by a conditional write (in progress, with an expiry),
  the business code runs, and the row is settled and the head moved in one transaction. A
  failure gives the claim up. A message below the highest settled sequence is late (a
  redrive): it is booked, and the business code is told what was booked since.

Not in this example: confirmation with the gateways' APIs (the Rust consumer does it:
shared/consumer/src/confirm.rs). Rows settled here say confirmation "off".

Environment: LEDGER_TABLE (required), BOOKINGS_TABLE (the example business code's table),
ENVELOPE_SCHEMA (the schema's path; default: next to this file, else the repository's).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import boto3
from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.validation import validate

SCHEMA_VERSION = 2
SMOKE_EVENT = "smoke.test"
CLAIM_MS = 5 * 60 * 1000
HEAD_SK = "head"


def load_schema() -> dict:
    here = Path(__file__).resolve().parent
    candidates = [os.environ.get("ENVELOPE_SCHEMA"), here / "envelope.schema.json",
                  here.parent.parent / "schema" / "envelope.schema.json"]
    for path in candidates:
        if path and Path(path).is_file():
            return json.loads(Path(path).read_text(encoding="utf-8"))
    raise RuntimeError("no envelope.schema.json: set ENVELOPE_SCHEMA")


class HeadMoved(Exception):
    """The entity's head changed since it was read: read it again and settle again."""


class ClaimLost(Exception):
    """The row's claim is no longer ours (it expired and another consumer took it)."""


class Busy(Exception):
    """Another consumer holds a live claim on the row: the message is retried later."""


class Mismatch(Exception):
    """The sequence is settled with other content: kept for a person (the dead-letter queue)."""


def row_key(sequence: int) -> str:
    return f"seq#{sequence:020d}"


def place(head: dict, sequence: int) -> str:
    """copy, next, after_missing or late, as shared/consumer/src/ledger.rs's `place`."""
    if sequence <= head["watermark"] and sequence not in head["gaps"]:
        return "copy"
    if sequence == head["highest"] + 1:
        return "next"
    if sequence > head["highest"]:
        return "after_missing"
    return "late"


def settled_head(before: dict, sequence: int, status: str, above: list[dict]) -> dict:
    after = {"watermark": before["watermark"], "highest": max(before["highest"], sequence),
             "gaps": set(before["gaps"]), "version": before["version"] + 1}
    if status == "gap":
        after["gaps"].add(sequence)
    else:
        after["gaps"].discard(sequence)
    if sequence == after["watermark"] + 1:
        after["watermark"] = sequence
        settled = {r["sequence"] for r in above if r["status"] != "in_progress"}
        while after["watermark"] + 1 in settled:
            after["watermark"] += 1
    return after


class Ledger:
    """The ledger table (pk = entity_key; sk = head | seq#<20 digits> | aside#...)."""

    def __init__(self, client, table: str):
        self.client, self.table = client, table

    def head(self, entity: str) -> dict:
        item = self.client.get_item(TableName=self.table, ConsistentRead=True,
                                    Key={"pk": {"S": entity}, "sk": {"S": HEAD_SK}}).get("Item")
        if not item:
            return {"watermark": 0, "highest": 0, "gaps": set(), "version": 0}
        return {"watermark": int(item["watermark"]["N"]), "highest": int(item["highest"]["N"]),
                "gaps": {int(g["N"]) for g in item.get("gaps", {}).get("L", [])},
                "version": int(item["version"]["N"])}

    def entries_after(self, entity: str, sequence: int) -> list[dict]:
        rows, start = [], None
        while True:
            kwargs = {"TableName": self.table, "ConsistentRead": True,
                      "KeyConditionExpression": "pk = :pk AND sk BETWEEN :from AND :to",
                      "ExpressionAttributeValues": {":pk": {"S": entity},
                                                    ":from": {"S": row_key(sequence + 1)},
                                                    ":to": {"S": "seq#~"}}}
            if start:
                kwargs["ExclusiveStartKey"] = start
            page = self.client.query(**kwargs)
            rows += [{"sequence": int(i["sequence"]["N"]), "status": i["status"]["S"],
                      "event": i.get("event", {}).get("S", "")} for i in page.get("Items", [])]
            start = page.get("LastEvaluatedKey")
            if not start:
                return rows

    def claim(self, entity: str, sequence: int, token: str, event: str, dedup_key: str,
              may_fill_gap: bool, now_ms: int) -> tuple[str, dict | None]:
        condition = "attribute_not_exists(pk) OR (#status = :in_progress AND claim_expires_at < :now)"
        values = {":in_progress": {"S": "in_progress"}, ":token": {"S": token},
                  ":expires": {"N": str(now_ms + CLAIM_MS)}, ":now": {"N": str(now_ms)},
                  ":event": {"S": event}, ":dedup": {"S": dedup_key},
                  ":sequence": {"N": str(sequence)}}
        if may_fill_gap:
            condition += " OR #status = :gap"
            values[":gap"] = {"S": "gap"}
        try:
            out = self.client.update_item(
                TableName=self.table, Key={"pk": {"S": entity}, "sk": {"S": row_key(sequence)}},
                UpdateExpression="SET #status = :in_progress, claim_token = :token, "
                                 "claim_expires_at = :expires, event = :event, "
                                 "dedup_key = :dedup, #sequence = :sequence",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#status": "status", "#sequence": "sequence"},
                ExpressionAttributeValues=values, ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except self.client.exceptions.ConditionalCheckFailedException as e:
            old = e.response.get("Item") or {}
            status = old.get("status", {}).get("S", "in_progress")
            if status == "in_progress":
                return "busy", None
            return "settled", {"status": status, "dedup_key": old.get("dedup_key", {}).get("S", "")}
        old_status = out.get("Attributes", {}).get("status", {}).get("S")
        return "claimed", {"filled_gap": old_status == "gap"}

    def settle(self, entity: str, sequence: int, token: str, status: str, late: bool,
               before: dict, after: dict) -> None:
        head = {"pk": {"S": entity}, "sk": {"S": HEAD_SK},
                "watermark": {"N": str(after["watermark"])}, "highest": {"N": str(after["highest"])},
                "version": {"N": str(after["version"])}}
        if after["gaps"]:
            head["gaps"] = {"L": [{"N": str(g)} for g in sorted(after["gaps"])]}
        put_head = {"TableName": self.table, "Item": head}
        if before["version"] == 0:
            put_head["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put_head["ConditionExpression"] = "version = :version"
            put_head["ExpressionAttributeValues"] = {":version": {"N": str(before["version"])}}
        settled_at = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
        try:
            self.client.transact_write_items(TransactItems=[
                {"Update": {
                    "TableName": self.table,
                    "Key": {"pk": {"S": entity}, "sk": {"S": row_key(sequence)}},
                    "UpdateExpression": "SET #status = :status, settled_at = :at, late = :late, "
                                        "confirmation = :off, filled_gap = :no "
                                        "REMOVE claim_token, claim_expires_at",
                    "ConditionExpression": "claim_token = :token",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {":status": {"S": status}, ":at": {"S": settled_at},
                                                  ":late": {"BOOL": late}, ":off": {"S": "off"},
                                                  ":no": {"BOOL": False}, ":token": {"S": token}}}},
                {"Put": put_head},
            ])
        except self.client.exceptions.TransactionCanceledException as e:
            reasons = [r.get("Code") for r in e.response.get("CancellationReasons", [])]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                raise ClaimLost() from e
            if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                raise HeadMoved() from e
            raise

    def release(self, entity: str, sequence: int, token: str, filled_gap: bool) -> None:
        key = {"pk": {"S": entity}, "sk": {"S": row_key(sequence)}}
        try:
            if filled_gap:
                self.client.update_item(
                    TableName=self.table, Key=key,
                    UpdateExpression="SET #status = :gap REMOVE claim_token, claim_expires_at",
                    ConditionExpression="claim_token = :token",
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues={":gap": {"S": "gap"}, ":token": {"S": token}})
            else:
                self.client.delete_item(TableName=self.table, Key=key,
                                        ConditionExpression="claim_token = :token",
                                        ExpressionAttributeValues={":token": {"S": token}})
        except self.client.exceptions.ConditionalCheckFailedException:
            pass  # not ours any more


# The business code: book(envelope, booking_id, late_after) books the notification, idempotently
# by booking_id; late_after is None, or the sequences booked since when it comes late.
Book = Callable[[dict, str, "list[int] | None"], None]


def bookings_table_book(client, table: str) -> Book:
    """The example business code: one item per booking in `table`, written once."""

    def book(envelope: dict, booking_id: str, late_after: list[int] | None) -> None:
        item = {"pk": {"S": booking_id}, "entity_key": {"S": envelope["entity_key"]},
                "event": {"S": envelope["event"]}, "provider": {"S": envelope["provider"]},
                "late": {"BOOL": late_after is not None},
                "kind": {"S": "not_received" if envelope.get("gap") else "state"}}
        if envelope.get("sequence") is not None:
            item["sequence"] = {"N": str(envelope["sequence"])}
        if envelope.get("status"):
            item["status"] = {"S": envelope["status"]}
        if late_after:
            item["booked_since"] = {"L": [{"N": str(n)} for n in late_after]}
        try:
            client.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        except client.exceptions.ConditionalCheckFailedException:
            pass  # booked by an earlier call for this booking

    return book


class Consumer:
    def __init__(self, ledger: Ledger, book: Book, schema: dict, clock_ms: Callable[[], int] | None = None):
        self.ledger, self.book, self.schema = ledger, book, schema
        self.clock_ms = clock_ms or (lambda: int(time.time() * 1000))

    def record_handler(self, record: SQSRecord) -> str:
        """One message: its outcome; an exception fails it (Powertools reports it)."""
        envelope = json.loads(record.body)
        validate(event=envelope, schema=self.schema)
        version = envelope.get("schema_version", 1)
        if version > SCHEMA_VERSION:
            raise ValueError(f"schema_version {version} is newer than this consumer knows")
        return self.process(envelope)

    def process(self, envelope: dict) -> str:
        if envelope["event"] == SMOKE_EVENT:
            return "skipped"
        entity, sequence = envelope["entity_key"], envelope.get("sequence")
        if sequence is None:
            raise ValueError("no sequence: this example books sequenced messages only")
        head = self.ledger.head(entity)
        where = place(head, sequence)
        if where == "copy":
            return "copy"
        token = uuid.uuid4().hex
        gap = envelope.get("gap") is not None
        claimed, detail = self.ledger.claim(entity, sequence, token, envelope["event"],
                                            envelope["dedup_key"], not gap, self.clock_ms())
        if claimed == "busy":
            raise Busy(f"{entity} {sequence}")
        if claimed == "settled":
            same = detail["dedup_key"] == envelope["dedup_key"] or gap or detail["status"] == "gap"
            if not same:
                raise Mismatch(f"{entity} {sequence} is settled with other content")
            return "copy"
        filled_gap = detail["filled_gap"]
        try:
            late = where == "late"
            above = self.ledger.entries_after(entity, sequence) if late or filled_gap else []
            late_after = [r["sequence"] for r in above] if late else None
            self.book(envelope, f"{entity}#{sequence}", late_after)
            status = "gap" if gap else "booked"
            for attempt in range(4):
                try:
                    self.ledger.settle(entity, sequence, token, status, late, head,
                                       settled_head(head, sequence, status, above))
                    break
                except HeadMoved:
                    if attempt == 3:
                        raise
                    head = self.ledger.head(entity)
                    above = self.ledger.entries_after(entity, sequence) if sequence < head["highest"] else []
        except ClaimLost:
            raise
        except Exception:
            self.ledger.release(entity, sequence, token, filled_gap)
            raise
        if gap:
            return "gap"
        return "booked_late" if late else "booked"


def handle(consumer: Consumer, event: dict, context=None) -> dict:
    """One invocation: the batch response for Lambda (`batchItemFailures`)."""
    processor = SqsFifoPartialProcessor(skip_group_on_error=True)
    # Report every failure in the response, even when the whole batch failed, as the Rust
    # consumer does (the default raises instead, which retries the batch all the same).
    processor.raise_on_entire_batch_failure = False
    return process_partial_response(event=event, record_handler=consumer.record_handler,
                                    processor=processor, context=context)


_CONSUMER = None


def lambda_handler(event: dict, context) -> dict:
    global _CONSUMER
    if _CONSUMER is None:
        client = boto3.client("dynamodb")
        book = bookings_table_book(client, os.environ["BOOKINGS_TABLE"])
        _CONSUMER = Consumer(Ledger(client, os.environ["LEDGER_TABLE"]), book, load_schema())
    return handle(_CONSUMER, event, context)
