#!/usr/bin/env python3
"""Durability of the single-node store: writers run against ferry (phase
raft-only, sync always), ferry is killed with SIGKILL at random moments and
restarted on the same directory, and after every restart:
  - every acknowledged write is present with its value;
  - no transaction is half-applied: the two keys a MULTI/EXEC wrote are both
    there or both missing, and each writer's counter equals the number of its
    transactions that are there (acknowledged or not);
  - the Raft log ends exactly at the applied index (INFO # Raft: entries and
    their apply commit in one transaction), and compaction keeps it bounded.

  store_durability.py FERRY [--rounds N] [--seed S]
"""
import argparse
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "diff"))
from difftest import Conn, free_port  # noqa: E402
from ferryproc import start  # noqa: E402


class Writer(threading.Thread):
    def __init__(self, wid, port, state):
        super().__init__(daemon=True)
        self.wid, self.port, self.st = wid, port, state

    def run(self):
        st = self.st
        try:
            c = Conn.tcp(self.port, "ferry")
        except Exception:
            return
        rng = random.Random(self.wid * 7919 + st["round"])
        while True:
            seq = st["seq"][self.wid]
            st["seq"][self.wid] = seq + 1
            try:
                if rng.random() < 0.6:
                    k = b"d:%d:%d" % (self.wid, seq)
                    v = b"v%d" % seq
                    st["tried_set"].append((k, v))
                    raw, _ = c.call([b"SET", k, v])
                    if raw == b"+OK\r\n":
                        st["acked_set"].append((k, v))
                else:
                    st["tried_tx"].append((self.wid, seq))
                    c.send([b"MULTI"])
                    c.send([b"SET", b"ta:%d:%d" % (self.wid, seq), b"x"])
                    c.send([b"SET", b"tb:%d:%d" % (self.wid, seq), b"x"])
                    c.send([b"INCR", b"cnt:%d" % self.wid])
                    c.send([b"EXEC"])
                    for _ in range(4):
                        c.read()
                    raw, v = c.read()
                    if v[0] == "*" and v[1] is not None:
                        st["acked_tx"].append((self.wid, seq))
            except (OSError, EOFError, RuntimeError, ValueError):
                return


def raft_info(conn):
    raw, got = conn.call([b"INFO"])
    info = {}
    for line in got[1].decode().split("\r\n"):
        if line.startswith("raft_"):
            k, v = line.split(":", 1)
            info[k] = int(v)
    return info


def check(conn, st):
    bad = []
    ri = raft_info(conn)
    last, snap, applied = (ri.get("raft_last_log_index"), ri.get("raft_snapshot_index"),
                           ri.get("raft_applied_index"))
    if last is None or applied is None or snap is None:
        bad.append("INFO has no # Raft section: %r" % ri)
    else:
        if last != applied:
            bad.append("raft log ends at %d but applied_index is %d" % (last, applied))
        if last - snap > 2048:
            bad.append("raft log holds %d entries: compaction did not run" % (last - snap))
        if st["round"] and applied == 0:
            bad.append("applied_index 0 after writes were acknowledged")
        st["raft"] = (last, snap, applied)
    for k, v in st["acked_set"]:
        raw, got = conn.call([b"GET", k])
        if got != ("$", v):
            bad.append("acknowledged SET %s lost (got %r)" % (k.decode(), raw))
    for k, v in st["tried_set"]:
        raw, got = conn.call([b"GET", k])
        if got[1] is not None and got != ("$", v):
            bad.append("SET %s has a value never written: %r" % (k.decode(), raw))
    present = {}
    acked = set(st["acked_tx"])
    for wid, seq in st["tried_tx"]:
        a = conn.call([b"EXISTS", b"ta:%d:%d" % (wid, seq)])[1][1]
        b = conn.call([b"EXISTS", b"tb:%d:%d" % (wid, seq)])[1][1]
        if a != b:
            bad.append("transaction %d:%d half-applied" % (wid, seq))
        if (wid, seq) in acked and not a:
            bad.append("acknowledged transaction %d:%d lost" % (wid, seq))
        present[wid] = present.get(wid, 0) + (1 if a else 0)
    for wid, n in present.items():
        raw, got = conn.call([b"GET", b"cnt:%d" % wid])
        have = int(got[1]) if got[1] is not None else 0
        if have != n:
            bad.append("writer %d: counter %d but %d transactions present" % (wid, have, n))
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ferry")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    tmp = tempfile.mkdtemp(prefix="ferry-durability.")
    d = os.path.join(tmp, "data")
    log = open(os.path.join(tmp, "ferry.log"), "wb")
    port = free_port()
    st = {"seq": [0] * args.writers, "tried_set": [], "acked_set": [], "tried_tx": [],
          "acked_tx": [], "round": 0}
    proc = None
    try:
        for rnd in range(args.rounds):
            st["round"] = rnd
            proc, conn = start(args.ferry, port, d, log)
            if rnd:
                bad = check(conn, st)
                if bad:
                    print("store_durability: FAILED after kill %d (seed %d):" % (rnd, seed))
                    for b in bad[:20]:
                        print("  " + b)
                    return 1
            ws = [Writer(i, port, st) for i in range(args.writers)]
            for w in ws:
                w.start()
            time.sleep(rng.uniform(0.2, 0.8))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc = None
            for w in ws:
                w.join(5)
        proc, conn = start(args.ferry, port, d, log)
        bad = check(conn, st)
        if bad:
            print("store_durability: FAILED after the last kill (seed %d):" % seed)
            for b in bad[:20]:
                print("  " + b)
            return 1
        print("store_durability: %d kills, %d acknowledged SETs and %d acknowledged "
              "transactions all present, %d in-flight writes all-or-nothing, "
              "raft log == applied_index after every restart (last: log %d, snapshot %d, "
              "applied %d) (seed %d)"
              % (args.rounds, len(st["acked_set"]), len(st["acked_tx"]),
                 len(st["tried_set"]) - len(st["acked_set"]) + len(st["tried_tx"]) -
                 len(st["acked_tx"]), st["raft"][0], st["raft"][1], st["raft"][2], seed))
        return 0
    finally:
        if proc:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
