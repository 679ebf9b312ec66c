#!/usr/bin/env python3
"""Checks the crate diagram in docs/architecture.md against `cargo metadata`.

The diagram (the first ```text block under "## The crates") has one entry per line that starts
at column 0: `left ──► right`, where `left` names packages (`functions/a, b, c` for several
functions; a folder in parentheses is ignored) and `right` their dependencies on workspace
members, `(dev: ...)` for dev-dependencies, `(opt: ...)` as a note, `(no member)` for none.
Indented lines continue the entry above. Every member must appear, with exactly its normal and
dev dependencies on other members.

usage: python3 scripts/check_crate_graph.py [docs/architecture.md]
"""

import json
import re
import subprocess
import sys


def diagram(path):
    text = open(path, encoding="utf-8").read()
    section = text.split("## The crates", 1)[1]
    block = section.split("```text\n", 1)[1].split("```", 1)[0]
    entries = []
    for line in block.splitlines():
        if not line.strip():
            continue
        if line[0].isspace() and entries:
            entries[-1] += " " + line.strip()
        else:
            entries.append(line.strip())
    graph = {}
    for entry in entries:
        left, right = entry.split("──►", 1)
        left = re.sub(r"\([^)]*\)", "", left).rstrip("─ ")
        names = [n.strip().removeprefix("functions/") for n in left.split(",") if n.strip()]
        dev = set()
        for group in re.findall(r"\(dev:([^)]*)\)", right):
            dev |= {d.strip() for d in group.split(",") if d.strip()}
        normal = re.sub(r"\([^)]*\)", "", right)
        normal = {d.strip() for d in normal.split(",") if d.strip()}
        for name in names:
            if name in graph:
                raise SystemExit(f"{path}: {name} appears twice in the diagram")
            graph[name] = (normal, dev)
    return graph


def metadata():
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps", "--locked"],
        check=True, capture_output=True, text=True,
    ).stdout
    packages = json.loads(out)["packages"]
    members = {p["name"] for p in packages}
    graph = {}
    for p in packages:
        deps = [d for d in p["dependencies"] if d["name"] in members]
        normal = {d["name"] for d in deps if d["kind"] is None}
        dev = {d["name"] for d in deps if d["kind"] == "dev"}
        graph[p["name"]] = (normal, dev)
    return graph


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "docs/architecture.md"
    drawn, real = diagram(path), metadata()
    problems = []
    for name in sorted(real.keys() | drawn.keys()):
        if name not in drawn:
            problems.append(f"{name}: a workspace member the diagram does not show")
        elif name not in real:
            problems.append(f"{name}: in the diagram, not a workspace member")
        elif drawn[name] != real[name]:
            problems.append(
                f"{name}: the diagram says {sorted(drawn[name][0])} (dev {sorted(drawn[name][1])}), "
                f"cargo metadata {sorted(real[name][0])} (dev {sorted(real[name][1])})"
            )
    for problem in problems:
        print(f"{path}: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"{path}: the crate diagram matches cargo metadata ({len(real)} members)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
