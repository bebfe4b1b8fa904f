"""udp_relay on a multi-homed host: two network namespaces joined by two
veth pairs, several IPv4 and IPv6 addresses. Every reply must leave from the
address and the interface its request arrived on, even where the routing
table would pick another interface (the client's address is routed over
both links, the other one preferred)."""

import ctypes
import os
import socket
import struct
import subprocess
import unittest

import udp_testing as t
from netns_testing import ip

CLONE_NEWNET = 0x40000000
IP_PKTINFO = 8
IPV6_RECVPKTINFO = 49
IPV6_PKTINFO = 50
LIBC = ctypes.CDLL(None, use_errno=True)

SUFFIX = "%d" % os.getpid()
SRV = "udpt-srv-" + SUFFIX
CLI = "udpt-cli-" + SUFFIX


def sysctl(ns, key, value):
    # /proc/sys/net shows the namespace of whoever opens it (no procps needed).
    path = "/proc/sys/" + key.replace(".", "/")
    subprocess.run(["ip", "netns", "exec", ns, "/bin/sh", "-c",
                    "echo %s > %s" % (value, path)], check=True, timeout=20)


def build_topology():
    """srv: eth-a 10.51.1.1, .2 fd51:1::1, ::2; eth-b 10.51.2.1 fd51:2::1.
    cli: eth-a 10.51.1.100 fd51:1::100; eth-b 10.51.2.100 fd51:2::100; and a
    service address 10.51.3.100 / fd51:3::100 that srv reaches over both
    links, preferring eth-a."""
    ip("netns", "add", SRV)
    ip("netns", "add", CLI)
    for ns in (SRV, CLI):
        ip("-n", ns, "link", "set", "lo", "up")
        sysctl(ns, "net.ipv4.conf.all.rp_filter", 0)
        sysctl(ns, "net.ipv4.conf.default.rp_filter", 0)
    for side in ("a", "b"):
        ip("link", "add", "s%s%s" % (side, SUFFIX), "netns", SRV, "type", "veth",
           "peer", "name", "c%s%s" % (side, SUFFIX), "netns", CLI)
        ip("-n", SRV, "link", "set", "s%s%s" % (side, SUFFIX), "name", "eth-" + side)
        ip("-n", CLI, "link", "set", "c%s%s" % (side, SUFFIX), "name", "eth-" + side)
        for ns in (SRV, CLI):
            sysctl(ns, "net.ipv4.conf.eth-%s.rp_filter" % side, 0)
            ip("-n", ns, "link", "set", "eth-" + side, "up")
    for addr in ("10.51.1.1/24", "10.51.1.2/24"):
        ip("-n", SRV, "addr", "add", addr, "dev", "eth-a")
    for addr in ("fd51:1::1/64", "fd51:1::2/64"):
        ip("-n", SRV, "addr", "add", addr, "dev", "eth-a", "nodad")
    ip("-n", SRV, "addr", "add", "10.51.2.1/24", "dev", "eth-b")
    ip("-n", SRV, "addr", "add", "fd51:2::1/64", "dev", "eth-b", "nodad")
    ip("-n", CLI, "addr", "add", "10.51.1.100/24", "dev", "eth-a")
    ip("-n", CLI, "addr", "add", "fd51:1::100/64", "dev", "eth-a", "nodad")
    ip("-n", CLI, "addr", "add", "10.51.2.100/24", "dev", "eth-b")
    ip("-n", CLI, "addr", "add", "fd51:2::100/64", "dev", "eth-b", "nodad")
    ip("-n", CLI, "addr", "add", "10.51.3.100/32", "dev", "lo")
    ip("-n", CLI, "addr", "add", "fd51:3::100/128", "dev", "lo", "nodad")
    # An off-link client address routed back over eth-a only; the client
    # answers ARP only for addresses of the asking interface, as hosts
    # behind a router do.
    ip("-n", CLI, "addr", "add", "10.51.4.100/32", "dev", "lo")
    sysctl(CLI, "net.ipv4.conf.all.arp_ignore", 1)
    ip("-n", SRV, "route", "add", "10.51.4.100/32", "via", "10.51.1.100")
    ip("-n", SRV, "route", "add", "10.51.3.100/32", "via", "10.51.1.100", "metric", "100")
    ip("-n", SRV, "route", "add", "10.51.3.100/32", "via", "10.51.2.100", "metric", "200")
    ip("-n", SRV, "-6", "route", "add", "fd51:3::100/128", "via", "fd51:1::100", "metric", "100")
    ip("-n", SRV, "-6", "route", "add", "fd51:3::100/128", "via", "fd51:2::100", "metric", "200")


def remove_stale_namespaces():
    """Namespaces of earlier runs that were killed before cleaning up."""
    for line in ip("netns", "list").stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        parts = name.split("-")
        if len(parts) == 3 and parts[0] == "udpt" and parts[2].isdigit() and \
                not os.path.exists("/proc/" + parts[2]):
            ip("netns", "del", name, check=False)


def destroy_topology():
    for ns in (SRV, CLI):
        ip("netns", "del", ns, check=False)


class InNamespace:
    """Moves this (single) thread into a named network namespace and back."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self.home = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        target = os.open("/run/netns/" + self.name, os.O_RDONLY | os.O_CLOEXEC)
        try:
            if LIBC.setns(target, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns " + self.name)
        finally:
            os.close(target)
        return self

    def __exit__(self, *exc):
        LIBC.setns(self.home, CLONE_NEWNET)
        os.close(self.home)


def client_ifindex(name):
    with InNamespace(CLI):
        return socket.if_nametoindex(name)


def ask(family, bind_to, server, port, payload=b"hello", timeout=3):
    """From the client namespace: sends from `bind_to` to (server, port) and
    returns (reply, source address, client interface it arrived on)."""
    with InNamespace(CLI):
        s = socket.socket(family, socket.SOCK_DGRAM)
        try:
            s.settimeout(timeout)
            if family == socket.AF_INET:
                s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
            else:
                s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
            s.bind((bind_to, 0))
            s.sendto(payload, (server, port))
            data, anc, _, source = s.recvmsg(70000, 256)
        finally:
            s.close()
    ifindex = None
    for level, kind, value in anc:
        if (level, kind) in ((socket.IPPROTO_IP, IP_PKTINFO),
                             (socket.IPPROTO_IPV6, IPV6_PKTINFO)):
            ifindex = struct.unpack_from("i" if family == socket.AF_INET else "16xI",
                                         value)[0]
    return data, source[0], ifindex


class MultiHomedTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        remove_stale_namespaces()
        try:
            build_topology()
        except BaseException:
            destroy_topology()
            raise

    @classmethod
    def tearDownClass(cls):
        destroy_topology()

    def in_srv(self, argv):
        server = t.Server(["ip", "netns", "exec", SRV] + argv)
        self.addCleanup(server.__exit__)
        return server

    def start_relay(self, *extra):
        echo = self.in_srv([t.TOOLS["echo"], "--listen=127.0.0.1:7000,[::1]:7000"])
        relay = self.in_srv([t.TOOLS["relay"], "--listen=0.0.0.0:5300,[::]:5300",
                             "--upstream=127.0.0.1:7000"] + list(extra))
        return echo, relay

    def check_every_address(self, reply_interface="arrival"):
        eth_a, eth_b = client_ifindex("eth-a"), client_ifindex("eth-b")
        rerouted = eth_b if reply_interface == "arrival" else eth_a
        cases = [
            (socket.AF_INET, "10.51.1.100", "10.51.1.1", eth_a),
            (socket.AF_INET, "10.51.1.100", "10.51.1.2", eth_a),
            (socket.AF_INET, "10.51.2.100", "10.51.2.1", eth_b),
            (socket.AF_INET6, "fd51:1::100", "fd51:1::1", eth_a),
            (socket.AF_INET6, "fd51:1::100", "fd51:1::2", eth_a),
            (socket.AF_INET6, "fd51:2::100", "fd51:2::1", eth_b),
            # Routed back over eth-a by preference, but asked over eth-b:
            # with --reply_interface=arrival the reply must come back over
            # eth-b (ipi_ifindex is strict), with route over eth-a; from the
            # address asked either way.
            (socket.AF_INET, "10.51.3.100", "10.51.2.1", rerouted),
            # IPv6 takes ipi6_ifindex as a hint only when ipi6_addr is set
            # (the kernel's route lookup is strict about the interface only
            # for an unspecified source), so here only the source address is
            # checked: it must still be the one the client asked.
            (socket.AF_INET6, "fd51:3::100", "fd51:2::1", None),
        ]
        wrong = []
        for family, src, dst, want_if in cases:
            payload = ("%s->%s" % (src, dst)).encode()
            data, source, ifindex = ask(family, src, dst, 5300, payload)
            self.assertEqual(data, payload)
            if source != dst or (want_if is not None and ifindex != want_if):
                wrong.append((src, dst, source, ifindex, want_if))
        return wrong

    def test_replies_leave_from_arrival_address_and_interface(self):
        _, relay = self.start_relay("--threads=2", "--reply_interface=arrival")
        self.assertEqual(self.check_every_address("arrival"), [])
        code, final = relay.stop()
        self.assertEqual(code, 0)
        self.assertEqual(final["client_tx_packets"], 8)

    def test_by_default_replies_leave_from_arrival_address_by_the_route(self):
        self.start_relay("--threads=2")
        self.assertEqual(self.check_every_address("route"), [])

    def test_same_with_gso_and_gro_off(self):
        self.start_relay("--gso=off", "--gro=off", "--threads=1",
                         "--reply_interface=arrival")
        self.assertEqual(self.check_every_address("arrival"), [])

    def test_asymmetric_route_reply_follows_the_route(self):
        # 10.51.4.100 asks over eth-b, but the server reaches it only through
        # the router on eth-a. Forcing eth-b would ARP for an off-link
        # address nobody answers for there: the reply vanishes.
        _, relay = self.start_relay("--threads=1")
        data, source, ifindex = ask(socket.AF_INET, "10.51.4.100", "10.51.2.1", 5300,
                                    b"asym")
        self.assertEqual((data, source, ifindex),
                         (b"asym", "10.51.2.1", client_ifindex("eth-a")))
        relay.stop()
        self.start_relay("--threads=1", "--reply_interface=arrival")
        with self.assertRaises(socket.timeout):
            ask(socket.AF_INET, "10.51.4.100", "10.51.2.1", 5300, b"asym", timeout=1)

    def test_a_server_without_pktinfo_fails_this_check(self):
        # The topology really tells right from wrong: a plain wildcard
        # recvfrom/sendto echo answers the rerouted cases from the wrong
        # interface (its replies follow the routing table).
        self.in_srv(["/usr/bin/python3", "-c", NAIVE_ECHO])
        wrong = self.check_every_address()
        self.assertIn("10.51.3.100", [w[0] for w in wrong])
        self.assertIn("fd51:3::100", [w[0] for w in wrong])


NAIVE_ECHO = r"""
import select, socket, sys
s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s4.bind(("0.0.0.0", 5300))
s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1); s6.bind(("::", 5300))
print("serving", file=sys.stderr, flush=True)
while True:
    for s in select.select([s4, s6], [], [])[0]:
        d, a = s.recvfrom(70000); s.sendto(d, a)
"""


if __name__ == "__main__":
    t.take_tool_args()
    unittest.main()
