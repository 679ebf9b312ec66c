#!/usr/bin/env python3
"""Cold starts only, for comparing builds or settings quickly (bench/README.md, "Build profile").

Runs each command RUNS times, interleaved, under harness.py's Runtime API emulator, and prints
the median time from process start to its first GET /next, the fastest run, and the median CPU
time and page faults by then. No local server is needed: the functions build their clients at
start-up but make no call before the first event.

usage: bench/cold_starts.py RUNS NAME=COMMAND [NAME=COMMAND ...]
  e.g. .venv/bin/python bench/cold_starts.py 30 before=/tmp/invoices.old after=target/release/invoices
"""

import os
import shlex
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    runs = int(sys.argv[1])
    impls = {}
    for spec in sys.argv[2:]:
        name, _, command = spec.partition("=")
        impls[name] = shlex.split(command)
    scratch = Path(tempfile.mkdtemp(prefix="cold-starts-"))
    (scratch / "home").mkdir()
    env = harness.lambda_env(
        scratch / "home",
        EVENTS_TABLE="events",
        EVENTS_QUEUE_URL="https://sqs.us-east-1.amazonaws.com/123456789012/events.fifo",
    )
    before = os.getloadavg()
    result = harness.cold_starts(impls, env, runs, scratch)
    print(f"{runs} runs each; load average before {before[0]:.2f}, after {os.getloadavg()[0]:.2f}")
    print("| command | median (ms) | fastest (ms) | CPU by then, median (ms) | page faults |")
    print("|---|---|---|---|---|")
    for name, r in result.items():
        print(
            f"| {name} | {r['median_ms']:.2f} | {r['min_ms']:.2f} | {r['cpu_median_ms']:.2f} "
            f"| {r['page_faults_median']:.0f} |"
        )


if __name__ == "__main__":
    main()
