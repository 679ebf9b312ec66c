#!/usr/bin/env python3
"""POST every sample event to the functions `scripts/local.sh` serves, and show what landed.

    .venv/bin/python scripts/post_samples.py [--full] [--all-events] [--urls FILE] [EVENT.json ...]

Reads .local/urls.json (written by a running scripts/local.sh). For each HTTP API (payload 2.0)
event under events/iugu/http-api-v2/ and events/ipag/, the shape the deployed API sends (or
only the files given: the REST events under events/iugu/ carry the same bodies), it POSTs the
event's body
(base64-decoded if isBase64Encoded) with its Content-Type (and Authorization, X-Ipag-Event,
X-Ipag-Signature, if any) headers and its query string (the token) to the function that serves
the event's route (path/rawPath; an unknown route goes to all-events; with --all-events every
iugu event goes there; iPag's always go to ipag), and prints:

  - the file, the HTTP status and the answer;
  - the DynamoDB items stored under the notification's pk (found through the answer's
    dedup_key);
  - with the consumer kit running (scripts/local.sh starts it): what the consumer made of the
    notification's message, read from its ledger (booked, a copy, contradicted, ...; whether
    the gateway's API stand-in was asked) and the example bookings table, waiting up to 20 s
    for it;
  - without it (an older .local/urls.json): the messages the SQS queue delivered since the
    previous event (their event and entity_key) and the count so far. It consumes them
    (receives and deletes them), so that later messages of the same FIFO group are not held
    back behind them.

Run it twice to see the de-duplication rule (docs/delivery-semantics.md): a sample whose
entity received nothing else since its first delivery answers "duplicate" (a retry: nothing
stored, nothing queued); one whose entity got other samples in between (the samples share ids)
answers "repeat" (a new occurrence: stored and queued with `repeat_of`). stdlib + boto3 (in
.venv) only.
"""

import argparse
import base64
import glob
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import boto3
from boto3.dynamodb.types import TypeDeserializer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_FUNCTION = "all-events"
_deserialize = TypeDeserializer().deserialize


def plain(item):
    """A DynamoDB item as plain JSON-able values."""

    def conv(v):
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, (list, set)):
            return [conv(x) for x in v]
        if type(v).__name__ == "Decimal":
            return int(v) if v == int(v) else float(v)
        if isinstance(v, (bytes, bytearray)) or type(v).__name__ == "Binary":
            return base64.b64encode(bytes(v.value if hasattr(v, "value") else v)).decode()
        return v

    return {k: conv(_deserialize(v)) for k, v in item.items()}


def header(headers, name):
    for k, v in (headers or {}).items():
        if k.lower() == name.lower():
            return v
    return None


def request_of(event):
    """(route, query string, headers, body bytes) of an API Gateway v1 or v2 event."""
    route = event.get("rawPath") or event.get("path")
    if not route:
        route = ((event.get("requestContext") or {}).get("http") or {}).get("path") or "/"
    if "rawQueryString" in event:
        query = event.get("rawQueryString") or ""
    else:
        multi = event.get("multiValueQueryStringParameters")
        single = event.get("queryStringParameters")
        if multi:
            query = urllib.parse.urlencode(multi, doseq=True)
        else:
            query = urllib.parse.urlencode(single or {})
    headers = {}
    for name in ("Content-Type", "Authorization", "X-Ipag-Event", "Ipag-Event", "X-Ipag-Signature"):
        value = header(event.get("headers"), name)
        if value is not None:
            headers[name] = value
    body = event.get("body")
    if body is None:
        data = b""
    elif event.get("isBase64Encoded"):
        data = base64.b64decode(body)
    else:
        data = body.encode("utf-8")
    return route, query, headers, data


def post(url, headers, data):
    req = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:  # 1st call may compile
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def event_pk(ddb, table, dedup_key):
    """The pk of the notification named dedup_key: through its dedup item
    (pk = dedup#<key>, sk = dedup, event_pk), else by scanning for the event item."""
    got = ddb.get_item(
        TableName=table, Key={"pk": {"S": f"dedup#{dedup_key}"}, "sk": {"S": "dedup"}}
    ).get("Item")
    if got and "event_pk" in got:
        return got["event_pk"]["S"]
    kwargs = {
        "TableName": table,
        "FilterExpression": "dedup_key = :d AND NOT begins_with(pk, :dedup)",
        "ExpressionAttributeValues": {":d": {"S": dedup_key}, ":dedup": {"S": "dedup#"}},
    }
    while True:
        page = ddb.scan(**kwargs)
        for item in page.get("Items", []):
            return item["pk"]["S"]
        if "LastEvaluatedKey" not in page:
            return None
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def items_of(ddb, table, pk):
    kwargs = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": pk}},
    }
    items = []
    while True:
        page = ddb.query(**kwargs)
        items += [plain(i) for i in page.get("Items", [])]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def drain(sqs, queue_url):
    """Receive (and delete) every message available now."""
    got = []
    while True:
        resp = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = resp.get("Messages", [])
        if not messages:
            return got
        for m in messages:
            got.append(m)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])


def ledger_row(ddb, consumer, pk, sequence, wait_s=20.0):
    """The consumer's ledger row for (pk, sequence) once settled, and its booking; None when it
    did not settle within wait_s (the consumer polls the queue every second)."""
    key = {"pk": {"S": pk}, "sk": {"S": f"seq#{sequence:020d}"}}
    deadline = time.monotonic() + wait_s
    while True:
        row = ddb.get_item(TableName=consumer["ledger_table"], Key=key, ConsistentRead=True).get("Item")
        if row and row.get("status", {}).get("S") != "in_progress":
            booking = ddb.get_item(
                TableName=consumer["bookings_table"], Key={"pk": {"S": f"{pk}#{sequence}"}}
            ).get("Item")
            return plain(row), plain(booking) if booking else None
        if time.monotonic() > deadline:
            return None
        time.sleep(0.2)


def short(item, full):
    if full:
        return json.dumps(item, ensure_ascii=False, sort_keys=True)
    keep = ["sk", "kind", "event", "status", "sequence", "received_at", "last_sequence", "forwarded_sequence"]
    return "  ".join(f"{k}={item[k]}" for k in keep if k in item)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--urls", default=os.path.join(ROOT, ".local", "urls.json"))
    ap.add_argument("--full", action="store_true", help="print whole items and envelopes")
    ap.add_argument(
        "--all-events",
        action="store_true",
        help=f"send every iugu event to {DEFAULT_FUNCTION} (/iugu/events) instead of its family's route",
    )
    ap.add_argument(
        "events", nargs="*", help="event files (default: events/iugu/http-api-v2/**/*.json, events/ipag/*.json)"
    )
    args = ap.parse_args()

    try:
        with open(args.urls, encoding="utf-8") as f:
            urls = json.load(f)
    except FileNotFoundError:
        sys.exit(f"post_samples: no {args.urls}: start `bash scripts/local.sh` first")

    files = args.events or sorted(
        glob.glob(os.path.join(ROOT, "events", "iugu", "http-api-v2", "**", "*.json"), recursive=True),
        key=lambda p: (p.count(os.sep), p),  # the good samples first, then the subfolders
    ) + sorted(glob.glob(os.path.join(ROOT, "events", "ipag", "*.json")))
    if not files:
        sys.exit("post_samples: no events/iugu/http-api-v2/**/*.json or events/ipag/*.json")

    session = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name=urls["region"]
    )
    ddb = session.client("dynamodb", endpoint_url=urls["moto_endpoint"])
    sqs = session.client("sqs", endpoint_url=urls["moto_endpoint"])
    by_route = {fn["route"]: name for name, fn in urls["functions"].items()}

    received = 0
    outcomes_seen = {}
    statuses = {}
    outcomes = {}
    for path in files:
        with open(path, encoding="utf-8") as f:
            event = json.load(f)
        route, query, headers, data = request_of(event)
        if args.all_events and route.startswith("/iugu/"):
            function = DEFAULT_FUNCTION
        else:
            function = by_route.get(route, DEFAULT_FUNCTION)
        base = urls["functions"][function]["url"].split("?", 1)[0]
        url = base + ("?" + query if query else "")
        try:
            status, answer = post(url, headers, data)
        except (urllib.error.URLError, ConnectionError) as e:
            sys.exit(f"post_samples: cannot reach {base} ({e}): is scripts/local.sh running?")
        statuses[status] = statuses.get(status, 0) + 1

        print(f"== {os.path.relpath(path, ROOT)} -> {function} ({route})")
        print(f"   HTTP {status} {answer.strip()}")
        try:
            answer_json = json.loads(answer)
            dedup_key = answer_json.get("dedup_key")
            outcome = answer_json.get("status") or answer_json.get("error")
        except (ValueError, AttributeError):
            dedup_key = outcome = None
        if outcome:
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        pk = None
        if dedup_key:
            pk = event_pk(ddb, urls["table"], dedup_key)
            if pk is None:
                print(f"   DynamoDB: no item with dedup_key {dedup_key}")
            else:
                items = items_of(ddb, urls["table"], pk)
                print(f"   DynamoDB pk={pk}: {len(items)} item(s)")
                for item in items:
                    print(f"     {short(item, args.full)}")
        consumer = urls.get("consumer")
        if consumer:
            sequence = answer_json.get("sequence") if dedup_key else None
            if pk and isinstance(sequence, int):
                settled = ledger_row(ddb, consumer, pk, sequence)
                if settled is None:
                    print(f"   consumer: seq {sequence} not settled within 20 s (see local.sh's log)")
                else:
                    row, booking = settled
                    outcomes_seen[row["status"]] = outcomes_seen.get(row["status"], 0) + 1
                    api = f", API {row['api_status']}" if "api_status" in row else ""
                    late = ", late" if row.get("late") else ""
                    print(f"   consumer ledger seq#{sequence}: {row['status']} "
                          f"(confirmation {row.get('confirmation')}{api}{late})")
                    if booking:
                        keep = ["kind", "status", "amount_cents", "confirmation", "late"]
                        print("   booking: " + "  ".join(f"{k}={booking[k]}" for k in keep if k in booking))
            print()
            continue
        messages = drain(sqs, urls["queue_url"])
        received += len(messages)
        print(f"   SQS: {len(messages)} new message(s), {received} received so far")
        for m in messages:
            try:
                envelope = json.loads(m["Body"])
            except ValueError:
                print(f"     (not JSON) {m['Body'][:200]}")
                continue
            if args.full:
                print(f"     {json.dumps(envelope, ensure_ascii=False, sort_keys=True)}")
            else:
                group = m.get("Attributes", {}).get("MessageGroupId")
                print(
                    f"     event={envelope.get('event')}  entity_key={envelope.get('entity_key')}"
                    f"  group={group}"
                )
        print()

    summary = ", ".join(f"{n} x HTTP {s}" for s, n in sorted(statuses.items()))
    detail = ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items()))
    if urls.get("consumer"):
        ledger = ", ".join(f"{n} {o}" for o, n in sorted(outcomes_seen.items()))
        print(f"{len(files)} events posted: {summary} ({detail}); the consumer's ledger: {ledger or 'nothing'}.")
    else:
        print(f"{len(files)} events posted: {summary} ({detail}); {received} SQS message(s) received.")


if __name__ == "__main__":
    main()
