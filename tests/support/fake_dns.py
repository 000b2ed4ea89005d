#!/usr/bin/env python3
"""A DNS server for tests, on 127.0.0.1 UDP: answers A queries for the
names given with their addresses, NXDOMAIN for other names, and nothing
while the file SILENT exists (a DNS server that has gone away).

    fake_dns.py PORT SILENT NAME=ADDR [NAME=ADDR ...]
"""
import os
import socket
import struct
import sys


def question(msg):
    """The query's name (lowercase, no final dot), qtype, and the question's end."""
    labels, i = [], 12
    while msg[i]:
        n = msg[i]
        labels.append(msg[i + 1:i + 1 + n].decode("ascii", "replace").lower())
        i += 1 + n
    qtype = struct.unpack("!H", msg[i + 1:i + 3])[0]
    return ".".join(labels), qtype, i + 5


def main():
    port, silent = int(sys.argv[1]), sys.argv[2]
    names = dict(a.split("=", 1) for a in sys.argv[3:])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    while True:
        msg, peer = s.recvfrom(512)
        if os.path.exists(silent) or len(msg) < 17:
            continue
        name, qtype, end = question(msg)
        qid = msg[:2]
        addr = names.get(name)
        answers = b""
        rcode = 3  # NXDOMAIN
        if addr is not None:
            rcode = 0
            if qtype == 1:  # A; other types get an empty answer
                answers = (b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 1, 4) +
                           socket.inet_aton(addr))
        flags = 0x8180 | rcode
        header = qid + struct.pack("!HHHHH", flags, 1, 1 if answers else 0, 0, 0)
        s.sendto(header + msg[12:end] + answers, peer)


main()
