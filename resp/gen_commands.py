#!/usr/bin/env python3
"""Generates resp/commands.c from a real redis-server 7.0.

Starts `redis-server --port <free> --save ''` itself, asks it COMMAND INFO and
COMMAND DOCS over a raw socket (RESP2), and writes the command table: name,
arity, flags, legacy key triple, key specs, subcommands, and the exact bytes
of each command's COMMAND INFO entry and COMMAND DOCS name+doc pair, so ferry
can answer COMMAND INFO/DOCS byte for byte.

Usage: resp/gen_commands.py [--redis-server PATH] [--out resp/commands.c]
Re-runnable: the output depends only on the redis-server binary.
"""
import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time

FLAGS = [
    "write", "readonly", "denyoom", "admin", "pubsub", "noscript", "blocking",
    "loading", "stale", "skip_monitor", "skip_slowlog", "asking", "fast",
    "no_auth", "may_replicate", "no_mandatory_keys", "no_multi", "movablekeys",
    "allow_busy", "no_async_loading",
]
# Redis 7.0 gives these CMD_MAY_REPLICATE (its src/commands/*.json), a flag
# COMMAND INFO does not show: they are what CLIENT PAUSE WRITE holds beside
# the writes, and store_node/client_pause_holds_what_redis_holds checks the
# list against a real redis-server.
MAY_REPLICATE = {"eval", "evalsha", "fcall", "publish", "spublish", "pfcount"}
KEY_FLAGS = [
    "RO", "RW", "OW", "RM", "access", "update", "insert", "delete", "not_key",
    "incomplete", "variable_flags",
]


class Node:
    """A parsed RESP value with the byte span it came from."""

    def __init__(self, kind, val, start, end, items=None):
        self.kind, self.val, self.start, self.end = kind, val, start, end
        self.items = items or []


def parse(buf, pos):
    start = pos
    t = buf[pos:pos + 1]
    nl = buf.index(b"\r\n", pos)
    line = buf[pos + 1:nl]
    pos = nl + 2
    if t in (b"+", b"-"):
        return Node(t, line.decode("latin-1"), start, pos)
    if t == b":":
        return Node(t, int(line), start, pos)
    if t == b"$":
        n = int(line)
        if n < 0:
            return Node(t, None, start, pos)
        val = buf[pos:pos + n]
        if buf[pos + n:pos + n + 2] != b"\r\n":
            raise ValueError("bad bulk at %d" % start)
        return Node(t, val.decode("latin-1"), start, pos + n + 2)
    if t == b"*":
        n = int(line)
        items = []
        for _ in range(max(n, 0)):
            item = parse(buf, pos)
            items.append(item)
            pos = item.end
        return Node(t, None, start, pos, items)
    raise ValueError("unexpected type %r at %d" % (t, start))


def request(sock, *args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    sock.sendall(out)
    buf = b""
    while True:
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise RuntimeError("redis-server closed the connection")
        buf += chunk
        try:
            node = parse(buf, 0)
        except (ValueError, IndexError):
            continue  # incomplete
        if node.end == len(buf):
            return buf, node


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def pairs(node):
    """A RESP2 map (flat array) as (key, value-node) pairs."""
    it = node.items
    return [(it[i].val, it[i + 1]) for i in range(0, len(it), 2)]


def key_spec(node):
    d = dict(pairs(node))
    flags = [f.val for f in d["flags"].items]
    for f in flags:
        if f not in KEY_FLAGS:
            sys.exit("unknown key spec flag %r" % f)
    bs = dict(pairs(d["begin_search"]))
    fk = dict(pairs(d["find_keys"]))
    spec = {"flags": flags}
    bspec = dict((k, v.val) for k, v in pairs(bs["spec"]))
    if bs["type"].val == "index":
        spec.update(begin_kind=1, begin_index=bspec["index"])
    elif bs["type"].val == "keyword":
        spec.update(begin_kind=2, keyword=bspec["keyword"], keyword_start=bspec["startfrom"])
    else:
        spec.update(begin_kind=0)
    fspec = dict((k, v.val) for k, v in pairs(fk["spec"]))
    if fk["type"].val == "range":
        spec.update(find_kind=1, lastkey=fspec["lastkey"], keystep=fspec["keystep"],
                    limit=fspec["limit"])
    elif fk["type"].val == "keynum":
        spec.update(find_kind=2, keynumidx=fspec["keynumidx"], firstkey=fspec["firstkey"],
                    keynumstep=fspec["keystep"])
    else:
        spec.update(find_kind=0)
    return spec


def doc_map(buf, node):
    """COMMAND DOCS map: name -> (raw bytes of the name+doc pair, doc node)."""
    out = {}
    it = node.items
    for i in range(0, len(it), 2):
        out[it[i].val] = (buf[it[i].start:it[i + 1].end], it[i + 1])
    return out


def c_bytes(b, indent="    "):
    """A C string literal (split over lines) for arbitrary bytes. Octal
    escapes are always three digits, so no following byte can extend them."""
    lines, cur = [], ""
    for byte in b:
        c = chr(byte)
        if c == '"' or c == "\\":
            piece = "\\" + c
        elif 32 <= byte < 127 and c != "?":  # '?' would risk trigraphs
            piece = c
        else:
            piece = "\\%03o" % byte
        cur += piece
        if piece == "\\012" or len(cur) > 90:
            lines.append('"%s"' % cur)
            cur = ""
    if cur or not lines:
        lines.append('"%s"' % cur)
    return ("\n" + indent).join(lines)


HASH_SIZE = 1024  # RESP_COMMAND_HASH_SIZE in resp/command_table.h


def fnv1a(name):
    h = 2166136261
    for b in name.encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def hash_table(cmds):
    """Open addressing, linear probing; slot = index + 1 into resp_commands."""
    assert len(cmds) * 4 <= HASH_SIZE
    table = [0] * HASH_SIZE
    for i, c in enumerate(cmds):
        slot = fnv1a(c["name"]) & (HASH_SIZE - 1)
        while table[slot]:
            slot = (slot + 1) & (HASH_SIZE - 1)
        table[slot] = i + 1
    return table


def ident(name):
    return "".join(ch if ch.isalnum() else "_" for ch in name)


def emit(cmds, version):
    out = []
    w = out.append
    w("/* Generated by resp/gen_commands.py from redis-server %s. Do not edit:" % version)
    w(" * re-run the generator (python3 resp/gen_commands.py) instead. */")
    w('#include "resp/resp.h"')
    w('#include "resp/command_table.h"')
    w("")
    w("#include <stddef.h>")
    w("")

    def initializer(c, indent):
        cid = ident(c["name"])
        i2 = indent + "    "
        lines = ["{"]
        lines.append('%s.name = "%s",' % (i2, c["name"]))
        lines.append("%s.arity = %d," % (i2, c["arity"]))
        lines.append("%s.flags = %s," % (i2, " | ".join("RESP_CMD_%s" % f.upper() for f in c["flags"]) or "0"))
        lines.append("%s.first_key = %d, .last_key = %d, .key_step = %d," % (i2, c["first"], c["last"], c["step"]))
        if c["specs"]:
            lines.append("%s.nkey_specs = %d, .key_specs = resp_ks_%s," % (i2, len(c["specs"]), cid))
        if c["subs"]:
            lines.append("%s.nsub = %d, .subcommands = resp_sub_%s," % (i2, len(c["subs"]), cid))
        lines.append("%s.info_reply = resp_info_%s, .info_reply_len = %d," % (i2, cid, len(c["info"])))
        lines.append("%s.docs_reply = resp_docs_%s, .docs_reply_len = %d," % (i2, cid, len(c["docs"])))
        lines.append(indent + "}")
        return ("\n").join(lines)

    def emit_data(c):
        for s in c["subs"]:
            emit_data(s)
        cid = ident(c["name"])
        if c["specs"]:
            w("static const struct resp_key_spec resp_ks_%s[] = {" % cid)
            for s in c["specs"]:
                fields = [".flags = %s" % (" | ".join("RESP_KEY_%s" % f.upper() for f in s["flags"]) or "0"),
                          ".begin_kind = %d" % s["begin_kind"]]
                if s["begin_kind"] == 1:
                    fields.append(".begin_index = %d" % s["begin_index"])
                elif s["begin_kind"] == 2:
                    fields.append('.keyword = "%s"' % s["keyword"])
                    fields.append(".keyword_start = %d" % s["keyword_start"])
                fields.append(".find_kind = %d" % s["find_kind"])
                if s["find_kind"] == 1:
                    fields += [".lastkey = %d" % s["lastkey"], ".keystep = %d" % s["keystep"],
                               ".limit = %d" % s["limit"]]
                elif s["find_kind"] == 2:
                    fields += [".keynumidx = %d" % s["keynumidx"], ".firstkey = %d" % s["firstkey"],
                               ".keynumstep = %d" % s["keynumstep"]]
                w("    {%s}," % ", ".join(fields))
            w("};")
        w("static const char resp_info_%s[] =\n    %s;" % (cid, c_bytes(c["info"])))
        w("static const char resp_docs_%s[] =\n    %s;" % (cid, c_bytes(c["docs"])))
        if c["subs"]:
            w("static const struct resp_command resp_sub_%s[] = {" % cid)
            for s in c["subs"]:
                w("    %s," % initializer(s, "    "))
            w("};")
        w("")

    for c in cmds:
        emit_data(c)
    w("const struct resp_command resp_commands[] = {")
    for c in cmds:
        w("    %s," % initializer(c, "    "))
    w("};")
    w("const int resp_ncommands = %d;" % len(cmds))
    w("")
    w("const uint16_t resp_command_hash[RESP_COMMAND_HASH_SIZE] = {")
    table = hash_table(cmds)
    for i in range(0, len(table), 16):
        w("    " + " ".join("%d," % v for v in table[i:i + 16]))
    w("};")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--redis-server", default="redis-server")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "commands.c"))
    args = ap.parse_args()

    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen([args.redis_server, "--port", str(port), "--bind", "127.0.0.1",
                                 "--save", "", "--appendonly", "no", "--dir", tmp],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            sock = None
            for _ in range(100):
                try:
                    sock = socket.create_connection(("127.0.0.1", port))
                    break
                except OSError:
                    time.sleep(0.05)
            if sock is None:
                sys.exit("redis-server did not start on port %d" % port)
            _, hello = request(sock, "INFO", "server")
            version = [l.split(":", 1)[1] for l in hello.val.splitlines()
                       if l.startswith("redis_version:")][0]
            if not version.startswith("7.0."):
                print("warning: redis %s, not 7.0" % version, file=sys.stderr)
            ibuf, info = request(sock, "COMMAND", "INFO")
            dbuf, docs = request(sock, "COMMAND", "DOCS")
            sock.close()
        finally:
            proc.terminate()
            proc.wait()

    docmap = doc_map(dbuf, docs)
    cmds = []
    for entry in info.items:
        name = entry.items[0].val
        if name not in docmap:
            sys.exit("no COMMAND DOCS for %s" % name)
    # Entries are sliced from their own reply buffers: info bytes from
    # ibuf, doc bytes from dbuf.
    for entry in info.items:
        c = command_from(ibuf, dbuf, entry, docmap)
        cmds.append(c)
    cmds.sort(key=lambda c: c["name"])
    src = emit(cmds, version)
    tmp_out = args.out + ".tmp"
    with open(tmp_out, "w") as f:
        f.write(src)
    os.replace(tmp_out, args.out)
    nsub = sum(len(c["subs"]) for c in cmds)
    print("wrote %s: %d commands, %d subcommands (redis %s)" % (args.out, len(cmds), nsub, version))


def command_from(ibuf, dbuf, info, docs):
    """One command (and its subcommands) from its COMMAND INFO entry node.

    Redis lists a container's subcommands in dict order, which changes with
    every server start (the dict hash is seeded). The stored bytes put them
    in name order instead: still a reply Redis could give, and it keeps the
    generated file stable from run to run."""
    it = info.items
    name = it[0].val
    flags = [f.val for f in it[2].items]
    unknown = [f for f in flags if f not in FLAGS]
    if unknown:
        print("note: %s: flags without a RESP_CMD_ bit: %s" % (name, unknown), file=sys.stderr)
    doc_pair, doc_node = docs[name]
    pair_start = doc_node.start - (len(doc_pair) - (doc_node.end - doc_node.start))
    subdocs, subdocs_node = {}, None
    for k, v in pairs(doc_node):
        if k == "subcommands":
            subdocs, subdocs_node = doc_map(dbuf, v), v
    subs = sorted((command_from(ibuf, dbuf, s, subdocs) for s in it[9].items),
                  key=lambda c: c["name"])
    info_bytes = ibuf[info.start:info.end]
    if subs:
        arr = it[9]
        info_bytes = (ibuf[info.start:arr.items[0].start] + b"".join(c["info"] for c in subs) +
                      ibuf[arr.end:info.end])
    if subdocs_node is not None and subdocs_node.items:
        v = subdocs_node
        doc_pair = (dbuf[pair_start:v.items[0].start] + b"".join(c["docs"] for c in subs) +
                    dbuf[v.end:doc_node.end])
    return {
        "name": name,
        "arity": it[1].val,
        "flags": [f for f in flags if f in FLAGS] +
                 (["may_replicate"] if name in MAY_REPLICATE and "may_replicate" not in flags
                  else []),
        "first": it[3].val, "last": it[4].val, "step": it[5].val,
        "specs": [key_spec(s) for s in it[8].items],
        "subs": subs,
        "info": info_bytes,
        "docs": doc_pair,
    }


if __name__ == "__main__":
    main()
