# Shared by the benchmark scripts: sourced, not run.
#
# bench_init PREFIX makes $work (a fresh directory) and arranges for every
# pid added to $pids to be killed, and $work removed, when the script exits.

bench_init() {
    work=$(mktemp -d "/tmp/$1.XXXXXX")
    pids=()
    trap bench_cleanup EXIT
}

bench_cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}

# A loopback port nothing listens on right now.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits (up to 10 s) until a Redis-protocol server answers PING on port $1.
wait_port() {
    for _ in $(seq 200); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.05; done
    echo "nothing answers on port $1" >&2
    return 1
}
