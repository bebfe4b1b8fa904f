"""udp_relay on a path whose MTU is below what GSO coalesces to: network
namespaces with random names joined by a veth pair (no-sandbox, root)."""

import secrets
import unittest

import udp_testing as t
from netns_testing import Namespaces, ip, python_in

SUFFIX = secrets.token_hex(3)


BURSTS_CLIENT = r"""
import socket, sys, time
port, bursts, count, size = (int(a) for a in sys.argv[1:5])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.connect(("127.0.0.1", port))
s.settimeout(2)
got = 0
for b in range(bursts):
    for i in range(count):
        s.send(bytes([b, i]) + b"x" * (size - 2))
    deadline = time.monotonic() + 3
    n = 0
    while n < count and time.monotonic() < deadline:
        try:
            d = s.recv(70000)
        except socket.timeout:
            break
        if len(d) == size:
            n += 1
    got += n
print(got)
"""


class SmallPathMtuTest(unittest.TestCase):
    """Relay and client in one namespace, an IPv6 udp_echo behind a veth
    pair of MTU 1280: 1400-byte datagrams fit no segment on that path."""

    def setUp(self):
        ns = Namespaces(self, "r", "u")
        self.relay_ns, self.up_ns = ns["r"], ns["u"]
        ip("link", "add", "pr" + SUFFIX, "netns", self.relay_ns, "mtu", "1280",
           "type", "veth", "peer", "name", "pu" + SUFFIX, "netns", self.up_ns,
           "mtu", "1280")
        for n, dev, addr in ((self.relay_ns, "pr", "fd77::1/64"),
                             (self.up_ns, "pu", "fd77::2/64")):
            ip("-n", n, "addr", "add", addr, "dev", dev + SUFFIX, "nodad")
            ip("-n", n, "link", "set", dev + SUFFIX, "up")
        self.echo = t.Server(["ip", "netns", "exec", self.up_ns, t.TOOLS["echo"],
                              "--listen=[fd77::2]:7000"])
        self.addCleanup(self.echo.__exit__)

    def relay_and_count(self, *flags):
        relay = t.Server(["ip", "netns", "exec", self.relay_ns, t.TOOLS["relay"],
                          "--listen=127.0.0.1:5300", "--upstream=[fd77::2]:7000",
                          "--threads=1"] + list(flags))
        self.addCleanup(relay.__exit__)
        got = int(python_in(self.relay_ns, BURSTS_CLIENT, "5300", "5", "32", "1400"))
        code, final = relay.stop()
        self.assertEqual(code, 0)
        return got, final

    def test_every_datagram_comes_back_with_default_flags(self):
        got, final = self.relay_and_count()
        self.assertEqual(got, 160, final)
        self.assertEqual(final["drop_upstream_send"], 0)
        self.assertEqual(final["drop_client_send"], 0)

    def test_every_datagram_comes_back_with_gso_on(self):
        if "gso=on" not in self.echo.ready_line:
            self.skipTest("this kernel has no UDP GSO")
        got, final = self.relay_and_count("--gso=on", "--gro=on")
        self.assertEqual(got, 160, final)

    def test_the_kernel_fragments_without_gso(self):
        # The reference the GSO path must match.
        got, _ = self.relay_and_count("--gso=off")
        self.assertEqual(got, 160)

    def test_the_reason_for_a_drop_is_shown(self):
        relay = t.Server(["ip", "netns", "exec", self.relay_ns, t.TOOLS["relay"],
                          "--listen=127.0.0.1:5300", "--upstream=[fd77::2]:7000",
                          "--threads=1"])
        self.addCleanup(relay.__exit__)
        script = r"""
import socket, subprocess, sys
s = socket.socket(); s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect(("127.0.0.1", 5300)); s.settimeout(2)
s.send(b"one"); assert s.recv(100) == b"one"
subprocess.run(["ip", "-6", "route", "add", "unreachable", "fd77::2/128"], check=True)
s.send(b"two")
"""
        python_in(self.relay_ns, script)
        stats = relay.stats_reaching("drop_upstream_send", 1)
        line = [l for l in relay.lines() if ": stats " in l][-1]
        self.assertEqual(stats["drop_upstream_send"], 1, line)
        self.assertRegex(line, r'last_error="[^"]*(unreachable|No route)[^"]*"')


if __name__ == "__main__":
    t.take_tool_args()
    unittest.main()
