"""udp_relay on loopback: replies from the address each client sent to,
payload sizes, bursts, sessions (stable upstream port, cap, eviction, idle
timeout), an upstream that goes down and comes back, stats on signals."""

import socket
import time
import unittest

import udp_testing as t


class RelayLoopbackTest(unittest.TestCase):

    def setUp(self):
        self.echo = t.start_echo("127.0.0.1:0")
        self.addCleanup(self.echo.__exit__)
        self.upstream = "127.0.0.1:%d" % t.served_port(self.echo)

    def relay(self, *extra, listen="0.0.0.0:0", upstream=None):
        r = t.start_relay(listen, upstream or self.upstream, extra)
        self.addCleanup(r.__exit__)
        return r, t.served_port(r)

    def test_replies_come_from_each_address_a_client_sent_to(self):
        relay, port = self.relay("--threads=2")
        for last in range(1, 9):
            host = "127.0.0.%d" % last
            client = t.connected_client(host, port)
            self.addCleanup(client.close)
            # A connected socket drops replies from any other source, so a
            # reply at all proves its source; check the payload too.
            payload = ("query to %s" % host).encode()
            self.assertEqual(t.exchange(client, payload), payload)
        code, final = relay.stop()
        self.assertEqual(code, 0)
        self.assertEqual(final["client_tx_packets"], 8)
        self.assertEqual(final["drop_no_pktinfo"], 0)

    def test_unconnected_client_sees_the_source_it_sent_to(self):
        relay, port = self.relay()
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2)
        self.addCleanup(s.close)
        for host in ("127.0.0.1", "127.0.0.5", "127.0.1.9"):
            reply, source = t.unconnected_exchange(s, b"x", (host, port))
            self.assertEqual(source, (host, port))

    def test_ipv6_loopback(self):
        relay, port = self.relay(listen="[::1]:0")
        client = t.connected_client("::1", port, family=socket.AF_INET6)
        self.addCleanup(client.close)
        self.assertEqual(t.exchange(client, b"six"), b"six")

    def test_ipv6_upstream_for_ipv4_clients(self):
        with t.start_echo("[::1]:0") as echo6:
            relay, port = self.relay(upstream="[::1]:%d" % t.served_port(echo6))
            client = t.connected_client("127.0.0.6", port)
            self.addCleanup(client.close)
            self.assertEqual(t.exchange(client, b"via six"), b"via six")

    def test_ipv4_and_ipv6_listeners_side_by_side(self):
        port = t.free_port()
        relay, _ = self.relay(listen="0.0.0.0:%d,[::]:%d" % (port, port))
        c4 = t.connected_client("127.0.0.7", port)
        c6 = t.connected_client("::1", port, family=socket.AF_INET6)
        self.addCleanup(c4.close)
        self.addCleanup(c6.close)
        self.assertEqual(t.exchange(c4, b"four"), b"four")
        self.assertEqual(t.exchange(c6, b"six"), b"six")

    def test_payload_sizes_pass_byte_for_byte(self):
        for gso in ("off", "on"):
            relay, port = self.relay("--gso=" + gso, "--gro=" + gso)
            client = t.connected_client("127.0.0.2", port)
            self.addCleanup(client.close)
            for size in (0, 1, 1472, 1473, 9000, 65507):
                payload = bytes((i * 7 + size) % 256 for i in range(size))
                self.assertEqual(t.exchange(client, payload), payload,
                                 "size %d gso %s" % (size, gso))
            _, final = relay.stop()
            self.assertEqual(final["client_tx_bytes"],
                             0 + 1 + 1472 + 1473 + 9000 + 65507)

    def test_burst(self):
        relay, port = self.relay("--threads=1", "--batch=16")
        client = t.connected_client("127.0.0.3", port, rcvbuf=4 << 20)
        self.addCleanup(client.close)
        sent = [b"burst %04d" % i + b"." * (i % 200) for i in range(100)]
        for p in sent:
            client.send(p)
        got = [client.recv(70000) for _ in sent]
        self.assertEqual(sorted(got), sorted(sent))
        _, final = relay.stop()
        self.assertEqual(final["client_rx_packets"], 100)
        self.assertEqual(final["client_tx_packets"], 100)

    def test_each_client_gets_one_stable_upstream_port(self):
        with t.WhoAmI() as up:
            relay, port = self.relay("--threads=1", upstream="127.0.0.1:%d" % up.port)
            a = t.connected_client("127.0.0.2", port)
            b = t.connected_client("127.0.0.2", port)
            c = t.connected_client("127.0.0.3", port)
            for s in (a, b, c):
                self.addCleanup(s.close)
            a1 = t.whoami_source(t.exchange(a, b"1"))
            a2 = t.whoami_source(t.exchange(a, b"2"))
            b1 = t.whoami_source(t.exchange(b, b"1"))
            c1 = t.whoami_source(t.exchange(c, b"1"))
            self.assertEqual(a1, a2)
            self.assertEqual(len({a1, b1, c1}), 3)
            self.assertEqual(relay.stats()["sessions"], 3)

    def test_same_client_port_to_two_local_addresses_is_two_sessions(self):
        with t.WhoAmI() as up:
            relay, port = self.relay("--threads=1", upstream="127.0.0.1:%d" % up.port)
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(2)
            self.addCleanup(s.close)
            r1, src1 = t.unconnected_exchange(s, b"a", ("127.0.0.2", port))
            r2, src2 = t.unconnected_exchange(s, b"b", ("127.0.0.3", port))
            self.assertEqual(src1, ("127.0.0.2", port))
            self.assertEqual(src2, ("127.0.0.3", port))
            self.assertNotEqual(t.whoami_source(r1), t.whoami_source(r2))

    def test_session_cap_evicts_the_longest_idle(self):
        with t.WhoAmI() as up:
            relay, port = self.relay("--threads=1", "--max_sessions=4",
                                     upstream="127.0.0.1:%d" % up.port)
            clients = [t.connected_client("127.0.0.2", port) for _ in range(6)]
            for c in clients:
                self.addCleanup(c.close)
            first = [t.whoami_source(t.exchange(c, b"x")) for c in clients]
            stats = relay.stats()
            self.assertEqual(stats["sessions"], 4)
            self.assertEqual(stats["sessions_evicted"], 2)
            # The two oldest were evicted: they get new upstream ports; the
            # newest keeps its own.
            self.assertEqual(t.whoami_source(t.exchange(clients[5], b"y")), first[5])
            self.assertNotEqual(t.whoami_source(t.exchange(clients[0], b"y")), first[0])
            self.assertEqual(relay.stats()["sessions"], 4)

    def batch_through_stopped_relay(self, clients_n, rounds, *flags):
        """Sends `rounds` datagrams from each of `clients_n` new clients
        (127.0.0.2, ...) in turn while the relay is stopped, so that it reads
        them in one batch; returns (the relay, what was sent, the upstream
        socket that receives them)."""
        up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        up.bind(("127.0.0.1", 0))
        up.settimeout(3)
        self.addCleanup(up.close)
        relay, port = self.relay("--threads=1", *flags,
                                 upstream="127.0.0.1:%d" % up.getsockname()[1])
        clients = [t.connected_client("127.0.0.%d" % (2 + i), port) for i in range(clients_n)]
        for c in clients:
            self.addCleanup(c.close)
        sent = []
        with relay.paused():
            for round_ in range(rounds):
                for i, c in enumerate(clients):
                    payload = ("client %d datagram %d" % (i, round_)).encode()
                    c.send(payload)
                    sent.append(payload)
        return relay, sent, up

    def test_a_batch_from_more_new_clients_than_the_cap_is_all_forwarded(self):
        # Six clients in turn, twice, against a cap of 2: each client's
        # session is evicted before it speaks again, so the relay opens one
        # session per datagram, no more, and every datagram goes upstream
        # through the session it was given.
        relay, sent, up = self.batch_through_stopped_relay(6, 2, "--max_sessions=2")
        got = [up.recv(100) for _ in sent]
        self.assertEqual(sorted(got), sorted(sent))
        stats = relay.stats_reaching("upstream_tx_packets", len(sent))
        self.assertEqual(stats["upstream_tx_packets"], len(sent))
        self.assertEqual(stats["sessions_created"], len(sent))
        self.assertEqual(stats["drop_no_session"], 0)
        self.assertEqual(stats["sessions"], 2)

    def test_a_batch_of_new_clients_spends_one_rate_token_each(self):
        # Six new clients of one /24 and a bucket of six: all let in once,
        # even though the cap of 2 evicts most of them within the batch.
        relay, sent, up = self.batch_through_stopped_relay(
            6, 1, "--max_sessions=2", "--new_session_rate=0.01", "--new_session_burst=6")
        stats = relay.stats_reaching("upstream_tx_packets", len(sent))
        self.assertEqual(stats["drop_rate_limited"], 0)
        self.assertEqual(stats["sessions_created"], len(sent))
        got = [up.recv(100) for _ in sent]
        self.assertEqual(sorted(got), sorted(sent))

    def test_idle_sessions_expire(self):
        with t.WhoAmI() as up:
            relay, port = self.relay("--threads=1", "--session_timeout=200ms",
                                     upstream="127.0.0.1:%d" % up.port)
            c = t.connected_client("127.0.0.4", port)
            self.addCleanup(c.close)
            before = t.whoami_source(t.exchange(c, b"x"))
            deadline = time.monotonic() + 10
            while relay.stats()["sessions"] != 0:
                self.assertLess(time.monotonic(), deadline, "session never expired")
                time.sleep(0.1)
            self.assertEqual(relay.stats()["sessions_expired"], 1)
            self.assertNotEqual(t.whoami_source(t.exchange(c, b"x")), before)

    def test_upstream_down_then_back_up(self):
        down_port = t.free_port()
        relay, port = self.relay("--threads=1", upstream="127.0.0.1:%d" % down_port)
        c = t.connected_client("127.0.0.2", port, timeout=0.3)
        self.addCleanup(c.close)
        c.send(b"anyone?")
        with self.assertRaises(socket.timeout):
            c.recv(100)
        deadline = time.monotonic() + 10
        while relay.stats()["err_upstream_unreachable"] < 1:
            self.assertLess(time.monotonic(), deadline, "ICMP error never counted")
            c.send(b"anyone?")
            time.sleep(0.05)
        self.assertEqual(relay.proc.poll(), None)
        with t.start_echo("127.0.0.1:%d" % down_port):
            reply = None
            for _ in range(20):  # the same session, now answered
                try:
                    reply = t.exchange(c, b"back")
                    break
                except socket.timeout:
                    pass
            self.assertEqual(reply, b"back")
        # The reply can reach the client before its send is counted.
        stats = relay.stats_reaching("client_tx_packets", 1)
        self.assertEqual(stats["sessions_created"], 1)
        self.assertGreaterEqual(stats["client_tx_packets"], 1)

    def test_sigusr1_prints_stats_and_sigterm_a_final_line(self):
        relay, port = self.relay("--threads=1")
        c = t.connected_client("127.0.0.2", port)
        self.addCleanup(c.close)
        t.exchange(c, b"12345")
        stats = relay.stats()
        self.assertEqual(stats["client_rx_packets"], 1)
        self.assertEqual(stats["client_rx_bytes"], 5)
        self.assertEqual(stats["upstream_rx_packets"], 1)
        self.assertEqual(stats["sessions"], 1)
        code, final = relay.stop()
        self.assertEqual(code, 0)
        self.assertEqual(final["client_tx_bytes"], 5)

    def test_sigint_exits_zero_with_final_line(self):
        relay, _ = self.relay()
        code, final = relay.stop(sig=2)
        self.assertEqual(code, 0)
        self.assertIsNotNone(final)

    def test_stats_interval(self):
        relay, _ = self.relay("--stats_interval=100ms")
        relay.wait_for_line("udp_relay: stats ")


if __name__ == "__main__":
    t.take_tool_args()
    unittest.main()
