#!/usr/bin/env bash
# LMDB Raft log append: synced entries/s at batch sizes 1, 10, 100, 1000, next
# to the raw fdatasync rate of the same disk in the same run.
set -euo pipefail
cd "$(dirname "$0")/../.."
make -s build/tests/bench/raft/bench_log >/dev/null
dir=$(mktemp -d build/raftlog-bench.XXXXXX)
trap 'rm -rf "$dir"' EXIT
build/tests/bench/raft/bench_log "$dir" "${RAFT_LOG_BENCH_SECONDS:-2}"
