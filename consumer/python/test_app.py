"""The Python consumer against the local server (scripts/moto_server.py, started as the Rust
tests start it): the ledger rule on DynamoDB, Powertools' FIFO partial batches, the envelope's
JSON Schema. Run by scripts/test.sh: .venv/bin/python -m pytest consumer/python
"""

import json
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import app  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def endpoint():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "moto_server.py"), str(port), "--exit-with-stdin"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in server.stderr:
        seen.append(line)
        if "Running on" in line:
            break
    else:
        raise RuntimeError("moto exited before listening:\n" + "".join(seen))
    yield f"http://127.0.0.1:{port}"
    server.stdin.close()
    server.wait(timeout=10)


@pytest.fixture
def kit(endpoint):
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    suffix = uuid.uuid4().hex[:8]
    ledger, bookings = f"ledger-{suffix}", f"bookings-{suffix}"
    client.create_table(TableName=ledger, BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                   {"AttributeName": "sk", "KeyType": "RANGE"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                              {"AttributeName": "sk", "AttributeType": "S"}])
    client.create_table(TableName=bookings, BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])

    class Kit:
        failing: set = set()
        example = app.bookings_table_book(client, bookings)

        @staticmethod
        def book(envelope, booking_id, late_after):
            if envelope.get("sequence") in Kit.failing:
                raise RuntimeError("a bug in the business code")
            Kit.example(envelope, booking_id, late_after)

        consumer = None

        @staticmethod
        def rows(entity):
            items = client.query(TableName=ledger, ConsistentRead=True,
                                 KeyConditionExpression="pk = :pk AND begins_with(sk, :s)",
                                 ExpressionAttributeValues={":pk": {"S": entity}, ":s": {"S": "seq#"}})
            return [(int(i["sequence"]["N"]), i["status"]["S"], i.get("late", {}).get("BOOL", False))
                    for i in items["Items"]]

        @staticmethod
        def booked(entity):
            items = client.scan(TableName=bookings, ConsistentRead=True)["Items"]
            return sorted((int(i["sequence"]["N"]), [int(n["N"]) for n in i.get("booked_since", {}).get("L", [])])
                          for i in items if i["entity_key"]["S"] == entity)

    Kit.consumer = app.Consumer(app.Ledger(client, ledger), Kit.book, app.load_schema())
    return Kit


def envelope(event, sequence, entity="subscription#S1", **extra):
    body = {"schema_version": 2, "provider": "iugu", "event": event, "family": "subscriptions",
            "entity_type": entity.split("#")[0], "entity_id": entity.split("#")[1],
            "entity_key": entity, "dedup_key": f"{event}-{sequence}", "sequence": sequence,
            "received_at": "2026-11-20T13:00:00Z", "data": {"id": entity.split("#")[1]}}
    body.update(extra)
    return body


def group_of(body):
    try:
        return json.loads(body if isinstance(body, str) else json.dumps(body)).get("entity_key", "x")
    except ValueError:
        return "x"


def sqs_event(*bodies):
    """The event Lambda's SQS event source hands the function, one record per body."""
    return {"Records": [{
        "messageId": f"m{i}", "receiptHandle": f"r{i}",
        "body": b if isinstance(b, str) else json.dumps(b),
        "attributes": {"MessageGroupId": group_of(b), "ApproximateReceiveCount": "1"},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:EventsQueue.fifo", "awsRegion": "us-east-1",
    } for i, b in enumerate(bodies)]}


def failures(response):
    return [f["itemIdentifier"] for f in response["batchItemFailures"]]


def test_each_sequence_is_booked_once_and_copies_are_skipped(kit):
    batch = sqs_event(*(envelope("subscription.activated", n) for n in (1, 2, 3)))
    assert failures(app.handle(kit.consumer, batch)) == []
    assert failures(app.handle(kit.consumer, batch)) == []
    assert kit.rows("subscription#S1") == [(1, "booked", False), (2, "booked", False), (3, "booked", False)]
    assert kit.booked("subscription#S1") == [(1, []), (2, []), (3, [])]


def test_a_failed_group_holds_its_later_messages_and_other_groups_go_on(kit):
    kit.failing.add(2)
    batch = sqs_event(envelope("subscription.activated", 1), envelope("subscription.suspended", 2),
                      envelope("subscription.activated", 1, entity="subscription#S2"),
                      envelope("subscription.activated", 3))
    assert failures(app.handle(kit.consumer, batch)) == ["m1", "m3"]
    assert kit.rows("subscription#S1") == [(1, "booked", False)]
    assert kit.rows("subscription#S2") == [(1, "booked", False)]


def test_a_redriven_message_is_booked_late_with_what_was_booked_since(kit):
    kit.failing.add(1)
    n = sqs_event(envelope("subscription.suspended", 1))
    for _ in range(5):
        assert failures(app.handle(kit.consumer, n)) == ["m0"]
    assert kit.rows("subscription#S1") == [], "each failure gave its claim up"
    assert failures(app.handle(kit.consumer, sqs_event(envelope("subscription.activated", 2)))) == []
    kit.failing.clear()
    assert failures(app.handle(kit.consumer, n)) == []
    assert kit.rows("subscription#S1") == [(1, "booked", True), (2, "booked", False)]
    assert kit.booked("subscription#S1") == [(1, [2]), (2, [])]
    assert kit.consumer.process(envelope("subscription.suspended", 1)) == "copy"


def test_a_gap_record_is_booked_as_not_received_and_its_notification_fills_it(kit):
    gap = envelope("subscription.suspended", 1, data=None,
                   gap={"reason": "unreadable", "detail": "its stored body no longer parses"})
    assert kit.consumer.process(gap) == "gap"
    assert kit.consumer.process(gap) == "copy"
    assert kit.consumer.process(envelope("subscription.activated", 2)) == "booked"
    assert kit.consumer.process(envelope("subscription.suspended", 1)) == "booked_late"
    assert kit.rows("subscription#S1") == [(1, "booked", True), (2, "booked", False)]


def test_a_body_that_is_not_an_envelope_or_is_newer_fails_and_is_not_dropped(kit):
    missing_key = envelope("subscription.activated", 1)
    del missing_key["entity_key"]
    newer = envelope("subscription.activated", 1, schema_version=3)
    response = app.handle(kit.consumer, sqs_event(missing_key, newer, "not json"))
    assert failures(response) == ["m0", "m1", "m2"]
    assert kit.rows("subscription#S1") == []


def test_the_schema_validates_every_golden_envelope_and_a_version_one_message():
    from aws_lambda_powertools.utilities.validation import validate

    schema = app.load_schema()
    golden = (ROOT / "shared" / "gateways" / "tests" / "golden" / "envelopes.txt").read_text()
    bodies = [json.loads(line[len("json "):]) for line in golden.splitlines() if line.startswith("json ")]
    assert len(bodies) > 40
    for body in bodies:
        validate(event=body, schema=schema)
    v1 = envelope("subscription.activated", 1)
    del v1["schema_version"]
    validate(event=v1, schema=schema)
