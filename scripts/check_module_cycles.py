#!/usr/bin/env python3
"""Checks that no crate of the workspace has a cycle among its top-level modules.

A module depends on another when its code (comments and `#[cfg(test)]` parts aside) names it
through `crate::<module>`, or through `super::<module>` from a file directly under `src/` (there
`super` is the crate root). Crates cannot form cycles at all (cargo refuses them); this keeps
the modules inside each crate one-way too (docs/architecture.md).

usage: python3 scripts/check_module_cycles.py
"""

import glob
import os
import re
import sys

CRATES = sorted(
    os.path.dirname(path)
    for path in glob.glob("shared/*/Cargo.toml") + ["recover/Cargo.toml", "tests/Cargo.toml"]
)


def graph(crate):
    edges = {}
    for path in glob.glob(f"{crate}/src/**/*.rs", recursive=True):
        rel = os.path.relpath(path, f"{crate}/src")[:-3].split(os.sep)
        if rel in (["lib"], ["main"]) or rel[0] == "bin":
            continue
        top = rel[0]
        code = open(path, encoding="utf-8").read().split("#[cfg(test)]")[0]
        code = "\n".join(l for l in code.splitlines() if not l.strip().startswith("//"))
        deps = set(re.findall(r"\bcrate::(\w+)", code))
        if len(rel) == 1:
            deps |= set(re.findall(r"\bsuper::(\w+)", code))
        edges.setdefault(top, set()).update(d for d in deps if d != top)
    return {m: {d for d in deps if d in edges} for m, deps in edges.items()}


def cycle(edges):
    """A cycle, as a list of modules, or None (depth-first search, three colours)."""
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for d in sorted(edges[m]):
            if state.get(d) == "open":
                return stack[stack.index(d):] + [d]
            if d not in state:
                found = visit(d)
                if found:
                    return found
        stack.pop()
        state[m] = "done"
        return None

    for m in sorted(edges):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def main():
    bad = 0
    for crate in CRATES:
        found = cycle(graph(crate))
        if found:
            bad += 1
            print(f"{crate}: modules depend on each other in a cycle: {' -> '.join(found)}", file=sys.stderr)
    if bad:
        return 1
    print(f"no module cycle in {len(CRATES)} crates")
    return 0


if __name__ == "__main__":
    sys.exit(main())
