"""An echo server written for systemd socket activation, as any such server
would be: it takes its sockets from LISTEN_FDS (fd 3 on), or binds them
itself with --bind=tcp:HOST:PORT (the restart-without-fdstore control).

Each TCP connection carries one line; the reply is the line with
" TAG" appended, then the connection closes. Each UDP datagram is echoed
with " TAG" appended. On SIGTERM the server finishes what it is doing,
closes its copies of the sockets and exits 0 — the graceful half of a
zero-downtime restart.

usage: activated_echo.py TAG [--bind=tcp:HOST:PORT]
"""

import os
import select
import signal
import socket
import sys

stopping = False


def on_term(_sig, _frame):
    global stopping
    stopping = True


def listen_fds():
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        raise SystemExit("activated_echo: not socket-activated (LISTEN_PID)")
    n = int(os.environ["LISTEN_FDS"])
    names = os.environ.get("LISTEN_FDNAMES", "").split(":")
    socks = []
    for i in range(n):
        s = socket.socket(fileno=3 + i)  # family and type come from the fd
        s.setblocking(False)  # shared with the other instance: never block on accept
        socks.append(s)
    return socks, names


def serve_tcp(listener, tag):
    try:
        conn, _ = listener.accept()
    except BlockingIOError:
        return  # the other instance took it
    with conn:
        conn.setblocking(True)
        conn.settimeout(5)
        data = b""
        while not data.endswith(b"\n"):
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        conn.sendall(data[:-1] + b" " + tag + b"\n")


def serve_udp(sock, tag):
    try:
        data, peer = sock.recvfrom(65536)
    except BlockingIOError:
        return
    sock.sendto(data + b" " + tag, peer)


def main():
    tag = sys.argv[1].encode()
    signal.signal(signal.SIGTERM, on_term)
    bind = [a for a in sys.argv[2:] if a.startswith("--bind=tcp:")]
    if bind:
        host, port = bind[0][len("--bind=tcp:"):].rsplit(":", 1)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, int(port)))
        s.listen(128)
        s.setblocking(False)
        socks, names = [s], ["tcp"]
    else:
        socks, names = listen_fds()
    print("activated_echo %s: ready with %s" % (tag.decode(), ",".join(names)), flush=True)
    while not stopping:
        try:
            ready, _, _ = select.select(socks, [], [], 0.05)
        except InterruptedError:
            continue
        for s in ready:
            if s.type == socket.SOCK_STREAM:
                serve_tcp(s, tag)
            else:
                serve_udp(s, tag)
    for s in socks:
        s.close()
    print("activated_echo %s: stopped" % tag.decode(), flush=True)


main()
