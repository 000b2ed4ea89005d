#!/usr/bin/env bash
# Enforces the module dependency rules of docs/ARCHITECTURE.md:
#   proxy -> {resp, store, raft}   store -> {resp, raft/raft.h}   resp -> {}   raft -> {}
# and that only public headers (resp/resp.h, store/store.h, raft/raft.h) cross
# a module boundary. The raft core (all of raft/ but transport.c) must also
# stay free of I/O, clocks and randomness.
set -u
cd "$(dirname "$0")/../.."
fail=0
bad() { echo "check-layering: $1"; fail=1; }

# "file: included-path" for every project include ("dir/file.h").
includes() {
    grep -HoE '^[[:space:]]*#[[:space:]]*include[[:space:]]+"[^"]+"' "$@" 2>/dev/null |
        sed -E 's/:[[:space:]]*#[[:space:]]*include[[:space:]]+"([^"]+)"/ \1/'
}

check_module() { # module allowed-foreign-headers...
    local mod=$1; shift
    local files
    files=$(ls "$mod"/*.c "$mod"/*.h 2>/dev/null) || return 0
    [ -n "$files" ] || return 0
    while read -r file inc; do
        [ -n "$file" ] || continue
        case "$inc" in
            "$mod"/*) continue ;;
        esac
        local ok=0
        for allowed in "$@"; do [ "$inc" = "$allowed" ] && ok=1; done
        [ $ok = 1 ] || bad "${file%:} includes \"$inc\" (not allowed for $mod/)"
    done < <(includes $files)
}

check_module resp
check_module raft
check_module store resp/resp.h raft/raft.h
check_module proxy resp/resp.h store/store.h raft/raft.h

# The raft core: no I/O, no clock, no randomness, no foreign libraries.
core=$(ls raft/*.c raft/*.h 2>/dev/null | grep -v '^raft/transport\.c$')
if [ -n "$core" ]; then
    grep -nE '#[[:space:]]*include[[:space:]]*<(event2/|lmdb\.h|hiredis|sys/socket\.h|netinet/|unistd\.h|time\.h|sys/time\.h|pthread\.h)' $core |
        while read -r l; do echo "check-layering: raft core includes I/O or clock: $l"; done | grep . && fail=1
    grep -nE '\b(rand|random|srand|time|clock_gettime|gettimeofday|read|write|fsync|fopen|socket)\s*\(' $core |
        grep -vE '^\S+:[0-9]+:\s*(/\*|\*|//)' |
        while read -r l; do echo "check-layering: raft core calls I/O, clock or rand: $l"; done | grep . && fail=1
fi
[ $fail = 0 ] && echo "check-layering: ok"
exit $fail
