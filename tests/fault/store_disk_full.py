#!/usr/bin/env python3
"""A full disk under the single-node store (phase raft-only, sync always).

ferry runs on a small tmpfs that a filler file mostly occupies, and is written
to until the file system refuses a commit. Then:
  - every refused write gets Redis's words for a failed AOF write, with the
    reason: "-MISCONF Errors writing to the store: No space left on device";
  - reads go on, INFO says ferry_last_commit_status:err, and the log reports
    the failure in one line per 10 s, not one per commit;
  - SAVE fails, saying why, and a BGSAVE shows rdb_last_bgsave_status:err;
  - killed (SIGKILL) and restarted on the still-full disk, ferry starts and
    holds every acknowledged write, byte for byte;
  - once the filler is deleted, writes and BGSAVE succeed again, INFO and the
    log say so,
    and after another SIGKILL and restart nothing acknowledged is missing.

The tmpfs is mounted in a mount namespace of the test's own (unshare -m), so
it goes away with the test, whatever happens. Needs root (or unprivileged
user namespaces); prints SKIP and exits 0 when neither is available.

  store_disk_full.py FERRY
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "diff"))
from difftest import free_port  # noqa: E402
from ferryproc import start  # noqa: E402

FS_MB = 24
FILLER_MB = 12
VALUE_LEN = 100000
MISCONF = b"-MISCONF Errors writing to the store: No space left on device\r\n"
SAVE_FAILED = (b"-ERR ferry: save failed: No space left on device (acknowledged writes are "
               b"safe in the journal)\r\n")


def reexec_in_namespace():
    """Runs this script again inside a private mount namespace."""
    if os.environ.get("FERRY_DISKFULL_NS") == "1":
        return None
    env = dict(os.environ, FERRY_DISKFULL_NS="1")
    tries = [["unshare", "-m", "--propagation", "private"]] if os.geteuid() == 0 else []
    tries.append(["unshare", "-r", "-m", "--propagation", "private"])
    for pre in tries:
        probe = subprocess.run(pre + ["true"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        if probe.returncode == 0:
            return subprocess.run(pre + [sys.executable] + sys.argv, env=env).returncode
    print("store_disk_full: SKIP (cannot create a mount namespace: needs root or user "
          "namespaces)")
    return 0


def value(i):
    head = b"v%d:" % i
    return (head * (VALUE_LEN // len(head) + 1))[:VALUE_LEN]


def info_field(c, name):
    raw = c.call([b"INFO", b"persistence"])[1]
    for line in raw[1].decode().split("\r\n"):
        if line.startswith(name + ":"):
            return line.split(":", 1)[1]
    return None


def check_all(c, acked, what):
    n = c.call([b"DBSIZE"])[1][1]
    if n != len(acked):
        raise AssertionError("%s: DBSIZE %d, %d writes were acknowledged" % (what, n, len(acked)))
    for i in acked:
        got = c.call([b"GET", b"k%d" % i])[1]
        if got != ("$", value(i)):
            raise AssertionError("%s: k%d lost or wrong" % (what, i))


def run(ferry):
    tmp = tempfile.mkdtemp(prefix="ferry-diskfull.")
    fs = os.path.join(tmp, "fs")
    os.mkdir(fs)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % FS_MB, "tmpfs", fs], check=True)
    logpath = os.path.join(tmp, "ferry.log")
    log = open(logpath, "wb")
    proc = None
    try:
        filler = os.path.join(fs, "filler")
        with open(filler, "wb") as f:
            f.write(b"\0" * (FILLER_MB << 20))
        d = os.path.join(fs, "data")
        os.mkdir(d)
        port = free_port()
        proc, c = start(ferry, port, d, log, ["--store-size", "256mb"])

        acked, refused = [], 0
        for i in range(FS_MB * (1 << 20) // VALUE_LEN + 50):
            raw = c.call([b"SET", b"k%d" % i, value(i)])[0]
            if raw == b"+OK\r\n":
                acked.append(i)
            elif raw == MISCONF:
                refused += 1
            else:
                raise AssertionError("SET k%d on a full disk: %r" % (i, raw[:120]))
        if refused < 20 or len(acked) < 10:
            raise AssertionError("the disk never filled: %d acknowledged, %d refused"
                                 % (len(acked), refused))
        if info_field(c, "ferry_last_commit_status") != "err":
            raise AssertionError("INFO does not report the failing commits")
        check_all(c, acked, "reads on the full disk")
        # A save moves the journal into LMDB's files, which need room too:
        # it fails, saying why, and the journal keeps the writes.
        raw = c.call([b"SAVE"])[0]
        if raw != SAVE_FAILED:
            raise AssertionError("SAVE on the full disk: %r" % raw[:120])
        raw = c.call([b"BGSAVE"])[0]
        if raw != b"+Background saving started\r\n":
            raise AssertionError("BGSAVE on the full disk: %r" % raw[:120])
        if info_field(c, "rdb_last_bgsave_status") != "err":
            raise AssertionError("INFO does not report the failed BGSAVE")

        proc.kill()
        proc.wait()
        proc, c = start(ferry, port, d, log, ["--store-size", "256mb"])
        check_all(c, acked, "restart on the full disk")
        raw = c.call([b"SET", b"big", value(0)])[0]
        if raw != MISCONF:
            raise AssertionError("SET after restart on the full disk: %r" % raw[:120])

        os.unlink(filler)
        i = max(acked) + 1000
        raw = c.call([b"SET", b"k%d" % i, value(i)])[0]
        if raw != b"+OK\r\n":
            raise AssertionError("SET once the disk has room again: %r" % raw[:120])
        acked.append(i)
        if info_field(c, "ferry_last_commit_status") != "ok":
            raise AssertionError("INFO still reports failing commits")
        raw = c.call([b"BGSAVE"])[0]
        if (raw != b"+Background saving started\r\n" or
                info_field(c, "rdb_last_bgsave_status") != "ok" or
                info_field(c, "ferry_journal_bytes") != "0"):
            raise AssertionError("BGSAVE once the disk has room again: %r, INFO %s, %s"
                                 % (raw[:120], info_field(c, "rdb_last_bgsave_status"),
                                    info_field(c, "ferry_journal_bytes")))

        proc.kill()
        proc.wait()
        proc, c = start(ferry, port, d, log, ["--store-size", "256mb"])
        check_all(c, acked, "restart after the disk got room")
        proc.send_signal(signal.SIGTERM)
        proc.wait()
        proc = None

        log.close()
        lines = open(logpath, "rb").read().decode(errors="replace").splitlines()
        failed = [l for l in lines if "store commit failed" in l]
        again = [l for l in lines if "store commits succeed again" in l]
        if not failed or "No space left on device" not in failed[0]:
            raise AssertionError("the log does not give the reason: %r" % failed[:1])
        if len(failed) > 4:
            raise AssertionError("%d log lines for %d refused commits" % (len(failed), refused))
        if not again:
            raise AssertionError("the log does not say that commits succeed again")
        print("store_disk_full: %d writes acknowledged, %d refused with MISCONF (No space left "
              "on device), %d log lines; all acknowledged writes there after 2 kills and "
              "restarts" % (len(acked), refused, len(failed)))
        return 0
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        if not log.closed:
            log.close()
        subprocess.run(["umount", fs])
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    rc = reexec_in_namespace()
    if rc is not None:
        return rc
    try:
        return run(os.path.abspath(sys.argv[1]))
    except (AssertionError, RuntimeError) as e:
        print("store_disk_full: FAILED: %s" % e)
        return 1


if __name__ == "__main__":
    sys.exit(main())
