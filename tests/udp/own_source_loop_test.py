"""udp_relay and udp_echo against one datagram whose forged source is this
host itself: an address of the host with one of the server's listening
ports. Answering it sends the answer into the server's own socket, which
answers again, forever. Raw sockets forge the source (root, CAP_NET_RAW);
the IPv6 case, where the forged source comes from a neighbour, builds
network namespaces (`ip netns`, outside Bazel's sandbox)."""

import os
import socket
import subprocess
import time
import unittest

import udp_testing as t
from netns_testing import Namespaces, ip, python_in

HERE = os.path.dirname(os.path.abspath(__file__))


def distinct_free_ports(n):
    ports = set()
    while len(ports) < n:
        ports.add(t.free_port())
    return sorted(ports)


def settled_after_a_second(server):
    """Counters once the forged datagram was read, a second later and
    settled: a loop keeps them moving, so they would not settle."""
    server.stats_reaching("client_rx_packets", 1, timeout=5)
    time.sleep(1.0)  # a loop that never starts cannot be polled for
    return server.settled_stats(timeout=3)


class RelayOwnSourceTest(unittest.TestCase):

    def setUp(self):
        self.raw = t.raw_socket_or_skip(self)
        self.echo = t.start_echo("127.0.0.1:0")
        self.addCleanup(self.echo.__exit__)
        self.upstream = "127.0.0.1:%d" % t.served_port(self.echo)

    def assert_dropped_as_loop(self, relay):
        stats = settled_after_a_second(relay)
        self.assertEqual(stats["client_rx_packets"], 1, stats)
        self.assertEqual(stats["drop_loop"], 1, stats)
        self.assertEqual(stats["sessions_created"], 0, stats)
        self.assertEqual(stats["upstream_tx_packets"], 0, stats)
        self.assertEqual(self.echo.stats()["client_rx_packets"], 0)

    def test_another_local_address_with_the_listening_port_is_a_loop(self):
        # The relay on 0.0.0.0:P would answer 127.0.0.2:P from 127.0.0.1:P,
        # which is itself: a new client each way.
        port = t.free_port()
        with t.start_relay("0.0.0.0:%d" % port, self.upstream, ["--threads=1"]) as relay:
            t.send_spoofed(self.raw, ("127.0.0.2", port), ("127.0.0.1", port))
            self.assert_dropped_as_loop(relay)

    def test_another_listening_port_is_a_loop(self):
        p1, p2 = distinct_free_ports(2)
        with t.start_relay("127.0.0.1:%d,127.0.0.1:%d" % (p1, p2), self.upstream,
                           ["--threads=1"]) as relay:
            t.send_spoofed(self.raw, ("127.0.0.1", p2), ("127.0.0.1", p1))
            self.assert_dropped_as_loop(relay)

    def test_the_cheap_drops_come_before_the_address_test(self):
        # The address test costs system calls (a scratch socket's bind), and
        # any sender can pick a listening port as its source: a source that
        # --deny refuses is refused by that, never tested. Were it tested
        # first, this local source would count as a loop.
        port = t.free_port()
        with t.start_relay("127.0.0.1:%d" % port, self.upstream,
                           ["--threads=1", "--deny=127.0.0.2/32"]) as relay:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.addCleanup(s.close)
            s.bind(("127.0.0.2", port))
            s.sendto(b"denied", ("127.0.0.1", port))
            stats = relay.stats_when(lambda st: st["drop_denied"] + st["drop_loop"] >= 1,
                                     timeout=5)
            self.assertEqual(stats["drop_denied"], 1, stats)
            self.assertEqual(stats["drop_loop"], 0, stats)
            self.assertEqual(stats["sessions_created"], 0, stats)

    def test_an_ordinary_client_still_gets_through(self):
        port = t.free_port()
        with t.start_relay("0.0.0.0:%d" % port, self.upstream, ["--threads=1"]) as relay:
            c = t.connected_client("127.0.0.2", port)
            self.addCleanup(c.close)
            self.assertEqual(t.exchange(c, b"ordinary"), b"ordinary")
            self.assertEqual(relay.stats()["drop_loop"], 0)


class EchoOwnSourceTest(unittest.TestCase):

    def setUp(self):
        self.raw = t.raw_socket_or_skip(self)

    def check(self, listen, source, dest):
        with t.start_echo(listen) as echo:
            t.send_spoofed(self.raw, source, dest)
            stats = settled_after_a_second(echo)
            self.assertLessEqual(stats["client_rx_packets"], 1, stats)
            self.assertEqual(stats["drop_loop"], 1, stats)
            self.assertEqual(stats["client_tx_packets"], 0, stats)

    def test_its_own_address_and_port_is_dropped(self):
        port = t.free_port()
        self.check("127.0.0.1:%d" % port, ("127.0.0.1", port), ("127.0.0.1", port))

    def test_another_local_address_with_its_port_is_dropped(self):
        port = t.free_port()
        self.check("0.0.0.0:%d" % port, ("127.0.0.2", port), ("127.0.0.1", port))


class EchoOutOfFdsTest(unittest.TestCase):
    """A server that cannot open the scratch socket the address test needs
    cannot tell whether a source is its own: it must drop it, not answer."""

    def test_a_source_it_cannot_check_is_dropped(self):
        raw = t.raw_socket_or_skip(self)
        port = t.free_port()
        with t.start_echo("0.0.0.0:%d" % port) as echo:
            pid = echo.proc.pid
            held = t.fd_count(pid)
            subprocess.run(["prlimit", "--pid", str(pid), "--nofile=%d:%d" % (held, held)],
                           check=True)
            t.send_spoofed(raw, ("127.0.0.2", port), ("127.0.0.1", port))
            stats = settled_after_a_second(echo)
            self.assertLessEqual(stats["client_rx_packets"], 1, stats)
            self.assertEqual(stats["drop_loop"], 1, stats)
            self.assertEqual(stats["client_tx_packets"], 0, stats)


SEND_SPOOFED = r"""
import socket, sys
sys.path.insert(0, sys.argv[1])
import udp_testing as t
source, dest, port = sys.argv[2], sys.argv[3], int(sys.argv[4])
raw = socket.socket(socket.AF_INET6 if ":" in dest else socket.AF_INET,
                    socket.SOCK_RAW, socket.IPPROTO_RAW)
t.send_spoofed(raw, (source, port), (dest, port))
"""


def namespaces_or_skip(test, *roles):
    if os.geteuid() != 0:
        test.skipTest("network namespaces need root")
    if ip("netns", "list", check=False).returncode != 0:
        test.skipTest("no `ip netns` here")
    try:
        return Namespaces(test, *roles)
    except AssertionError as e:
        test.skipTest("cannot build network namespaces: %s" % e)


class EchoOutOfPortsTest(unittest.TestCase):
    """The address test must not need a free ephemeral port: a server that
    has used them all up still knows its own addresses."""

    def test_another_local_address_is_dropped_with_no_port_left(self):
        ns = namespaces_or_skip(self, "e")["e"]
        # The range is the one port the echo listens on: a port-0 bind of
        # any local address finds it taken (EADDRINUSE).
        ip("netns", "exec", ns, "/bin/sh", "-c",
           "echo 40000 40000 > /proc/sys/net/ipv4/ip_local_port_range")
        with t.Server(["ip", "netns", "exec", ns, t.TOOLS["echo"],
                       "--listen=0.0.0.0:40000"]) as echo:
            python_in(ns, SEND_SPOOFED, HERE, "127.0.0.2", "127.0.0.1", "40000",
                      timeout=20)
            stats = settled_after_a_second(echo)
            self.assertLessEqual(stats["client_rx_packets"], 1, stats)
            self.assertEqual(stats["drop_loop"], 1, stats)


class Ipv6NeighbourTest(unittest.TestCase):
    """IPv6 has no martian filter for a source that is the receiver's own
    address: a neighbour on the link can send from the relay's address."""

    def setUp(self):
        ns = namespaces_or_skip(self, "r", "n")
        self.relay_ns, self.neighbour_ns = ns["r"], ns["n"]
        suffix = self.relay_ns.rsplit("-", 1)[1]
        ip("link", "add", "lr" + suffix, "netns", self.relay_ns, "type", "veth",
           "peer", "name", "ln" + suffix, "netns", self.neighbour_ns)
        for n, dev, addrs in ((self.relay_ns, "lr", ("fd53::1/64", "fd53::2/64")),
                              (self.neighbour_ns, "ln", ("fd53::100/64",))):
            for addr in addrs:
                ip("-n", n, "addr", "add", addr, "dev", dev + suffix, "nodad")
            ip("-n", n, "link", "set", dev + suffix, "up")
        self.echo = t.Server(["ip", "netns", "exec", self.relay_ns, t.TOOLS["echo"],
                              "--listen=[::1]:7000"])
        self.addCleanup(self.echo.__exit__)

    def send_from_neighbour(self, source, port):
        python_in(self.neighbour_ns, SEND_SPOOFED, HERE, source, "fd53::1", str(port),
                  timeout=20)

    def test_the_relays_own_address_from_a_neighbour_is_a_loop(self):
        relay = t.Server(["ip", "netns", "exec", self.relay_ns, t.TOOLS["relay"],
                          "--listen=[::]:5300", "--upstream=[::1]:7000", "--threads=1"])
        self.addCleanup(relay.__exit__)
        # The control: the neighbour's own address with the relay's port is
        # a client like any other.
        self.send_from_neighbour("fd53::100", 5300)
        stats = relay.stats_reaching("sessions_created", 1, timeout=5)
        self.assertEqual(stats["sessions_created"], 1, stats)
        self.assertEqual(stats["drop_loop"], 0, stats)
        # The relay's other address with the relay's port: itself.
        self.send_from_neighbour("fd53::2", 5300)
        relay.stats_reaching("client_rx_packets", 2, timeout=5)
        time.sleep(1.0)  # a loop that never starts cannot be polled for
        stats = relay.settled_stats(timeout=3)
        self.assertEqual(stats["client_rx_packets"], 2, stats)
        self.assertEqual(stats["drop_loop"], 1, stats)
        self.assertEqual(stats["sessions_created"], 1, stats)
        self.assertEqual(self.echo.stats()["client_rx_packets"], 1)


if __name__ == "__main__":
    t.take_tool_args()
    unittest.main()
