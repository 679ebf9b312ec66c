#!/usr/bin/env python3
"""What a hand-written receiver does per outcome, measured the way `cargo run -p pipeline-tests
--example cost` measures ours, which runs this script for each and prices them all
(bench/README.md, "Cost per notification"). The receivers, in bench/python_handler/:

- `naive` (naive.py): one conditional PutItem, one SendMessage; its table keyed by `dedup_key`;
- `powertools` (powertools.py): AWS Lambda Powertools' idempotency utility (DynamoDB
  persistence) around one SendMessage; its table keyed by `id`, Powertools' default.

usage: naive_cost.py ENDPOINT [ROUNDS] [RECEIVER]      (RECEIVER: naive, the default, or powertools)

Against the local server at ENDPOINT (moto, started by the caller) it creates the receiver's
table and a FIFO queue, imports the receiver (its clients built at import, as in a Lambda),
and delivers the fixture shared/gateways/tests/fixtures/iugu/raw/invoice.status_changed.body as
an API Gateway HTTP API event (payload 2.0, body base64 as API Gateway sends a form):

- calls: botocore's event hooks record every API call (operation, parameters, HTTP status),
  for the fixture itself: a new notification, then its retry;
- time: ROUNDS (default 30) more new notifications and retries, each of another invoice with an
  id of the same length (so the same sizes), after 3 warm-up requests; per request the handler's
  wall time and its time on the wire (from botocore's `before-send` to `before-parse`, i.e.
  request written to response body read). The wall time less the wire time is the receiver's
  own time: parsing, botocore's serialising, signing and parsing, and the answer.

Prints one JSON document: the runtime, the table, and per outcome the answer, the calls and the
per-round times in milliseconds. Units are computed by the caller from the items in the table,
with the same rules as ours (bench/src/capacity.rs).
"""

import base64
import importlib
import json
import os
import platform
import statistics
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "..", "shared", "gateways", "tests", "fixtures", "iugu", "raw", "invoice.status_changed.body")
FIXTURE_ID = "84F982E1A10F4FF1B483B829F4762C2C"
TOKEN = "local-dev-token-0123456789"
WARM_UP = 3


def event(body):
    return {
        "version": "2.0",
        "routeKey": "POST /iugu/invoices",
        "rawPath": "/iugu/invoices",
        "rawQueryString": "token=" + TOKEN,
        "headers": {"content-type": "application/x-www-form-urlencoded"},
        "queryStringParameters": {"token": TOKEN},
        "requestContext": {"http": {"method": "POST", "path": "/iugu/invoices", "sourceIp": "98.82.243.132"}},
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


class Recorder:
    """Every API call of the receiver's clients, and the time each spent on the wire."""

    def __init__(self):
        self.calls = []
        self.wire_ns = 0
        self._sent = None

    def attach(self, client):
        events = client.meta.events
        events.register("before-parameter-build", self._params)
        events.register("before-send", self._send)
        events.register("before-parse", self._parsed)
        events.register("after-call", self._done)

    def _params(self, params, model, **_):
        self.calls.append({"op": model.name, "params": json.loads(json.dumps(params, default=str))})

    def _send(self, **_):
        self._sent = time.perf_counter_ns()

    def _parsed(self, **_):
        if self._sent is not None:
            self.wire_ns += time.perf_counter_ns() - self._sent
            self._sent = None

    def _done(self, http_response, parsed, **_):
        self.calls[-1]["status"] = http_response.status_code
        self.calls[-1]["error"] = (parsed.get("Error") or {}).get("Code")

    def take(self):
        calls, wire = self.calls, self.wire_ns
        self.calls, self.wire_ns = [], 0
        return calls, wire


# Each receiver: its module in python_handler/ and its table's key attribute.
RECEIVERS = {"naive": "dedup_key", "powertools": "id"}


class Context:
    """What a Lambda context gives a handler that Powertools reads: the time left."""

    @staticmethod
    def get_remaining_time_in_millis():
        return 10_000


def main():
    endpoint = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    receiver = sys.argv[3] if len(sys.argv) > 3 else "naive"
    key = RECEIVERS[receiver]
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "WEBHOOK_TOKEN": TOKEN,
        }
    )
    import boto3

    name = receiver + "-" + uuid.uuid4().hex[:8]
    setup = boto3.client("dynamodb")
    setup.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    queue = boto3.client("sqs").create_queue(
        QueueName=name + ".fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "false"}
    )["QueueUrl"]
    os.environ["EVENTS_TABLE"] = name
    os.environ["EVENTS_QUEUE_URL"] = queue

    sys.path.insert(0, os.path.join(HERE, "python_handler"))
    module = importlib.import_module(receiver)

    recorder = Recorder()
    recorder.attach(module.DYNAMODB)
    recorder.attach(module.SQS)

    def deliver(body):
        started = time.perf_counter_ns()
        answer = module.handler(event(body), Context())
        wall = time.perf_counter_ns() - started
        calls, wire = recorder.take()
        return answer, calls, wall, wire

    fixture = open(FIXTURE, "rb").read().strip()
    assert FIXTURE_ID.encode() in fixture, "the fixture's invoice id moved"

    def variant(n):
        return fixture.replace(FIXTURE_ID.encode(), f"{n:032X}".encode())

    for n in range(WARM_UP):
        deliver(variant(n + 1))

    outcomes = [{"name": "new notification"}, {"name": "retry of a forwarded one"}]
    for outcome in outcomes:
        answer, calls, _, _ = deliver(fixture)
        outcome["status"] = answer["statusCode"]
        outcome["answer"] = json.loads(answer["body"]).get("status", "?")
        outcome["calls"] = calls
        outcome["own_ms"], outcome["wire_ms"] = [], []
    for n in range(rounds):
        body = variant(WARM_UP + 1 + n)
        for outcome in outcomes:
            _, _, wall, wire = deliver(body)
            outcome["own_ms"].append((wall - wire) / 1e6)
            outcome["wire_ms"].append(wire / 1e6)
    for outcome in outcomes:
        outcome["own_ms_median"] = statistics.median(outcome["own_ms"])

    json.dump(
        {
            "runtime": runtime(receiver, boto3.__version__),
            "table": name,
            "key": key,
            "rounds": rounds,
            "outcomes": outcomes,
        },
        sys.stdout,
    )
    print()


def runtime(receiver, boto3_version):
    text = f"Python {platform.python_version()} + boto3 {boto3_version}"
    if receiver == "powertools":
        from importlib.metadata import version

        text += f" + Powertools {version('aws-lambda-powertools')}"
    return text


if __name__ == "__main__":
    main()
