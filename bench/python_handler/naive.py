"""The hand-written receiver issue 16 compares our cost against, in Python with boto3: the
baseline of the cost table (bench/README.md, "Cost per notification"). `handler.py` beside it
mirrors our previous design for the speed benchmarks; this one is the minimal design.

API Gateway HTTP API (payload 2.0) event -> method and token checks -> one conditional PutItem
(`attribute_not_exists(dedup_key)`, the key being the SHA-256 of the raw body) -> one SendMessage
to the FIFO queue (grouped by invoice, de-duplicated by the same key). A retry's PutItem fails
its condition and the request answers "duplicate" without sending.

What it does not guarantee, and ours does: a crash (or a queue error) between the PutItem and
the SendMessage loses the notification for good, since every retry is then a "duplicate"; a
real repeat of the same content (paid, pending, paid again) is dropped as a duplicate; nothing
records what was sent, so nothing can resend or sweep it.

Configuration: EVENTS_TABLE (a table keyed by `dedup_key` alone), EVENTS_QUEUE_URL (FIFO),
WEBHOOK_TOKEN. The two clients are built at import, as every Python Lambda does.
"""

import base64
import datetime
import hashlib
import hmac
import json
import os
from urllib.parse import parse_qsl

import boto3
from botocore.exceptions import ClientError

DYNAMODB = boto3.client("dynamodb")
SQS = boto3.client("sqs")

TABLE = os.environ["EVENTS_TABLE"]
QUEUE_URL = os.environ["EVENTS_QUEUE_URL"]
TOKEN = os.environ.get("WEBHOOK_TOKEN", "")


def _answer(status, body):
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


def handler(event, context):
    http = (event.get("requestContext") or {}).get("http") or {}
    if http.get("method") != "POST":
        return _answer(405, {"error": "method_not_allowed"})
    given = (event.get("queryStringParameters") or {}).get("token", "")
    if not TOKEN or not hmac.compare_digest(given.encode(), TOKEN.encode()):
        return _answer(401, {"error": "unauthorized"})
    raw = event.get("body") or ""
    body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode()
    fields = dict(parse_qsl(body.decode()))
    if "event" not in fields or "data[id]" not in fields:
        return _answer(400, {"error": "invalid_body"})
    dedup_key = hashlib.sha256(body).hexdigest()
    received_at = datetime.datetime.now(datetime.timezone.utc).isoformat()
    try:
        DYNAMODB.put_item(
            TableName=TABLE,
            Item={
                "dedup_key": {"S": dedup_key},
                "event": {"S": fields["event"]},
                "received_at": {"S": received_at},
                "body": {"S": body.decode()},
            },
            ConditionExpression="attribute_not_exists(dedup_key)",
        )
    except ClientError as e:
        if e.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return _answer(200, {"status": "duplicate"})
        raise
    SQS.send_message(
        QueueUrl=QUEUE_URL,
        MessageBody=json.dumps({"event": fields["event"], "received_at": received_at, "body": body.decode()}),
        MessageGroupId="invoice#" + fields["data[id]"],
        MessageDeduplicationId=dedup_key,
    )
    return _answer(200, {"status": "stored"})
