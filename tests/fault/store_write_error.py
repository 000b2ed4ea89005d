#!/usr/bin/env python3
"""A disk that fails LMDB's meta page write (phase raft-only, sync always).

ferry runs with the failwrite shim (LD_PRELOAD), which makes writes to the
first two pages of a file fail with EIO while a trigger file exists. After
some acknowledged writes the trigger is created, and then:
  - the write whose commit failed gets "-MISCONF Errors writing to the
    store: Input/output error";
  - LMDB takes no more transactions after a failed meta page write, so
    ferry says so in its log and exits with status 1 (as Redis exits on a
    failed AOF write under appendfsync always), rather than staying up
    unable to serve;
  - restarted without the fault, ferry holds every acknowledged write, the
    failed one is not there, and writes succeed.

  store_write_error.py FERRY FAILWRITE_SO
"""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "diff"))
from difftest import free_port  # noqa: E402
from ferryproc import start  # noqa: E402

MISCONF = b"-MISCONF Errors writing to the store: Input/output error\r\n"


def run(ferry, shim):
    tmp = tempfile.mkdtemp(prefix="ferry-writeerror.")
    d = os.path.join(tmp, "data")
    os.mkdir(d)
    trigger = os.path.join(tmp, "fail-now")
    logpath = os.path.join(tmp, "ferry.log")
    log = open(logpath, "wb")
    proc = None
    saved = {k: os.environ.get(k) for k in ("LD_PRELOAD", "FAILWRITE_TRIGGER")}
    try:
        port = free_port()
        os.environ["LD_PRELOAD"] = shim
        os.environ["FAILWRITE_TRIGGER"] = trigger
        proc, c = start(ferry, port, d, log)
        for k in ("LD_PRELOAD", "FAILWRITE_TRIGGER"):
            del os.environ[k]
        for i in range(100):
            raw = c.call([b"SET", b"k%d" % i, b"v%d" % i])[0]
            if raw != b"+OK\r\n":
                raise AssertionError("SET k%d before the fault: %r" % (i, raw))
        open(trigger, "w").close()
        raw = c.call([b"SET", b"lost", b"x"])[0]
        if raw != MISCONF:
            raise AssertionError("SET on the failing disk: %r" % raw)
        try:
            status = proc.wait(timeout=15)
        except Exception:
            raise AssertionError("ferry did not exit after LMDB became unusable")
        proc = None
        if status != 1:
            raise AssertionError("ferry exited with status %d, want 1" % status)
        os.unlink(trigger)

        proc, c = start(ferry, port, d, log)
        n = c.call([b"DBSIZE"])[1][1]
        if n != 100:
            raise AssertionError("DBSIZE %d after restart, 100 writes were acknowledged" % n)
        for i in range(100):
            got = c.call([b"GET", b"k%d" % i])[1]
            if got != ("$", b"v%d" % i):
                raise AssertionError("k%d after restart: %r" % (i, got))
        if c.call([b"EXISTS", b"lost"])[1][1] != 0:
            raise AssertionError("the write whose commit failed is there after restart")
        raw = c.call([b"SET", b"after", b"1"])[0]
        if raw != b"+OK\r\n":
            raise AssertionError("SET after restart: %r" % raw)
        proc.terminate()
        proc.wait()
        proc = None

        log.close()
        text = open(logpath, "rb").read().decode(errors="replace")
        if "cannot go on after a failed write of its meta page (Input/output error)" not in text:
            raise AssertionError("the log does not say why ferry exited")
        print("store_write_error: a failed meta page write answered MISCONF (Input/output "
              "error), ferry exited with status 1, and restarted with all 100 acknowledged "
              "writes and without the failed one")
        return 0
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if proc is not None:
            proc.kill()
            proc.wait()
        if not log.closed:
            log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    try:
        return run(os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]))
    except (AssertionError, RuntimeError) as e:
        print("store_write_error: FAILED: %s" % e)
        return 1


if __name__ == "__main__":
    sys.exit(main())
