#!/usr/bin/env python3
"""Cold starts only, for comparing builds or settings quickly (bench/README.md, "Size").

Runs each command RUNS times, interleaved, under harness.py's Runtime API emulator, and prints
the median time from process start to its first GET /next, the fastest run, and the median CPU
time and page faults by then. It starts a local server of its own (moto, with template.yaml's
resources), since a function reads its webhook secret and warms its connections during init.

With --first-request it measures the first request after a cold start instead (harness.py's
cold requests: a local server per service, each behind HTTPS, at full CPU and under a 128 MB
function's CPU quota; needs root for the quota): start -> first answer, the first request, the next ones.

usage: bench/cold_starts.py [--first-request] RUNS NAME=COMMAND [NAME=COMMAND ...]
  e.g. .venv/bin/python bench/cold_starts.py 30 before=/tmp/invoices.old after=target/release/invoices
       .venv/bin/python bench/cold_starts.py --first-request 10 \\
           "warm=target/release/invoices" "cold=WARM_UP_MS=0 target/release/invoices"
  A COMMAND may start with VAR=VALUE words (its environment, as in a shell).
"""

import json
import os
import shlex
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402


def main():
    args = sys.argv[1:]
    first_request = "--first-request" in args
    args = [a for a in args if a != "--first-request"]
    if len(args) < 2:
        sys.exit(__doc__)
    runs = int(args[0])
    impls = {}
    for spec in args[1:]:
        name, _, command = spec.partition("=")
        impls[name] = shlex.split(command)
    scratch = Path(tempfile.mkdtemp(prefix="cold-starts-"))
    (scratch / "home").mkdir()
    if first_request:
        with harness.LocalServers(scratch / "servers") as servers:
            first_requests(runs, impls, scratch, servers)
        return
    with harness.LocalServer(scratch) as server:
        variables = dict(server.local["env"], ALLOWED_SOURCE_IPS="54.207.210.151/32")
        before = os.getloadavg()
        env = harness.lambda_env(scratch / "home", AWS_ENDPOINT_URL=server.url, **variables)
        result = harness.cold_starts(impls, env, runs, scratch)
    print(f"{runs} runs each; load average before {before[0]:.2f}, after {os.getloadavg()[0]:.2f}")
    print("| command | median (ms) | fastest (ms) | CPU by then, median (ms) | page faults |")
    print("|---|---|---|---|---|")
    for name, r in result.items():
        print(
            f"| {name} | {r['median_ms']:.2f} | {r['min_ms']:.2f} | {r['cpu_median_ms']:.2f} "
            f"| {r['page_faults_median']:.0f} |"
        )


def first_requests(runs, impls, scratch, servers):
    """The cold requests of harness.py, with a local server per service (harness.LocalServers)."""
    variables = dict(servers.env, ALLOWED_SOURCE_IPS="54.207.210.151/32")
    before = os.getloadavg()
    fronts, tls_env = harness.https_fronts(servers.urls, scratch)
    env = harness.lambda_env(scratch / "home", **variables, **tls_env)
    try:
        limit = harness.CpuLimit(harness.LAMBDA_128MB_QUOTA_US, harness.LAMBDA_128MB_PERIOD_US)
    except harness.CpuLimitUnavailable as e:
        print(f"no CPU limit: {e}", file=sys.stderr)
        limit = None
    drain = harness.queue_drainer(servers.urls["sqs"], variables["EVENTS_QUEUE_URL"])
    try:
        result = harness.cold_requests(impls, env, runs, scratch, fronts, limit, drain)
    finally:
        if limit is not None:
            limit.close()
    (scratch / "cold_requests.json").write_text(json.dumps(result, indent=1))
    print(f"{runs} runs each; load average before {before[0]:.2f}, after {os.getloadavg()[0]:.2f}; "
          f"CPU limit: {limit.describe() if limit else 'none'}; every figure in {scratch}/cold_requests.json")
    print("| command | CPU | start → first response, median (ms) | init: all / waiting on the local server (ms) "
          "| first request: window / own (ms) | next requests: window / own (ms) "
          "| HTTPS connections: init / first request |")
    print("|---|---|---|---|---|---|---|")
    for mode, by_name in result.items():
        for name, m in by_name.items():
            print(f"| {name} | {mode} | {m['first_response_ms']:.1f} | {m['init_ms']:.1f} / {m['init_waiting_ms']:.1f} "
                  f"| {m['first_request_ms']:.1f} / {m['first_request_own_ms']:.1f} "
                  f"| {m['later_request_ms']:.1f} / {m['later_request_own_ms']:.1f} "
                  f"| {m['connections_init']:.0f} / {m['connections_first_request']:.0f} |")
    for mode, by_name in result.items():
        for name, m in by_name.items():
            for why in m["redone"]:
                print(f"- {name} ({mode}): a run started over: {why}")


if __name__ == "__main__":
    main()
