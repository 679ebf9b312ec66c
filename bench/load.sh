#!/usr/bin/env bash
# The load run of bench/README.md ("Load run"): the function as
# deployed, 1, 2, 4, 8 and 16 processes at once against the local servers, one step each.
#
#   bash bench/load.sh                  # PROCS=1,2,4,8,16 REQUESTS=1500
#
# Builds the function process the end-to-end tests run (`pipeline-tests`'s `function`
# binary: `webhook_lambda::runtime::serve`, what every deployed function's main calls),
# optimised with bench/cost.sh's settings (so that the two share one build), then runs
# bench/load.py with the dev venv's Python, and keeps the table in bench/out/load.md.
set -euo pipefail
cd "$(dirname "$0")/.."
py="${MOTO_PYTHON:-$PWD/.venv/bin/python}"
if [ ! -x "$py" ]; then
    echo "no Python with moto at $py: run bash scripts/dev-env.sh, or set MOTO_PYTHON" >&2
    exit 1
fi
mkdir -p bench/out
CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    cargo build --quiet --release -p pipeline-tests --bin function
release="${CARGO_TARGET_DIR:-$PWD/target}/release"
{
    echo "\`bash bench/load.sh\`, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    "$py" bench/load.py --function "$release/function invoices" \
        --procs "${PROCS:-1,2,4,8,16}" --requests "${REQUESTS:-1500}"
    echo
    echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee bench/out/load.md
