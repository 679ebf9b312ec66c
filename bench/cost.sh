#!/usr/bin/env bash
# The cost table of bench/README.md ("Cost per notification"): what a notification costs per
# outcome, ours and the hand-written receivers', in USD per million at us-east-1 on-demand prices.
#
#   bash bench/cost.sh                  # COST_ROUNDS=30 COST_LATENCY_MS=10
#
# Runs `cargo run --release -p perf-bench --example cost` (which starts its own local
# DynamoDB + SQS server and runs bench/naive_cost.py against it) with the dev venv's Python
# (moto, boto3), and keeps the table in bench/out/cost.md. Set up the venv first:
# bash scripts/dev-env.sh.
#
# Optimised, because the handler's own time is part of the Lambda figure (a debug build's is
# several times longer), but without the workspace's fat LTO and single codegen unit, to keep
# the build to minutes; the own times may come out a little longer than the deployed binaries'
# would (bench/METHOD.md).
set -euo pipefail
cd "$(dirname "$0")/.."
export MOTO_PYTHON="${MOTO_PYTHON:-$PWD/.venv/bin/python}"
if [ ! -x "$MOTO_PYTHON" ]; then
    echo "no Python with moto at $MOTO_PYTHON: run bash scripts/dev-env.sh, or set MOTO_PYTHON" >&2
    exit 1
fi
mkdir -p bench/out
CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    cargo run --quiet --release -p perf-bench --example cost | tee bench/out/cost.md
