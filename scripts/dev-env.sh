#!/usr/bin/env bash
# Creates or refreshes the dev venv in <repo>/.venv from scripts/requirements-dev.txt.
# Idempotent and quiet: it (re)installs only when .venv is missing or broken, or when
# requirements-dev.txt changed since the last successful install (a hash stamp inside
# .venv records it). Usage: bash scripts/dev-env.sh   (from any directory)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
req="$root/scripts/requirements-dev.txt"
stamp="$venv/.requirements-dev.sha256"
python="${PYTHON:-python3}"

hash_of() {
    "$python" -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"
}

want="$(hash_of "$req")"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    exit 0
fi

# Serialise concurrent runs (e.g. local.sh and test.sh started together): lock the
# requirements file itself, which exists, and survives `venv --clear`.
if command -v flock >/dev/null 2>&1; then
    exec 9<"$req"
    flock 9
    # Another run may have finished the job while we waited.
    if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        exit 0
    fi
fi

log="$(mktemp "${TMPDIR:-/tmp}/dev-env.XXXXXX.log")"
fail() {
    echo "dev-env.sh: $1" >&2
    echo "  venv:         $venv" >&2
    echo "  requirements: $req" >&2
    echo "  python:       $(command -v "$python" || echo "$python (not found)")" >&2
    echo "  full log:     $log" >&2
    echo "---- last lines of the log ----" >&2
    tail -n 40 "$log" >&2 || true
    exit 1
}

rm -f "$stamp"
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import sys' >>"$log" 2>&1; then
    # --clear: start over if a previous attempt left a half-made venv.
    "$python" -m venv --clear "$venv" >>"$log" 2>&1 \
        || fail "could not create the venv ('$python -m venv'; on Debian/Ubuntu: apt-get install python3-venv)"
fi
"$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$req" >>"$log" 2>&1 \
    || fail "pip install -r requirements-dev.txt failed"

echo "$want" >"$stamp"
rm -f "$log"
