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
import threading
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

    def test_carry_tos_false_sends_the_sockets_default(self):
        # One control message fewer per datagram, for those who want DSCP
        # and ECN cleared at the relay (or the last 2-5% of speed).
        for family, host, listen in ((socket.AF_INET, "127.0.0.1", "127.0.0.1:0"),
                                     (socket.AF_INET6, "::1", "[::1]:0")):
            with self.subTest(family=family):
                up = tos_socket(family, host)
                self.addCleanup(up.close)
                upstream = ("[%s]:%d" if family == socket.AF_INET6 else "%s:%d") % (
                    host, up.getsockname()[1])
                with t.start_relay(listen, upstream, ["--carry_tos=false"]) as relay:
                    client = tos_socket(family, host)
                    self.addCleanup(client.close)
                    send_with_tos(client, family, b"q", (host, t.served_port(relay)), 0xb9)
                    data, tos, session = recv_with_tos(up)
                    self.assertEqual((data, tos), (b"q", 0))
                    send_with_tos(up, family, b"a", session, 0x2b)
                    data, tos, _ = recv_with_tos(client)
                    self.assertEqual((data, tos), (b"a", 0))


def skmem(port):
    """The skmem fields of the UDP socket bound to 127.0.0.1:port (ss)."""
    out = subprocess.run(["ss", "-uanm", "sport", "= :%d" % port], capture_output=True,
                         text=True, check=True).stdout
    fields = out.split("skmem:(", 1)[1].split(")", 1)[0].split(",")
    return {f.rstrip("0123456789"): int(f[len(f.rstrip("0123456789")):]) for f in fields}


class BuffersTest(unittest.TestCase):

    def setUp(self):
        self.echo = t.start_echo("127.0.0.1:0")
        self.addCleanup(self.echo.__exit__)
        self.upstream = "127.0.0.1:%d" % t.served_port(self.echo)

    def test_rcvbuf_and_sndbuf_are_set_beyond_the_sysctl_cap(self):
        with t.start_relay("127.0.0.1:0", self.upstream,
                           ["--rcvbuf=4194304", "--sndbuf=3145728", "--threads=1"]) as relay:
            mem = skmem(t.served_port(relay))
            # The kernel doubles what it is asked for (bookkeeping room).
            self.assertEqual(mem["rb"], 2 * 4194304)
            self.assertEqual(mem["tb"], 2 * 3145728)

    def test_kernel_receive_queue_drops_are_counted(self):
        with t.start_relay("127.0.0.1:0", self.upstream,
                           ["--rcvbuf=32768", "--threads=1"]) as relay:
            port = t.served_port(relay)
            c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.addCleanup(c.close)
            with relay.paused():
                for i in range(500):
                    c.sendto(b"x" * 1000, ("127.0.0.1", port))
            # Nothing follows the burst: the drops are counted all the same
            # (not only when a later datagram carries the socket's count).
            deadline = time.monotonic() + 5
            while True:
                stats = relay.stats()
                seen = stats["client_rx_packets"] + stats["drop_rx_queue_overflow"]
                if seen >= 500 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            self.assertGreater(stats["drop_rx_queue_overflow"], 0, stats)
            self.assertEqual(seen, 500, stats)


class MetricsTest(unittest.TestCase):

    def test_prometheus_text_per_worker_and_summed(self):
        import re
        import urllib.request
        with t.start_echo("127.0.0.1:0") as echo, \
             t.start_relay("127.0.0.1:0", "127.0.0.1:%d" % t.served_port(echo),
                           ["--threads=2", "--metrics=127.0.0.1:0"]) as relay:
            m = re.search(r"metrics=http://127.0.0.1:(\d+)/metrics", relay.ready_line)
            self.assertIsNotNone(m, relay.ready_line)
            for i in range(3):
                c = t.connected_client("127.0.0.1", t.served_port(relay))
                self.addCleanup(c.close)
                self.assertEqual(t.exchange(c, b"m"), b"m")
            with urllib.request.urlopen("http://127.0.0.1:%s/metrics" % m.group(1),
                                        timeout=5) as r:
                self.assertIn("text/plain", r.headers["Content-Type"])
                text = r.read().decode()
            self.assertIn("# TYPE udp_relay_client_rx_packets_total counter", text)
            self.assertRegex(text, r"(?m)^udp_relay_client_rx_packets_total 3$")
            self.assertRegex(text, r"(?m)^udp_relay_sessions 3$")
            per_worker = [int(v) for v in re.findall(
                r'(?m)^udp_relay_worker_client_rx_packets_total\{worker="\d"\} (\d+)$', text)]
            self.assertEqual(len(per_worker), 2)
            self.assertEqual(sum(per_worker), 3)
            # The same figures as the stats line.
            self.assertEqual(relay.stats_reaching("client_tx_packets", 3)["client_tx_packets"], 3)

    def test_an_idle_and_a_slow_connection_do_not_block_a_scrape(self):
        import re
        import urllib.request
        with t.start_echo("127.0.0.1:0") as echo, \
             t.start_relay("127.0.0.1:0", "127.0.0.1:%d" % t.served_port(echo),
                           ["--threads=1", "--metrics=127.0.0.1:0"]) as relay:
            port = int(re.search(r"metrics=http://127.0.0.1:(\d+)/", relay.ready_line).group(1))
            # One connection that sent a request line and nothing more, one
            # that sends a header byte every 0.5 s; both before the scrape.
            idle = socket.create_connection(("127.0.0.1", port), timeout=5)
            self.addCleanup(idle.close)
            idle.sendall(b"GET /metrics HTTP/1.1\r\n")
            slow = socket.create_connection(("127.0.0.1", port), timeout=5)
            self.addCleanup(slow.close)
            slow.sendall(b"GET /metrics HTTP/1.1\r\n")
            stop = threading.Event()

            def trickle():
                for byte in b"X-Slow: " * 20:
                    if stop.wait(0.5):
                        return
                    try:
                        slow.send(bytes([byte]))
                    except OSError:  # the server gave up on it
                        return
            trickler = threading.Thread(target=trickle, daemon=True)
            trickler.start()
            self.addCleanup(trickler.join)
            self.addCleanup(stop.set)
            for _ in range(3):
                start = time.monotonic()
                with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                            timeout=1) as r:
                    self.assertEqual(r.status, 200)
                    self.assertIn(b"udp_relay_client_rx_packets_total", r.read())
                self.assertLess(time.monotonic() - start, 1.0)
            # The idle connection is closed by the server's request timeout,
            # not held for as long as it likes.
            start = time.monotonic()
            try:
                while idle.recv(4096):
                    pass
            except ConnectionResetError:
                pass
            self.assertLess(time.monotonic() - start, 4.0)

    def test_unusable_metrics_address_is_an_error(self):
        p = subprocess.run([t.TOOLS["relay"], "--listen=127.0.0.1:0",
                            "--upstream=127.0.0.1:9", "--metrics=nonsense"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--metrics", p.stderr)


class SystemdTest(unittest.TestCase):

    def setUp(self):
        self.echo = t.start_echo("127.0.0.1:0")
        self.addCleanup(self.echo.__exit__)
        self.upstream = "127.0.0.1:%d" % t.served_port(self.echo)
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(os.path.join(self.dir.name, "notify"))
        self.addCleanup(self.notify.close)
        # Read as systemd does, all the time: sd_notify blocks on a full queue.
        self.received = []
        self.seen = 0
        self.stop_reader = False
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.addCleanup(self._stop)

    def _read(self):
        while not self.stop_reader:
            r, _, _ = select.select([self.notify], [], [], 0.1)
            if r:
                self.received.append(self.notify.recv(4096).decode())

    def _stop(self):
        self.stop_reader = True
        self.reader.join()

    def messages(self, want, timeout=5):
        """The next notifications, up to one that contains `want`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while self.seen < len(self.received):
                self.seen += 1
                if want in self.received[self.seen - 1]:
                    return self.received[:self.seen]
            time.sleep(0.02)
        raise AssertionError("no %r among %r" % (want, self.received))

    def test_ready_watchdog_stopping_and_drain(self):
        env = dict(os.environ, NOTIFY_SOCKET=os.path.join(self.dir.name, "notify"),
                   WATCHDOG_USEC="300000")
        relay = t.start_relay("127.0.0.1:0", self.upstream,
                              ["--threads=1", "--drain_timeout=3s"], env=env)
        self.addCleanup(relay.__exit__)
        self.assertIn("READY=1", "".join(self.messages("READY=1")))
        self.messages("WATCHDOG=1")
        self.messages("WATCHDOG=1")
        port = t.served_port(relay)
        live = t.connected_client("127.0.0.1", port)
        self.addCleanup(live.close)
        self.assertEqual(t.exchange(live, b"before"), b"before")
        started = time.monotonic()
        relay.proc.send_signal(signal.SIGTERM)
        self.messages("STOPPING=1")
        # Draining: the live session is still answered, a new client is not.
        self.assertEqual(t.exchange(live, b"during"), b"during")
        new = t.connected_client("127.0.0.1", port, timeout=0.5)
        self.addCleanup(new.close)
        with self.assertRaises(socket.timeout):
            t.exchange(new, b"new")
        self.assertEqual(relay.proc.wait(10), 0)
        self.assertGreaterEqual(time.monotonic() - started, 2.5)
        final = t.parse_stats([l for l in relay.lines() if ": final " in l][-1])
        self.assertEqual(final["drop_draining"], 1)
        self.assertEqual(final["client_tx_packets"], 2)

    def test_a_stuck_notification_socket_does_not_block_the_relay(self):
        # systemd busy or hung: its notification socket's queue is full, and
        # libsystemd's sd_notify blocks. The relay must still relay, print
        # stats on SIGUSR1 and stop on SIGTERM.
        stuck_path = os.path.join(self.dir.name, "stuck")
        stuck = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        stuck.bind(stuck_path)
        self.addCleanup(stuck.close)
        filler = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(filler.close)
        filled = 0
        while True:  # until the receiver's queue (net.unix.max_dgram_qlen) is full
            try:
                filler.sendto(b"x", socket.MSG_DONTWAIT, stuck_path)
                filled += 1
            except BlockingIOError:
                break
        self.assertGreater(filled, 0)
        env = dict(os.environ, NOTIFY_SOCKET=stuck_path, WATCHDOG_USEC="200000")
        relay = t.start_relay("127.0.0.1:0", self.upstream, ["--threads=1"], env=env)
        self.addCleanup(relay.__exit__)
        c = t.connected_client("127.0.0.1", t.served_port(relay))
        self.addCleanup(c.close)
        self.assertEqual(t.exchange(c, b"relayed"), b"relayed")
        self.assertEqual(relay.stats_reaching("client_tx_packets", 1)["client_tx_packets"], 1)
        code, final = relay.stop(timeout=5)
        self.assertEqual(code, 0, relay.text())
        self.assertEqual(final["client_tx_packets"], 1)

    def test_drain_ends_when_no_session_is_left(self):
        relay = t.start_relay("127.0.0.1:0", self.upstream,
                              ["--threads=1", "--drain_timeout=60s",
                               "--session_timeout=500ms"])
        self.addCleanup(relay.__exit__)
        c = t.connected_client("127.0.0.1", t.served_port(relay))
        self.addCleanup(c.close)
        self.assertEqual(t.exchange(c, b"x"), b"x")
        relay.proc.send_signal(signal.SIGTERM)
        self.assertEqual(relay.proc.wait(10), 0)  # the session expired


if __name__ == "__main__":
    t.take_tool_args()
    unittest.main()
