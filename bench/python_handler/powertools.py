"""The receiver a careful team builds in Python: AWS Lambda Powertools' idempotency utility, with
its DynamoDB persistence layer, in front of one SendMessage to the FIFO queue. The second
baseline of the cost table (bench/README.md, "Cost per notification"), beside `naive.py`.

API Gateway HTTP API (payload 2.0) event -> method and token checks (before anything is
written: a request without the token must not create an idempotency record, or its saved
answer would be replayed to the real delivery) -> `forward`, made idempotent on the body by
`idempotent_function`: Powertools puts an INPROGRESS record (a conditional PutItem keyed by a
hash of the body), the function sends the message (grouped by invoice, de-duplicated by the
body's SHA-256), and Powertools updates the record to COMPLETED with the answer (UpdateItem).
A retry finds the record: its PutItem fails its condition and returns the record
(`ReturnValuesOnConditionCheckFailure`), and the saved answer is given again, as "duplicate" (`response_hook`), without a send. A
send that fails deletes the record (DeleteItem), so the gateway's retry runs again; a crash
leaves it INPROGRESS until the invocation's time is up (`register_lambda_context`), then a
retry runs again.

What it keeps that the naive receiver does not: a send that failed, or a crash between the
record and the send, is retried by the gateway's next attempt instead of being lost. What it
does not guarantee, and ours does: the notification itself is stored nowhere (only the
idempotency record: its key, status and answer), so nothing can resend, replay or sweep it once
the gateway stops retrying; the same content again within the record's expiry (here 22 hours,
our `DedupWindow`) is answered from the record and dropped, whatever came between (paid,
pending, paid again loses the second paid); after the expiry it is sent again unflagged; a
retry that arrives while the first attempt is still in progress is answered 503; nothing
numbers an entity's notifications, so a consumer cannot tell a gap or a late redrive.

Configuration: EVENTS_TABLE (a table keyed by `id`, Powertools' default layout),
EVENTS_QUEUE_URL (FIFO), WEBHOOK_TOKEN. The clients are built at import, as every Python
Lambda does.
"""

import base64
import datetime
import hashlib
import hmac
import json
import os
from urllib.parse import parse_qsl

import boto3
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

DYNAMODB = boto3.client("dynamodb")
SQS = boto3.client("sqs")

TABLE = os.environ["EVENTS_TABLE"]
QUEUE_URL = os.environ["EVENTS_QUEUE_URL"]
TOKEN = os.environ.get("WEBHOOK_TOKEN", "")

PERSISTENCE = DynamoDBPersistenceLayer(table_name=TABLE, boto3_client=DYNAMODB)


def _replayed(response, record):
    """A retry answered from the record says so (the gateway gets 200 either way)."""
    return {**response, "status": "duplicate"}


CONFIG = IdempotencyConfig(
    # Our window (DedupWindow, 22 h): a retry within it is answered from the record.
    expires_after_seconds=22 * 3600,
    raise_on_no_idempotency_key=True,
    response_hook=_replayed,
)


def _answer(status, body):
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


@idempotent_function(data_keyword_argument="notification", config=CONFIG, persistence_store=PERSISTENCE)
def forward(notification):
    """Sends the notification; Powertools records its answer under the hash of `notification`."""
    received_at = datetime.datetime.now(datetime.timezone.utc).isoformat()
    SQS.send_message(
        QueueUrl=QUEUE_URL,
        MessageBody=json.dumps({"event": notification["event"], "received_at": received_at, "body": notification["body"]}),
        MessageGroupId="invoice#" + notification["id"],
        MessageDeduplicationId=hashlib.sha256(notification["body"].encode()).hexdigest(),
    )
    return {"status": "stored", "received_at": received_at}


def handler(event, context):
    if context is not None:
        CONFIG.register_lambda_context(context)
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
    try:
        result = forward(notification={"body": body.decode(), "event": fields["event"], "id": fields["data[id]"]})
    except IdempotencyAlreadyInProgressError:
        return _answer(503, {"error": "in_progress"})
    return _answer(200, {"status": result["status"]})
