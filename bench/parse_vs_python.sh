#!/usr/bin/env bash
# Rust hot path (parse + type + key + envelope + JSON) against the Python equivalent, on the
# same iugu body. Needs only cargo and python3. Prints ns/body for each and the ratio.
#
#   bench/parse_vs_python.sh [BODY_FILE]
#   RUST_ITERS=500000 PY_ITERS=20000 bench/parse_vs_python.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
body="${1:-shared/gateways/tests/fixtures/iugu/raw/invoice.status_changed.body}"
rust_iters="${RUST_ITERS:-500000}"
py_iters="${PY_ITERS:-20000}"
python="${PYTHON:-python3}"

echo "building the Rust loop (release: lto, codegen-units=1)..." >&2
cargo build --release --quiet -p webhook-gateways --example parse_loop
echo "timing Rust ($rust_iters iterations x 5 rounds)..." >&2
rust_out="$(cargo run --release --quiet -p webhook-gateways --example parse_loop -- "$body" "$rust_iters")"
echo "timing Python ($py_iters iterations x 5 rounds)..." >&2
py_out="$("$python" bench/parse_baseline.py "$body" "$py_iters")"

ns_of() { sed -n 's/^ns\/body \([0-9.]*\)$/\1/p' <<<"$1"; }
rust_ns="$(ns_of "$rust_out")"
py_ns="$(ns_of "$py_out")"
if [[ -z "$rust_ns" || -z "$py_ns" ]]; then
    printf 'could not read ns/body:\n--- rust\n%s\n--- python\n%s\n' "$rust_out" "$py_out" >&2
    exit 1
fi

"$python" - "$body" "$rust_ns" "$py_ns" "$("$python" --version 2>&1)" <<'PY'
import sys
body, rust, py, version = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
print(f"body: {body}")
print(f"| {'implementation':<26} | {'ns/body':>10} |")
print(f"|{'-' * 28}|{'-' * 12}|")
print(f"| {'Rust (shared, release)':<26} | {rust:>10.1f} |")
print(f"| {version:<26} | {py:>10.1f} |")
print(f"ratio (Python / Rust): {py / rust:.1f}x")
PY
