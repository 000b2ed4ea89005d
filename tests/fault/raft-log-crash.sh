#!/usr/bin/env bash
# Crash test of the LMDB Raft log with real processes: a writer appends,
# replaces suffixes, truncates, commits and compacts; it is kill -9'd at a
# random moment, ROUNDS times; each restart verifies the log against the last
# acknowledgement (see tests/fault/raft_log_writer.c).
set -u
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-40}
W=build/tests/fault/raft_log_writer
make -s "$W" >/dev/null || exit 1
dir=$(mktemp -d build/raftlog-crash.XXXXXX)
trap 'rm -rf "$dir"' EXIT
ack="A 0 0 0"
passed=0 failed=0 acks=0
for round in $(seq 1 "$ROUNDS"); do
    "$W" "$dir" "$round" "$ack" >"$dir/out" 2>"$dir/err" &
    pid=$!
    sleep "0.$(( (RANDOM % 25) + 2 ))"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rc=$?
    if [ $rc -ne 137 ]; then
        echo "round $round: writer exited $rc: $(cat "$dir/err")"
        failed=$((failed + 1))
        break
    fi
    n=$(grep -c '^A ' "$dir/out")
    acks=$((acks + n))
    last=$(grep '^A ' "$dir/out" | tail -1)
    [ -n "$last" ] && ack=$last
    passed=$((passed + 1))
done
if [ $failed -eq 0 ]; then
    if out=$("$W" "$dir" 0 "$ack" --check 2>&1); then
        echo "$out"
    else
        echo "final check: $out"; failed=$((failed + 1))
    fi
fi
echo "raft log crash test: $ROUNDS kill -9 rounds, $acks acknowledged transactions"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
