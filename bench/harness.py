#!/usr/bin/env python3
"""Runs function processes under a local Lambda Runtime API and measures them (bench/README.md).

Everything runs on 127.0.0.1 in this one process, on one clock (time.perf_counter_ns):

* a Runtime API emulator: GET .../invocation/next hands out events, POST .../response takes
  the answers; the time of the first GET /next ends the cold start;
* a proxy in front of the local DynamoDB + SQS server (moto) that times and names every call,
  so a request's own work is its Runtime API window minus the time its calls spent in the
  proxy, and the calls per outcome are counted.

usage: harness.py --impl NAME=COMMAND... --moto URL --env-json FILE [--cold N] [--requests N]
       prints one JSON object (all figures) on stdout; progress on stderr.
"""

import argparse
import http.client
import json
import os
import queue
import re
import shlex
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
API = "/2018-06-01/runtime"
TOKEN = "local-dev-token-0123456789"
ID_MARKER = "data%5Bid%5D="
now = time.perf_counter_ns


def log(*args):
    print(*args, file=sys.stderr, flush=True)


class Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real Runtime API and AWS endpoints
    # One write per answer, sent at once: with Nagle's algorithm, a body written after its
    # headers waits for the client's delayed ACK (40 ms), which would count as the client's time.
    disable_nagle_algorithm = True
    wbufsize = 1 << 16

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def body(self):
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))


# --- the Runtime API ----------------------------------------------------------------------


class RuntimeApi:
    def __init__(self):
        self.first_next = None
        self.pid = None
        self.init_cpu_ns = self.init_faults = None
        self.ready = threading.Event()  # the process asked for its first event
        self.spawned = threading.Event()  # self.pid is known
        self.events = queue.Queue()  # (request id, event bytes), None to stop
        self.answers = queue.Queue()  # (request id, kind, body, time received)
        self.sent = {}
        api = self

        class Handler(Quiet):
            def do_GET(self):
                if not self.path.endswith("/invocation/next"):
                    return self.reply(404)
                if api.first_next is None:
                    api.first_next = now()
                    # A fast process asks before Popen has returned its pid; it waits for this
                    # answer meanwhile, so its CPU time stands still.
                    if api.spawned.wait(10):
                        api.init_cpu_ns, api.init_faults = cpu_ns(api.pid), page_faults(api.pid)
                    api.ready.set()
                item = api.events.get()
                if item is None:  # the process is being stopped
                    self.close_connection = True
                    return
                rid, event = item
                deadline = str(int(time.time() * 1000) + 10_000)
                self.reply(
                    200,
                    event,
                    [
                        ("Content-Type", "application/json"),
                        ("Lambda-Runtime-Aws-Request-Id", rid),
                        ("Lambda-Runtime-Deadline-Ms", deadline),
                        ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench"),
                        ("Lambda-Runtime-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0"),
                    ],
                )
                api.sent[rid] = now()

            def do_POST(self):
                body = self.body()
                t = now()
                m = re.match(API + r"/invocation/([^/]+)/(response|error)$", self.path)
                self.reply(202)
                if m:
                    api.answers.put((m.group(1), m.group(2), body, t))
                else:  # init error
                    api.answers.put(("init", "error", body, t))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.address = "127.0.0.1:%d" % self.server.server_address[1]

    def invoke(self, rid, event, timeout=30):
        """Hands out one event; returns (kind, answer body, window in ns)."""
        self.events.put((rid, event))
        got, kind, body, t = self.answers.get(timeout=timeout)
        if got != rid:
            raise RuntimeError(f"answer for {got}, expected {rid}: {body[:300]!r}")
        return kind, body, t - self.sent.pop(rid)

    def close(self):
        for _ in range(4):
            self.events.put(None)
        self.server.shutdown()
        self.server.server_close()


# --- the timing proxy in front of moto ----------------------------------------------------


class Proxy:
    def __init__(self, upstream):
        self.calls = []  # (operation, ns spent from the request's first line to the answer's end)
        host = upstream.removeprefix("http://")
        local = threading.local()
        proxy = self

        class Handler(Quiet):
            def parse_request(self):
                self.t0 = now()  # the request line has just arrived
                return super().parse_request()

            def do_POST(self):
                body = self.body()
                conn = getattr(local, "conn", None) or http.client.HTTPConnection(host)
                local.conn = conn
                headers = {k: v for k, v in self.headers.items()}
                conn.request(self.command, self.path, body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
                target = self.headers.get("X-Amz-Target") or ""
                op = target.rpartition(".")[2] or re.search(rb"Action=(\w+)", body).group(1).decode()
                # Recorded before answering, so it is there when the invocation ends.
                proxy.calls.append((op, now() - self.t0))
                drop = {"transfer-encoding", "content-length", "connection"}
                self.reply(r.status, data, [(k, v) for k, v in r.getheaders() if k.lower() not in drop])

            do_GET = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.endpoint = "http://127.0.0.1:%d" % self.server.server_address[1]

    def take(self):
        calls, self.calls = self.calls, []
        return calls


# --- one function process -----------------------------------------------------------------


def lambda_env(home, **extra):
    """A function's environment as Lambda gives it (its variables, dummy credentials, an empty
    HOME: no ~/.aws files to read) plus the token and `extra`."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bench",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "WEBHOOK_TOKEN": TOKEN,
        **extra,
    }


def spawn(command, api, env, log_path):
    full = dict(env, AWS_LAMBDA_RUNTIME_API=api.address)
    out = open(log_path, "ab")
    proc = subprocess.Popen(command, env=full, stdout=out, stderr=out, close_fds=False)
    api.pid = proc.pid
    api.spawned.set()
    return proc, out


def stop(proc, out):
    proc.kill()
    proc.wait()
    out.close()


def memory(pid):
    """(VmRSS, VmHWM) in KiB: now and the peak so far."""
    status = Path(f"/proc/{pid}/status").read_text()
    get = lambda name: int(re.search(rf"^{name}:\s+(\d+) kB", status, re.M).group(1))  # noqa: E731
    return get("VmRSS"), get("VmHWM")


def cpu_ns(pid):
    """CPU time the process has used so far, all its threads (ns, from the scheduler's own
    accounting: unaffected by time spent waiting or runnable behind other processes)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that just ended
    return total


def page_faults(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[7]) + int(fields[9])  # minflt + majflt


def event_with_id(template, entity_id):
    start = template.index(ID_MARKER) + len(ID_MARKER)
    end = min(i for i in (template.find("&", start), template.find('"', start)) if i != -1)
    return (template[:start] + entity_id + template[end:]).encode()


def invoice_templates():
    paths = sorted((ROOT / "events/iugu").glob("invoice.*.json"))
    return [p.read_text() for p in paths]


def answer_status(kind, body):
    if kind != "response":
        return "runtime error"
    answer = json.loads(body)
    status = answer.get("statusCode")
    if status != 200:
        return str(status)
    inner = answer.get("body") or ""
    try:
        inner = json.loads(inner).get("status", inner)
    except (ValueError, AttributeError):
        pass
    return f"{status} {inner}"


def pct(values, p):
    s = sorted(values)
    return s[round((len(s) - 1) * p)]


def cold_starts(impls, env, runs, logs):
    """Process start to first GET /next, `runs` times each, the implementations interleaved."""
    times = {name: [] for name in impls}
    cpu = {name: [] for name in impls}
    faults = {name: [] for name in impls}
    for run in range(runs):
        for name, command in impls.items():
            api = RuntimeApi()
            t0 = now()
            proc, out = spawn(command, api, env, logs / f"{name}.cold.log")
            if not api.ready.wait(60):
                stop(proc, out)
                raise RuntimeError(f"{name} never asked for an event (see {logs}/{name}.cold.log)")
            times[name].append((api.first_next - t0) / 1e6)
            cpu[name].append(api.init_cpu_ns / 1e6)
            faults[name].append(api.init_faults)
            stop(proc, out)
            api.close()
        log(f"cold start run {run + 1}/{runs}: " + ", ".join(f"{n} {t[-1]:.1f} ms" for n, t in times.items()))
    return {
        name: {
            "median_ms": statistics.median(t),
            "min_ms": min(t),
            "max_ms": max(t),
            "cpu_median_ms": statistics.median(cpu[name]),
            "page_faults_median": statistics.median(faults[name]),
            "runs": t,
        }
        for name, t in times.items()
    }


def moto_client(service, moto_url):
    """A boto3 client of the local server, for the harness's own calls (never timed)."""
    return boto3.client(
        service,
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def queue_drainer(moto_url, queue_url):
    """A function that empties the queue, as the customer's consumer would. moto's SQS scans
    the whole queue on every FIFO send (27 ms per send with 300 messages queued, 97 ms with
    1,000, measured here), so the load run drains it every 50 requests, between invocations:
    that time is moto's and subtracted anyway, but 10,000 requests would otherwise take hours.
    (PurgeQueue is limited to once a minute.)"""
    sqs = moto_client("sqs", moto_url)

    def drain():
        while True:
            got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                return
            entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(got)]
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)

    return drain


def load(name, command, env, proxy, requests, tag, logs, empty_queue):
    """`requests` new notifications through one process: own time per request and memory."""
    api = RuntimeApi()
    proc, out = spawn(command, api, env, logs / f"{name}.load.log")
    try:
        if not api.ready.wait(60):
            raise RuntimeError(f"{name} never asked for an event")
        rss_init = memory(proc.pid)[0]
        templates = invoice_templates()
        own, waited, cpu, rss, answers = [], [], [], [], {}
        proxy.take()
        for i in range(requests):
            event = event_with_id(templates[i % len(templates)], f"{tag}{i:030X}")
            # As the gateway does, a 5xx is retried with the same notification (up to 5 times).
            # On this shared machine moto can answer slower than the SDK's timeouts allow.
            # Every answer is counted; only the one that got a 200 is timed.
            for attempt in range(5):
                c0 = cpu_ns(proc.pid)
                kind, body, window = api.invoke(f"{tag}-{i}-{attempt}", event)
                c1 = cpu_ns(proc.pid)
                status = answer_status(kind, body)
                # A call that timed out after it took effect, then retried, finds the
                # notification stored: "200 duplicate".
                answers[status] = answers.get(status, 0) + 1
                calls = proxy.take()
                if status.startswith("200 "):
                    break
            else:
                raise RuntimeError(f"{name} request {i}: {status}")
            cpu.append((c1 - c0) / 1e3)
            wait = sum(ns for _, ns in calls)
            own.append((window - wait) / 1e3)
            waited.append(wait / 1e3)
            if (i + 1) % 50 == 0:
                empty_queue()
            if (i + 1) % 1000 == 0:
                rss.append(memory(proc.pid)[0])
                log(f"{name}: {i + 1}/{requests} requests, RSS {rss[-1] / 1024:.1f} MiB")
        rss_now, peak = memory(proc.pid)
    finally:
        stop(proc, out)
        api.close()
    return {
        "requests": requests,
        "answers": answers,
        "own_p50_us": pct(own, 0.50),
        "own_p99_us": pct(own, 0.99),
        "waited_p50_us": pct(waited, 0.50),
        "cpu_p50_us": pct(cpu, 0.50),
        "cpu_p99_us": pct(cpu, 0.99),
        "rss_after_init_mib": rss_init / 1024,
        "rss_every_1000_mib": [r / 1024 for r in rss],
        "peak_rss_mib": peak / 1024,
    }


def round_trips(name, command, env, proxy, moto_url, table, tag, logs):
    """Calls per outcome: new, duplicate of a forwarded one, duplicate of a stored one whose
    forwarding never completed (its items' `forwarded_at` removed, as a crash after the store
    leaves them)."""
    dynamodb = moto_client("dynamodb", moto_url)
    api = RuntimeApi()
    proc, out = spawn(command, api, env, logs / f"{name}.trips.log")
    counts = {}
    try:
        if not api.ready.wait(60):
            raise RuntimeError(f"{name} never asked for an event")
        event = event_with_id(invoice_templates()[0], f"{tag}T{0:029X}")
        steps = [("new", "200 stored"), ("duplicate (forwarded)", "200 duplicate"), ("duplicate (pending)", "200 duplicate")]
        for n, (outcome, expected) in enumerate(steps):
            if outcome == "duplicate (pending)":
                unforward(dynamodb, table, f"invoice#{tag}T{0:029X}")
            proxy.take()
            kind, body, _ = api.invoke(f"{tag}-trip-{n}", event)
            status = answer_status(kind, body)
            if status != expected:
                raise RuntimeError(f"{name} {outcome}: {status}: {body[:600]!r}")
            calls = [op for op, _ in proxy.take()]
            counts[outcome] = {"calls": len(calls), "operations": calls}
    finally:
        stop(proc, out)
        api.close()
    return counts


def unforward(dynamodb, table, event_pk):
    """Makes a stored notification look stored but never forwarded, as a crash after the store
    leaves it. Our functions: the entity's head goes back to `forwarded_sequence` 0 (see
    shared/src/aws/table.rs). The baseline handlers' layout: `forwarded_at` off both items."""
    items = dynamodb.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": event_pk}},
    )["Items"]
    heads = [i for i in items if i.get("kind", {}).get("S") == "head"]
    if heads:
        dynamodb.update_item(
            TableName=table,
            Key={"pk": heads[0]["pk"], "sk": heads[0]["sk"]},
            UpdateExpression="SET forwarded_sequence = :zero",
            ExpressionAttributeValues={":zero": {"N": "0"}},
        )
        return
    events = [i for i in items if i.get("kind", {}).get("S") == "event"]
    if len(events) != 1:
        raise RuntimeError(f"expected one event item for {event_pk}, found {len(events)}")
    dedup = {"pk": {"S": "dedup#" + events[0]["dedup_key"]["S"]}, "sk": {"S": "dedup"}}
    for key in (dedup, {"pk": events[0]["pk"], "sk": events[0]["sk"]}):
        dynamodb.update_item(TableName=table, Key=key, UpdateExpression="REMOVE forwarded_at")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--impl", action="append", required=True, help="NAME=COMMAND (first is ours)")
    p.add_argument("--moto", required=True)
    p.add_argument("--env-json", required=True, help="scripts/local_resources.py output")
    p.add_argument("--cold", type=int, default=20)
    p.add_argument("--requests", type=int, default=10_000)
    p.add_argument("--logs", default="bench/out")
    a = p.parse_args()
    impls = dict(spec.split("=", 1) for spec in a.impl)
    impls = {name: shlex.split(cmd) for name, cmd in impls.items()}
    logs = Path(a.logs).resolve()
    logs.mkdir(parents=True, exist_ok=True)
    local = json.loads(Path(a.env_json).read_text())
    proxy = Proxy(a.moto)
    home = logs / "home"
    home.mkdir(exist_ok=True)
    env = lambda_env(
        home,
        AWS_ENDPOINT_URL=proxy.endpoint,
        ALLOWED_SOURCE_IPS="54.207.210.151/32",
        **local["env"],
    )
    result = {"uptime_before": os.getloadavg()}
    result["cold_start"] = cold_starts(impls, env, a.cold, logs)
    result["uptime_after_cold"] = os.getloadavg()
    result["load"], result["round_trips"] = {}, {}
    run_tag = "%08X" % (int(time.time()) & 0xFFFFFFFF)  # fresh ids on every run
    for n, (name, command) in enumerate(impls.items()):
        tag = f"{run_tag}{n:02d}"
        result["round_trips"][name] = round_trips(name, command, env, proxy, a.moto, local["env"]["EVENTS_TABLE"], tag, logs)
        if a.requests:
            empty_queue = queue_drainer(a.moto, local["env"]["EVENTS_QUEUE_URL"])
            empty_queue()
            result["load"][name] = load(name, command, env, proxy, a.requests, tag, logs, empty_queue)
            result["load"][name]["loadavg_after"] = os.getloadavg()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
