"""A socket-activated worker for the pool's tests: fd 3 is a listening TCP
socket, fd 4 (if LISTEN_FDS says so) a UDP socket. It answers each TCP
connection and each datagram with "slot S pid P instance I\n". On SIGTERM it finishes
what it holds and exits 0 (a graceful worker). Options (argv): --notify
(systemd-notify --ready once listening), --die_after=N (exit 3 after N
requests)."""

import os
import select
import signal
import socket
import subprocess
import sys

stopping = False


def term(*_):
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, term)
n = int(os.environ.get("LISTEN_FDS", "0"))
socks = [socket.socket(fileno=3 + i) for i in range(n)]
for s in socks:
    s.setblocking(False)
reply = ("slot %s pid %d instance %s\n" % (os.environ.get("WORKER_POOL_SLOT"), os.getpid(),
                                           os.environ.get("WORKER_POOL_INSTANCE"))).encode()
die_after = 0
for arg in sys.argv[1:]:
    if arg.startswith("--die_after="):
        die_after = int(arg.split("=")[1])
if "--notify" in sys.argv:
    subprocess.run(["systemd-notify", "--ready", "--status=serving"], check=True)
served = 0
while not stopping:
    try:
        ready, _, _ = select.select(socks, [], [], 0.2)
    except InterruptedError:
        continue
    for s in ready:
        try:
            if s.type == socket.SOCK_STREAM:
                c, _ = s.accept()
                c.setblocking(True)
                c.sendall(reply)
                c.close()
            else:
                data, peer = s.recvfrom(2048)
                s.sendto(reply, peer)
        except BlockingIOError:
            continue
        served += 1
        if die_after and served >= die_after:
            sys.exit(3)
sys.exit(0)
