"""udp_relay where the network, not the relay, sets the limits: a path whose
MTU is below what GSO coalesces to, and a namespace with few ephemeral
ports. Each case runs in network namespaces with random names, built with
`ip netns` and veth pairs (no-sandbox, root)."""

import os
import secrets
import socket
import subprocess
import time
import unittest

import udp_testing as t

SUFFIX = secrets.token_hex(3)


def ip(*args, check=True):
    p = subprocess.run(["ip"] + list(args), capture_output=True, text=True, timeout=20)
    if check and p.returncode != 0:
        raise AssertionError("ip %s: %s" % (" ".join(args), p.stderr.strip()))
    return p


def in_ns(ns, script):
    subprocess.run(["ip", "netns", "exec", ns, "/bin/sh", "-c", script],
                   check=True, timeout=20)


def python_in(ns, code, *args, timeout=300):
    """Runs `code` with python3 in namespace `ns`; returns its stdout."""
    p = subprocess.run(["ip", "netns", "exec", ns, "/usr/bin/python3", "-c", code]
                       + list(args),
                       capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise AssertionError("python in %s failed: %s" % (ns, p.stderr))
    return p.stdout


class Namespaces:
    """Named network namespaces removed at the end of the test."""

    def __init__(self, test, *roles):
        self.names = {}
        for role in roles:
            name = "udpp-%s-%s" % (role, SUFFIX)
            ip("netns", "add", name)
            test.addCleanup(ip, "netns", "del", name, check=False)
            ip("-n", name, "link", "set", "lo", "up")
            self.names[role] = name

    def __getitem__(self, role):
        return self.names[role]


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


SUCCESSIVE_CLIENTS = r"""
import socket, sys
port, clients, first_port = (int(a) for a in sys.argv[1:4])
missed = []
for i in range(clients):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", first_port + i))
    s.connect(("127.0.0.1", port))
    s.settimeout(5)
    s.send(b"client %d" % i)
    try:
        if s.recv(100) != b"client %d" % i:
            missed.append(i)
    except socket.timeout:
        missed.append(i)
    s.close()
print(" ".join(str(m) for m in missed))
"""


LATE_ECHO = r"""
import select, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
print("listening", flush=True)
got = []
while True:
    ready, _, _ = select.select([s, sys.stdin], [], [])
    if s in ready:
        got.append(s.recvfrom(100))
    elif sys.stdin.readline():
        break
for data, source in got:
    s.sendto(data, source)
print("answered", len(got), flush=True)
"""

BATCH_CLIENTS = r"""
import socket, sys
port, clients, first_port = (int(a) for a in sys.argv[1:4])
socks = []
for i in range(clients):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", first_port + i))
    socks.append(s)
sys.stdin.readline()
for i, s in enumerate(socks):
    s.sendto(("client %d" % i).encode(), ("127.0.0.1", port))
print("sent", flush=True)
sys.stdin.readline()
# Everything the relay delivered is queued by now.
for i, s in enumerate(socks):
    s.setblocking(False)
    got = []
    while True:
        try:
            got.append(s.recv(100).decode())
        except BlockingIOError:
            break
    print("%d:%s" % (i, ",".join(got)))
"""


class FewEphemeralPortsTest(unittest.TestCase):
    """64 ephemeral ports, 200 successive clients: each new client must be
    answered, the longest idle session giving up its port."""

    def test_new_clients_are_served_when_ports_run_out(self):
        ns = Namespaces(self, "p")["p"]
        in_ns(ns, "echo '40000 40063' > /proc/sys/net/ipv4/ip_local_port_range")
        echo = t.Server(["ip", "netns", "exec", ns, t.TOOLS["echo"],
                         "--listen=127.0.0.1:7000"])
        self.addCleanup(echo.__exit__)
        relay = t.Server(["ip", "netns", "exec", ns, t.TOOLS["relay"],
                          "--listen=127.0.0.1:5300", "--upstream=127.0.0.1:7000",
                          "--threads=1"])
        self.addCleanup(relay.__exit__)
        out = python_in(ns, SUCCESSIVE_CLIENTS, "5300", "200", "20000")
        missed = [int(m) for m in out.split()]
        code, final = relay.stop()
        self.assertEqual(code, 0)
        self.assertEqual(missed, [], final)
        # Every client after the 64th (less the relay's own listening port,
        # which is not ephemeral) took the port of an idle session.
        self.assertGreaterEqual(final["sessions_evicted_for_port"], 200 - 64)
        self.assertLessEqual(final["sessions"], 64)

    def test_a_port_is_not_handed_on_while_its_reply_is_awaited(self):
        # 8 ports, 20 new clients read in one batch. A session that gave its
        # port to the next client before its upstream answered would have
        # that answer delivered to the next client: one client's data to
        # another. The sessions keep their ports; the clients that find
        # none are dropped and counted.
        ns = Namespaces(self, "b")["b"]
        in_ns(ns, "echo '40000 40007' > /proc/sys/net/ipv4/ip_local_port_range")
        # An upstream that answers when told, once the batch is sorted, as a
        # slow one would.
        echo = subprocess.Popen(["ip", "netns", "exec", ns, "/usr/bin/python3", "-c",
                                 LATE_ECHO, "7000"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        self.addCleanup(echo.kill)
        self.assertEqual(echo.stdout.readline(), "listening\n")
        relay = t.Server(["ip", "netns", "exec", ns, t.TOOLS["relay"],
                          "--listen=127.0.0.1:5300", "--upstream=127.0.0.1:7000",
                          "--threads=1", "--batch=32"])
        self.addCleanup(relay.__exit__)
        client = subprocess.Popen(
            ["ip", "netns", "exec", ns, "/usr/bin/python3", "-c", BATCH_CLIENTS,
             "5300", "20", "20000"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.addCleanup(client.kill)
        with relay.paused():
            client.stdin.write("send\n")
            client.stdin.flush()
            self.assertEqual(client.stdout.readline(), "sent\n")
        # The batch is sorted once all 20 went upstream or were dropped.
        relay.stats_when(lambda s: s["upstream_tx_packets"] + s["drop_no_session"] >= 20)
        echo.stdin.write("answer\n")
        echo.stdin.flush()
        answered_upstream = echo.stdout.readline().split()
        stats = relay.stats_when(lambda s: s["client_tx_packets"] >= s["upstream_tx_packets"])
        out, _ = client.communicate("read\n", timeout=30)
        got = {int(i): payloads.split(",") if payloads else []
               for i, payloads in (line.split(":") for line in out.splitlines())}
        for i, payloads in got.items():
            self.assertLessEqual(set(payloads), {"client %d" % i}, (i, got, stats))
        self.assertEqual(answered_upstream, ["answered", "8"])
        answered = sum(1 for p in got.values() if p)
        self.assertEqual(answered, 8, (got, stats))
        self.assertEqual(stats["upstream_tx_packets"], 8, stats)
        self.assertEqual(stats["drop_no_session"], 12, stats)
        self.assertEqual(stats["sessions_evicted_for_port"], 0, stats)
        line = [l for l in relay.lines() if ": stats " in l][-1]
        self.assertIn("no ephemeral port", line)


if __name__ == "__main__":
    t.take_tool_args()
    unittest.main()
