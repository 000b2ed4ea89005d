#!/usr/bin/env bash
# `make run`: one ferry node on 127.0.0.1:6380 serving from its embedded LMDB
# store (phase raft-only, data in ./ferry-data, kept between runs).
# `make run-redis`: ferry on 127.0.0.1:6380 in phase redis, in front of a
# redis-server this script starts on a free loopback port and stops on exit.
set -euo pipefail
mode=$1 ferry=$2
shift 2
if [ "$mode" = store ]; then
    echo "ferry: single node on its embedded store in ./ferry-data; try: redis-cli -p 6380"
    exec "$ferry" --phase raft-only --dir ./ferry-data "$@"
fi
dir=$(mktemp -d /tmp/ferry-run.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
    --daemonize no --logfile "$dir/redis.log" &
redis_pid=$!
cleanup() { kill "$redis_pid" 2>/dev/null; wait "$redis_pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
echo "ferry: upstream redis-server on 127.0.0.1:$port (pid $redis_pid); try: redis-cli -p 6380"
"$ferry" --upstream "127.0.0.1:$port" "$@"
