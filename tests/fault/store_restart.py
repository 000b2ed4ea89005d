#!/usr/bin/env python3
"""Restart without replay: a store with 1,000,000 keys (built by store-bench
through the ordinary prepare/apply path), then ferry is started on it and
must answer PING and GET within 1 s of being started. Then 20,000 SETs are
acknowledged, ferry is killed (SIGKILL), and started again: applying the
journal's records since the last checkpoint (at most one checkpoint's
worth) must keep it within the same limit, with every write there.

  store_restart.py FERRY STORE_BENCH [--keys N] [--limit SECONDS]
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "diff"))
from difftest import Conn, free_port  # noqa: E402


def start_timed(ferry, port, d):
    """Starts ferry on d; returns (process, start time, connection) once it
    accepts a connection, or (None, 0, None) after 10 s."""
    t0 = time.monotonic()
    proc = subprocess.Popen([ferry, "--phase", "raft-only", "--port", str(port), "--dir", d,
                             "--store-size", str(4 << 30)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            s = socket.create_connection(("127.0.0.1", port))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return proc, t0, Conn(s.makefile("rb"), s.makefile("wb"), "ferry")
        except OSError:
            if time.monotonic() - t0 > 10:
                print("store_restart: ferry did not listen within 10 s")
                proc.kill()
                proc.wait()
                return None, 0, None
            time.sleep(0.002)


def info_field(conn, name):
    for line in conn.call([b"INFO"])[1][1].decode().split("\r\n"):
        if line.startswith(name + ":"):
            return line.split(":", 1)[1]
    return "?"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ferry")
    ap.add_argument("store_bench")
    ap.add_argument("--keys", type=int, default=1000000)
    ap.add_argument("--limit", type=float, default=1.0)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ferry-restart.")
    d = os.path.join(tmp, "data")
    os.mkdir(d)
    proc = None
    try:
        subprocess.run([args.store_bench, d, str(args.keys), "100000"], check=True,
                       stdout=subprocess.DEVNULL)
        port = free_port()
        proc, dt, conn = start_timed(args.ferry, port, d)
        if proc is None:
            return 1
        ping = conn.call([b"PING"])[0]
        k = b"key:%d" % (args.keys - 1)
        get = conn.call([b"GET", k])[1]
        dt = time.monotonic() - dt
        dbsize = conn.call([b"DBSIZE"])[1][1]
        ok = ping == b"+PONG\r\n" and get[0] == "$" and get[1] and dbsize == args.keys
        print("store_restart: %d keys, PING and GET answered %.3f s after start (limit %.1f s)%s"
              % (dbsize, dt, args.limit, "" if ok else " WRONG REPLIES"))
        if not ok or dt > args.limit:
            return 1

        # After a crash, the journal's records since the last checkpoint
        # are applied again: a pipeline of writes, answered, then SIGKILL.
        n = 20000
        for i in range(n):
            conn.send([b"SET", b"late:%d" % i, b"v%d" % i])
        for i in range(n):
            if conn.read()[0] != b"+OK\r\n":
                print("store_restart: SET late:%d refused" % i)
                return 1
        proc.kill()
        proc.wait()
        proc, t0, conn = start_timed(args.ferry, port, d)
        if proc is None:
            return 1
        ping = conn.call([b"PING"])[0]
        get = conn.call([b"GET", b"late:%d" % (n - 1)])[1]
        dt = time.monotonic() - t0
        replayed = info_field(conn, "ferry_journal_bytes")
        dbsize = conn.call([b"DBSIZE"])[1][1]
        ok = ping == b"+PONG\r\n" and get == ("$", b"v%d" % (n - 1)) and dbsize == args.keys + n
        print("store_restart: after %d acknowledged SETs and kill -9, %d keys, PING and GET "
              "answered %.3f s after start, %s journal bytes applied again (limit %.1f s)%s"
              % (n, dbsize, dt, replayed, args.limit, "" if ok else " WRONG REPLIES"))
        return 0 if ok and dt <= args.limit else 1
    finally:
        if proc:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
