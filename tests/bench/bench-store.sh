#!/usr/bin/env bash
# The single-node store, side by side in one run (rounds interleaved, each
# figure the median of ROUNDS runs):
#   SET -c 50 -P 1: redis-server (appendonly, appendfsync always) vs ferry
#                   (phase raft-only, sync always)      target: ferry >= 1.0x
#   GET -c 50 -P 1: redis-server (no persistence) vs ferry   target: >= 0.9x
#   apply throughput of the store alone, batched SET entries (store-bench)
#                                                       target: >= 1,000,000/s
#   start-up with 1,000,000 keys until PING and GET answer   target: <= 1 s
#
#   tests/bench/bench-store.sh ./build/ferry [ROUNDS]
set -euo pipefail
ferry=${1:?usage: bench-store.sh FERRY_BIN [ROUNDS]}
rounds=${2:-${ROUNDS:-3}}
requests=${REQUESTS:-100000}
bdir=$(dirname "$ferry")
make -s B="$bdir" "$bdir/tests/bench/store-bench" >/dev/null
. "$(dirname "$0")/lib.sh"
bench_init ferry-bench-store

mkdir -p "$work/aof" "$work/plain" "$work/ferry"
aof_port=$(free_port)
redis-server --port "$aof_port" --bind 127.0.0.1 --save '' --appendonly yes \
    --appendfsync always --dir "$work/aof" --logfile "$work/aof.log" &
pids+=($!)
plain_port=$(free_port)
redis-server --port "$plain_port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$work/plain" --logfile "$work/plain.log" &
pids+=($!)
ferry_port=$(free_port)
"$ferry" --phase raft-only --port "$ferry_port" --dir "$work/ferry" --sync yes \
    --loglevel warning >"$work/ferry.log" 2>&1 &
pids+=($!)
wait_port "$aof_port"
wait_port "$plain_port"
wait_port "$ferry_port"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load $(cut -d' ' -f1-3 /proc/loadavg), fs $(df -T "$work" | awk 'NR==2 {print $2}')"
echo "redis-server $(redis-server --version | grep -o 'v=[0-9.]*'), $requests requests per run, rounds $rounds (median)"

bench() { # port test -> rps
    redis-benchmark -p "$1" -t "$2" -c 50 -P 1 -n "$requests" -r 100000 --csv 2>/dev/null |
        awk -F'","|^"|"$' 'NR > 1 && $2 != "" { print $3; exit }'
}

# Both GET targets hold the same keys.
redis-benchmark -p "$plain_port" -t set -c 50 -n "$requests" -r 100000 -q >/dev/null
for r in $(seq "$rounds"); do
    echo "set redis-aof $(bench "$aof_port" set)" >>"$work/results"
    echo "set ferry $(bench "$ferry_port" set)" >>"$work/results"
    echo "get redis $(bench "$plain_port" get)" >>"$work/results"
    echo "get ferry $(bench "$ferry_port" get)" >>"$work/results"
done

median() { # test target
    awk -v t="$1" -v g="$2" '$1 == t && $2 == g { print $3 }' "$work/results" | sort -g |
        awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}
set_r=$(median set redis-aof); set_f=$(median set ferry)
get_r=$(median get redis); get_f=$(median get ferry)
printf '%-44s %12s %12s %8s %s\n' "benchmark" "redis" "ferry" "ratio" "target"
printf '%-44s %12.0f %12.0f %7.2fx %s\n' "SET -c 50 -P 1 (appendfsync always/sync always)" \
    "$set_r" "$set_f" "$(awk -v a="$set_f" -v b="$set_r" 'BEGIN { print a / b }')" ">= 1.0x"
printf '%-44s %12.0f %12.0f %7.2fx %s\n' "GET -c 50 -P 1 (no persistence/raft-only)" \
    "$get_r" "$get_f" "$(awk -v a="$get_f" -v b="$get_r" 'BEGIN { print a / b }')" ">= 0.9x"

# The store alone, interleaved: keys written in id order (key:<i>), and keys
# with no locality (key:<hash of i>), which dirty one leaf page each.
for r in $(seq "$rounds"); do
    for kind in sequential random; do
        rm -rf "$work/apply" && mkdir -p "$work/apply"
        STORE_BENCH_KEYS=$kind "$bdir/tests/bench/store-bench" "$work/apply" 1000000 10000 |
            tee -a "$work/apply.out" | sed 's/^/apply: /'
    done
done
rm -rf "$work/apply"
for kind in sequential random; do
    grep -F "($kind keys" "$work/apply.out" | sed 's/.*apply+commit \([0-9]*\).*/\1/' | sort -g |
        awk -v k="$kind" '{ a[NR] = $1 } END {
            printf "apply: median of %d, %s keys: %d entries/s (target >= 1,000,000/s)\n",
                NR, k, a[int((NR + 1) / 2)] }'
done
python3 tests/fault/store_restart.py "$ferry" "$bdir/tests/bench/store-bench" | sed 's/^/startup: /'
