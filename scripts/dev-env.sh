#!/usr/bin/env bash
# Creates or refreshes the dev venv in <repo>/.venv from scripts/requirements-dev.txt, and the
# AWS SAM CLI's venv in <repo>/.venv/sam from scripts/requirements-sam.txt, with `sam` linked
# into .venv/bin (aws-sam-cli and checkov pin different boto3s: requirements-sam.txt).
# Idempotent and quiet: each venv is (re)installed only when missing or broken, or when its
# requirements file changed since its last successful install (a hash stamp inside the venv
# records it). Usage: bash scripts/dev-env.sh   (from any directory)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"

hash_of() {
    "$python" -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"
}

# ensure_venv VENV REQUIREMENTS: VENV holds exactly what REQUIREMENTS asks for.
ensure_venv() {
    local venv="$1" req="$2"
    local stamp want
    stamp="$venv/.$(basename "$req" .txt).sha256"
    want="$(hash_of "$req")"
    if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        return 0
    fi

    # Serialise concurrent runs (e.g. local.sh and test.sh started together): lock the
    # requirements file itself, which exists, and survives `venv --clear`.
    if command -v flock >/dev/null 2>&1; then
        exec 9<"$req"
        flock 9
        # Another run may have finished the job while we waited.
        if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
            exec 9<&-
            return 0
        fi
    fi

    local log
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
        || fail "pip install -r $(basename "$req") failed"

    echo "$want" >"$stamp"
    rm -f "$log"
    exec 9<&- 2>/dev/null || true
}

ensure_venv "$root/.venv" "$root/scripts/requirements-dev.txt"
ensure_venv "$root/.venv/sam" "$root/scripts/requirements-sam.txt"
# `sam` on the dev venv's PATH (README, "Deploy": export PATH="$PWD/.venv/bin:$PATH").
ln -sfn ../sam/bin/sam "$root/.venv/bin/sam"
