#!/usr/bin/env python3
"""Differential test: the same random command stream to a real redis-server
and to ferry (or to the store alone through store-pipe); replies compared
byte for byte, with order-free replies normalized (see gen.py for the kinds).

  difftest.py --ferry build/ferry -n 200000 --seed 1
  difftest.py --pipe build/tests/diff/store-pipe -n 50000 --seed 7

On a difference it prints the seed, the shortest command sequence it could
find that still shows it (replayed on fresh servers), and both replies, and
exits 1.
"""
import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen  # noqa: E402
from gen import Cmd  # noqa: E402


def enc(argv):
    out = [b"*%d\r\n" % len(argv)]
    for a in argv:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


REPLY_TIMEOUT = 10


class Conn:
    """A RESP connection over a socket or a pair of pipes."""

    def __init__(self, rfile, wfile, name):
        self.r, self.w, self.name = rfile, wfile, name
        self.on_call = None  # called before each call (Events.touched)

    @classmethod
    def tcp(cls, port, name):
        for _ in range(200):
            try:
                s = socket.create_connection(("127.0.0.1", port))
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("cannot connect to %s on %d" % (name, port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # No command here waits long (blocking ones have short timeouts or a
        # waker): a reply that never comes is a failure, not a hang.
        s.settimeout(REPLY_TIMEOUT)
        c = cls(s.makefile("rb"), s.makefile("wb"), name)
        c.sock = s
        return c

    def send(self, argv):
        self.w.write(enc(argv))
        self.w.flush()

    def call(self, argv):
        if self.on_call:
            self.on_call()
        self.send(argv)
        return self.read()

    def read(self):
        raw = []
        val = self._read(raw)
        return b"".join(raw), val

    def _read(self, raw):
        line = self.r.readline()
        if not line:
            raise EOFError("%s closed the connection" % self.name)
        raw.append(line)
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return ("+", rest)
        if t == b"-":
            return ("-", rest)
        if t == b":":
            return (":", int(rest))
        if t == b"$":
            n = int(rest)
            if n < 0:
                return ("$", None)
            data = self.r.read(n + 2)
            raw.append(data)
            return ("$", data[:-2])
        if t == b"*":
            n = int(rest)
            if n < 0:
                return ("*", None)
            return ("*", [self._read(raw) for _ in range(n)])
        # RESP3 (--resp3): the type is kept, so that comparing values
        # compares types too; a map's items come flat, as RESP2's.
        if t in (b"~", b">"):
            return (t.decode(), [self._read(raw) for _ in range(int(rest))])
        if t == b"%":
            return ("%", [self._read(raw) for _ in range(2 * int(rest))])
        if t == b"_":
            return ("_", None)
        if t in (b",", b"#", b"("):
            return (t.decode(), rest)
        if t == b"=":
            data = self.r.read(int(rest) + 2)
            raw.append(data)
            return ("=", data[:-2])
        raise RuntimeError("%s sent a bad reply line %r" % (self.name, line))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Servers:
    """redis-server and the target, started fresh; stop() reaps both."""

    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="ferry-diff.")
        self.procs = []
        rport = free_port()
        self.procs.append(subprocess.Popen(
            [args.redis_server, "--port", str(rport), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.tmp, "--daemonize", "no",
             "--logfile", os.path.join(self.tmp, "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self.redis = Conn.tcp(rport, "redis")
        self.redis2 = Conn.tcp(rport, "redis")
        self.rport = rport
        if args.pipe:
            d = os.path.join(self.tmp, "store")
            os.mkdir(d)
            p = subprocess.Popen([args.pipe, d], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            self.procs.append(p)
            self.target = Conn(p.stdout, p.stdin, "store-pipe")
            self.target2 = None
        else:
            fport = free_port()
            d = os.path.join(self.tmp, "ferry")
            os.mkdir(d)
            cmd = [args.ferry, "--phase", "raft-only", "--port", str(fport), "--dir", d,
                   "--sync", "no"] + (args.ferry_arg or [])
            self.procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                               stderr=open(os.path.join(self.tmp, "ferry.log"), "wb")))
            self.target = Conn.tcp(fport, "ferry")
            self.target2 = Conn.tcp(fport, "ferry")
        # The commands under test go on redis/target (and redis2/target2);
        # the test's own reads (contents, resyncs, store snapshots) on
        # hredis/htarget, which stay RESP2.
        self.hredis, self.htarget = self.redis, self.target
        self.events = None
        if args.resp3 or args.events is not None:
            self.hredis, self.htarget = Conn.tcp(rport, "redis"), Conn.tcp(fport, "ferry")
        if args.events is not None:
            self.events = Events(self, rport, fport, args.events.encode())
            for c in (self.redis, self.redis2, self.target, self.target2):
                raw, v = c.call([b"HELLO", b"3"])
                if v[0] != "%":
                    self.stop()  # the caller has no Servers to stop yet
                    raise RuntimeError("%s refused HELLO 3: %r" % (c.name, raw))

    def stop(self):
        for p in self.procs:
            try:
                p.kill()
            except OSError:
                pass
            p.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def flush(self):
        if self.events:
            self.events.touched()
        self.redis.call([b"FLUSHALL"])
        self.target.call([b"FLUSHALL"])


class Events:
    """Keyspace events (--events CLASSES): a subscriber to __key*__:* on
    each server, and after each command under test a marker published on
    both, so that the events the command caused are compared as one list.
    The test's own commands (contents, resyncs, store snapshots) cause
    events too: those are read past, up to a marker, before the next
    command. 'expired' is left out: when a key expires is each server's
    active expiry's choice."""

    MARK = b"__keymark__:m"

    def __init__(self, srv, rport, fport, classes):
        self.dirty = False
        for c in (srv.hredis, srv.htarget):
            raw, v = c.call([b"CONFIG", b"SET", b"notify-keyspace-events", classes])
            if v[0] != "+":
                raise RuntimeError("%s refused notify-keyspace-events: %r" % (c.name, raw))
        self.subs, self.pubs = [], []
        for port, name in ((rport, "redis"), (fport, "ferry")):
            sub = Conn.tcp(port, name + " subscriber")
            sub.call([b"PSUBSCRIBE", b"__key*__:*"])
            self.subs.append(sub)
            self.pubs.append(Conn.tcp(port, name))
        srv.hredis.on_call = srv.htarget.on_call = self.touched

    def touched(self):
        self.dirty = True

    def _take(self):
        out = []
        for sub, pub in zip(self.subs, self.pubs):
            pub.call([b"PUBLISH", self.MARK, b"x"])
            evs = []
            while True:
                v = sub.read()[1][1]
                ch, msg = v[2][1], v[3][1]
                if ch == self.MARK:
                    break
                if msg != b"expired" and ch != b"__keyevent@0__:expired":
                    evs.append(ch + b" " + msg)
            out.append(evs)
        return out

    def skip(self):
        """Reads past the events of the test's own commands."""
        if self.dirty:
            self._take()
            self.dirty = False

    def check(self, any_order=False):
        a, b = self._take()
        if any_order:
            a, b = sorted(a), sorted(b)
        if a != b:
            raise Mismatch("keyspace events", b"\n".join(a), b"\n".join(b))


# ------------------------------------------------------------------ comparing

def items(v):
    return v[1] if v[0] in ("*", "~", "%", ">") and v[1] is not None else None


def raw_of(v):
    t, x = v
    if t in ("+", "-", ",", "#", "(", "="):
        return t.encode() + x
    if t == ":":
        return b":%d" % x
    if t == "$":
        return b"$-" if x is None else b"$" + x
    if x is None:
        return t.encode() + b"-"
    return t.encode() + b"[" + b",".join(raw_of(e) for e in x) + b"]"


def norm_set(v):
    it = items(v)
    if it is None:
        return raw_of(v)
    return [v[0]] + sorted(raw_of(e) for e in it)


def norm_pairs(v):
    it = items(v)
    if it is None or len(it) % 2:
        return raw_of(v)
    return [v[0]] + sorted((raw_of(it[i]), raw_of(it[i + 1])) for i in range(0, len(it), 2))


def scan_all(conn, argv):
    """Runs a SCAN-family command to completion; returns ('err', raw) or
    ('ok', set of elements or pairs)."""
    ci = 1 if argv[0].upper() == b"SCAN" else 2
    pairs = argv[0].upper() in (b"HSCAN", b"ZSCAN")
    a = list(argv)
    seen = set()
    for _ in range(100000):
        raw, v = conn.call(a)
        if v[0] != "*":
            return ("err", raw)
        cur, els = v[1][0][1], items(v[1][1])
        if pairs:
            for i in range(0, len(els), 2):
                seen.add((els[i][1], els[i + 1][1]))
        else:
            seen.update(e[1] for e in els)
        if cur == b"0":
            return ("ok", seen)
        a[ci] = cur
    return ("err", b"endless scan")


TTL_TOL = {b"TTL": 1, b"PTTL": 1500, b"EXPIRETIME": 2, b"PEXPIRETIME": 1500}


class Mismatch(Exception):
    def __init__(self, msg, a=b"", b=b""):
        super().__init__(msg)
        self.a, self.b = a, b


def contents(conn, key):
    """The collection at key as seen by conn (for random-reply checks)."""
    _, t = conn.call([b"TYPE", key])
    t = t[1]
    if t == b"set":
        return t, set(e[1] for e in conn.call([b"SMEMBERS", key])[1][1])
    if t == b"hash":
        it = conn.call([b"HGETALL", key])[1][1]
        return t, {it[i][1]: it[i + 1][1] for i in range(0, len(it), 2)}
    if t == b"zset":
        it = conn.call([b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"])[1][1]
        return t, {it[i][1]: it[i + 1][1] for i in range(0, len(it), 2)}
    return t, None


def check_random(cmd, ra, va, rb, vb, before):
    name = cmd.argv[0].upper()
    if va[0] == "-" or vb[0] == "-" or va[0] != vb[0]:
        if ra != rb:
            raise Mismatch("reply", ra, rb)
        return
    if name == b"RANDOMKEY":
        if (va[1] is None) != (vb[1] is None):
            raise Mismatch("RANDOMKEY null-ness", ra, rb)
        return
    typ, coll = before
    if va[0] == "$":
        if (va[1] is None) != (vb[1] is None):
            raise Mismatch("null-ness", ra, rb)
        if vb[1] is not None and (coll is None or vb[1] not in coll):
            raise Mismatch("element not in the collection", ra, rb)
        return
    if va[0] in ("*", "~"):
        a, b = items(va), items(vb)
        if (a is None) != (b is None) or (a is not None and len(a) != len(b)):
            raise Mismatch("count", ra, rb)
        if not b:
            return
        withv = len(cmd.argv) == 4 and name in (b"HRANDFIELD", b"ZRANDMEMBER")
        els = []
        for e in b:  # RESP3 gives [field, value] pairs
            els += [x[1] for x in e[1]] if e[0] == "*" else [e[1]]
        if withv:
            ps = [(els[i], els[i + 1]) for i in range(0, len(els), 2)]
            for m, v in ps:
                if coll is None or coll.get(m) != v:
                    raise Mismatch("pair not in the collection", ra, rb)
            names = [m for m, _ in ps]
        else:
            names = els
            for m in names:
                if coll is None or m not in coll:
                    raise Mismatch("element not in the collection", ra, rb)
        count = int(cmd.argv[2]) if len(cmd.argv) > 2 else 1
        if (count > 0 or name == b"SPOP") and len(set(names)) != len(names):
            raise Mismatch("duplicates in a distinct sample", ra, rb)
        return
    if ra != rb:
        raise Mismatch("reply", ra, rb)


def resync(srv, key):
    """After SPOP the two stores hold different members: copy redis's state
    of key to the target."""
    r, t = srv.hredis, srv.htarget
    typ, coll = contents(r, key)
    if typ not in (b"set", b"none"):
        return
    t.call([b"DEL", key])
    if typ == b"set" and coll:
        t.call([b"SADD", key] + sorted(coll))
        pttl = r.call([b"PEXPIRETIME", key])[1][1]
        if pttl > 0:
            t.call([b"PEXPIREAT", key, str(pttl).encode()])


def sparse_cut_off(v):
    """Whether v is a sparse HyperLogLog whose last opcode is an XZERO cut
    off after its first byte. Redis reads the byte after the value for its
    second, and an update can leave a byte there that no reply shows; ferry
    reads 0 there (docs/ARCHITECTURE.md)."""
    if len(v) < 17 or v[:5] != b"HYLL\x01":
        return False
    i = 16
    while i < len(v):
        i += 2 if v[i] & 0xc0 == 0x40 else 1
    return i > len(v)


def refresh_hll(srv, keys):
    """Rewrites a cut-off sparse HyperLogLog on Redis with its own bytes, so
    that the byte after it is Redis's terminator again."""
    for k in keys or ():
        if k not in HLL_KEYS:
            continue
        raw, v = srv.hredis.call([b"GET", k])
        if v[0] == "$" and v[1] is not None and sparse_cut_off(v[1]):
            srv.hredis.call([b"SET", k, v[1], b"KEEPTTL"])


HLL_KEYS = [k.encode() for k in gen.HLL_KEYS]


def mixed_skiplist(conn, key):
    """Whether key is a zset Redis keeps as a skiplist with unequal scores:
    lex ranges over it follow the skiplist's random levels."""
    enc = conn.call([b"OBJECT", b"ENCODING", key])[1]
    if enc != ("$", b"skiplist"):
        return False
    it = conn.call([b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"])[1][1]
    return len(set(it[i][1] for i in range(1, len(it), 2))) > 1


def resync_zset(srv, key):
    r, t = srv.hredis, srv.htarget
    if r.call([b"TYPE", key])[1][1] not in (b"zset", b"none"):
        return
    it = r.call([b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"])[1][1]
    t.call([b"DEL", key])
    if it:
        # Redis keeps a shrunk zset a skiplist (which keeps -0 scores): get
        # the copy there too, before its members, by passing 128 entries;
        # then drop the extras.
        extra = [b"\x00resync%d" % i for i in range(129)]
        skiplist = r.call([b"OBJECT", b"ENCODING", key])[1] == ("$", b"skiplist")
        if skiplist:
            t.call([b"ZADD", key] + [x for e in extra for x in (b"0", e)])
        args = [b"ZADD", key]
        for i in range(0, len(it), 2):
            args += [it[i + 1][1], it[i][1]]
        t.call(args)
        if skiplist:
            t.call([b"ZREM", key] + extra)
        pt = r.call([b"PEXPIRETIME", key])[1][1]
        if pt > 0:
            t.call([b"PEXPIREAT", key, str(pt).encode()])


def sort_opts(argv):
    """What a SORT asks for: (alpha, the last BY pattern or None, whether
    any BY pattern lacks a '*', LIMIT given, STORE key). Redis reads a
    pattern as a C string, and one BY without a '*' turns sorting off for
    good: a later BY pattern does not turn it on again."""
    alpha, by, nosort, limit, store = False, None, False, False, None
    i = 2
    while i < len(argv):
        w, left = argv[i].upper(), len(argv) - i - 1
        if w == b"ALPHA":
            alpha = True
        elif w == b"LIMIT" and left >= 2:
            limit, i = True, i + 2
        elif w == b"STORE" and left >= 1:
            store, i = argv[i + 1], i + 1
        elif w in (b"BY", b"GET") and left >= 1:
            if w == b"BY":
                by = argv[i + 1]
                nosort |= b"*" not in by.split(b"\0")[0]
            i += 1
        i += 1
    return alpha, by, nosort, limit, store


def run_sort(srv, cmd):
    """SORT compared exactly where Redis defines the order. It does not for
    a set not sorted (BY without '*', no STORE: the set's hash order), nor
    among elements that tie in an ALPHA sort BY a pattern, which keep the
    order they were loaded in: a set's or sorted set's hash order, or, with
    LIMIT, wherever Redis's partial quicksort puts them. There the replies
    are compared as multisets (only their size with LIMIT), and a stored
    result is copied from Redis to the target."""
    alpha, by, nosort, limit, store = sort_opts(cmd.argv)
    typ = srv.redis.call([b"TYPE", cmd.argv[1]])[1][1]
    undefined = ((typ == b"set" and nosort and store is None) or
                 (not nosort and by is not None and alpha and
                  (typ in (b"set", b"zset") or limit)))
    # Redis 7.0's SORT tests errno after strtod without clearing it first:
    # an ERANGE left by an earlier command (ZADD 1e-400, say) fails it.
    # ZUNION's WEIGHTS parse clears errno.
    srv.redis.call([b"ZUNION", b"1", b"\0nokey", b"WEIGHTS", b"1"])
    if srv.events:
        srv.events.touched()  # the TYPE and ZUNION above miss keys
        srv.events.skip()
    ra, va = srv.redis.call(cmd.argv)
    rb, vb = srv.target.call(cmd.argv)
    if srv.events:
        # BY and GET look keys up in the order the elements were loaded:
        # a set's or sorted set's hash order; and where the order is
        # Redis's choice, so are the elements GET looks up.
        if undefined:
            srv.events.touched()
        else:
            srv.events.check(any_order=typ in (b"set", b"zset"))
    if not undefined or va[0] == "-" or vb[0] == "-":
        if ra != rb:
            raise Mismatch("reply", ra, rb)
        return
    if va[0] != vb[0]:
        raise Mismatch("reply type", ra, rb)
    if va[0] == ":":
        if ra != rb:
            raise Mismatch("reply", ra, rb)
        got = [srv.hredis.call([b"LRANGE", store, b"0", b"-1"])[1],
               srv.htarget.call([b"LRANGE", store, b"0", b"-1"])[1]]
        if not limit and norm_set(got[0]) != norm_set(got[1]):
            raise Mismatch("stored sort result", raw_of(got[0]), raw_of(got[1]))
        srv.htarget.call([b"DEL", store])
        els = [e[1] for e in items(got[0]) or []]
        if els:
            srv.htarget.call([b"RPUSH", store] + els)
        return
    if limit:
        if len(items(va) or []) != len(items(vb) or []):
            raise Mismatch("sort reply size", ra, rb)
    elif norm_set(va) != norm_set(vb):
        raise Mismatch("sort reply", ra, rb)


def run_one(srv, cmd):
    """Sends cmd to both; raises Mismatch on a difference."""
    if srv.events:
        srv.events.skip()
    run_cmd(srv, cmd)
    refresh_hll(srv, HLL_KEYS if cmd.keys is None else cmd.keys)


def run_cmd(srv, cmd):
    name = cmd.argv[0].upper()
    if cmd.kind == "sort":
        return run_sort(srv, cmd)
    if cmd.kind == "scan":
        a, b = scan_all(srv.redis, cmd.argv), scan_all(srv.target, cmd.argv)
        if a != b:
            raise Mismatch("scan result", repr(a).encode(), repr(b).encode())
        if srv.events:
            srv.events.check()
        return
    if cmd.kind == "tx":
        return run_tx(srv, cmd)
    if cmd.kind == "dump":
        return run_dump(srv, cmd)
    if cmd.kind == "restore":
        return run_restore(srv, cmd)
    if cmd.kind == "block":
        return run_block(srv, cmd)
    before = None
    # A lex range over a sorted set of unequal scores that Redis keeps as a
    # skiplist follows the skiplist's random levels (ZRANGESTORE: its
    # source is argv[2]); what such a range wrote is copied to the target.
    stores = name == b"ZRANGESTORE"
    writes = stores or name == b"ZREMRANGEBYLEX"
    undefined_lex = cmd.kind == "lex" and mixed_skiplist(srv.hredis, cmd.argv[2 if stores else 1])
    if cmd.kind == "random" and name != b"RANDOMKEY":
        before = contents(srv.hredis, cmd.argv[1])
    if srv.events:
        srv.events.skip()  # the reads above
    ra, va = srv.redis.call(cmd.argv)
    rb, vb = srv.target.call(cmd.argv)
    if srv.events:
        # What a lex range over such a skiplist does is Redis's choice.
        if undefined_lex:
            srv.events.touched()
        else:
            srv.events.check()
    if cmd.kind == "exact":
        if ra != rb:
            raise Mismatch("reply", ra, rb)
    elif cmd.kind == "lex":
        if ra != rb:
            if not undefined_lex:
                raise Mismatch("reply", ra, rb)
            if va[0] != vb[0]:
                raise Mismatch("reply type", ra, rb)
            resync_zset(srv, cmd.argv[1])
        elif undefined_lex and writes:
            resync_zset(srv, cmd.argv[1])
    elif cmd.kind == "set":
        if norm_set(va) != norm_set(vb):
            raise Mismatch("set reply", ra, rb)
    elif cmd.kind == "pairs":
        if norm_pairs(va) != norm_pairs(vb):
            raise Mismatch("pairs reply", ra, rb)
    elif cmd.kind == "ttl":
        if va[0] != ":" or vb[0] != ":":
            if ra != rb:
                raise Mismatch("reply", ra, rb)
        elif va[1] < 0 or vb[1] < 0:
            if va[1] != vb[1]:
                raise Mismatch("ttl", ra, rb)
        elif abs(va[1] - vb[1]) > TTL_TOL.get(name, 1):
            raise Mismatch("ttl beyond tolerance", ra, rb)
    elif cmd.kind == "size":
        if (va[0] == ":") != (vb[0] == ":") or (va[0] != ":" and ra != rb):
            raise Mismatch("reply", ra, rb)
    elif cmd.kind == "random":
        check_random(cmd, ra, va, rb, vb, before)
        if name == b"SPOP":
            resync(srv, cmd.argv[1])
    else:
        raise RuntimeError("unknown kind " + cmd.kind)


DUMP_TMP = b"\x00dump"


def run_dump(srv, cmd):
    """DUMP: the same reply where it is no payload; otherwise each payload
    is restored into both servers, and all four must hold the same value
    (the payloads themselves differ where Redis's hash tables order a set
    or hash, and a payload restored need not be the key it came from: a
    small sorted set becomes a listpack, which has no -0)."""
    ra, va = srv.redis.call(cmd.argv)
    rb, vb = srv.target.call(cmd.argv)
    if srv.events:
        srv.events.check()
    if va[0] != "$" or vb[0] != "$" or va[1] is None or vb[1] is None:
        if ra != rb:
            raise Mismatch("reply", ra, rb)
        return
    got = []
    for payload in (va[1], vb[1]):
        for conn in (srv.hredis, srv.htarget):
            raw, v = conn.call([b"RESTORE", DUMP_TMP, b"0", payload, b"REPLACE"])
            if v[0] != "+":
                raise Mismatch("RESTORE of a DUMP payload on " + conn.name, ra, rb + raw)
            got.append(key_state(conn, DUMP_TMP))
            conn.call([b"DEL", DUMP_TMP])
    names = ["redis restoring redis's", "ferry restoring redis's", "redis restoring ferry's",
             "ferry restoring ferry's"]
    for i in range(1, 4):
        if got[i] != got[0]:
            raise Mismatch("%s payload of %r gives another value than %s" %
                           (names[i], cmd.argv[1], names[0]),
                           repr(got[0]).encode(), repr(got[i]).encode())


def run_restore(srv, cmd):
    """RESTORE with Redis's DUMP of extra[0] as it is now."""
    src, corrupt = cmd.extra
    payload = srv.hredis.call([b"DUMP", src])[1][1]
    if payload is None:
        payload = b"\x00\x03abc\n\x00" + b"\x00" * 8  # a wrong checksum
    if corrupt and payload:
        i = len(payload) // 2
        payload = payload[:i] + bytes([payload[i] ^ 0x5a]) + payload[i + 1:]
    if srv.events:
        srv.events.skip()
    argv = cmd.argv[:3] + [payload] + cmd.argv[4:]
    ra, va = srv.redis.call(argv)
    rb, vb = srv.target.call(argv)
    if srv.events:
        srv.events.check()
    if ra != rb:
        raise Mismatch("reply", ra, rb)


def run_tx(srv, tx):
    """tx.extra = (watch_keys, interfering command or None, queued commands)."""
    watch, interfere, cmds = tx.extra
    for conn in (srv.redis, srv.target):
        pass
    replies = []
    for conn, other in ((srv.redis, srv.redis2), (srv.target, srv.target2)):
        out = []
        if watch:
            out.append(conn.call([b"WATCH"] + watch)[0])
        if interfere is not None:
            out.append(other.call(interfere.argv)[0])
        out.append(conn.call([b"MULTI"])[0])
        for c in cmds:
            out.append(conn.call(c.argv)[0])
        out.append(conn.call([b"EXEC"])[0])
        replies.append(b"".join(out))
    if replies[0] != replies[1]:
        raise Mismatch("transaction", replies[0], replies[1])
    if srv.events:
        srv.events.check()


def run_block(srv, b):
    """b.extra = (blocking command, waker command): the blocking command on
    the second connection finds nothing and waits; the waker (on the first)
    serves it."""
    blocker, waker = b.extra
    srv.redis.call(b.argv)
    srv.target.call(b.argv)
    outs = []
    for conn, other in ((srv.redis, srv.redis2), (srv.target, srv.target2)):
        other.send(blocker.argv)
        time.sleep(0.02)
        out = conn.call(waker.argv)[0]
        out += other.read()[0]
        outs.append(out)
    if outs[0] != outs[1]:
        raise Mismatch("blocked pop", outs[0], outs[1])
    if srv.events:
        srv.events.check()


def gen_block(rng, now):
    ks = rng.sample(gen.LIST_KEYS, rng.randint(1, 2))
    r = rng.random()
    if r < 0.4:
        blocker = Cmd(["BLPOP"] + ks + ["0"])
    elif r < 0.7:
        blocker = Cmd(["BRPOP"] + ks + ["2"])
    else:
        ks = ks[:1]
        blocker = Cmd(["BLMOVE", ks[0], rng.choice(gen.LIST_KEYS), rng.choice(["LEFT", "RIGHT"]),
                       rng.choice(["LEFT", "RIGHT"]), "0"])
    k = rng.choice(ks)
    waker = Cmd([rng.choice(["RPUSH", "LPUSH"]), k] +
                [rng.choice(gen.MEMBERS[:6]) for _ in range(rng.randint(1, 3))])
    # The blocked keys must be empty first (not lists of other types).
    allk = ks + [blocker.argv[2].decode()] if blocker.argv[0] == b"BLMOVE" else ks
    return Cmd(["DEL"] + allk, kind="block", keys=allk, extra=(blocker, waker))


def gen_tx(rng, now):
    watch = [k.encode() for k in rng.sample(gen.ALL_KEYS, rng.randint(0, 2))]
    interfere = None
    if watch and rng.random() < 0.5:
        k = rng.choice(watch + [b"s0"])
        interfere = Cmd([b"SET", k, b"w"] if rng.random() < 0.7 else [b"GET", k], keys=[k])
    cmds = []
    for _ in range(rng.randint(0, 4)):
        c = gen.gen_command(rng, now)
        while c.kind != "exact" or c.argv[0].upper() in (b"FLUSHALL", b"FLUSHDB"):
            c = gen.gen_command(rng, now)
        cmds.append(c)
    keys = list(watch) + [k for c in cmds for k in (c.keys or [])]
    if interfere:
        keys += interfere.keys
    allk = any(c.keys is None for c in cmds)
    t = Cmd([b"MULTI"], kind="tx", keys=None if allk else keys, extra=(watch, interfere, cmds))
    return t


def describe(cmd):
    if cmd.kind == "block":
        return "%r ; (other client, blocks) %r ; %r" % (cmd, cmd.extra[0], cmd.extra[1])
    if cmd.kind == "tx":
        watch, interfere, cmds = cmd.extra
        parts = []
        if watch:
            parts.append("WATCH " + " ".join(k.decode() for k in watch))
        if interfere:
            parts.append("(other client) %r" % interfere)
        parts.append("MULTI")
        parts += ["%r" % c for c in cmds]
        parts.append("EXEC")
        return " ; ".join(parts)
    if cmd.kind == "restore":
        return "%r (the payload: DUMP %s%s)" % (cmd, cmd.extra[0].decode(),
                                                ", a byte changed" if cmd.extra[1] else "")
    return repr(cmd)


def generate(seed, n, with_tx):
    rng = random.Random(seed)
    now = int(time.time() * 1000)
    out = []
    for _ in range(n):
        if with_tx and rng.random() < 0.01:
            out.append(gen_tx(rng, now))
        elif with_tx and rng.random() < 0.001:
            out.append(gen_block(rng, now))
        else:
            out.append(gen.gen_command(rng, now))
    return out


def key_state(conn, k):
    """Key k as comparable data: (type, content, has_ttl)."""
    t = conn.call([b"TYPE", k])[1][1]
    if t == b"string":
        v = conn.call([b"GET", k])[0]
    elif t == b"list":
        v = conn.call([b"LRANGE", k, b"0", b"-1"])[0]
    elif t == b"zset":
        v = conn.call([b"ZRANGE", k, b"0", b"-1", b"WITHSCORES"])[0]
    elif t == b"set":
        v = tuple(norm_set(conn.call([b"SMEMBERS", k])[1]))
    elif t == b"hash":
        v = tuple(norm_pairs(conn.call([b"HGETALL", k])[1]))
    else:
        v = None
    ttl = conn.call([b"PTTL", k])[1][1]
    return (t, v, ttl >= 0)


def snapshot(conn):
    """The whole keyspace as comparable data: key -> key_state."""
    keys = [e[1] for e in conn.call([b"KEYS", b"*"])[1][1]]
    return {k: key_state(conn, k) for k in keys}


def compare_stores(srv):
    a, b = snapshot(srv.hredis), snapshot(srv.htarget)
    if a != b:
        diff = sorted(set(a) ^ set(b)) + sorted(k for k in set(a) & set(b) if a[k] != b[k])
        k = diff[0]
        raise Mismatch("stores differ at key %r" % k, repr(a.get(k)).encode(),
                       repr(b.get(k)).encode())
    return len(a)


def replay(srv, cmds):
    """Index of the first mismatch on fresh data, or None."""
    srv.flush()
    for i, c in enumerate(cmds):
        try:
            run_one(srv, c)
        except Mismatch:
            return i
    return None


def minimize(srv, cmds, budget_s=120):
    """Shrinks cmds (whose last command shows a difference) by dropping
    commands that do not touch the failing command's keys, then chunks."""
    deadline = time.time() + budget_s
    last = cmds[-1]
    if last.keys is not None:
        keys = set(last.keys)
        changed = True
        sel = [len(cmds) - 1]
        while changed:
            changed = False
            sel = [i for i, c in enumerate(cmds[:-1])
                   if c.keys is None or keys & set(c.keys)] + [len(cmds) - 1]
            for i in sel:
                if cmds[i].keys:
                    nk = keys | set(cmds[i].keys)
                    if nk != keys:
                        keys = nk
                        changed = True
        cand = [cmds[i] for i in sel]
        r = replay(srv, cand)
        if r is not None:
            cmds = cand[:r + 1]
    chunk = max(1, len(cmds) // 2)
    while chunk >= 1 and time.time() < deadline:
        i = 0
        removed = False
        while i < len(cmds) - 1 and time.time() < deadline:
            cand = cmds[:i] + cmds[i + chunk:]
            if cand and len(cand) < len(cmds):
                r = replay(srv, cand)
                if r is not None:
                    cmds = cand[:r + 1]
                    removed = True
                    continue
            i += chunk
        if not removed:
            chunk //= 2
    return cmds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=200000)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--ferry")
    ap.add_argument("--ferry-arg", action="append")
    ap.add_argument("--pipe")
    ap.add_argument("--redis-server", default="redis-server")
    ap.add_argument("--no-tx", action="store_true")
    ap.add_argument("--no-minimize", action="store_true")
    ap.add_argument("--events", metavar="CLASSES",
                    help="also compare keyspace events: notify-keyspace-events CLASSES on "
                         "both (KEA, KEAnm, ...); needs --ferry")
    ap.add_argument("--resp3", action="store_true",
                    help="the commands under test speak RESP3 (HELLO 3); needs --ferry")
    args = ap.parse_args()
    if args.resp3 and not args.ferry:
        ap.error("--resp3 needs --ferry")
    if args.events is not None and not args.ferry:
        ap.error("--events needs --ferry")
    if not args.ferry and not args.pipe:
        ap.error("--ferry or --pipe is required")
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "big")
    with_tx = bool(args.ferry) and not args.no_tx
    cmds = generate(seed, args.n, with_tx)
    srv = Servers(args)
    t0 = time.time()
    try:
        for i, c in enumerate(cmds):
            try:
                run_one(srv, c)
                if i % 10000 == 9999:
                    compare_stores(srv)
            except Mismatch as m:
                print("difftest: DIFFERENCE at command %d of %d (seed %d): %s"
                      % (i + 1, len(cmds), seed, m))
                print("  command: %s" % describe(c))
                print("  redis:   %r" % m.a)
                print("  target:  %r" % m.b)
                if not args.no_minimize:
                    small = minimize(srv, cmds[:i + 1])
                    print("difftest: shortest sequence found (%d commands), replay with "
                          "--seed %d:" % (len(small), seed))
                    for c2 in small:
                        print("  " + describe(c2))
                    try:
                        replay(srv, small[:-1])
                        last = small[-1]
                        if last.kind not in ("scan", "tx"):
                            print("  -> redis:  %r" % srv.redis.call(last.argv)[0])
                            print("  -> target: %r" % srv.target.call(last.argv)[0])
                    except Exception as e:  # the servers may be gone
                        print("  (could not show final replies: %s)" % e)
                return 1
            except socket.timeout:
                print("difftest: no reply within %d s at command %d (seed %d); command: %s"
                      % (REPLY_TIMEOUT, i + 1, seed, describe(c)))
                return 1
            except (EOFError, OSError) as e:
                print("difftest: connection lost at command %d (seed %d): %s; command: %s"
                      % (i + 1, seed, e, describe(c)))
                return 1
        try:
            nkeys = compare_stores(srv)
        except Mismatch as m:
            print("difftest: after %d commands (seed %d) the %s" % (len(cmds), seed, m))
            print("  redis:  %s" % m.a.decode())
            print("  target: %s" % m.b.decode())
            return 1
        dt = time.time() - t0
        print("difftest: %d commands, seed %d, 0 differences, final stores identical "
              "(%d keys) (%.1fs, %.0f cmd/s)" % (len(cmds), seed, nkeys, dt, len(cmds) / dt))
        return 0
    finally:
        srv.stop()


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
