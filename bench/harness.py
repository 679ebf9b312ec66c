#!/usr/bin/env python3
"""Runs function processes under a local Lambda Runtime API and measures them (bench/README.md).

Everything runs on 127.0.0.1 in this one process, on one clock (time.perf_counter_ns):

* a Runtime API emulator: GET .../invocation/next hands out events, POST .../response takes
  the answers; the time of the first GET /next ends the cold start;
* a proxy in front of the local DynamoDB + SQS server (moto) that times and names every call,
  so a request's own work is its Runtime API window minus the time its calls spent in the
  proxy, and the calls per outcome are counted;
* for the cold requests (--cold-requests): three such proxies speaking HTTPS, one per service
  (DynamoDB, SQS, Secrets Manager: three hosts, as in AWS), each in front of a local server of
  its own (started by the harness), with a certificate chain made for
  the run and trusted through SSL_CERT_FILE (Rust), AWS_CA_BUNDLE (Python) and
  NODE_EXTRA_CA_CERTS (Node.js); and a CPU quota (cgroup) like a 128 MB function's.

usage: harness.py --impl NAME=COMMAND... --moto URL --env-json FILE [--cold N] [--requests N]
                  [--cold-requests N [--cold-request-impl NAME=COMMAND]... [--cpu-quota Q/P]]
       prints one JSON object (all figures) on stdout; progress on stderr.
       A COMMAND may start with VAR=VALUE words, as in a shell: they go into its environment.
"""

import argparse
import http.client
import json
import os
import queue
import re
import shlex
import ssl
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
        self.on_ready = None  # called at the first GET /next, before it is answered
        self.stopped = threading.Event()  # set by close(): ends an extension's open GET /next
        api = self

        class Handler(Quiet):
            def do_GET(self):
                if self.path.endswith("/extension/event/next"):
                    # An extension subscribed to no event (the functions' shutdown hook) is
                    # never answered, as in Lambda.
                    api.stopped.wait()
                    self.close_connection = True
                    return
                if not self.path.endswith("/invocation/next"):
                    return self.reply(404)
                if api.first_next is None:
                    api.first_next = now()
                    # A fast process asks before Popen has returned its pid; it waits for this
                    # answer meanwhile, so its CPU time stands still.
                    if api.spawned.wait(10):
                        api.init_cpu_ns, api.init_faults = cpu_ns(api.pid), page_faults(api.pid)
                    if api.on_ready:
                        api.on_ready()
                    api.ready.set()
                item = api.events.get()
                if item is None:  # the process is being stopped
                    self.close_connection = True
                    return
                rid, event = item
                deadline = str(int(time.time() * 1000) + 10_000)
                # Before the write: once the event is written, the process may make its first
                # call (recorded by a proxy thread) before this thread runs again.
                api.sent[rid] = now()
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

            def do_POST(self):
                body = self.body()
                t = now()
                if self.path.endswith("/extension/register"):
                    # The Extensions API's answer (the functions register a no-op extension).
                    answer = b'{"functionName":"bench","functionVersion":"$LATEST","handler":"bootstrap"}'
                    return self.reply(
                        200,
                        answer,
                        [("Content-Type", "application/json"), ("Lambda-Extension-Identifier", "bench-extension")],
                    )
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
        self.stopped.set()
        for _ in range(4):
            self.events.put(None)
        self.server.shutdown()
        self.server.server_close()


# --- the timing proxy in front of moto ----------------------------------------------------


def quiet_error(request, client_address):
    """A client that drops its connection (a process being stopped) is no error worth a
    traceback; anything else is printed as socketserver would."""
    if not isinstance(sys.exc_info()[1], OSError):  # ssl.SSLError and ConnectionResetError are
        import traceback

        traceback.print_exc()


class Proxy:
    """`tls`: an ssl.SSLContext to serve HTTPS with (the handshake is done on the connection's
    own thread, and is not part of any call's time: it is the client's cost, as in AWS)."""

    def __init__(self, upstream, tls=None):
        self.calls = []  # (operation, ns spent from the request's first line to the answer's end)
        self.connections = 0  # accepted so far (each a TCP, and with `tls` a TLS, handshake)
        self.spans = []  # (start, end) of every call, on the harness's clock
        count = threading.Lock()
        host = upstream.removeprefix("http://")
        local = threading.local()
        proxy = self

        class Handler(Quiet):
            def setup(self):
                with count:
                    proxy.connections += 1
                if tls is not None:
                    self.request.do_handshake()
                super().setup()

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
                t1 = now()
                proxy.calls.append((op, t1 - self.t0))
                proxy.spans.append((self.t0, t1))
                drop = {"transfer-encoding", "content-length", "connection"}
                self.reply(r.status, data, [(k, v) for k, v in r.getheaders() if k.lower() not in drop])

            do_GET = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = quiet_error
        scheme = "http"
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True, do_handshake_on_connect=False)
            scheme = "https"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.endpoint = "%s://127.0.0.1:%d" % (scheme, self.server.server_address[1])

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


ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def spawn(command, api, env, log_path, preexec=None):
    """Starts `command` (its leading VAR=VALUE words go into its environment, as in a shell)
    as a function process of `api`; `preexec` runs in the child before exec."""
    command = list(command)
    full = dict(env, AWS_LAMBDA_RUNTIME_API=api.address)
    while command and ASSIGNMENT.match(command[0]):
        name, _, value = command.pop(0).partition("=")
        full[name] = value
    out = open(log_path, "ab")
    proc = subprocess.Popen(command, env=full, stdout=out, stderr=out, close_fds=False, preexec_fn=preexec)
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


# --- the cold request: HTTPS endpoints and a CPU quota -------------------------------------


def make_certificates(directory):
    """A root, an intermediate and a server certificate for 127.0.0.1 and localhost, made for
    this run: RSA 2048 and SHA-256, a chain of the same shape as AWS endpoints' (Amazon Root
    CA 1 -> Amazon RSA 2048 M0x -> the endpoint), so that the client's checks cost the same.
    Returns (root PEM path, server SSLContext)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    now_utc = datetime.datetime.now(datetime.timezone.utc)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def certificate(subject, key, issuer, issuer_key, ca, extra=()):
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(name(issuer))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now_utc - datetime.timedelta(hours=1))
            .not_valid_after(now_utc + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=not ca, key_encipherment=not ca, key_cert_sign=ca, crl_sign=ca,
                    content_commitment=False, data_encipherment=False, key_agreement=False,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
        )
        for extension in extra:
            builder = builder.add_extension(extension, critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    keys = [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(3)]
    root_key, mid_key, leaf_key = keys
    root = certificate("bench root CA", root_key, "bench root CA", root_key, True)
    mid = certificate("bench intermediate CA", mid_key, "bench root CA", root_key, True)
    leaf = certificate(
        "127.0.0.1", leaf_key, "bench intermediate CA", mid_key, False,
        [
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
        ],
    )
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)  # noqa: E731
    (directory / "root.pem").write_bytes(pem(root))
    (directory / "chain.pem").write_bytes(pem(leaf) + pem(mid))
    (directory / "key.pem").write_bytes(
        leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "chain.pem", directory / "key.pem")
    return directory / "root.pem", context


class CpuLimitUnavailable(Exception):
    pass


class CpuLimit:
    """A CPU quota for the measured process, in a cgroup of its own: QUOTA µs of CPU time every
    PERIOD µs, all its threads together (the kernel's CFS bandwidth control). cgroup v2's
    `cpu.max` where the cpu controller is available to us; else cgroup v1's
    `cpu.cfs_quota_us` and `cpu.cfs_period_us`, the same mechanism under its older names.
    Needs root. The process enters the cgroup between fork and exec (`enter`), so the quota
    holds from its first instruction; `limit()` and `unlimit()` switch the quota at any time."""

    def __init__(self, quota_us, period_us):
        self.quota_us, self.period_us = quota_us, period_us
        name = f"bench-{os.getpid()}"
        v2 = Path("/sys/fs/cgroup")
        v1 = Path("/sys/fs/cgroup/cpu")
        controllers = v2 / "cgroup.controllers"
        try:
            if controllers.exists() and "cpu" in controllers.read_text().split():
                if "cpu" not in (v2 / "cgroup.subtree_control").read_text().split():
                    (v2 / "cgroup.subtree_control").write_text("+cpu")
                self.kind, self.dir = "v2", v2 / name
                self.dir.mkdir(exist_ok=True)
            elif (v1 / "cpu.cfs_quota_us").exists():
                self.kind, self.dir = "v1", v1 / name
                self.dir.mkdir(exist_ok=True)
                (self.dir / "cpu.cfs_period_us").write_text(str(period_us))
            else:
                raise CpuLimitUnavailable("no cpu controller: neither cgroup v2 with cpu nor cgroup v1's cpu hierarchy")
        except OSError as e:
            raise CpuLimitUnavailable(f"cannot make a cpu cgroup: {e}") from e
        self.procs = os.open(self.dir / "cgroup.procs", os.O_WRONLY)
        self.unlimit()

    def describe(self):
        if self.kind == "v2":
            return f"cgroup v2 cpu.max = \"{self.quota_us} {self.period_us}\""
        return f"cgroup v1 cpu.cfs_quota_us = {self.quota_us}, cpu.cfs_period_us = {self.period_us} (v2's cpu.max = \"{self.quota_us} {self.period_us}\")"

    def limit(self):
        if self.kind == "v2":
            (self.dir / "cpu.max").write_text(f"{self.quota_us} {self.period_us}")
        else:
            (self.dir / "cpu.cfs_quota_us").write_text(str(self.quota_us))

    def unlimit(self):
        if self.kind == "v2":
            (self.dir / "cpu.max").write_text(f"max {self.period_us}")
        else:
            (self.dir / "cpu.cfs_quota_us").write_text("-1")

    def enter(self):
        """For Popen's preexec_fn: moves the child (between fork and exec) into the cgroup.
        One write(2) on a descriptor opened beforehand: nothing that could wait on a lock."""
        os.write(self.procs, b"0")

    def throttled_ms(self):
        stat = dict(line.split() for line in (self.dir / "cpu.stat").read_text().splitlines() if line.strip())
        if "throttled_usec" in stat:
            return int(stat["throttled_usec"]) / 1e3
        return int(stat.get("throttled_time", 0)) / 1e6

    def close(self):
        os.close(self.procs)
        try:
            self.dir.rmdir()
        except OSError:
            pass


# What a 128 MB function gets: 128 / 1,769 of a vCPU (Lambda gives one vCPU at 1,769 MB), over
# a 20 ms period: the throttling interval observed on Lambda (pwrdrvr/lambda-dispatch, issue
# 246: a function that used its share early in an interval was paused to the interval's end).
LAMBDA_128MB_PERIOD_US = 20_000
LAMBDA_128MB_QUOTA_US = round(LAMBDA_128MB_PERIOD_US * 128 / 1769)


SERVICES = ("dynamodb", "sqs", "secretsmanager")


def https_fronts(upstreams, scratch):
    """One HTTPS timing proxy per service, in front of `upstreams[service]` (a moto URL each),
    and the environment that points a function at them and makes it trust their certificate."""
    root, context = make_certificates(scratch / "tls")
    fronts = {service: Proxy(upstreams[service], tls=context) for service in SERVICES}
    env = {
        "AWS_ENDPOINT_URL_DYNAMODB": fronts["dynamodb"].endpoint,
        "AWS_ENDPOINT_URL_SQS": fronts["sqs"].endpoint,
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": fronts["secretsmanager"].endpoint,
        "SSL_CERT_FILE": str(root),  # Rust (webhook_aws::trust)
        "AWS_CA_BUNDLE": str(root),  # Python (botocore)
        "NODE_EXTRA_CA_CERTS": str(root),  # Node.js
    }
    return fronts, env


MODES = ("full", "limited", "limited after init")


def busy(fronts, start, end):
    """How long, between `start` and `end`, at least one call was waiting on the local server
    (the union of the calls' spans: calls made at the same time count once)."""
    spans = sorted((max(a, start), min(b, end)) for f in fronts.values() for a, b in f.spans if b > start and a < end)
    total, reach = 0, start
    for a, b in spans:
        if b > reach:
            total += b - max(a, reach)
            reach = b
    return total


def cold_requests(impls, env, runs, logs, fronts, limit, empty_queue, warm=5):
    """Per implementation and CPU mode, `runs` times: a process started with a notification
    already waiting (as the invocation that woke it), and `warm` more after it. Records the
    time from process start to the first answer, to the first GET /next (init), the first
    request's window (event handed out -> answer), the later requests' windows, the CPU time
    used by the first answer, and the HTTPS connections opened during init and by the first
    request. Modes: full CPU; `limited` (the quota from exec on); `limited after init` (full
    CPU until the first GET /next, then the quota: Lambda runs init at full speed)."""
    modes = [m for m in MODES if m == "full" or limit is not None]
    samples = {mode: {name: [] for name in impls} for mode in modes}
    redone = {mode: {name: [] for name in impls} for mode in modes}
    templates = invoice_templates()
    tag = "%08X" % (int(time.time()) & 0xFFFFFFFF)
    n = 0
    for run in range(runs):
        for mode in modes:
            for name, command in impls.items():
                # A run whose first answer is not "200 stored" (the local server or its HTTPS front
                # dropped a connection) is started over, at most twice, and counted.
                for attempt in range(3):
                    n += 1
                    api = RuntimeApi()
                    counts = lambda: {s: f.connections for s, f in fronts.items()}  # noqa: E731
                    before = counts()
                    at_ready = {}

                    def ready(api=api, mode=mode, at_ready=at_ready):
                        at_ready.update(counts())
                        for front in fronts.values():
                            front.take()  # the calls made during init
                        if mode == "limited after init":
                            limit.limit()

                    api.on_ready = ready
                    if mode == "limited":
                        limit.limit()
                    elif limit is not None:
                        limit.unlimit()
                    events = [event_with_id(templates[i % len(templates)], f"{tag}C{n:06d}{i:02d}") for i in range(warm + 1)]
                    api.events.put(("first", events[0]))
                    throttled0 = limit.throttled_ms() if limit is not None else 0
                    t0 = now()
                    proc, out = spawn(command, api, env, logs / f"{name}.coldreq.log",
                                      preexec=limit.enter if limit is not None and mode != "full" else None)
                    failed = None
                    try:
                        got, kind, body, t1 = api.answers.get(timeout=300)
                        first_cpu = cpu_ns(proc.pid)
                        after_first = counts()
                        waited = sum(ns for front in fronts.values() for _, ns in front.take())
                        status = answer_status(kind, body)
                        if got != "first" or status != "200 stored":
                            failed = f"first request: {status}: {body[:300]!r}"
                        windows, own = [], []
                        for i in range(1, warm + 1):
                            if failed:
                                break
                            kind, body, window = api.invoke(f"warm-{i}", events[i], timeout=300)
                            if answer_status(kind, body) != "200 stored":
                                failed = f"request {i}: {body[:300]!r}"
                            windows.append(window / 1e6)
                            own.append((window - sum(ns for f in fronts.values() for _, ns in f.take())) / 1e6)
                    finally:
                        stop(proc, out)
                        api.close()
                        if limit is not None:
                            limit.unlimit()
                    empty_queue()
                    if failed:
                        log(f"{name} ({mode}), run {run + 1}: {failed}; starting it over")
                        redone[mode][name].append(failed)
                        if attempt == 2:
                            raise RuntimeError(f"{name} ({mode}): three runs in a row failed: {failed}")
                        continue
                    samples[mode][name].append({
                        "first_response_ms": (t1 - t0) / 1e6,
                        "init_ms": (api.first_next - t0) / 1e6,
                        "init_waiting_ms": busy(fronts, t0, api.first_next) / 1e6,
                        "first_request_ms": (t1 - api.sent["first"]) / 1e6,
                        "first_request_own_ms": (t1 - api.sent.pop("first") - waited) / 1e6,
                        "later_request_ms": statistics.median(windows),
                        "later_request_own_ms": statistics.median(own),
                        "first_response_cpu_ms": first_cpu / 1e6,
                        "init_cpu_ms": api.init_cpu_ns / 1e6,
                        "connections_init": sum(at_ready[s] - before[s] for s in before),
                        "connections_first_request": sum(after_first[s] - at_ready[s] for s in before),
                        "throttled_ms": (limit.throttled_ms() - throttled0) if limit is not None else 0,
                    })
                    break
            log(f"cold requests run {run + 1}/{runs} ({mode}): " + ", ".join(
                f"{name} {samples[mode][name][-1]['first_response_ms']:.1f} ms" for name in impls))
    result = {}
    for mode, by_name in samples.items():
        result[mode] = {}
        for name, rows in by_name.items():
            med = lambda key: statistics.median(r[key] for r in rows)  # noqa: E731
            result[mode][name] = {
                "runs": len(rows),
                **{key: med(key) for key in rows[0]},
                "first_response_ms_min": min(r["first_response_ms"] for r in rows),
                "first_response_ms_max": max(r["first_response_ms"] for r in rows),
                "redone": redone[mode][name],
                "samples": rows,
            }
    return result


class LocalServer:
    """scripts/moto_server.py on a free loopback port with template.yaml's resources
    (scripts/local_resources.py), for the tools that need one of their own (cold_starts.py);
    bench/run.sh starts its own. Stops the server on exit."""

    def __init__(self, scratch):
        self.scratch = Path(scratch)

    def __enter__(self):
        import socket

        py = sys.executable
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(self.scratch / "moto.log", "ab")
        self.proc = subprocess.Popen([py, str(ROOT / "scripts/moto_server.py"), str(port)], stdout=self.log, stderr=self.log)
        for _ in range(100):
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/moto-api/")
                break
            except OSError:
                time.sleep(0.1)
        out = self.scratch / "local.json"
        subprocess.run([py, str(ROOT / "scripts/local_resources.py"), "--endpoint", self.url, "--out", str(out)],
                       check=True, stdout=subprocess.DEVNULL, stderr=self.log)
        self.local = json.loads(out.read_text())
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()
        self.log.close()


class LocalServers:
    """One local server per service (DynamoDB, SQS, Secrets Manager), each with template.yaml's
    resources, as AWS serves them from three hosts: three calls made at once are answered at
    once, where one moto process (one Python interpreter) answers them about one at a time.
    `urls[service]`, and `env`: the function variables naming each service's resources."""

    def __init__(self, scratch):
        self.servers = {service: LocalServer(Path(scratch) / service) for service in SERVICES}

    def __enter__(self):
        try:
            for server in self.servers.values():
                server.scratch.mkdir(parents=True, exist_ok=True)
                server.__enter__()
        except BaseException:
            self.__exit__()
            raise
        self.urls = {service: server.url for service, server in self.servers.items()}
        local = {service: server.local["env"] for service, server in self.servers.items()}
        self.env = {
            "EVENTS_TABLE": local["dynamodb"]["EVENTS_TABLE"],
            "EVENTS_QUEUE_URL": local["sqs"]["EVENTS_QUEUE_URL"],
            **{k: v for k, v in local["secretsmanager"].items() if k.endswith("_SECRET_ID")},
        }
        return self

    def __exit__(self, *exc):
        for server in self.servers.values():
            if hasattr(server, "proc"):
                server.__exit__()


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
    shared/aws/src/table.rs). The baseline handlers' layout: `forwarded_at` off both items."""
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
    p.add_argument("--cold-requests", type=int, default=0, help="runs of the cold-request measure (0: none)")
    p.add_argument("--cold-request-impl", action="append", default=[],
                   help="NAME=COMMAND measured in the cold requests only, after the --impl ones")
    p.add_argument("--cold-request-impls", default="",
                   help="comma-separated --impl names measured in the cold requests (default: all)")
    p.add_argument("--cpu-quota", default=f"{LAMBDA_128MB_QUOTA_US}/{LAMBDA_128MB_PERIOD_US}",
                   help="QUOTA/PERIOD in µs for the limited cold requests ('' for none)")
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
    if a.cold_requests:
        result["cold_request"] = cold_request_phase(a, impls, logs, home)
    print(json.dumps(result, indent=1))


def cold_request_phase(a, impls, logs, home):
    """The cold requests over HTTPS (see `cold_requests`), with their context."""
    extra = dict(spec.split("=", 1) for spec in a.cold_request_impl)
    chosen = [n for n in a.cold_request_impls.split(",") if n] or list(impls)
    all_impls = {name: impls[name] for name in chosen}
    all_impls.update({name: shlex.split(cmd) for name, cmd in extra.items()})
    with LocalServers(logs / "servers") as servers:
        return cold_request_runs(a, all_impls, servers, logs, home)


def cold_request_runs(a, all_impls, servers, logs, home):
    fronts, tls_env = https_fronts(servers.urls, logs)
    env = lambda_env(home, ALLOWED_SOURCE_IPS="54.207.210.151/32", **servers.env, **tls_env)
    limit, why = None, None
    if a.cpu_quota:
        quota, _, period = a.cpu_quota.partition("/")
        try:
            limit = CpuLimit(int(quota), int(period))
        except CpuLimitUnavailable as e:
            why = str(e)
            log(f"cold requests: no CPU limit ({why}); measuring at full CPU only")
    empty_queue = queue_drainer(servers.urls["sqs"], servers.env["EVENTS_QUEUE_URL"])
    empty_queue()
    loadavg = {"before": os.getloadavg()}
    try:
        measured = cold_requests(all_impls, env, a.cold_requests, logs, fronts, limit, empty_queue)
    finally:
        if limit is not None:
            limit.close()
    loadavg["after"] = os.getloadavg()
    return {
        "modes": measured,
        "limit": limit.describe() if limit is not None else None,
        "limit_unavailable": why,
        "quota": a.cpu_quota,
        "loadavg": loadavg,
        "impls": list(all_impls),
    }


if __name__ == "__main__":
    main()
