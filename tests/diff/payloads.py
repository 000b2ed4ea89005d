#!/usr/bin/env python3
"""RESTORE of DUMP payloads in every encoding Redis 7.0 loads, compared with
a real redis-server: payloads built here in the older encodings that Redis
7.0 no longer writes (ziplists, zipmaps, quicklists of ziplists, sorted
sets with text scores, plain lists; RDB version 9 as Redis 6 wrote them),
Redis's own payloads of values of every shape, and those damaged at random
(a byte changed, cut short) with the checksum fixed, so that the value
itself is malformed. Redis runs with sanitize-dump-payload
yes, which checks a payload as deeply as ferry always does.

  payloads.py --ferry build/ferry [-n 3000] [--seed 1]

Each payload goes to both servers as RESTORE; the replies must be the same
and, where both took it, so must the value restored. Exits 1 on the first
difference, printing the payload. Redis's LZF compression does not clear
its hash table, so its payloads, and the damaged ones a seed makes of
them, can differ a little from run to run.
"""
import argparse
import os
import random
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from difftest import Conn, Mismatch, Servers, key_state  # noqa: E402


def crc64(data):
    """Redis's crc64 (Jones polynomial, reflected)."""
    crc = 0
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x95ac9329ac4bc9b5 if crc & 1 else crc >> 1
    return crc


def seal(body, version=9):
    d = body + struct.pack("<H", version)
    return d + struct.pack("<Q", crc64(d))


def rlen(n):
    if n < 64:
        return bytes([n])
    if n < 16384:
        return bytes([0x40 | n >> 8, n & 0xff])
    return b"\x80" + struct.pack(">I", n)


def rstr(s):
    return rlen(len(s)) + s


def ziplist(items):
    """A ziplist of strings and ints (ints: the smallest encoding)."""
    entries, prev = [], 0
    for it in items:
        pl = bytes([prev]) if prev < 254 else b"\xfe" + struct.pack("<I", prev)
        if isinstance(it, int):
            if 0 <= it <= 12:
                enc = bytes([0xf1 + it])
            elif -128 <= it <= 127:
                enc = b"\xfe" + struct.pack("<b", it)
            elif -32768 <= it <= 32767:
                enc = b"\xc0" + struct.pack("<h", it)
            elif -(1 << 23) <= it < (1 << 23):
                enc = b"\xf0" + struct.pack("<i", it)[:3]
            elif -(1 << 31) <= it < (1 << 31):
                enc = b"\xd0" + struct.pack("<i", it)
            else:
                enc = b"\xe0" + struct.pack("<q", it)
        else:
            n = len(it)
            if n < 64:
                enc = bytes([n]) + it
            elif n < 16384:
                enc = bytes([0x40 | n >> 8, n & 0xff]) + it
            else:
                enc = b"\x80" + struct.pack(">I", n) + it
        e = pl + enc
        entries.append(e)
        prev = len(e)
    body = b"".join(entries)
    total = 10 + len(body) + 1
    tail = 10 + len(body) - len(entries[-1]) if entries else 10
    return struct.pack("<IIH", total, tail, min(len(items), 65535)) + body + b"\xff"


def zipmap(pairs):
    out = bytes([min(len(pairs), 254)])
    for f, v in pairs:
        out += bytes([len(f)]) + f + bytes([len(v), 0]) + v
    return out + b"\xff"


def intset(vals, width):
    fmt = {2: "<h", 4: "<i", 8: "<q"}[width]
    return struct.pack("<II", width, len(vals)) + b"".join(struct.pack(fmt, v) for v in vals)


def text_double(d):
    if d != d:
        return b"\xfd"
    if d in (float("inf"), float("-inf")):
        return b"\xfe" if d > 0 else b"\xff"
    s = repr(d).encode()
    return bytes([len(s)]) + s


def crafted(rng):
    """Payloads in the encodings Redis 7.0 only reads."""
    words = [b"a", b"bb", b"foo", b"", b"x" * 70, b"12", b"-7", b"007", b"1.5", b"\x00\xff"]
    ints = [0, 5, 12, 13, -1, 127, -128, 300, -30000, 70000, -(1 << 22), 1 << 30,
            -(1 << 40), (1 << 62)]
    out = []

    def some(n, pool):
        return [rng.choice(pool) for _ in range(n)]

    for _ in range(20):
        items = some(rng.randint(1, 8), words + ints)
        out.append(seal(b"\x0a" + rstr(ziplist(items))))  # LIST_ZIPLIST
        nodes = [ziplist(some(rng.randint(1, 5), words + ints)) for _ in range(rng.randint(1, 3))]
        out.append(seal(b"\x0e" + rlen(len(nodes)) + b"".join(rstr(z) for z in nodes)))
        plain = [rng.choice(words) for _ in range(rng.randint(1, 5))]
        out.append(seal(b"\x01" + rlen(len(plain)) + b"".join(rstr(w) for w in plain)))
        fields = list(dict.fromkeys(some(rng.randint(1, 6), words)))
        pairs = [(f, rng.choice(words)) for f in fields]
        flat = [x for p in pairs for x in p]
        out.append(seal(b"\x0d" + rstr(ziplist(flat))))  # HASH_ZIPLIST
        small = [(f, v) for f, v in pairs if len(f) < 254 and len(v) < 254]
        if small:
            out.append(seal(b"\x09" + rstr(zipmap(small))))  # HASH_ZIPMAP
        members = list(dict.fromkeys(some(rng.randint(1, 6), words)))
        scores = [rng.choice([0, 1, -2, 1.5, 1e10, 3, float("inf"), -0.25]) for _ in members]
        # A small sorted set is kept in order: Redis loads it as it comes.
        members, scores = zip(*sorted(zip(members, scores), key=lambda e: (e[1], e[0])))
        zl = []
        for m, sc in zip(members, scores):
            zl += [m, int(sc) if float(sc).is_integer() and abs(sc) < 1e15 else
                   repr(sc).encode() if sc == sc and abs(sc) != float("inf") else b"inf"]
        out.append(seal(b"\x0c" + rstr(ziplist(zl))))  # ZSET_ZIPLIST
        out.append(seal(b"\x03" + rlen(len(members)) +
                        b"".join(rstr(m) + text_double(sc) for m, sc in zip(members, scores))))
        vals = sorted(set(rng.choice(ints) for _ in range(rng.randint(1, 6))))
        width = 2 if all(-32768 <= v <= 32767 for v in vals) else \
            4 if all(-(1 << 31) <= v < (1 << 31) for v in vals) else 8
        out.append(seal(b"\x0b" + rstr(intset(vals, width))))  # SET_INTSET
    # Malformed on purpose: duplicates, empty, unsorted intset, NaN score.
    out.append(seal(b"\x0b" + rstr(intset([3, 1], 2))))
    out.append(seal(b"\x0b" + rstr(intset([1, 1], 2))))
    out.append(seal(b"\x02\x02\x01a\x01a"))
    out.append(seal(b"\x03\x01\x01a\xfd"))
    out.append(seal(b"\x0d" + rstr(ziplist([b"f", b"v", b"f", b"w"]))))
    out.append(seal(b"\x0a" + rstr(ziplist([]))))
    out.append(seal(b"\x01\x00"))
    return out


def shapes(conn, rng):
    """Values of every shape on Redis, and its DUMP payload of each."""
    conn.call([b"FLUSHALL"])
    cmds = [
        [b"SET", b"k", b"x" * 500], [b"SET", b"k", b"12345"], [b"SET", b"k", b"-9"],
        [b"RPUSH", b"k"] + [str(i).encode() * rng.randint(1, 40) for i in range(400)],
        [b"RPUSH", b"k", b"y" * 9000, b"z"],
        [b"SADD", b"k"] + [str(i).encode() for i in range(600)],
        [b"SADD", b"k", b"1", b"-70000", b"1099511627776"],
        [b"SADD", b"k"] + [b"m" + str(i).encode() for i in range(50)],
        [b"HSET", b"k"] + [x for i in range(200) for x in (b"f%d" % i, b"v" * (i % 70))],
        [b"HSET", b"k", b"a", b"1", b"b", b"2"],
        [b"ZADD", b"k"] + [x for i in range(300) for x in (str(i / 7).encode(), b"m%d" % i)],
        [b"ZADD", b"k", b"1", b"a", b"-inf", b"b", b"2.5", b"c"],
    ]
    out = []
    for c in cmds:
        conn.call([b"DEL", b"k"])
        conn.call(c)
        out.append(conn.call([b"DUMP", b"k"])[1][1])
    return out


def damaged(rng, p):
    """p with its value changed and the checksum made right again."""
    body, version = p[:-10], p[-10:-8]
    b = bytearray(body)
    r = rng.random()
    if r < 0.5 and len(b) > 1:
        i = rng.randrange(1, len(b))
        b[i] = rng.randrange(256)
    elif r < 0.8 and len(b) > 1:
        del b[rng.randrange(1, len(b)):]
    else:
        b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    d = bytes(b) + version
    return d + struct.pack("<Q", crc64(d))


def zset_pairs(conn):
    it = conn.call([b"ZRANGE", b"r", b"0", b"-1", b"WITHSCORES"])[1][1]
    return sorted((it[i][1], b"0" if it[i + 1][1] == b"-0" else it[i + 1][1])
                  for i in range(0, len(it), 2))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ferry", required=True)
    ap.add_argument("-n", type=int, default=3000, help="damaged payloads to try")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--redis-server", default="redis-server")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    ns = argparse.Namespace(redis_server=args.redis_server, pipe=None, ferry=args.ferry,
                            ferry_arg=None, resp3=False, events=None)
    srv = Servers(ns)
    try:
        srv.redis.call([b"CONFIG", b"SET", b"sanitize-dump-payload", b"yes"])
        own = shapes(srv.redis, rng)
        good = crafted(rng) + own
        tried = took = 0
        for i in range(len(good) + args.n):
            # Damage goes to the encodings Redis writes: the checks of the
            # old ones (a zipmap's, a ziplist's) differ from Redis's in what
            # they let through of a broken one.
            p = good[i] if i < len(good) else damaged(rng, rng.choice(own))
            argv = [b"RESTORE", b"r", b"0", p, b"REPLACE"]
            ra, rb = srv.redis.call(argv)[0], srv.target.call(argv)[0]
            tried += 1
            if p and p[0] in (15, 19) and rb.startswith(b"-ERR ferry: streams are not"):
                continue  # a stream's type byte (a damaged one's): ferry has none
            if ra != rb:
                raise Mismatch("RESTORE reply", ra, rb)
            if ra.startswith(b"+"):
                took += 1
                a, b = key_state(srv.redis, b"r"), key_state(srv.target, b"r")
                if i >= len(good) and a[0] == b"zset":
                    # A damaged listpack may hold its members out of order,
                    # which Redis keeps and ferry's index sorts, or a score
                    # "-0" that Redis's listpacks never hold (ferry's, as
                    # Redis's writes, make it 0): compare the members and
                    # scores.
                    a, b = zset_pairs(srv.redis), zset_pairs(srv.target)
                if a != b:
                    raise Mismatch("restored value", repr(a).encode(), repr(b).encode())
        print("payloads: %d RESTOREs (%d taken, %d refused), seed %d, 0 differences"
              % (tried, took, tried - took, args.seed))
        return 0
    except Mismatch as m:
        print("payloads: DIFFERENCE (seed %d): %s" % (args.seed, m))
        print("  payload: %r" % p)
        print("  redis:   %r" % m.a[:300])
        print("  ferry:   %r" % m.b[:300])
        return 1
    finally:
        srv.stop()


if __name__ == "__main__":
    sys.exit(main())
