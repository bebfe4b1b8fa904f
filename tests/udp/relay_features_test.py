"""What operators expect of udp_relay beyond relaying: ECN and DSCP carried
through, socket buffer sizes, kernel receive-queue drops counted, systemd
readiness and a drain on SIGTERM, access control by CIDR."""

import os
import select
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest

import udp_testing as t

IP_RECVTOS = 13
IPV6_RECVTCLASS = 66
IPV6_TCLASS = 67


def tos_socket(family, host):
    s = socket.socket(family, socket.SOCK_DGRAM)
    if family == socket.AF_INET:
        s.setsockopt(socket.IPPROTO_IP, IP_RECVTOS, 1)
    else:
        s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVTCLASS, 1)
    s.bind((host, 0))
    s.settimeout(3)
    return s


def send_with_tos(s, family, data, to, tos):
    if family == socket.AF_INET:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, tos)
    else:
        s.setsockopt(socket.IPPROTO_IPV6, IPV6_TCLASS, tos)
    s.sendto(data, to)


def recv_with_tos(s):
    data, anc, _, peer = s.recvmsg(70000, 256)
    tos = None
    for level, kind, value in anc:
        if (level, kind) == (socket.IPPROTO_IP, socket.IP_TOS):
            tos = value[0]
        elif (level, kind) == (socket.IPPROTO_IPV6, IPV6_TCLASS):
            tos = struct.unpack("i", value[:4])[0]
    return data, tos, peer


class EcnDscpTest(unittest.TestCase):

    def check(self, family, host, listen):
        up = tos_socket(family, host)
        self.addCleanup(up.close)
        upstream = ("[%s]:%d" if family == socket.AF_INET6 else "%s:%d") % (
            host, up.getsockname()[1])
        with t.start_relay(listen, upstream) as relay:
            client = tos_socket(family, host)
            self.addCleanup(client.close)
            port = t.served_port(relay)
            # DSCP EF with ECT(1) up, DSCP AF11 with CE down; then plain.
            for up_tos, down_tos in ((0xb9, 0x2b), (0x00, 0x00), (0x02, 0x01)):
                send_with_tos(client, family, b"q", (host, port), up_tos)
                data, tos, session = recv_with_tos(up)
                self.assertEqual((data, tos), (b"q", up_tos))
                send_with_tos(up, family, b"a", session, down_tos)
                data, tos, _ = recv_with_tos(client)
                self.assertEqual((data, tos), (b"a", down_tos))

    def test_ipv4(self):
        self.check(socket.AF_INET, "127.0.0.1", "127.0.0.1:0")

    def test_ipv6(self):
        self.check(socket.AF_INET6, "::1", "[::1]:0")


if __name__ == "__main__":
    t.take_tool_args()
    unittest.main()
