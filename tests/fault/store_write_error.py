#!/usr/bin/env python3
"""A disk that fails writes (phase raft-only, sync always).

ferry runs with the failwrite shim (LD_PRELOAD), which makes writes to the
first two pages of one file fail with EIO while a trigger file exists.

The journal's head (FAILWRITE_FILE=journal). Once a checkpoint has emptied
the journal, the trigger is created:
  - a write whose journal record cannot be written gets "-MISCONF Errors
    writing to the store: Input/output error", and ferry stays up: reads
    are served, INFO says ferry_last_commit_status:err;
  - once the fault is gone, writes succeed again;
  - after kill -9 and a restart, every acknowledged write is there and the
    refused one is not.

LMDB's meta pages (FAILWRITE_FILE=data.mdb). After some acknowledged
writes the trigger is created; writes go on being acknowledged (the journal
holds them), and then:
  - the checkpoint's meta page write fails; LMDB takes no more transactions
    after that, so ferry says so in its log and exits with status 1 (as
    Redis exits on a failed AOF write under appendfsync always), rather than
    staying up unable to serve;
  - restarted without the fault, ferry holds every acknowledged write, those
    made after the fault began included, and writes succeed.

  store_write_error.py FERRY FAILWRITE_SO
"""
import os
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "diff"))
from difftest import free_port  # noqa: E402
from ferryproc import start  # noqa: E402

MISCONF = b"-MISCONF Errors writing to the store: Input/output error\r\n"


def info_field(c, name):
    text = c.call([b"INFO"])[1][1].decode()
    for line in text.split("\r\n"):
        if line.startswith(name + ":"):
            return line.split(":", 1)[1]
    raise AssertionError("INFO has no %s" % name)


def start_shimmed(ferry, port, d, log, shim, trigger, only):
    saved = {k: os.environ.get(k) for k in ("LD_PRELOAD", "FAILWRITE_TRIGGER", "FAILWRITE_FILE")}
    os.environ.update(LD_PRELOAD=shim, FAILWRITE_TRIGGER=trigger, FAILWRITE_FILE=only)
    try:
        return start(ferry, port, d, log)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def check_present(c, acked, absent=()):
    for k, v in acked.items():
        got = c.call([b"GET", k])[1]
        if got != ("$", v):
            raise AssertionError("acknowledged %s after restart: %r" % (k.decode(), got))
    for k in absent:
        if c.call([b"EXISTS", k])[1][1] != 0:
            raise AssertionError("%s, whose write was refused, is there after restart" %
                                 k.decode())


def journal_head(ferry, shim, tmp, log):
    d = os.path.join(tmp, "journal-head")
    os.mkdir(d)
    trigger = os.path.join(tmp, "fail-journal")
    port = free_port()
    proc, c = start_shimmed(ferry, port, d, log, shim, trigger, "journal")
    try:
        acked = {}
        for i in range(100):
            k, v = b"j%d" % i, b"v%d" % i
            if c.call([b"SET", k, v])[0] != b"+OK\r\n":
                raise AssertionError("SET %s before the fault" % k.decode())
            acked[k] = v
        deadline = time.time() + 10
        while info_field(c, "ferry_journal_bytes") != "0":
            if time.time() > deadline:
                raise AssertionError("no checkpoint emptied the journal within 10 s")
            time.sleep(0.05)
        open(trigger, "w").close()
        raw = c.call([b"SET", b"refused", b"x"])[0]
        if raw != MISCONF:
            raise AssertionError("SET with a failing journal: %r" % raw)
        if c.call([b"GET", b"j7"])[1] != ("$", b"v7"):
            raise AssertionError("reads stopped while the journal fails")
        if info_field(c, "ferry_last_commit_status") != "err":
            raise AssertionError("INFO does not report the failed commit")
        if proc.poll() is not None:
            raise AssertionError("ferry exited on a failed journal write")
        os.unlink(trigger)
        if c.call([b"SET", b"after", b"y"])[0] != b"+OK\r\n":
            raise AssertionError("SET once the journal is writable again")
        acked[b"after"] = b"y"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc, c = start(ferry, port, d, log)
        check_present(c, acked, [b"refused"])
        proc.terminate()
        proc.wait()
        proc = None
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()


def meta_pages(ferry, shim, tmp, log, logpath):
    d = os.path.join(tmp, "meta-pages")
    os.mkdir(d)
    trigger = os.path.join(tmp, "fail-meta")
    port = free_port()
    proc, c = start_shimmed(ferry, port, d, log, shim, trigger, "data.mdb")
    try:
        acked = {}
        for i in range(100):
            k, v = b"k%d" % i, b"v%d" % i
            if c.call([b"SET", k, v])[0] != b"+OK\r\n":
                raise AssertionError("SET %s before the fault" % k.decode())
            acked[k] = v
        open(trigger, "w").close()
        late = 0
        deadline = time.time() + 15
        while proc.poll() is None and time.time() < deadline:
            k, v = b"late%d" % late, b"x%d" % late
            try:
                raw = c.call([b"SET", k, v])[0]
            except (OSError, EOFError, RuntimeError):
                break
            if raw == b"+OK\r\n":
                acked[k] = v
            late += 1
            time.sleep(0.01)
        try:
            status = proc.wait(timeout=5)
        except Exception:
            raise AssertionError("ferry did not exit after LMDB became unusable")
        proc = None
        if status != 1:
            raise AssertionError("ferry exited with status %d, want 1" % status)
        os.unlink(trigger)
        proc, c = start(ferry, port, d, log)
        check_present(c, acked)
        if c.call([b"SET", b"after", b"1"])[0] != b"+OK\r\n":
            raise AssertionError("SET after restart")
        proc.terminate()
        proc.wait()
        proc = None
        log.flush()
        text = open(logpath, "rb").read().decode(errors="replace")
        if "cannot go on after a failed write of its meta page (Input/output error)" not in text:
            raise AssertionError("the log does not say why ferry exited")
        return len(acked) - 100
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()


def run(ferry, shim):
    tmp = tempfile.mkdtemp(prefix="ferry-writeerror.")
    logpath = os.path.join(tmp, "ferry.log")
    log = open(logpath, "wb")
    try:
        journal_head(ferry, shim, tmp, log)
        late = meta_pages(ferry, shim, tmp, log, logpath)
        print("store_write_error: a failed journal write answered MISCONF (Input/output error) "
              "and ferry went on; a failed meta page write at a checkpoint made ferry exit "
              "with status 1; after restarts every acknowledged write was there (%d of them "
              "acknowledged after the meta page fault began) and the refused one was not" % late)
        return 0
    finally:
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
