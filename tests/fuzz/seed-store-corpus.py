#!/usr/bin/env python3
"""Writes seed inputs for fuzz_store_apply from the differential test's
command generator, in that target's line format (see its header): the first
byte of a line is the command's place in store/cmds.h, then the arguments
separated by spaces, with commits, MULTI/EXEC and clock steps mixed in.

  tests/fuzz/seed-store-corpus.py [N] [DIR]
"""
import os
import random
import re
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "diff"))
from gen import gen_command  # noqa: E402

table = open(os.path.join(here, "..", "..", "store", "cmds.h")).read()
index = {name: i for i, name in enumerate(re.findall(r"^STORE_CMD\((\w+),", table, re.M))}


def line(cmd):
    name = cmd.argv[0].decode(errors="replace").lower()
    args = [a for a in cmd.argv[1:] if b" " not in a and b"\n" not in a]
    if name not in index:
        return None
    i = index[name]
    if i == ord("\n"):  # the target takes the first byte modulo the table's size
        i += len(index)
    return bytes([i]) + b"".join(b" " + a for a in args)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 48
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "corpus", "fuzz_store_apply")
    os.makedirs(out, exist_ok=True)
    rng = random.Random(1)
    now = 1700000000000
    for i in range(n):
        lines = []
        for _ in range(rng.randint(4, 40)):
            r = rng.random()
            if r < 0.08:
                lines.append(b"\xfe")
            elif r < 0.11:
                lines.append(b"\xfb" + bytes([rng.randint(1, 20)]))
            elif r < 0.14:
                body = [line(gen_command(rng, now)) for _ in range(rng.randint(1, 4))]
                lines += [b"\xfd"] + [b for b in body if b] + [b"\xfc"]
            else:
                b = line(gen_command(rng, now))
                if b:
                    lines.append(b)
        with open(os.path.join(out, "seed-%03d" % i), "wb") as f:
            f.write(b"\n".join(lines) + b"\n")


main()
