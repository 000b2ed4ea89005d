#!/usr/bin/env bash
# The raft core alone (no I/O): committed entries/s of 100 bytes with batching,
# 3 simulated nodes in one process, and CPU per committed entry.
# Target: >= 1,000,000 entries/s.
set -euo pipefail
cd "$(dirname "$0")/../.."
make -s build/tests/bench/raft/bench_core >/dev/null
out=$(build/tests/bench/raft/bench_core "${RAFT_BENCH_ENTRIES:-5000000}" 1000)
echo "$out"
rate=$(sed -E 's/.*: ([0-9]+) entries\/s.*/\1/' <<<"$out")
if [ "$rate" -ge 1000000 ]; then echo "raft core: target >= 1,000,000 entries/s met"; else echo "raft core: below the 1,000,000 entries/s target"; fi
