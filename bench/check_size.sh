#!/usr/bin/env bash
# Fails when a function binary is larger than its budget (bench/README.md, "Size"), and prints
# every size. Sizes are deterministic for a given toolchain and Cargo.lock, so this is safe in CI
# (no timing is asserted anywhere).
#
#   bash bench/check_size.sh [DIR] [FUNCTION...]
#     DIR       where the release binaries are (default target/release): DIR/<function>, or
#               DIR/<function>/bootstrap as `cargo lambda build` leaves them (target/lambda,
#               what `sam build` deploys)
#     FUNCTION  binaries to check (default: every functions/* that DIR holds; none is an error)
#   LIMIT_BYTES=8000000 overrides the budget (8 MB, as the issue counts megabytes).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${1:-$root/target/release}"
shift || true
limit="${LIMIT_BYTES:-8000000}"
names=("$@")
if [[ ${#names[@]} -eq 0 ]]; then
    for f in "$root"/functions/*/; do
        name="$(basename "$f")"
        [[ -f "$dir/$name" || -f "$dir/$name/bootstrap" ]] && names+=("$name")
    done
fi
if [[ ${#names[@]} -eq 0 ]]; then
    echo "check_size: no function binary in $dir" >&2
    exit 1
fi
failed=0
for name in "${names[@]}"; do
    bin="$dir/$name"
    [[ -f "$dir/$name/bootstrap" ]] && bin="$dir/$name/bootstrap"
    if [[ ! -f "$bin" ]]; then
        echo "check_size: $bin is missing" >&2
        failed=1
        continue
    fi
    size=$(stat -c %s "$bin")
    verdict=ok
    if ((size > limit)); then
        verdict="OVER the budget of $limit bytes"
        failed=1
    fi
    printf 'size %-18s %10d bytes (%.2f MB)  %s\n' "$name" "$size" "$(awk -v s="$size" 'BEGIN { print s / 1000000 }')" "$verdict"
done
exit "$failed"
