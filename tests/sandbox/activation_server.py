"""A systemd-style socket-activated server, run inside the sandbox.

Takes a TCP, a UDP and a unix listening socket from LISTEN_FDS (fd 3, 4, 5),
prints one line describing what it was given and what network it sees, then
answers one TCP connection, one UDP datagram and one unix connection.
"""
import os
import socket
import sys


def main():
    assert os.environ["LISTEN_PID"] == str(os.getpid()), "LISTEN_PID is not ours"
    count = int(os.environ["LISTEN_FDS"])
    names = os.environ["LISTEN_FDNAMES"].split(":")
    tcp = socket.socket(fileno=3)
    udp = socket.socket(fileno=4)
    unix = socket.socket(fileno=5)
    interfaces = ",".join(name for _, name in socket.if_nameindex())
    print("ready", count, ":".join(names), tcp.type.name, udp.type.name,
          unix.family.name, tcp.getsockname()[1], udp.getsockname()[1],
          interfaces, flush=True)

    conn, _ = tcp.accept()
    conn.sendall(b"tcp:" + conn.recv(100))
    conn.close()
    data, peer = udp.recvfrom(100)
    udp.sendto(b"udp:" + data, peer)
    conn, _ = unix.accept()
    conn.sendall(b"unix:" + conn.recv(100))
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
