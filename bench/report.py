#!/usr/bin/env python3
"""Turns one bench/run.sh run (bench/out/*.json, *.txt) into the README's markdown table.

usage: report.py OUT_DIR   (prints markdown on stdout)
"""

import json
import re
import sys
from pathlib import Path

out = Path(sys.argv[1])
r = json.loads((out / "harness.json").read_text())
meta = json.loads((out / "meta.json").read_text())
# One line per run of the in-process bench (run.sh runs it OVERHEAD_RUNS times): the table
# takes the run with the median p99, and gives the range of p99 over the runs beside it.
overhead_runs = [dict(re.findall(r"(\w+)=([\d.]+)", line))
                 for line in (out / "overhead.txt").read_text().splitlines() if line.startswith("overhead ")]
overhead_runs.sort(key=lambda run: float(run["p99_us"]))
overhead = overhead_runs[len(overhead_runs) // 2]
spread = (f"; median of {len(overhead_runs)} runs by p99, p99 {float(overhead_runs[0]['p99_us']):.1f}–"
          f"{float(overhead_runs[-1]['p99_us']):.1f} over them" if len(overhead_runs) > 1 else "")
sizes = dict(line.split() for line in (out / "sizes.txt").read_text().splitlines() if line.strip())
impls = list(r["cold_start"])  # ours first
ours, others = impls[0], impls[1:]
labels = {"rust": "Rust (ours)", "python": meta.get("python", "Python + boto3"), "node": meta.get("node", "Node.js + SDK v3")}


def row(measure, values, target, ok, better="lower", fmt="{:.1f}"):
    """values: {impl: number or None}; the ratios are other / ours (or ours / other)."""
    cells = [fmt.format(values[i]) if isinstance(values.get(i), (int, float)) else (values.get(i) or "—") for i in impls]
    ratios = []
    for o in others:
        a, b = values.get(ours), values.get(o)
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and a > 0:
            ratios.append(f"{b / a:.0f}×" if b / a >= 10 else f"{b / a:.1f}×")
        else:
            ratios.append("—")
    return f"| {measure} | " + " | ".join(cells + ratios) + f" | {target} | {'yes' if ok else 'NO'} |"


cold = {i: r["cold_start"][i]["median_ms"] for i in impls}
load = r.get("load", {})
p50 = {i: load[i]["own_p50_us"] for i in load}
p99 = {i: load[i]["own_p99_us"] for i in load}
peak = {i: load[i]["peak_rss_mib"] for i in load}
init = {i: load[i]["rss_after_init_mib"] for i in load}


def growth(i):
    s = load[i]["rss_every_1000_mib"]
    return s[-1] - s[0] if len(s) > 1 else 0.0


grow = {i: growth(i) for i in load}
calls = {i: r["round_trips"][i] for i in impls}
requests = load[ours]["requests"] if ours in load else 0
mb = lambda b: int(b) / 1e6  # noqa: E731
fn_sizes = {k: mb(v) for k, v in sizes.items() if not k.startswith("_")}
largest = max(fn_sizes.values())
size_cell = {ours: largest}
for i in others:
    if f"_{i}" in sizes:
        size_cell[i] = mb(sizes[f"_{i}"])

head = ["measure"] + [labels.get(i, i) for i in impls] + [f"{labels.get(o, o).split(' ')[0]} / ours" for o in others] + ["target", "met"]
lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
lines.append(row(f"1. cold start, median of {len(r['cold_start'][ours]['runs'])} (ms)", cold, "< 8 ms and ≥ 40× faster than Python",
                 cold[ours] < 8 and "python" in cold and cold["python"] / cold[ours] >= 40))
lines.append(row("1. cold start, CPU time used by then, median (ms)", {i: r["cold_start"][i]["cpu_median_ms"] for i in impls}, "—", True))
lines.append(row(f"2. own time per request, local server, p50 (µs, {requests:,} req)", p50, "—", True, fmt="{:.0f}"))
lines.append(row(f"2. own time per request, local server, p99 (µs, {requests:,} req)", p99, "—", True, fmt="{:.0f}"))
lines.append(row(f"2. CPU time per request, local server, p50 (µs, {requests:,} req)", {i: load[i]["cpu_p50_us"] for i in load}, "—", True, fmt="{:.0f}"))
lines.append(row(f"2. CPU time per request, local server, p99 (µs, {requests:,} req)", {i: load[i]["cpu_p99_us"] for i in load}, "—", True, fmt="{:.0f}"))
lines.append(row(f"2. wall time per request, in-process fakes, p50 / p99 (µs, {int(float(overhead['requests'])):,} req{spread})",
                 {ours: f"{float(overhead['p50_us']):.1f} / {float(overhead['p99_us']):.1f}"}, "p99 < 50 µs",
                 float(overhead["p99_us"]) < 50))
if "cpu_p99_us" in overhead:
    lines.append(row("2. thread CPU time per request, in-process fakes, p50 / p99 (µs)",
                     {ours: f"{float(overhead['cpu_p50_us']):.1f} / {float(overhead['cpu_p99_us']):.1f}"}, "p99 < 50 µs",
                     float(overhead["cpu_p99_us"]) < 50))
lines.append(row("3. RSS after init (MiB)", init, "—", True))
lines.append(row(f"3. peak RSS over {requests:,} requests (MiB)", peak, "< 20 MiB", peak.get(ours, 99) < 20))
lines.append(row("3. RSS growth, request 1,000 → last (MiB)", grow, "flat", abs(grow.get(ours, 99)) < 1, fmt="{:+.2f}"))
lines.append(row("4. size: largest stripped function binary, x86_64 (MB); others: their SDK as installed", size_cell, "< 8 MB each",
                 largest < 8, fmt="{:.2f}"))
for outcome in calls[ours]:
    lines.append(row(f"5. calls for a {outcome} notification", {i: calls[i][outcome]["calls"] for i in impls}, "minimal", True, fmt="{:d}"))

print("\n".join(lines))
print()
print("Sizes of every function binary (bytes, stripped):")
print()
for k, v in sorted(sizes.items()):
    print(f"- `{k.lstrip('_')}`{' (for comparison)' if k.startswith('_') else ''}: {int(v):,}")
print()
print("Calls per outcome, in order:")
print()
for i in impls:
    for outcome, c in calls[i].items():
        print(f"- {labels.get(i, i)}, {outcome}: {' → '.join(c['operations'])}")
print()
print(f"Load average (1, 5, 15 min): before {', '.join(f'{x:.2f}' for x in r['uptime_before'])}; "
      f"after the cold starts {', '.join(f'{x:.2f}' for x in r['uptime_after_cold'])}; "
      + "; ".join(f"after {i}'s load run {', '.join(f'{x:.2f}' for x in load[i]['loadavg_after'])}" for i in load)
      + f"; in-process bench: {meta.get('overhead_load', '?')}.")
for i in load:
    a = load[i].get("answers", {})
    if set(a) != {"200 stored"}:
        print(f"\n{labels.get(i, i)}: answers {a} (a call that timed out after taking effect, then retried, answers duplicate)")

# --- the cold request (harness.py --cold-requests) ----------------------------------------
cr = r.get("cold_request")
if cr:
    names = cr["impls"]
    cr_labels = dict(labels, **{"rust-nowarm": "Rust (ours), warm-up off (`WARM_UP_MS=0`)"})
    mode_text = {
        "full": "full CPU",
        "limited": "limited from the start",
        "limited after init": "limited after init",
    }
    print()
    print("### The first request after a cold start (HTTPS)")
    print()
    runs = next(iter(next(iter(cr["modes"].values())).values()))["runs"]
    print(f"Medians of {runs} runs per row (start → first response: median, and the range over the runs); every process "
          "started with its notification waiting (a new notification: stored and forwarded), then served 5 more. "
          "*Window*: from handing out the event to the answer; *own*: the window less the time its calls spent in the "
          "local server (behind the HTTPS fronts, from request line to answer). CPU limit: "
          + (cr["limit"] or f"none ({cr['limit_unavailable']})") + ".")
    print()
    print("| implementation | CPU | start → first response (ms) | of which init: all / waiting on the local server (ms) | first request: window / own (ms) "
          "| next 5 requests, median: window / own (ms) | CPU time by the first response (ms) | HTTPS connections: init / first request "
          "| Python / ours, start → first response |")
    print("|---|---|---|---|---|---|---|---|---|")
    for mode, by_name in cr["modes"].items():
        ours_first = by_name.get("rust", {}).get("first_response_ms")
        for name in names:
            m = by_name[name]
            ratio = "—"
            if name == "python" and ours_first:
                ratio = f"{m['first_response_ms'] / ours_first:.1f}×"
            print(f"| {cr_labels.get(name, name)} | {mode_text.get(mode, mode)} | {m['first_response_ms']:.1f} "
                  f"({m['first_response_ms_min']:.1f}–{m['first_response_ms_max']:.1f}) | {m['init_ms']:.1f} / {m['init_waiting_ms']:.1f} "
                  f"| {m['first_request_ms']:.1f} / {m['first_request_own_ms']:.1f} "
                  f"| {m['later_request_ms']:.1f} / {m['later_request_own_ms']:.1f} | {m['first_response_cpu_ms']:.1f} "
                  f"| {m['connections_init']:.0f} / {m['connections_first_request']:.0f} | {ratio} |")
    print()
    for mode, by_name in cr["modes"].items():
        if "python" in by_name and "rust" in by_name:
            q = by_name["python"]["first_response_ms"] / by_name["rust"]["first_response_ms"]
            verdict = "no target at full CPU" if mode == "full" else f"target ≥ 20×: {'met' if q >= 20 else 'NOT met'}"
            print(f"- {mode_text.get(mode, mode)}: Python / ours = {q:.1f}× ({verdict})")
    for mode, by_name in cr["modes"].items():
        for name, m in by_name.items():
            for why in m.get("redone", []):
                print(f"- {cr_labels.get(name, name)} ({mode_text.get(mode, mode)}): a run started over: {why}")
    la = cr["loadavg"]
    print()
    print(f"Load average (1, 5, 15 min) of the cold requests: before {', '.join(f'{x:.2f}' for x in la['before'])}; "
          f"after {', '.join(f'{x:.2f}' for x in la['after'])}.")
