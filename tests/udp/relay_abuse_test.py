"""udp_relay against abuse: allow/deny lists by CIDR, a rate limit of new
sessions per source prefix, and a flood of new client addresses (as a
spoofed flood makes) that must not evict the sessions of real clients."""

import socket
import struct
import time
import unittest

import udp_testing as t


def one_shot(host, port, payload=b"x", timeout=0.5, bind="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((bind, 0))
        s.settimeout(timeout)
        s.sendto(payload, (host, port))
        return s.recv(1000)
    except socket.timeout:
        return None
    finally:
        s.close()


class AbuseTest(unittest.TestCase):

    def setUp(self):
        self.up = t.WhoAmI()
        self.addCleanup(self.up.close)
        self.upstream = "127.0.0.1:%d" % self.up.port

    def test_deny_and_allow_by_cidr(self):
        with t.start_relay("0.0.0.0:0", self.upstream,
                           ["--allow=127.0.0.0/29,::1/128", "--deny=127.0.0.2/32"]) as relay:
            port = t.served_port(relay)
            self.assertIsNotNone(one_shot("127.0.0.1", port, bind="127.0.0.1", timeout=5))
            self.assertIsNone(one_shot("127.0.0.1", port, bind="127.0.0.2"))  # denied
            self.assertIsNone(one_shot("127.0.0.1", port, bind="127.0.0.9"))  # not allowed
            stats = relay.stats_reaching("drop_denied", 2)
            self.assertEqual(stats["drop_denied"], 2)
            self.assertEqual(stats["sessions_created"], 1)

    def test_every_dropped_datagram_of_a_gro_read_is_counted(self):
        # A GSO send of 20 datagrams reaches a GRO socket as one read: a drop
        # must count 20, as client_rx_packets does.
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            probe.setsockopt(socket.SOL_UDP, 103, 100)  # UDP_SEGMENT
        except OSError:
            self.skipTest("no UDP GSO on this kernel")
        finally:
            probe.close()
        with t.start_relay("127.0.0.1:0", self.upstream,
                           ["--deny=127.0.0.1", "--gro=on", "--threads=1"]) as relay:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.addCleanup(s.close)
            s.sendmsg([b"d" * 2000], [(socket.SOL_UDP, 103, struct.pack("H", 100))],
                      0, ("127.0.0.1", t.served_port(relay)))
            stats = relay.stats_reaching("drop_denied", 20)
            self.assertEqual(stats["client_rx_packets"], 20)
            self.assertEqual(stats["drop_denied"], 20, stats)

    def test_bad_cidr_is_a_usage_error(self):
        import subprocess
        for bad in ("10.0.0.0/33", "nonsense", "::1/129", "10.0.0.1/8"):
            p = subprocess.run([t.TOOLS["relay"], "--listen=127.0.0.1:0",
                                "--upstream=" + self.upstream, "--deny=" + bad],
                               capture_output=True, text=True, timeout=10)
            self.assertEqual(p.returncode, 2, bad)
            self.assertIn("--deny", p.stderr)

    def test_new_sessions_are_rate_limited_per_prefix(self):
        with t.start_relay("0.0.0.0:0", self.upstream,
                           ["--new_session_rate=20", "--new_session_burst=20",
                            "--threads=1", "--rcvbuf=4194304"]) as relay:
            port = t.served_port(relay)
            started = time.monotonic()
            for _ in range(200):  # 200 new clients from 127.0.0.0/24
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.sendto(b"x", ("127.0.0.1", port))
                s.close()
            # Every datagram is counted one way or the other within a loop
            # round; wait for the count rather than a fixed time.
            deadline = time.monotonic() + 10
            while True:
                stats = relay.stats()
                if (stats["upstream_tx_packets"] + stats["drop_rate_limited"] >= 200 or
                        time.monotonic() > deadline):
                    break
                time.sleep(0.05)
            elapsed = time.monotonic() - started
            # Every datagram either went up or was counted; two clients may
            # get the same ephemeral port in turn (and so one session).
            self.assertEqual(stats["upstream_tx_packets"] + stats["drop_rate_limited"], 200,
                             stats)
            self.assertGreaterEqual(stats["sessions_created"], 20)
            self.assertLessEqual(stats["sessions_created"], 20 + 20 * elapsed + 1)
            # Another /24 has its own budget.
            self.assertIsNotNone(one_shot("127.0.1.1", port, bind="127.0.1.1", timeout=5))

    def test_a_flood_of_new_clients_does_not_evict_real_sessions(self):
        with t.start_relay("127.0.0.1:0", self.upstream,
                           ["--max_sessions=100", "--threads=1"]) as relay:
            port = t.served_port(relay)
            real = []
            for i in range(50):
                c = t.connected_client("127.0.0.1", port)
                self.addCleanup(c.close)
                # A real client talks both ways, more than once.
                first = t.whoami_source(t.exchange(c, b"a"))
                self.assertEqual(t.whoami_source(t.exchange(c, b"b")), first)
                real.append((c, first))
            # 5,000 one-datagram clients: each opens a session that is never
            # answered back, as a spoofed flood's would be.
            flood = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            for i in range(5000):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.sendto(b"flood", ("127.0.0.1", port))
                s.close()
            flood.close()
            kept = 0
            for c, first in real:
                # A real client retries once: the flood may still fill the
                # relay's receive queue.
                for attempt in range(2):
                    try:
                        kept += t.whoami_source(t.exchange(c, b"c")) == first
                        break
                    except socket.timeout:
                        pass
            self.assertEqual(kept, 50, relay.stats())


if __name__ == "__main__":
    t.take_tool_args()
    unittest.main()
