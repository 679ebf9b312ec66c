"""The Lambda a team would write instead, in Python with boto3: the same work as a Rust function.

API Gateway (REST v1) event -> method, path, source address, token, content type, base64 ->
parse the iugu form and build the envelope (parse_qsl + nesting + SHA-256, from
bench/parse_baseline.py) -> store it once (one TransactWriteItems: the `dedup` item with
`attribute_not_exists(pk)` and the `event` item, the same table layout as
shared/aws/src/dynamo.rs) -> SendMessage to the FIFO queue -> mark it forwarded (a second
TransactWriteItems). A duplicate whose first delivery was forwarded stops after the first call.

The boto3 import and the two clients are built at import time, as every Python Lambda does, so
they count in the cold start (bench/harness.py).
"""

import base64
import datetime
import hmac
import ipaddress
import json
import os
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from parse_baseline import envelope as parse_envelope  # noqa: E402

# The production SDK settings of webhook_lambda::runtime::sdk_settings: timeouts and 3 attempts.
_CONFIG = Config(
    connect_timeout=1,
    read_timeout=1.5,
    retries={"max_attempts": 3, "mode": "standard"},
)
DYNAMODB = boto3.client("dynamodb", config=_CONFIG)
SQS = boto3.client("sqs", config=_CONFIG)

TABLE = os.environ["EVENTS_TABLE"]
QUEUE_URL = os.environ["EVENTS_QUEUE_URL"]
TOKEN = os.environ.get("WEBHOOK_TOKEN", "")
ALLOWED = [ipaddress.ip_network(n.strip()) for n in os.environ.get("ALLOWED_SOURCE_IPS", "").split(",") if n.strip()]
FIFO = QUEUE_URL.endswith(".fifo")


def _answer(status, body):
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _attr(node):
    if isinstance(node, dict):
        return {"M": {k: _attr(v) for k, v in node.items()}}
    if isinstance(node, list):
        return {"L": [{"S": v} for v in node]}
    return {"S": node}


def _claim(env, raw_body):
    """Stores the notification unless its dedup item exists: (True, None) or (False, old item)."""
    received_at = env["received_at"]
    pk, sk = env["entity_key"], f"{received_at}#{env['dedup_key']}"
    dedup = {
        "pk": {"S": "dedup#" + env["dedup_key"]},
        "sk": {"S": "dedup"},
        "kind": {"S": "dedup"},
        "event_pk": {"S": pk},
        "event_sk": {"S": sk},
        "received_at": {"S": received_at},
    }
    event = {
        "pk": {"S": pk},
        "sk": {"S": sk},
        "kind": {"S": "event"},
        "provider": {"S": "iugu"},
        "event": {"S": env["event"]},
        "family": {"S": env["family"]},
        "entity_type": {"S": env["entity_type"]},
        "entity_id": {"S": env["entity_id"]},
        "received_at": {"S": received_at},
        "received_day": {"S": received_at[:10]},
        "dedup_key": {"S": env["dedup_key"]},
        "raw_body": {"S": raw_body},
        "data": _attr(env["data"]),
    }
    for name in ("account_id", "status"):
        if name in env:
            event[name] = {"S": env[name]}
    if "extra" in env:
        event["extra"] = _attr(env["extra"])
    try:
        DYNAMODB.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": TABLE,
                        "Item": dedup,
                        "ConditionExpression": "attribute_not_exists(pk)",
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
                {"Put": {"TableName": TABLE, "Item": event, "ConditionExpression": "attribute_not_exists(pk)"}},
            ]
        )
        return True, None
    except ClientError as e:
        reasons = e.response.get("CancellationReasons") or [{}]
        if e.response["Error"]["Code"] != "TransactionCanceledException" or reasons[0].get("Code") != "ConditionalCheckFailed":
            raise
        item = reasons[0].get("Item")
        if not item:
            item = DYNAMODB.get_item(
                TableName=TABLE,
                Key={"pk": dedup["pk"], "sk": dedup["sk"]},
                ConsistentRead=True,
            )["Item"]
        return False, item


def _mark(env):
    at = {":at": {"S": _now()}}
    keys = [
        {"pk": {"S": "dedup#" + env["dedup_key"]}, "sk": {"S": "dedup"}},
        {"pk": {"S": env["entity_key"]}, "sk": {"S": f"{env['received_at']}#{env['dedup_key']}"}},
    ]
    DYNAMODB.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": key,
                    "UpdateExpression": "SET forwarded_at = :at",
                    "ConditionExpression": "attribute_exists(pk)",
                    "ExpressionAttributeValues": at,
                }
            }
            for key in keys
        ]
    )


def handler(event, context):
    started = datetime.datetime.now()
    if event.get("httpMethod") != "POST":
        return _answer(405, {"error": "method_not_allowed"})
    if not event.get("path", "").startswith("/iugu/"):
        return _answer(404, {"error": "not_found"})
    source = ((event.get("requestContext") or {}).get("identity") or {}).get("sourceIp", "")
    if ALLOWED and not any(ipaddress.ip_address(source) in n for n in ALLOWED):
        return _answer(403, {"error": "forbidden"})
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    given = ((event.get("queryStringParameters") or {}).get("token")) or headers.get("authorization", "").removeprefix("Bearer ")
    if not TOKEN or not hmac.compare_digest(given.encode(), TOKEN.encode()):
        return _answer(401, {"error": "unauthorized"})
    if headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return _answer(415, {"error": "unsupported_media_type"})
    raw = event.get("body") or ""
    body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode()
    try:
        env = parse_envelope(body, typed=False)
    except ValueError as e:
        return _answer(400, {"error": "invalid_body", "message": str(e)})
    env["received_at"] = _now()
    raw_body = body.decode()
    new, item = _claim(env, raw_body)
    if not new and "forwarded_at" in item:
        outcome = "duplicate"
    else:
        if not new:
            env["received_at"] = item["received_at"]["S"]
        send = {
            "QueueUrl": QUEUE_URL,
            "MessageBody": json.dumps(env, separators=(",", ":")),
            "MessageAttributes": {
                "provider": {"DataType": "String", "StringValue": "iugu"},
                "event": {"DataType": "String", "StringValue": env["event"]},
            },
        }
        if FIFO:
            send["MessageGroupId"] = env["entity_key"]
            send["MessageDeduplicationId"] = env["dedup_key"]
        SQS.send_message(**send)
        try:
            _mark(env)
        except ClientError as e:
            print(json.dumps({"level": "WARN", "message": "not marked", "error": str(e)}), flush=True)
        outcome = "stored" if new else "duplicate_forwarded"
    latency_us = (datetime.datetime.now() - started) / datetime.timedelta(microseconds=1)
    print(json.dumps({"level": "INFO", "message": "request", "event": env["event"], "pk": env["entity_key"],
                      "dedup_key": env["dedup_key"], "outcome": outcome, "latency_us": int(latency_us)}), flush=True)
    return _answer(200, {"status": "stored" if new else "duplicate", "dedup_key": env["dedup_key"]})
