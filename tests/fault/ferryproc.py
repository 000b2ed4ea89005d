"""Starting ferry (phase raft-only, sync always) for the fault tests."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "diff"))
from difftest import Conn  # noqa: E402


def start(ferry, port, d, log, extra=()):
    """Starts ferry on directory d with its output to the open file log;
    returns (process, connection) once it answers PING."""
    p = subprocess.Popen([ferry, "--phase", "raft-only", "--port", str(port), "--dir", d,
                          "--sync", "yes"] + list(extra),
                         stdout=log, stderr=subprocess.STDOUT)
    for _ in range(500):
        if p.poll() is not None:
            raise RuntimeError("ferry exited with status %d at start" % p.returncode)
        try:
            c = Conn.tcp(port, "ferry")
            if c.call([b"PING"])[0] == b"+PONG\r\n":
                return p, c
        except (OSError, RuntimeError, EOFError):
            pass
        time.sleep(0.01)
    p.kill()
    p.wait()
    raise RuntimeError("ferry did not answer PING within 5 s")
