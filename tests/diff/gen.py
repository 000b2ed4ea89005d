"""Seeded random command generator for the differential test.

gen_command(rng, ctx) returns a Cmd: argv (list of bytes), kind (how to
compare the replies), keys (the keys it touches, or None for "all keys").
Kinds:
  exact     byte-for-byte
  set       an array whose order does not matter
  pairs     an array of pairs (field, value) whose order does not matter
  scan      SCAN/HSCAN/SSCAN/ZSCAN: iterate to the end, compare the union
  random    SPOP/SRANDMEMBER/RANDOMKEY/...: count and membership, then resync
  ttl       TTL-like integers compared within a tolerance
  sort      SORT: exact where Redis defines the order (see difftest.run_sort)
  size      MEMORY USAGE: an integer from both (each counts its own bytes) or
            the same reply
  dump      DUMP: each server's payload restored into both servers gives
            the same value (a set's or hash's payload follows Redis's hash
            table order)
  restore   RESTORE of what Redis's DUMP of extra[0] gives now (extra[1]:
            with a byte of it changed), compared exactly
"""
import random

STR_KEYS = ["s0", "s1", "s2", "s3"]
HASH_KEYS = ["h0", "h1", "h2"]
LIST_KEYS = ["l0", "l1", "l2"]
SET_KEYS = ["S0", "S1", "S2"]
ZSET_KEYS = ["z0", "z1", "z2"]
HLL_KEYS = ["p0", "p1", "p2"]
GEO_KEYS = ["g0", "g1", "g2"]
ANY_KEYS = ["x0", "x1"]
ALL_KEYS = (STR_KEYS + HASH_KEYS + LIST_KEYS + SET_KEYS + ZSET_KEYS + HLL_KEYS + GEO_KEYS +
            ANY_KEYS)

VALUES = ["", "a", "b", "c", "foo", "bar", "hello world", "0", "1", "-1", "10", "42", "007",
          "3.5", "-2.25", "1e3", "9223372036854775807", "-9223372036854775808",
          "9223372036854775808", " 1", "1 ", "+5", "0x10", "abc", "x" * 40, "1.0", "inf",
          "-inf", "nan", "\x00bin\xff", "é", "100", "17", "5"]
INTS = ["0", "1", "2", "3", "-1", "-2", "5", "10", "100", "-100", "9223372036854775807",
        "-9223372036854775808", "9223372036854775808", "abc", "1.5", "", " 3", "+3", "007",
        "4611686018427387904", "-4611686018427387905", "0x10", "1e3", "-0", "00", "+0",
        "18446744073709551615", "-9223372036854775809", "3 "]
FLOATS = ["0", "1", "1.5", "-2.5", "0.1", "1e3", "-1e-3", "3", "inf", "-inf", "+inf", "nan",
          "abc", "", " 1", "1.7976931348623157e308", "1e400", "5.0e2", "-0", "0.3333",
          "0x10", "0x1p-2", "1e-400", "4.9e-324", "1e308", "-1e308", ".5", "5.", "1e", "0.001",
          "infinity", "-nan", "1 "]
SCORES = ["0", "1", "2", "3", "1.5", "-1", "-2.5", "10", "100", "inf", "-inf", "+inf", "-0",
          "1e2", "abc", "nan", "0.1", "2.0", "0x10", "1e-400", "4.9e-324", "1e308", ".5",
          "(1", "(inf", "(-inf", "1e400", "-1e400", "infinity"]
MEMBERS = ["a", "b", "c", "d", "e", "f", "foo", "bar", "1", "2", "10", "", "aa", "ab", "b1",
           "zz"]
LIST_NUMS = ["0", "1", "2", "3", "10", "-1", "1.5", "1e3", "007", "-0", "2"]
FIELDS = ["f1", "f2", "f3", "f4", "n", "x", "", "fl"]


class Cmd:
    __slots__ = ("argv", "kind", "keys", "extra")

    def __init__(self, argv, kind="exact", keys=(), extra=None):
        self.argv = [a if isinstance(a, bytes) else str(a).encode("utf-8", "surrogateescape")
                     for a in argv]
        self.kind = kind
        self.keys = None if keys is None else [k if isinstance(k, bytes) else k.encode()
                                               for k in keys]
        self.extra = extra

    def __repr__(self):
        def q(b):
            s = b.decode("utf-8", "backslashreplace")
            if s == "" or any(ch in s for ch in " \"'\\") or not s.isprintable():
                return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
            return s
        return " ".join(q(a) for a in self.argv)


def key(rng, pool):
    if rng.random() < 0.9:
        return rng.choice(pool)
    return rng.choice(ALL_KEYS)


def val(rng):
    return rng.choice(VALUES)


def case(rng, s):
    r = rng.random()
    if r < 0.6:
        return s.upper()
    if r < 0.9:
        return s.lower()
    return "".join(ch.upper() if rng.random() < 0.5 else ch.lower() for ch in s)


def pick(rng, seq, n):
    return [rng.choice(seq) for _ in range(n)]


def ttl_secs(rng):
    return rng.choice(["100", "1000", "86400", "5000", "-1", "0", "abc", "9223372036854775807",
                       "-9223372036854775808", "1.5", "300"])


def ttl_ms(rng):
    return rng.choice(["100000", "1000000", "86400000", "-5", "0", "x",
                       "9223372036854775807", "200000"])


def abs_secs(rng, now):
    return rng.choice([str(now // 1000 + 1000), str(now // 1000 + 86400), "1", "0", "-1",
                       str(now // 1000 - 10), "abc"])


def abs_ms(rng, now):
    return rng.choice([str(now + 1000000), str(now + 86400000), "1", str(now - 10000), "x"])


# ----------------------------------------------------------------- keys

def g_del(rng, now):
    ks = pick(rng, ALL_KEYS, rng.randint(1, 3))
    return Cmd([case(rng, rng.choice(["del", "unlink"]))] + ks, keys=ks)


def g_exists(rng, now):
    ks = pick(rng, ALL_KEYS, rng.randint(1, 3))
    return Cmd([case(rng, rng.choice(["exists", "touch"]))] + ks, keys=ks)


def g_type(rng, now):
    k = rng.choice(ALL_KEYS)
    return Cmd(["TYPE", k], keys=[k])


def g_memory(rng, now):
    """MEMORY USAGE with its options right and wrong, and the subcommand
    checks (ferry serves only USAGE and HELP of MEMORY)."""
    k = rng.choice(ALL_KEYS)
    r = rng.random()
    if r < 0.8:
        args = ["MEMORY", "USAGE", k]
        if rng.random() < 0.4:
            args += ["SAMPLES", rng.choice(["0", "1", "5", "100", "-1", "x", ""])]
        if rng.random() < 0.1:
            args += [rng.choice(["SAMPLES", "FOO", "samples"])]
    else:
        args = rng.choice([["MEMORY"], ["MEMORY", "USAGE"], ["MEMORY", "NOSUCH"],
                           ["MEMORY", "HELP"], ["MEMORY", "help", "x"]])
    return Cmd([case(rng, a) if i < 2 else a for i, a in enumerate(args)], kind="size", keys=[k])


def g_expire(rng, now):
    k = rng.choice(ALL_KEYS)
    c = rng.choice(["expire", "pexpire", "expireat", "pexpireat"])
    arg = {"expire": ttl_secs, "pexpire": ttl_ms}.get(c)
    t = arg(rng) if arg else (abs_secs(rng, now) if c == "expireat" else abs_ms(rng, now))
    opts = []
    if rng.random() < 0.4:
        opts = pick(rng, ["NX", "XX", "GT", "LT", "nx", "bad"], rng.randint(1, 2))
    return Cmd([case(rng, c), k, t] + opts, keys=[k])


def g_ttl(rng, now):
    k = rng.choice(ALL_KEYS)
    c = rng.choice(["ttl", "pttl", "expiretime", "pexpiretime"])
    return Cmd([case(rng, c), k], kind="ttl", keys=[k])


def g_persist(rng, now):
    k = rng.choice(ALL_KEYS)
    return Cmd(["PERSIST", k], keys=[k])


def g_rename(rng, now):
    a, b = rng.choice(ALL_KEYS), rng.choice(ALL_KEYS)
    return Cmd([rng.choice(["RENAME", "RENAMENX"]), a, b], keys=[a, b])


def g_copy(rng, now):
    a, b = rng.choice(ALL_KEYS), rng.choice(ALL_KEYS)
    opts = []
    r = rng.random()
    if r < 0.3:
        opts = ["REPLACE"]
    elif r < 0.4:
        opts = ["DB", rng.choice(["0", "x", "99", "-1"])]
    elif r < 0.45:
        opts = ["BAD"]
    return Cmd(["COPY", a, b] + opts, keys=[a, b])


def g_dump(rng, now):
    k = rng.choice(ALL_KEYS)
    return Cmd(["DUMP", k], kind="dump", keys=[k])


def g_restore(rng, now):
    src, dst = rng.choice(ALL_KEYS), rng.choice(ALL_KEYS)
    absttl = rng.random() < 0.2
    ttl = rng.choice(["0", "0", "0", "100000", "-1", "x"]) if not absttl else abs_ms(rng, now)
    opts = []
    if rng.random() < 0.5:
        opts.append(["REPLACE"])
    if absttl:
        opts.append(["ABSTTL"])
    if rng.random() < 0.1:
        opts.append([rng.choice(["IDLETIME", "FREQ"]), rng.choice(["0", "10", "300", "-1", "x"])])
    if rng.random() < 0.03:
        opts.append([rng.choice(["BOGUS", "IDLETIME"])])
    rng.shuffle(opts)
    # The payload (argv[3]) is filled in when it runs.
    args = ["RESTORE", dst, ttl, ""] + [a for o in opts for a in o]
    return Cmd(args, kind="restore", keys=[src, dst], extra=(src.encode(), rng.random() < 0.05))


def g_scan(rng, now):
    args = ["SCAN", "0"]
    if rng.random() < 0.05:
        args[1] = rng.choice(["abc", "1x", " 1"])
    if rng.random() < 0.4:
        args += ["MATCH", rng.choice(["*", "s*", "?0", "[hl]*", "x*", "*1", "z[0-1]"])]
    if rng.random() < 0.4:
        args += ["COUNT", rng.choice(["1", "2", "5", "100", "0", "-1", "x"])]
    if rng.random() < 0.3:
        args += ["TYPE", rng.choice(["string", "hash", "list", "set", "zset", "none", "LIST"])]
    if rng.random() < 0.03:
        args += ["BOGUS"]
    return Cmd(args, kind="scan", keys=None)


def g_keys(rng, now):
    return Cmd(["KEYS", rng.choice(["*", "s*", "?1", "[a-h]*", "x?", "nomatch", "*[0-9]"])],
               kind="set", keys=None)


def g_randomkey(rng, now):
    return Cmd(["RANDOMKEY"], kind="random", keys=None)


def g_dbsize(rng, now):
    return Cmd(["DBSIZE"], keys=None)


def g_flush(rng, now):
    args = [rng.choice(["FLUSHDB", "FLUSHALL"])]
    if rng.random() < 0.3:
        args.append(rng.choice(["SYNC", "ASYNC", "bad"]))
    return Cmd(args, keys=None)


# ----------------------------------------------------------------- strings

def g_get(rng, now):
    k = key(rng, STR_KEYS)
    return Cmd([case(rng, "get"), k], keys=[k])


def g_set(rng, now):
    k = key(rng, STR_KEYS)
    args = ["SET", k, val(rng)]
    opts = []
    for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
        o = rng.choice(["NX", "XX", "GET", "EX", "PX", "EXAT", "PXAT", "KEEPTTL", "bogus"])
        if o == "EX":
            opts += [o, ttl_secs(rng)]
        elif o == "PX":
            opts += [o, ttl_ms(rng)]
        elif o == "EXAT":
            # Only future or invalid times: a key set already expired lingers
            # in Redis until its expiry cycle, which a fast test outruns.
            opts += [o, rng.choice([str(now // 1000 + 1000), "0", "x", "-5"])]
        elif o == "PXAT":
            opts += [o, rng.choice([str(now + 1000000), "0", "x"])]
        else:
            opts.append(o)
    if rng.random() < 0.02 and opts:
        opts = opts[:-1] if opts[-1] not in ("EX", "PX") else opts
        opts.append("EX")
    return Cmd(args + opts, keys=[k])


def g_setnx(rng, now):
    k = key(rng, STR_KEYS)
    c = rng.choice(["SETNX", "SETEX", "PSETEX", "GETSET"])
    if c == "SETNX":
        return Cmd([c, k, val(rng)], keys=[k])
    if c == "GETSET":
        return Cmd([c, k, val(rng)], keys=[k])
    t = ttl_secs(rng) if c == "SETEX" else ttl_ms(rng)
    return Cmd([c, k, t, val(rng)], keys=[k])


def g_mget(rng, now):
    ks = pick(rng, STR_KEYS + ANY_KEYS + ["h0"], rng.randint(1, 4))
    return Cmd(["MGET"] + ks, keys=ks)


def g_mset(rng, now):
    n = rng.randint(1, 3)
    args = [rng.choice(["MSET", "MSETNX"])]
    ks = []
    for _ in range(n):
        k = key(rng, STR_KEYS)
        ks.append(k)
        args += [k, val(rng)]
    if rng.random() < 0.05:
        args.append("dangling")
    return Cmd(args, keys=ks)


def g_getdel(rng, now):
    k = key(rng, STR_KEYS)
    return Cmd(["GETDEL", k], keys=[k])


def g_getex(rng, now):
    k = key(rng, STR_KEYS)
    args = ["GETEX", k]
    r = rng.random()
    if r < 0.2:
        args += ["EX", ttl_secs(rng)]
    elif r < 0.35:
        args += ["PX", ttl_ms(rng)]
    elif r < 0.45:
        args += ["EXAT", abs_secs(rng, now)]
    elif r < 0.55:
        args += ["PXAT", abs_ms(rng, now)]
    elif r < 0.7:
        args += ["PERSIST"]
    elif r < 0.75:
        args += [rng.choice(["NX", "KEEPTTL", "EX", "PERSIST EX"])]
    return Cmd(args, keys=[k])


def g_incr(rng, now):
    k = key(rng, STR_KEYS)
    c = rng.choice(["INCR", "DECR", "INCRBY", "DECRBY", "INCRBYFLOAT"])
    if c in ("INCR", "DECR"):
        return Cmd([c, k], keys=[k])
    if c == "INCRBYFLOAT":
        return Cmd([c, k, rng.choice(FLOATS)], keys=[k])
    return Cmd([c, k, rng.choice(INTS)], keys=[k])


def g_append(rng, now):
    k = key(rng, STR_KEYS)
    return Cmd(["APPEND", k, val(rng)], keys=[k])


def g_strlen(rng, now):
    k = key(rng, STR_KEYS)
    return Cmd(["STRLEN", k], keys=[k])


def g_getrange(rng, now):
    k = key(rng, STR_KEYS)
    idx = ["0", "1", "2", "-1", "-2", "-100", "100", "5", "x", "9223372036854775807"]
    return Cmd([rng.choice(["GETRANGE", "SUBSTR"]), k, rng.choice(idx), rng.choice(idx)],
               keys=[k])


def g_setrange(rng, now):
    k = key(rng, STR_KEYS)
    off = rng.choice(["0", "1", "3", "10", "-1", "x", "536870912", "20"])
    return Cmd(["SETRANGE", k, off, rng.choice(["", "ab", "xyz", "Q"])], keys=[k])


def g_lcs(rng, now):
    a, b = key(rng, STR_KEYS), key(rng, STR_KEYS)
    opts = []
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        opts.append(rng.choice([["LEN"], ["IDX"], ["IDX"], ["WITHMATCHLEN"],
                                ["MINMATCHLEN", rng.choice(["0", "1", "2", "4", "-1", "x"])]]))
    if rng.random() < 0.03:
        opts.append([rng.choice(["BOGUS", "MINMATCHLEN"])])
    return Cmd(["LCS", a, b] + [x for o in opts for x in o], keys=[a, b])


def g_bitfield(rng, k):
    types = ["u1", "u4", "u8", "i8", "i5", "u63", "i64", "i1", "u16", "i32", "u64", "i65", "x8",
             "i0"]
    offs = ["0", "1", "3", "8", "13", "#1", "#3", "-1", "x", "100"]
    vals = ["0", "1", "-1", "5", "127", "128", "-128", "255", "300", "-300",
            "9223372036854775807", "-9223372036854775808", "x"]
    ro = rng.random() < 0.15
    args = ["BITFIELD_RO" if ro else "BITFIELD", k]
    if rng.random() < 0.4:
        args += ["OVERFLOW", rng.choice(["WRAP", "SAT", "FAIL"])]
    for _ in range(rng.randint(1, 4)):
        r = rng.random()
        common = [rng.choice(types[:10]) if rng.random() < 0.95 else rng.choice(types),
                  rng.choice(offs[:7]) if rng.random() < 0.95 else rng.choice(offs)]
        if r < 0.4 or (ro and r < 0.95):
            args += ["GET"] + common
        elif r < 0.65:
            args += ["SET"] + common + [rng.choice(vals)]
        elif r < 0.9:
            args += ["INCRBY"] + common + [rng.choice(vals)]
        else:
            args += ["OVERFLOW", rng.choice(["WRAP", "SAT", "FAIL", "sat", "bogus"])]
    if rng.random() < 0.03:
        args.append(rng.choice(["GET", "foo"]))
    return Cmd(args, keys=[k])


def g_bit(rng, now):
    k = key(rng, STR_KEYS)
    offs = ["0", "1", "7", "8", "15", "33", "100", "-1", "x", "4294967296", "100000"]
    rngs = ["0", "1", "-1", "2", "-2", "5", "100", "-100", "x"]
    r = rng.random()
    if r < 0.25:
        return Cmd(["SETBIT", k, rng.choice(offs), rng.choice(["0", "1", "1", "2", "-1", "x"])],
                   keys=[k])
    if r < 0.35:
        return Cmd(["GETBIT", k, rng.choice(offs)], keys=[k])
    if r < 0.5:
        args = ["BITCOUNT", k]
        if rng.random() < 0.6:
            args += [rng.choice(rngs), rng.choice(rngs)]
            if rng.random() < 0.4:
                args.append(rng.choice(["BIT", "BYTE", "bit", "nope"]))
        elif rng.random() < 0.1:
            args.append("1")
        return Cmd(args, keys=[k])
    if r < 0.65:
        args = ["BITPOS", k, rng.choice(["0", "1", "1", "0", "2", "x"])]
        for _ in range(rng.choice([0, 1, 2, 2, 3])):
            args.append(rng.choice(rngs))
        if len(args) == 6:
            args[5] = rng.choice(["BIT", "BYTE", "bit", "nope"])
        return Cmd(args, keys=[k])
    if r < 0.85:
        return g_bitfield(rng, k)
    op = rng.choice(["AND", "OR", "XOR", "NOT", "not", "nand"])
    srcs = [key(rng, STR_KEYS) for _ in range(1 if op.upper() == "NOT" and rng.random() < 0.9
                                              else rng.randint(1, 3))]
    d = key(rng, STR_KEYS)
    return Cmd(["BITOP", op, d] + srcs, keys=[d] + srcs)


# ----------------------------------------------------------------- hashes

def g_hset(rng, now):
    k = key(rng, HASH_KEYS)
    c = rng.choice(["HSET", "HMSET", "HSETNX"])
    if c == "HSETNX":
        return Cmd([c, k, rng.choice(FIELDS), val(rng)], keys=[k])
    args = [c, k]
    for _ in range(rng.randint(1, 3)):
        args += [rng.choice(FIELDS), val(rng)]
    if rng.random() < 0.05:
        args.append("odd")
    return Cmd(args, keys=[k])


def g_hget(rng, now):
    k = key(rng, HASH_KEYS)
    c = rng.choice(["HGET", "HMGET", "HSTRLEN", "HEXISTS"])
    if c == "HMGET":
        return Cmd([c, k] + pick(rng, FIELDS, rng.randint(1, 4)), keys=[k])
    return Cmd([c, k, rng.choice(FIELDS)], keys=[k])


def g_hdel(rng, now):
    k = key(rng, HASH_KEYS)
    return Cmd(["HDEL", k] + pick(rng, FIELDS, rng.randint(1, 3)), keys=[k])


def g_hlen(rng, now):
    k = key(rng, HASH_KEYS)
    return Cmd(["HLEN", k], keys=[k])


def g_hgetall(rng, now):
    k = key(rng, HASH_KEYS)
    c = rng.choice(["HKEYS", "HVALS", "HGETALL"])
    return Cmd([c, k], kind="pairs" if c == "HGETALL" else "set", keys=[k])


def g_hincr(rng, now):
    k = key(rng, HASH_KEYS)
    if rng.random() < 0.5:
        return Cmd(["HINCRBY", k, rng.choice(FIELDS), rng.choice(INTS)], keys=[k])
    return Cmd(["HINCRBYFLOAT", k, rng.choice(FIELDS), rng.choice(FLOATS)], keys=[k])


def g_hscan(rng, now):
    k = key(rng, HASH_KEYS)
    args = ["HSCAN", k, "0"]
    if rng.random() < 0.3:
        args += ["MATCH", rng.choice(["f*", "*", "n", "?1"])]
    if rng.random() < 0.3:
        args += ["COUNT", rng.choice(["1", "10", "0", "x"])]
    if rng.random() < 0.03:
        args += ["TYPE", "string"]
    return Cmd(args, kind="scan", keys=[k])


def g_hrandfield(rng, now):
    k = key(rng, HASH_KEYS)
    args = ["HRANDFIELD", k]
    if rng.random() < 0.7:
        args.append(rng.choice(["0", "1", "2", "5", "-1", "-5", "x", "-9223372036854775808"]))
        if rng.random() < 0.4:
            args.append(rng.choice(["WITHVALUES", "withvalues", "bad"]))
    return Cmd(args, kind="random", keys=[k])


# ----------------------------------------------------------------- lists

def g_push(rng, now):
    k = key(rng, LIST_KEYS)
    c = rng.choice(["LPUSH", "RPUSH", "LPUSHX", "RPUSHX", "RPUSH"])
    # Numbers too, which SORT sorts and whose BY and GET patterns name keys.
    items = MEMBERS[:8] + VALUES[:6] if rng.random() < 0.6 else LIST_NUMS
    return Cmd([c, k] + pick(rng, items, rng.randint(1, 4)), keys=[k])


def g_pop(rng, now):
    k = key(rng, LIST_KEYS)
    args = [rng.choice(["LPOP", "RPOP"]), k]
    if rng.random() < 0.4:
        args.append(rng.choice(["0", "1", "2", "10", "-1", "x"]))
        if rng.random() < 0.05:
            args.append("extra")
    return Cmd(args, keys=[k])


def g_llen(rng, now):
    k = key(rng, LIST_KEYS)
    return Cmd(["LLEN", k], keys=[k])


def g_lrange(rng, now):
    k = key(rng, LIST_KEYS)
    idx = ["0", "1", "2", "-1", "-2", "-100", "100", "3", "x"]
    return Cmd([rng.choice(["LRANGE", "LTRIM", "LRANGE"]), k, rng.choice(idx),
                rng.choice(idx)], keys=[k])


def g_lindex(rng, now):
    k = key(rng, LIST_KEYS)
    idx = ["0", "1", "-1", "-3", "5", "x", "100"]
    if rng.random() < 0.5:
        return Cmd(["LINDEX", k, rng.choice(idx)], keys=[k])
    return Cmd(["LSET", k, rng.choice(idx), rng.choice(MEMBERS)], keys=[k])


def g_linsert(rng, now):
    k = key(rng, LIST_KEYS)
    return Cmd(["LINSERT", k, rng.choice(["BEFORE", "AFTER", "after", "middle"]),
                rng.choice(MEMBERS[:8]), rng.choice(MEMBERS)], keys=[k])


def g_lrem(rng, now):
    k = key(rng, LIST_KEYS)
    return Cmd(["LREM", k, rng.choice(["0", "1", "-1", "2", "-2", "x"]),
                rng.choice(MEMBERS[:8])], keys=[k])


def g_lpos(rng, now):
    k = key(rng, LIST_KEYS)
    args = ["LPOS", k, rng.choice(MEMBERS[:8])]
    for _ in range(rng.choice([0, 0, 1, 2])):
        o = rng.choice(["RANK", "COUNT", "MAXLEN", "BAD"])
        if o == "RANK":
            args += [o, rng.choice(["1", "2", "-1", "-2", "0", "x"])]
        elif o == "COUNT":
            args += [o, rng.choice(["0", "1", "2", "-1"])]
        elif o == "MAXLEN":
            args += [o, rng.choice(["0", "1", "3", "-1"])]
        else:
            args.append(o)
    return Cmd(args, keys=[k])


def g_lmove(rng, now):
    a, b = key(rng, LIST_KEYS), key(rng, LIST_KEYS)
    if rng.random() < 0.3:
        return Cmd(["RPOPLPUSH", a, b], keys=[a, b])
    return Cmd(["LMOVE", a, b, rng.choice(["LEFT", "RIGHT", "left", "up"]),
                rng.choice(["LEFT", "RIGHT"])], keys=[a, b])


def mpop(rng, c, pool, timeout=()):
    """LMPOP/ZMPOP and their blocking forms (timeout before numkeys)."""
    ks = [key(rng, pool) for _ in range(rng.randint(1, 3))]
    nk = str(len(ks))
    if rng.random() < 0.05:
        nk = rng.choice(["0", "x", "9", "-1"])
    where = ["LEFT", "RIGHT"] if "L" in c[:2] else ["MIN", "MAX"]
    args = [c] + list(timeout) + [nk] + ks + [rng.choice(where + ["up"]) if rng.random() < 0.05
                                              else case(rng, rng.choice(where))]
    if rng.random() < 0.5:
        args += ["COUNT", rng.choice(["1", "2", "3", "10", "0", "-1", "x"])]
    if rng.random() < 0.03:
        args.append(rng.choice(["COUNT", "x"]))
    return Cmd(args, keys=ks)


def g_mpop(rng, now):
    c, pool = rng.choice([("LMPOP", LIST_KEYS), ("ZMPOP", ZSET_KEYS)])
    return mpop(rng, c, pool)


def g_bpop(rng, now):
    ks = pick(rng, LIST_KEYS, rng.randint(1, 2))
    # Each must end quickly in Redis: sub-millisecond timeouts round up to
    # 1 ms (0.001 is 0.99999... ms as a long double), out-of-range ones are
    # "negative", and a timeout that means "forever" would hang the test.
    t = rng.choice(["0.01", "0.01", "x", "-1", "0.02", "0.001", "0.0004", "1e-400", "1e30",
                    "inf", "-inf", "nan", "0x0.1p-4"])
    r = rng.random()
    if r < 0.3:
        return Cmd(["BLPOP"] + ks + [t], keys=ks)
    if r < 0.4:
        return Cmd(["BRPOP"] + ks + [t], keys=ks)
    if r < 0.5:
        zks = pick(rng, ZSET_KEYS, len(ks))
        return Cmd([rng.choice(["BZPOPMIN", "BZPOPMAX"])] + zks + [t], keys=zks)
    if r < 0.6:
        c, pool = rng.choice([("BLMPOP", LIST_KEYS), ("BZMPOP", ZSET_KEYS)])
        return mpop(rng, c, pool, [t])
    a, b = key(rng, LIST_KEYS), key(rng, LIST_KEYS)
    if r < 0.85:
        return Cmd(["BLMOVE", a, b, rng.choice(["LEFT", "RIGHT"]), rng.choice(["LEFT", "RIGHT", "x"]),
                    t], keys=[a, b])
    return Cmd(["BRPOPLPUSH", a, b, t], keys=[a, b])


# ----------------------------------------------------------------- sets

def g_sadd(rng, now):
    k = key(rng, SET_KEYS)
    return Cmd([rng.choice(["SADD", "SADD", "SREM"]), k] + pick(rng, MEMBERS, rng.randint(1, 4)),
               keys=[k])


def g_smembers(rng, now):
    k = key(rng, SET_KEYS)
    return Cmd(["SMEMBERS", k], kind="set", keys=[k])


def g_sismember(rng, now):
    k = key(rng, SET_KEYS)
    if rng.random() < 0.5:
        return Cmd(["SISMEMBER", k, rng.choice(MEMBERS)], keys=[k])
    return Cmd(["SMISMEMBER", k] + pick(rng, MEMBERS, rng.randint(1, 3)), keys=[k])


def g_scard(rng, now):
    k = key(rng, SET_KEYS)
    return Cmd(["SCARD", k], keys=[k])


def g_spop(rng, now):
    k = key(rng, SET_KEYS)
    c = rng.choice(["SPOP", "SRANDMEMBER"])
    args = [c, k]
    if rng.random() < 0.6:
        args.append(rng.choice(["0", "1", "2", "3", "10", "-1", "-3", "x", "-9223372036854775808"]))
        if rng.random() < 0.03:
            args.append("x")
    return Cmd(args, kind="random", keys=[k])


def g_smove(rng, now):
    a, b = key(rng, SET_KEYS), key(rng, SET_KEYS)
    return Cmd(["SMOVE", a, b, rng.choice(MEMBERS)], keys=[a, b])


def g_salgebra(rng, now):
    c = rng.choice(["SINTER", "SUNION", "SDIFF", "SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE",
                    "SINTERCARD"])
    ks = [key(rng, SET_KEYS) for _ in range(rng.randint(1, 3))]
    if c.endswith("STORE"):
        d = key(rng, SET_KEYS)
        return Cmd([c, d] + ks, keys=[d] + ks)
    if c == "SINTERCARD":
        nk = str(len(ks))
        if rng.random() < 0.1:
            nk = rng.choice(["0", "x", "5", "-1"])
        args = [c, nk] + ks
        if rng.random() < 0.4:
            args += ["LIMIT", rng.choice(["0", "1", "2", "-1", "x"])]
        return Cmd(args, keys=ks)
    return Cmd([c] + ks, kind="set", keys=ks)


def g_sscan(rng, now):
    k = key(rng, SET_KEYS)
    args = ["SSCAN", k, "0"]
    if rng.random() < 0.3:
        args += ["MATCH", rng.choice(["a*", "*", "?", "[ab]*"])]
    if rng.random() < 0.3:
        args += ["COUNT", rng.choice(["1", "10", "0"])]
    return Cmd(args, kind="scan", keys=[k])


# ----------------------------------------------------------------- sorted sets

def g_zadd(rng, now):
    k = key(rng, ZSET_KEYS)
    args = ["ZADD", k]
    flags = []
    if rng.random() < 0.4:
        flags = pick(rng, ["NX", "XX", "GT", "LT", "CH", "INCR"], rng.randint(1, 2))
    args += flags
    n = 1 if "INCR" in flags else rng.randint(1, 3)
    for _ in range(n):
        args += [rng.choice(SCORES[:14]) if rng.random() < 0.95 else rng.choice(SCORES),
                 rng.choice(MEMBERS)]
    if rng.random() < 0.03:
        args.append("dangling")
    return Cmd(args, keys=[k])


def g_zrem(rng, now):
    k = key(rng, ZSET_KEYS)
    return Cmd(["ZREM", k] + pick(rng, MEMBERS, rng.randint(1, 3)), keys=[k])


def g_zscore(rng, now):
    k = key(rng, ZSET_KEYS)
    r = rng.random()
    if r < 0.4:
        return Cmd(["ZSCORE", k, rng.choice(MEMBERS)], keys=[k])
    if r < 0.7:
        return Cmd(["ZMSCORE", k] + pick(rng, MEMBERS, rng.randint(1, 3)), keys=[k])
    return Cmd([rng.choice(["ZRANK", "ZREVRANK"]), k, rng.choice(MEMBERS)], keys=[k])


def g_zincrby(rng, now):
    k = key(rng, ZSET_KEYS)
    return Cmd(["ZINCRBY", k, rng.choice(SCORES), rng.choice(MEMBERS)], keys=[k])


def g_zcard(rng, now):
    k = key(rng, ZSET_KEYS)
    return Cmd(["ZCARD", k], keys=[k])


SCORE_BOUNDS = ["-inf", "+inf", "0", "1", "(1", "2", "(2", "1.5", "-1", "10", "(10", "abc",
                "(", "", "inf", "(-inf", "3"]
LEX_BOUNDS = ["-", "+", "[a", "(a", "[b", "(c", "[foo", "[", "(", "a", "[zz", "(b1", "+x"]


def g_zcount(rng, now):
    k = key(rng, ZSET_KEYS)
    if rng.random() < 0.5:
        return Cmd(["ZCOUNT", k, rng.choice(SCORE_BOUNDS), rng.choice(SCORE_BOUNDS)], keys=[k])
    return Cmd(["ZLEXCOUNT", k, rng.choice(LEX_BOUNDS), rng.choice(LEX_BOUNDS)], kind="lex",
               keys=[k])


def range_bounds(rng, mode):
    """min and max of a ZRANGE by score, lex or rank."""
    if mode == "score":
        return rng.choice(SCORE_BOUNDS), rng.choice(SCORE_BOUNDS)
    if mode == "lex":
        return rng.choice(LEX_BOUNDS), rng.choice(LEX_BOUNDS)
    idx = ["0", "1", "-1", "2", "-2", "100", "-100", "x"]
    return rng.choice(idx), rng.choice(idx)


def g_zrange(rng, now):
    k = key(rng, ZSET_KEYS)
    c = rng.choice(["ZRANGE", "ZRANGE", "ZRANGEBYSCORE", "ZREVRANGEBYSCORE", "ZRANGEBYLEX",
                    "ZREVRANGEBYLEX", "ZREVRANGE"])
    mode = None
    opts = []
    if c == "ZRANGE":
        r = rng.random()
        if r < 0.35:
            mode = "score"
            opts.append("BYSCORE")
        elif r < 0.6:
            mode = "lex"
            opts.append("BYLEX")
        else:
            mode = "rank"
        if rng.random() < 0.3:
            opts.append("REV")
    elif "SCORE" in c:
        mode = "score"
    elif "LEX" in c:
        mode = "lex"
    else:
        mode = "rank"
    a, b = range_bounds(rng, mode)
    if rng.random() < 0.4:
        opts.append("WITHSCORES")
    if rng.random() < 0.3:
        opts += ["LIMIT", rng.choice(["0", "1", "2", "-1", "5"]),
                 rng.choice(["0", "1", "2", "-1", "10"])]
    if rng.random() < 0.03:
        opts.append(rng.choice(["BYSCORE", "REV", "BOGUS", "LIMIT"]))
    rng.shuffle(opts)
    return Cmd([c, k, a, b] + opts, kind="lex" if mode == "lex" else "exact", keys=[k])


def g_zpop(rng, now):
    k = key(rng, ZSET_KEYS)
    args = [rng.choice(["ZPOPMIN", "ZPOPMAX"]), k]
    if rng.random() < 0.5:
        args.append(rng.choice(["0", "1", "2", "10", "-1", "x"]))
    return Cmd(args, keys=[k])


def g_zremrange(rng, now):
    k = key(rng, ZSET_KEYS)
    c = rng.choice(["ZREMRANGEBYSCORE", "ZREMRANGEBYRANK", "ZREMRANGEBYLEX"])
    if c == "ZREMRANGEBYSCORE":
        return Cmd([c, k, rng.choice(SCORE_BOUNDS), rng.choice(SCORE_BOUNDS)], keys=[k])
    if c == "ZREMRANGEBYLEX":
        return Cmd([c, k, rng.choice(LEX_BOUNDS), rng.choice(LEX_BOUNDS)], kind="lex", keys=[k])
    idx = ["0", "1", "-1", "2", "-2", "100", "x"]
    return Cmd([c, k, rng.choice(idx), rng.choice(idx)], keys=[k])


def g_zscan(rng, now):
    k = key(rng, ZSET_KEYS)
    args = ["ZSCAN", k, "0"]
    if rng.random() < 0.3:
        args += ["MATCH", rng.choice(["a*", "*", "?"])]
    return Cmd(args, kind="scan", keys=[k])


def g_zrandmember(rng, now):
    k = key(rng, ZSET_KEYS)
    args = ["ZRANDMEMBER", k]
    if rng.random() < 0.7:
        args.append(rng.choice(["0", "1", "2", "5", "-1", "-4", "x"]))
        if rng.random() < 0.4:
            args.append(rng.choice(["WITHSCORES", "bad"]))
    return Cmd(args, kind="random", keys=[k])


def g_zstore(rng, now):
    c = rng.choice(["ZUNIONSTORE", "ZINTERSTORE"])
    d = key(rng, ZSET_KEYS)
    srcs = [key(rng, ZSET_KEYS + SET_KEYS[:1]) for _ in range(rng.randint(1, 3))]
    nk = str(len(srcs))
    if rng.random() < 0.05:
        nk = rng.choice(["0", "x", "9", "-1"])
    args = [c, d, nk] + srcs
    if rng.random() < 0.3:
        args += ["WEIGHTS"] + [rng.choice(["1", "2", "0.5", "-1", "0", "x"]) for _ in srcs]
    if rng.random() < 0.3:
        args += ["AGGREGATE", rng.choice(["SUM", "MIN", "MAX", "avg"])]
    return Cmd(args, keys=[d] + srcs)


def g_zsetop(rng, now):
    """ZUNION, ZINTER, ZDIFF (replies sorted, so compared exactly), ZDIFFSTORE
    and ZINTERCARD."""
    c = rng.choice(["ZUNION", "ZINTER", "ZDIFF", "ZDIFFSTORE", "ZINTERCARD"])
    srcs = [key(rng, ZSET_KEYS + SET_KEYS[:1]) for _ in range(rng.randint(1, 3))]
    nk = str(len(srcs))
    if rng.random() < 0.05:
        nk = rng.choice(["0", "x", "9", "-1"])
    d = key(rng, ZSET_KEYS)
    args = [c] + ([d] if c == "ZDIFFSTORE" else []) + [nk] + srcs
    opts = []
    if rng.random() < 0.3:
        opts.append(["WEIGHTS"] + [rng.choice(["1", "2", "0.5", "-1", "0", "x", "inf"])
                                   for _ in srcs])
    if rng.random() < 0.3:
        opts.append(["AGGREGATE", rng.choice(["SUM", "MIN", "MAX", "avg"])])
    if rng.random() < 0.4:
        opts.append(["WITHSCORES"])
    if rng.random() < 0.4:
        opts.append(["LIMIT", rng.choice(["0", "1", "2", "-1", "x"])])
    rng.shuffle(opts)
    for o in opts:
        args += o
    return Cmd(args, keys=([d] if c == "ZDIFFSTORE" else []) + srcs)


def g_zrangestore(rng, now):
    d, k = key(rng, ZSET_KEYS), key(rng, ZSET_KEYS)
    mode = rng.choice(["score", "lex", "rank", "rank"])
    a, b = range_bounds(rng, mode)
    opts = {"score": ["BYSCORE"], "lex": ["BYLEX"], "rank": []}[mode]
    if rng.random() < 0.3:
        opts.append("REV")
    if rng.random() < 0.3:
        opts += ["LIMIT", rng.choice(["0", "1", "2", "-1"]), rng.choice(["0", "1", "2", "-1"])]
    if rng.random() < 0.05:
        opts.append(rng.choice(["WITHSCORES", "BOGUS"]))
    return Cmd(["ZRANGESTORE", d, k, a, b] + opts, kind="lex" if mode == "lex" else "exact",
               keys=[d, k])


# ----------------------------------------------------------------- sort

SORT_BY = ["s*", "s*", "h*->f1", "h*->fl", "nosort", "x*", "*", "z*", "s*->f1", "h*->", "#",
           "", "h*->f1->"]
SORT_GET = ["#", "s*", "h*->f2", "h*->fl", "nostar", "l*", "*"]


def g_sort(rng, now):
    """SORT and SORT_RO over lists, sets and sorted sets whose elements name
    string keys (s0..s3) and hashes (h0..h2) through BY and GET patterns."""
    k = key(rng, rng.choice([LIST_KEYS, LIST_KEYS, SET_KEYS, ZSET_KEYS]))
    ro = rng.random() < 0.3
    opts = []
    if rng.random() < 0.4:
        opts.append(["BY", rng.choice(SORT_BY)])
    if rng.random() < 0.3:
        opts.append(["LIMIT", rng.choice(["0", "1", "2", "-1", "5", "-3", "x"]),
                     rng.choice(["0", "1", "2", "-1", "10", "9223372036854775807"])])
    if rng.random() < 0.3:
        opts.append([rng.choice(["ASC", "DESC"])])
    if rng.random() < 0.4:
        opts.append(["ALPHA"])
    for _ in range(rng.choice([0, 0, 1, 2])):
        opts.append(["GET", rng.choice(SORT_GET)])
    dst = None
    if rng.random() < (0.05 if ro else 0.3):
        dst = key(rng, LIST_KEYS + ANY_KEYS)
        opts.append(["STORE", dst])
    if rng.random() < 0.03:
        opts.append([rng.choice(["BOGUS", "LIMIT", "BY"])])
    rng.shuffle(opts)
    args = [case(rng, "sort_ro" if ro else "sort"), k] + [a for o in opts for a in o]
    # BY and GET read keys the elements name: any key.
    return Cmd(args, kind="sort", keys=None)


# ----------------------------------------------------------------- misc

def g_bulk(rng, now):
    """Collections past Redis's compact encodings (128 entries)."""
    n = rng.randint(100, 200)
    r = rng.random()
    if r < 0.4:
        k = key(rng, LIST_KEYS)
        return Cmd([rng.choice(["RPUSH", "LPUSH"]), k] +
                   [rng.choice(MEMBERS) + str(rng.randint(0, 9)) for _ in range(n)], keys=[k])
    if r < 0.6:
        k = key(rng, SET_KEYS)
        return Cmd(["SADD", k] + ["m%d" % rng.randint(0, 300) for _ in range(n)], keys=[k])
    if r < 0.75:
        k = key(rng, ZSET_KEYS)
        args = ["ZADD", k]
        for _ in range(n):
            args += [str(rng.randint(-50, 50)), "m%d" % rng.randint(0, 300)]
        return Cmd(args, keys=[k])
    k = key(rng, HASH_KEYS)
    args = ["HSET", k]
    for _ in range(n):
        args += ["f%d" % rng.randint(0, 300), str(rng.randint(0, 99))]
    return Cmd(args, keys=[k])


# ----------------------------------------------------------------- HyperLogLog

def hll_element(rng):
    r = rng.random()
    if r < 0.4:
        return str(rng.randint(0, 300))
    if r < 0.7:
        return rng.choice(MEMBERS + VALUES)
    return "e%d" % rng.randint(0, 1 << 30)


def g_pfadd(rng, now):
    k = key(rng, HLL_KEYS)
    if rng.random() < 0.03:
        # Enough distinct elements to outgrow the sparse code (3,000 bytes).
        n = rng.randint(300, 3000)
    else:
        n = rng.choice([0, 1, 1, 2, 3, 5, 8])
    return Cmd(["PFADD", k] + [hll_element(rng) for _ in range(n)], keys=[k])


def g_pfcount(rng, now):
    ks = [key(rng, HLL_KEYS) for _ in range(rng.choice([1, 1, 1, 2, 3]))]
    return Cmd(["PFCOUNT"] + ks, keys=ks)


def g_pfmerge(rng, now):
    ks = [key(rng, HLL_KEYS) for _ in range(rng.randint(1, 4))]
    return Cmd(["PFMERGE"] + ks, keys=ks)


def g_pfdebug(rng, now):
    k = key(rng, HLL_KEYS)
    sub = rng.choice(["ENCODING", "decode", "DECODE", "TODENSE", "GETREG", "bogus"])
    return Cmd(["PFDEBUG", sub, k], keys=[k])


HLL_SPARSE_HDR = b"HYLL\x01\x00\x00\x00" + b"\x00" * 8
HLL_MADE_UP = [
    b"HYLL", b"HYLL\x01\x00\x00\x00", HLL_SPARSE_HDR,  # too short, or no registers
    HLL_SPARSE_HDR + b"\x7f\xff",  # an empty sparse one, cache valid
    HLL_SPARSE_HDR + b"\x7f\xfe",  # one register short
    HLL_SPARSE_HDR + b"\x7f\xff\x80",  # one register over
    HLL_SPARSE_HDR + b"\x80\x7f\xfe",  # a VAL, then the rest
    HLL_SPARSE_HDR + b"\x7f\xfb\x83",  # ends in a VAL of 4 that passes the end
    b"HYLL\x01\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\x7f\xff",  # cached 5
    b"HYLL\x00\x00\x00\x00" + b"\x00" * 8 + b"\xff" * 12288,  # dense, every register 63
    b"HYLL\x00\x00\x00\x00" + b"\x00" * 7 + b"\x80" + b"\x41" * 12288,  # dense
    b"HYLL\x00\x00\x00\x00" + b"\x00" * 8 + b"\x00" * 100,  # dense, wrong size
    b"HYLL\x02\x00\x00\x00" + b"\x00" * 8 + b"\x7f\xff",  # unknown encoding
    b"HYLx" + b"\x01" + b"\x00" * 11 + b"\x7f\xff",  # bad magic
]


def g_pfcorrupt(rng, now):
    """Strings that look like a HyperLogLog, or one changed in place."""
    k = key(rng, HLL_KEYS)
    r = rng.random()
    if r < 0.4:
        return Cmd(["SET", k, rng.choice(HLL_MADE_UP)], keys=[k])
    if r < 0.8:
        # The header: magic, encoding, unused bytes, cached count.
        off = rng.choice([0, 3, 4, 5, 8, 11, 15, rng.randint(16, 40)])
        return Cmd(["SETRANGE", k, str(off), rng.choice([b"\x00", b"\x01", b"\x7f", b"\x80",
                                                         b"\xff", b"\x3f\x81", b"Y"])], keys=[k])
    return Cmd(["APPEND", k, rng.choice([b"\x00", b"\x81", b"\xff", b"\x7f\xff", b"\x3f",
                                         b"\x40", b"a"])], keys=[k])


# ----------------------------------------------------------------- geo

# A few places, so that members share coordinates (equal distances, whose
# order the sorts decide) and searches find several.
GEO_PLACES = [("13.361389", "38.115556"), ("15.087269", "37.502669"), ("13.5", "38.5"),
              ("0", "0"), ("-0.1275", "51.507222"), ("179.99", "-0.5"), ("-179.99", "0.5")]
GEO_MEMBERS = ["m%d" % i for i in range(30)]


# Per axis: its index in GEO_PLACES, its range, a range near the places,
# and edge or invalid values.
GEO_AXES = {
    "lon": (0, 180, (12, 16), ["180", "-180", "180.5", "abc", "", "1e2", "-0"]),
    "lat": (1, 85.05, (36, 40), ["85.05112878", "-85.05112878", "85.06", "-90", "84.99", "x"]),
}


def geo_coord(rng, axis):
    place, limit, near, odd = GEO_AXES[axis]
    r = rng.random()
    if r < 0.4:
        return rng.choice(GEO_PLACES)[place]
    if r < 0.8:
        return "%.5f" % rng.uniform(-limit, limit)
    if r < 0.9:
        return "%.5f" % rng.uniform(*near)
    return rng.choice(odd)


def geo_dist(rng):
    return rng.choice(["0", "1", "500", "5000", "50000", "200000", "1000000", "5000000",
                       "20000000", "0.5", "-1", "abc"])


def geo_unit(rng):
    return rng.choice(["m", "km", "KM", "ft", "mi", "km", "m", "yd"])


def geo_options(rng, store):
    opts = []
    for _ in range(rng.randint(0, 4)):
        r = rng.random()
        if r < 0.15:
            opts.append(rng.choice(["WITHDIST", "withdist"]))
        elif r < 0.3:
            opts.append("WITHCOORD")
        elif r < 0.4:
            opts.append("WITHHASH")
        elif r < 0.5:
            opts.append(rng.choice(["ASC", "DESC", "desc"]))
        elif r < 0.65:
            opts += ["COUNT", rng.choice(["1", "2", "3", "5", "10", "0", "-1", "x"])]
        elif r < 0.72:
            opts.append("ANY")
        elif r < 0.8 and store == "key":
            opts += [rng.choice(["STORE", "STOREDIST"]), rng.choice(GEO_KEYS + ZSET_KEYS)]
        elif r < 0.85 and store == "dist":
            opts.append("STOREDIST")
        else:
            opts.append(rng.choice(["bogus", "STORE"]))
    return opts


def g_geoadd(rng, now):
    k = key(rng, GEO_KEYS)
    args = ["GEOADD", k] + rng.choice([[], [], [], ["NX"], ["XX"], ["CH"], ["CH", "XX"],
                                       ["NX", "XX"]])
    for _ in range(rng.choice([1, 1, 2, 3, 6])):
        args += [geo_coord(rng, "lon"), geo_coord(rng, "lat"), rng.choice(GEO_MEMBERS)]
    if rng.random() < 0.03:
        args.pop()
    return Cmd(args, keys=[k])


def g_geoget(rng, now):
    k = key(rng, GEO_KEYS)
    r = rng.random()
    if r < 0.35:
        return Cmd(["GEOPOS", k] + pick(rng, GEO_MEMBERS + ["nosuch"], rng.randint(1, 3)),
                   keys=[k])
    if r < 0.7:
        unit = rng.choice([[], [], ["km"], ["mi"], ["ft"], ["M"], ["yd"], ["km", "x"]])
        return Cmd(["GEODIST", k] + pick(rng, GEO_MEMBERS, 2) + unit, keys=[k])
    return Cmd(["GEOHASH", k] + pick(rng, GEO_MEMBERS + ["nosuch"], rng.randint(1, 3)), keys=[k])


def g_geosearch(rng, now):
    k = key(rng, GEO_KEYS)
    r = rng.random()
    if r < 0.25:
        c = rng.choice(["GEORADIUS", "GEORADIUS_RO"])
        args = [c, k, geo_coord(rng, "lon"), geo_coord(rng, "lat"), geo_dist(rng), geo_unit(rng)]
        args += geo_options(rng, "key" if c == "GEORADIUS" else None)
    elif r < 0.45:
        c = rng.choice(["GEORADIUSBYMEMBER", "GEORADIUSBYMEMBER_RO"])
        args = [c, k, rng.choice(GEO_MEMBERS), geo_dist(rng), geo_unit(rng)]
        args += geo_options(rng, "key" if c == "GEORADIUSBYMEMBER" else None)
    else:
        store = rng.random() < 0.3
        if store:
            dst = rng.choice(GEO_KEYS + ZSET_KEYS)
            args, keys = ["GEOSEARCHSTORE", dst, k], [dst, k]
        else:
            args, keys = ["GEOSEARCH", k], [k]
        opts = []
        if rng.random() < 0.95:
            opts.append(["FROMMEMBER", rng.choice(GEO_MEMBERS)] if rng.random() < 0.5 else
                        ["FROMLONLAT", geo_coord(rng, "lon"), geo_coord(rng, "lat")])
        if rng.random() < 0.95:
            opts.append(["BYRADIUS", geo_dist(rng), geo_unit(rng)] if rng.random() < 0.5 else
                        ["BYBOX", geo_dist(rng), geo_dist(rng), geo_unit(rng)])
        for o in geo_options(rng, "dist" if store else None):
            opts.append([o])
        rng.shuffle(opts)
        for o in opts:
            args += o
        return Cmd(args, keys=keys)
    stores = [args[i + 1] for i in range(len(args) - 1) if args[i] in ("STORE", "STOREDIST")]
    return Cmd(args, keys=[k] + stores)


def g_arity(rng, now):
    """Wrong arity for a random command."""
    c = rng.choice(["GET", "SET", "HSET", "LPUSH", "ZADD", "SADD", "EXPIRE", "INCR", "LRANGE",
                    "ZRANGE", "HGET", "SMOVE", "RENAME", "TTL", "GETRANGE", "LSET", "HINCRBY"])
    n = rng.choice([0, 1])
    return Cmd([c] + ["k"] * n, keys=["k"])


def g_unknown(rng, now):
    return Cmd([rng.choice(["NOSUCH", "foo", "GETT"]), "a", "b"], keys=[])


WEIGHTED = [
    (g_del, 3), (g_exists, 2), (g_type, 2), (g_expire, 3), (g_ttl, 2), (g_persist, 1),
    (g_rename, 1), (g_copy, 1), (g_scan, 1), (g_keys, 1), (g_randomkey, 1), (g_dbsize, 1),
    (g_flush, 0.05), (g_memory, 1), (g_dump, 1), (g_restore, 1.5),
    (g_get, 5), (g_set, 8), (g_setnx, 2), (g_mget, 2), (g_mset, 2), (g_getdel, 1),
    (g_getex, 1), (g_incr, 5), (g_append, 2), (g_strlen, 1), (g_getrange, 2),
    (g_setrange, 2), (g_bit, 4), (g_lcs, 1),
    (g_hset, 5), (g_hget, 4), (g_hdel, 2), (g_hlen, 1), (g_hgetall, 2), (g_hincr, 3),
    (g_hscan, 1), (g_hrandfield, 1),
    (g_push, 6), (g_pop, 3), (g_llen, 1), (g_lrange, 3), (g_lindex, 2), (g_linsert, 1),
    (g_lrem, 1), (g_lpos, 2), (g_lmove, 2), (g_bpop, 0.3),
    (g_sadd, 6), (g_smembers, 2), (g_sismember, 2), (g_scard, 1), (g_spop, 2), (g_smove, 1),
    (g_salgebra, 3), (g_sscan, 1),
    (g_zadd, 7), (g_zrem, 2), (g_zscore, 3), (g_zincrby, 2), (g_zcard, 1), (g_zcount, 2),
    (g_zrange, 6), (g_zpop, 2), (g_zremrange, 2), (g_zscan, 1), (g_zrandmember, 1),
    (g_zstore, 2), (g_zsetop, 3), (g_zrangestore, 2), (g_mpop, 2),
    (g_sort, 3),
    (g_pfadd, 4), (g_pfcount, 3), (g_pfmerge, 1.5), (g_pfdebug, 0.5), (g_pfcorrupt, 1),
    (g_geoadd, 5), (g_geoget, 3), (g_geosearch, 6),
    (g_arity, 1), (g_unknown, 0.3), (g_bulk, 0.3),
]

_FNS = [f for f, _ in WEIGHTED]
_CUM = []
_t = 0
for _f, _w in WEIGHTED:
    _t += _w
    _CUM.append(_t)


def gen_command(rng, now):
    import bisect
    r = rng.random() * _t
    return _FNS[bisect.bisect_right(_CUM, r)](rng, now)
