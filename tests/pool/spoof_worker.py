"""A worker that tries to make the pool believe another worker is ready
(pool isolation: the workers share a pid namespace). It writes what each
attempt gave to /out/spoof.SLOT, then reports its own readiness."""

import os
import socket
import struct
import sys
import time

slot = os.environ["WORKER_POOL_SLOT"]
path = os.environ["NOTIFY_SOCKET"]
results = []


def victim_pid():
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open("/proc/%s/environ" % entry, "rb") as f:
                if b"WORKER_POOL_SLOT=0\0" in f.read():
                    return int(entry)
        except OSError:
            pass
    return None


if slot == "0":
    # The victim: never ready on its own.
    while True:
        time.sleep(1)

victim = None
for _ in range(100):
    victim = victim_pid()
    if victim:
        break
    time.sleep(0.05)
results.append("victim=%s" % victim)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
# 1. Claim the victim's pid in SCM_CREDENTIALS.
try:
    creds = struct.pack("iII", victim, os.getuid(), os.getgid())
    s.sendmsg([b"READY=1"], [(socket.SOL_SOCKET, socket.SCM_CREDENTIALS, creds)], 0, path)
    results.append("claim=sent")
except OSError as e:
    results.append("claim=%s" % e.errno)
# 2. From a process that left the worker (double fork: its parent is gone).
if os.fork() == 0:
    if os.fork() == 0:
        time.sleep(0.3)
        t = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        t.sendto(b"READY=1", path)
        os._exit(0)
    os._exit(0)
os.wait()
time.sleep(0.6)
with open("/out/spoof.%s" % slot, "w") as f:
    f.write(" ".join(results))
s.sendto(b"READY=1\nSTATUS=spoofer", path)
while True:
    time.sleep(1)
