#!/usr/bin/env python3
"""A bad-token flood against the local stack: do the real deliveries still get stored?

    bash scripts/local.sh                                   # in one terminal
    .venv/bin/python scripts/flood.py [--bad 1000] [--real 100] [--in-flight 16]

Reads .local/urls.json (written by a running scripts/local.sh) and POSTs to one function
(`invoices` by default), over HTTP on loopback, first the real deliveries alone (the baseline),
then the flood: `--bad` requests with guessed tokens interleaved with `--real` deliveries with
the right token (one real after every bad/real of them), `--in-flight` at a time. Every body is
a distinct, well-formed invoice notification. Then it looks in the local DynamoDB for every
one of them, and prints one Markdown table (for RELIABILITY.md) and the load average.

What it cannot show: API Gateway's throttle (30 req/s, burst 60 per iugu route by default, in
front of the function in AWS) does not exist locally; docs/floods.md says what it does.
`cargo lambda watch` runs one instance per function (as a function whose reserved
concurrency is 1), so every request, good or bad, waits its turn for that one instance.

Bounded: (bad + 2 x real) requests in all, each with a 30 s timeout, to 127.0.0.1 only.
stdlib + boto3 (in .venv) only.
"""

import argparse
import concurrent.futures
import json
import os
import statistics
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def post(url, body, timeout):
    """(status, answer JSON, seconds) of one form POST."""
    request = urllib.request.Request(
        url,
        data=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read()
    except (urllib.error.URLError, TimeoutError) as e:
        return None, {"error": type(e).__name__}, time.perf_counter() - started
    elapsed = time.perf_counter() - started
    try:
        answer = json.loads(text)
    except ValueError:
        answer = {"error": "not JSON"}
    return status, answer, elapsed


def with_token(url, token):
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode({"token": token})))


def body(entity_id):
    return f"event=invoice.status_changed&data%5Bid%5D={entity_id}&data%5Bstatus%5D=paid"


def run(requests, in_flight, timeout):
    """[(kind, id, status, answer, seconds)] for [(kind, id, url)], `in_flight` at a time."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=in_flight) as pool:
        futures = [
            (kind, entity_id, pool.submit(post, url, body(entity_id), timeout))
            for kind, entity_id, url in requests
        ]
        return [(kind, entity_id, *f.result()) for kind, entity_id, f in futures]


def ms(values, q):
    if not values:
        return "-"
    values = sorted(values)
    return f"{values[min(len(values) - 1, int(q * len(values)))] * 1000:.1f}"


def stored(table, entity_ids):
    """How many of `entity_ids` have an event item under invoice#<id>."""
    found = 0
    for entity_id in entity_ids:
        out = table.query(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"invoice#{entity_id}"}},
            ConsistentRead=True,
            Select="COUNT",
        )
        found += 1 if out["Count"] > 0 else 0
    return found


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--urls", default=os.path.join(ROOT, ".local", "urls.json"))
    ap.add_argument("--function", default="invoices")
    ap.add_argument("--bad", type=int, default=1000)
    ap.add_argument("--real", type=int, default=100)
    ap.add_argument("--in-flight", type=int, default=16)
    ap.add_argument("--timeout", type=float, default=30.0)
    a = ap.parse_args()
    if not (0 < a.real <= 10_000 and 0 <= a.bad <= 100_000 and 0 < a.in_flight <= 64):
        sys.exit("flood.py: --real 1..10000, --bad 0..100000, --in-flight 1..64")
    try:
        urls = json.load(open(a.urls))
    except OSError:
        sys.exit(f"flood.py: no {a.urls}: start scripts/local.sh first")
    url = urls["functions"][a.function]["url"]
    token = urls["token"]
    host = urllib.parse.urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"flood.py: {host} is not loopback; this only floods the local stack")
    dynamo = boto3.client(
        "dynamodb",
        endpoint_url=urls["moto_endpoint"],
        region_name=urls["region"],
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )

    class Table:
        def query(self, **kw):
            return dynamo.query(TableName=urls["table"], **kw)

    tag = "%08X" % (int(time.time()) & 0xFFFFFFFF)
    good = with_token(url, token)
    load_before = os.getloadavg()

    # Warm the function (cargo lambda compiles and starts it on its first request).
    post(good, body(f"FLOOD{tag}WARM"), 600)

    baseline = run(
        [("real", f"FLOOD{tag}BASE{n}", good) for n in range(a.real)], a.in_flight, a.timeout
    )
    every = max(1, a.bad // a.real)
    mixed, bad_n, real_n = [], 0, 0
    while bad_n < a.bad or real_n < a.real:
        for _ in range(every):
            if bad_n < a.bad:
                mixed.append(("bad", f"FLOOD{tag}BAD{bad_n}", with_token(url, f"guessed-{tag}-{bad_n:06d}")))
                bad_n += 1
        if real_n < a.real:
            mixed.append(("real", f"FLOOD{tag}REAL{real_n}", good))
            real_n += 1
    started = time.perf_counter()
    flood = run(mixed, a.in_flight, a.timeout)
    elapsed = time.perf_counter() - started
    load_after = os.getloadavg()

    def summary(results, kind):
        rows = [r for r in results if r[0] == kind]
        answers = {}
        for _, _, status, answer, _ in rows:
            key = f"{status} {answer.get('status') or answer.get('error')}"
            answers[key] = answers.get(key, 0) + 1
        return rows, answers

    base_rows, base_answers = summary(baseline, "real")
    real_rows, real_answers = summary(flood, "real")
    bad_rows, bad_answers = summary(flood, "bad")
    real_stored = stored(Table(), [r[1] for r in real_rows])
    bad_stored = stored(Table(), [r[1] for r in bad_rows])
    base_stored = stored(Table(), [r[1] for r in base_rows])

    print(f"flood against {a.function}: {a.bad} bad-token requests interleaved with {a.real} real "
          f"deliveries, {a.in_flight} in flight; load average before {load_before[0]:.2f} "
          f"{load_before[1]:.2f}, after {load_after[0]:.2f} {load_after[1]:.2f}")
    print()
    print("| run | requests | real stored | bad stored | real p50 (ms) | real p99 (ms) | bad p50 (ms) | bad p99 (ms) | elapsed (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| real alone | {len(base_rows)} | {base_stored} / {len(base_rows)} | - "
          f"| {ms([r[4] for r in base_rows], 0.5)} | {ms([r[4] for r in base_rows], 0.99)} | - | - | - |")
    print(f"| flood | {len(flood)} | {real_stored} / {len(real_rows)} | {bad_stored} / {len(bad_rows)} "
          f"| {ms([r[4] for r in real_rows], 0.5)} | {ms([r[4] for r in real_rows], 0.99)} "
          f"| {ms([r[4] for r in bad_rows], 0.5)} | {ms([r[4] for r in bad_rows], 0.99)} | {elapsed:.1f} |")
    print()
    print(f"answers: real alone {base_answers}; real in the flood {real_answers}; bad {bad_answers}")
    ok = real_stored == len(real_rows) and bad_stored == 0 and base_stored == len(base_rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
