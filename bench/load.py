#!/usr/bin/env python3
"""Many function processes against the local server at once (bench/README.md, "Load run").

For each process count in --procs: starts that many function processes (the Lambda function
exactly as deployed, `webhook_lambda::runtime::serve`), all asking one local Runtime API for
events (as Lambda hands a function's invocations to its execution environments), hands out
--requests new notifications (distinct invoices) as fast as the processes take them, and
measures:

* throughput: requests answered 200 a second, first event handed out to last answer;
* the function processes' own CPU per request (their CPU time, all threads, over the step,
  divided by the requests) and their share of the cores;
* the queue is consumed as it fills (receive, delete), as the customer's consumer does;
* each local server's CPU (one moto process per service, `harness.LocalServers`, as AWS serves
  them from three hosts) as a share of one core: a Python server answers one call at a time,
  so one at about 100 % is the limit of the run, not the function.

Everything is on this machine's cores: the processes, the local servers and this script share
them, so the figures show where the time goes, not what AWS would sustain.

usage: load.py --function 'PATH invoices' [--procs 1,2,4,8,16] [--requests 1500]
       prints a markdown table on stdout; progress on stderr.
"""

import argparse
import json
import os
import queue
import re
import shlex
import sys
import tempfile
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402  (bench/harness.py: the local servers, a function's environment)

now = time.perf_counter_ns
TICK_NS = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def process_cpu_ns(pid):
    """CPU time of the whole process so far, the threads that have ended included (a server's
    thread per connection ends with it): utime + stime of /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) * TICK_NS


class SharedRuntimeApi:
    """One Runtime API for many processes: each GET /next takes the next event of one queue."""

    def __init__(self):
        self.events = queue.Queue()  # (request id, event bytes), None to stop
        self.answers = queue.Queue()  # (request id, kind, body)
        self.waiting = 0  # processes blocked in GET /next (ready for an event)
        lock = threading.Lock()
        api = self

        class Handler(harness.Quiet):
            def do_GET(self):
                if not self.path.endswith("/invocation/next"):
                    return self.reply(404)
                with lock:
                    api.waiting += 1
                item = api.events.get()
                with lock:
                    api.waiting -= 1
                if item is None:
                    self.close_connection = True
                    return
                rid, event = item
                deadline = str(int(time.time() * 1000) + 30_000)
                self.reply(200, event, [
                    ("Content-Type", "application/json"),
                    ("Lambda-Runtime-Aws-Request-Id", rid),
                    ("Lambda-Runtime-Deadline-Ms", deadline),
                    ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:load"),
                    ("Lambda-Runtime-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0"),
                ])

            def do_POST(self):
                body = self.body()
                m = re.match(harness.API + r"/invocation/([^/]+)/(response|error)$", self.path)
                self.reply(202)
                api.answers.put((m.group(1), m.group(2), body) if m else ("init", "error", body))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.address = "127.0.0.1:%d" % self.server.server_address[1]
        self.pid = None  # harness.spawn sets these; unused here
        self.spawned = threading.Event()

    def close(self, processes):
        for _ in range(processes):
            self.events.put(None)
        self.server.shutdown()
        self.server.server_close()


def busy_ns():
    """(busy, total) CPU time of the whole machine so far, all cores (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields) - idle) * TICK_NS, sum(fields) * TICK_NS


class Consumer:
    """Receives and deletes what the queue holds while a step runs, as the customer's consumer
    does: the local server's cost per send grows with the messages a queue holds (moto builds
    the queue's attributes, message counts included, on every SendMessage)."""

    def __init__(self, url, queue_url):
        self.sqs = harness.moto_client("sqs", url)
        self.queue_url = queue_url
        self.stopping = threading.Event()
        self.received = 0
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopping.is_set():
            got = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                self.stopping.wait(0.05)
                continue
            entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(got)]
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
            self.received += len(got)

    def stop(self):
        self.stopping.set()
        self.thread.join()


def fresh_queue(servers, name):
    """A FIFO queue of its own for one step, made as template.yaml's (high throughput)."""
    sqs = harness.moto_client("sqs", servers.urls["sqs"])
    return sqs.create_queue(QueueName=f"{name}.fifo", Attributes={
        "FifoQueue": "true",
        "ContentBasedDeduplication": "false",
        "DeduplicationScope": "messageGroup",
        "FifoThroughputLimit": "perMessageGroupId",
    })["QueueUrl"]


def step(command, env, procs, requests, tag, servers, logs):
    queue_url = fresh_queue(servers, f"load-{tag}")
    env = dict(env, EVENTS_QUEUE_URL=queue_url)
    consumer = Consumer(servers.urls["sqs"], queue_url)
    api = SharedRuntimeApi()
    started = [harness.spawn(command, api, env, logs / f"load-{procs}.log") for _ in range(procs)]
    try:
        deadline = time.time() + 60
        while api.waiting < procs:
            if time.time() > deadline:
                raise RuntimeError(f"{procs} processes: only {api.waiting} asked for an event")
            time.sleep(0.05)
        templates = harness.invoice_templates()
        pids = [p.pid for p, _ in started]
        server_pids = {s: srv.proc.pid for s, srv in servers.servers.items()}
        f0 = sum(process_cpu_ns(pid) for pid in pids)
        s0 = {s: process_cpu_ns(pid) for s, pid in server_pids.items()}
        me0 = time.process_time_ns()
        m0 = busy_ns()
        load0 = os.getloadavg()
        t0 = now()
        for i in range(requests):
            event = harness.event_with_id(templates[i % len(templates)], f"{tag}{i:028X}")
            api.events.put((f"{tag}-{i}", event))
        answers = {}
        for _ in range(requests):
            _, kind, body = api.answers.get(timeout=300)
            status = harness.answer_status(kind, body)
            answers[status] = answers.get(status, 0) + 1
        t1 = now()
        f1 = sum(process_cpu_ns(pid) for pid in pids)
        s1 = {s: process_cpu_ns(pid) for s, pid in server_pids.items()}
        me1 = time.process_time_ns()
        m1 = busy_ns()
    finally:
        consumer.stop()
        api.close(procs)
        for proc, out in started:
            harness.stop(proc, out)
    wall = (t1 - t0) / 1e9
    ok = sum(n for status, n in answers.items() if status.startswith("200 "))
    return {
        "procs": procs,
        "requests": requests,
        "answers": answers,
        "seconds": wall,
        "per_second": ok / wall,
        "function_cpu_us_per_request": (f1 - f0) / 1e3 / requests,
        "function_cores": (f1 - f0) / 1e9 / wall,
        "server_core_share": {s: (s1[s] - s0[s]) / 1e9 / wall for s in s0},
        "script_cores": (me1 - me0) / 1e9 / wall,
        "machine_busy": (m1[0] - m0[0]) / max(1, m1[1] - m0[1]),
        "loadavg_before": load0,
        "loadavg_after": os.getloadavg(),
    }


def table(results):
    rows = [
        "| processes | requests | answers | seconds | requests/s | function CPU per request (µs) "
        "| function processes (cores) | DynamoDB server (% of a core) | SQS server (% of a core) "
        "| this script: Runtime API and the queue's consumer (cores) | all cores busy (%) | load average after (1 min) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        answers = ", ".join(f"{n} {s}" for s, n in sorted(r["answers"].items()))
        rows.append(
            f"| {r['procs']} | {r['requests']} | {answers} | {r['seconds']:.1f} | {r['per_second']:.0f} "
            f"| {r['function_cpu_us_per_request']:.0f} | {r['function_cores']:.2f} "
            f"| {100 * r['server_core_share']['dynamodb']:.0f} | {100 * r['server_core_share']['sqs']:.0f} "
            f"| {r['script_cores']:.2f} | {100 * r['machine_busy']:.0f} | {r['loadavg_after'][0]:.2f} |"
        )
    return "\n".join(rows)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--function", required=True, help="the function's command line")
    p.add_argument("--procs", default="1,2,4,8,16")
    p.add_argument("--requests", type=int, default=1500)
    p.add_argument("--logs", default="bench/out/load")
    a = p.parse_args()
    command = shlex.split(a.function)
    logs = Path(a.logs).resolve()
    logs.mkdir(parents=True, exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory() as scratch, harness.LocalServers(scratch) as servers:
        home = Path(scratch) / "home"
        home.mkdir()
        env = harness.lambda_env(
            home,
            ALLOWED_SOURCE_IPS="54.207.210.151/32",
            AWS_ENDPOINT_URL_DYNAMODB=servers.urls["dynamodb"],
            AWS_ENDPOINT_URL_SQS=servers.urls["sqs"],
            AWS_ENDPOINT_URL_SECRETS_MANAGER=servers.urls["secretsmanager"],
            **servers.env,
        )
        run_tag = "%08X" % (int(time.time()) & 0xFFFFFFFF)
        for n, procs in enumerate(int(x) for x in a.procs.split(",")):
            r = step(command, env, procs, a.requests, f"{run_tag}{n:02d}", servers, logs)
            harness.log(json.dumps(r))
            results.append(r)
    print(table(results))
    (logs / "load.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
