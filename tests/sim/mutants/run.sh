#!/usr/bin/env bash
# Bug injection: proves the simulator's checks are not vacuous. Each mutant is
# one classic Raft bug applied to a copy of raft/ (an exact text replacement
# that must match exactly once, so a mutant can never silently become a
# no-op); the simulator is built against the copy and must report a failure
# within MUTANT_SEEDS seeds (default 1000). Fails if any mutant survives.
set -u
cd "$(dirname "$0")/../../.."
SEEDS=${MUTANT_SEEDS:-1000}
JOBS=${SIM_JOBS:-2}
CC=${CC:-cc}
# No -Werror: a mutant may leave a variable unused.
CFLAGS="-std=c11 -D_GNU_SOURCE -O2 -g -w"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
caught=0 survived=0

# mutant NAME FILE FROM TO: description in the name.
mutant() {
    local name=$1 file=$2 from=$3 to=$4 dir="$tmp/$1"
    mkdir -p "$dir"
    cp -r raft "$dir/raft"
    if ! python3 - "$dir/$file" "$from" "$to" <<'PY'
import sys
path, a, b = sys.argv[1:4]
s = open(path).read()
n = s.count(a)
if n != 1:
    sys.exit("mutant text found %d times in %s" % (n, path))
open(path, "w").write(s.replace(a, b))
PY
    then
        echo "mutant $name: could not apply (core changed?)"; survived=$((survived + 1)); return
    fi
    if ! $CC $CFLAGS -I"$dir" tests/sim/sim.c "$dir"/raft/*.c -o "$dir/sim" 2>"$dir/build.log"; then
        echo "mutant $name: does not build"; cat "$dir/build.log"; survived=$((survived + 1)); return
    fi
    local out
    out=$("$dir/sim" --seeds "$SEEDS" --jobs "$JOBS" -x 2>&1)
    if [ $? -ne 0 ]; then
        local first
        first=$(grep -m1 '^FAIL seed' <<<"$out")
        echo "mutant $name: caught -- ${first#FAIL }"
        caught=$((caught + 1))
    else
        echo "mutant $name: SURVIVED $SEEDS seeds"
        survived=$((survived + 1))
    fi
}

mutant vote-without-up-to-date-check raft/raft.c \
    'if (can_vote && up_to_date) {' 'if (can_vote) {'
mutant commit-earlier-term-by-counting raft/raft.c \
    'if (c <= r->commit || raft_log_term(r, c, &t) != 0 || t != r->term) return 0;' \
    'if (c <= r->commit || raft_log_term(r, c, &t) != 0) return 0;'
mutant hard-coded-quorum-of-2 raft/raft.c \
    'return (int)r->conf.n_voters / 2 + 1;' 'return 2;'
mutant vote-answered-before-persisting raft/raft.c \
    'if (hs_durable && msg_goes_now(m.type)) r->rd_now[nn++] = m;' \
    'if ((hs_durable && msg_goes_now(m.type)) || m.type == RAFT_MSG_VOTE_RESP) r->rd_now[nn++] = m;'
mutant vote-never-persisted raft/raft.c \
    'rd->hard_state = hs;' 'rd->hard_state = hs;
        rd->hard_state.vote = 0;'
mutant apply-before-commit raft/raft.c \
    'uint64_t to = r->commit < last ? r->commit : last;' 'uint64_t to = last;'
mutant read-index-without-confirming-leadership raft/raft.c \
    'if (r->cfg.lease_read && !r->lease_off && r->ticks < r->lease_until) {' 'if (1) {'
mutant read-before-own-term-commit raft/raft.c \
    'if (r->commit < r->term_start) return RAFT_ENOTREADY;
    if (r->cfg.lease_read' 'if (r->cfg.lease_read'
mutant follower-commit-past-verified-entries raft/raft.c \
    'uint64_t c = m->commit < last_new ? m->commit : last_new;' 'uint64_t c = m->commit;'
mutant follower-read-from-its-own-commit-index raft/raft.c \
    'read_answer(r, 0, m->ctx, m->index);' 'read_answer(r, 0, m->ctx, r->commit);'

echo "bug injection: $caught mutants caught, $survived survived (each within $SEEDS seeds)"
echo "$caught passed, $survived failed"
[ "$survived" -eq 0 ]
