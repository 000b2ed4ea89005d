#!/usr/bin/env bash
# Side-by-side benchmarks; each suite prints its own ratios.
set -euo pipefail
cd "$(dirname "$0")/../.."
ferry=$1
rc=0
for b in tests/bench/bench-*.sh; do
    [ -e "$b" ] || continue
    echo "== $b"
    "$b" "$ferry" || rc=1
done
exit $rc
