"""udp_relay with several upstreams: each client sticks to one (consistent
hashing by client address, the same across restarts, moving only the
clients of an upstream that is removed), and a client whose upstream
answers with ICMP port unreachable is moved to another one."""

import socket
import unittest

import udp_testing as t


def TaggedEcho(tag):
    """Answers every datagram with TAG + "|" + payload; .address is ADDR:PORT."""
    echo = t.WhoAmI(tag=tag)
    echo.address = "127.0.0.1:%d" % echo.port
    return echo


def ask(client_ip, port, timeout=3.0):
    """The tag of the upstream that answered a fresh client at client_ip."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((client_ip, 0))
        s.settimeout(timeout)
        s.sendto(b"q", ("127.0.0.1", port))
        return s.recv(1000).split(b"|")[0].decode()
    except socket.timeout:
        return None
    finally:
        s.close()


CLIENTS = ["127.0.%d.%d" % (1 + i // 200, 1 + i % 200) for i in range(40)]


class UpstreamsTest(unittest.TestCase):

    def setUp(self):
        self.echoes = {tag: TaggedEcho(tag) for tag in "ABC"}
        for e in self.echoes.values():
            self.addCleanup(e.close)

    def mapping(self, tags, extra=()):
        ups = ",".join(self.echoes[tag].address for tag in tags)
        with t.start_relay("127.0.0.1:0", ups, ["--threads=1"] + list(extra)) as relay:
            port = t.served_port(relay)
            return {ip: ask(ip, port) for ip in CLIENTS}, relay.stats()

    def test_each_client_sticks_to_one_upstream_consistently(self):
        first, _ = self.mapping("ABC")
        again, _ = self.mapping("ABC")
        self.assertEqual(first, again)  # the same after a restart
        self.assertEqual(set(first.values()), set("ABC"))  # all are used
        # Without C, only C's clients move.
        without_c, _ = self.mapping("AB")
        for ip in CLIENTS:
            if first[ip] != "C":
                self.assertEqual(without_c[ip], first[ip], ip)
            else:
                self.assertIn(without_c[ip], ("A", "B"))

    def test_failover_when_an_upstream_is_unreachable(self):
        dead_address = "127.0.0.1:%d" % t.free_port()  # nobody there: ICMP port unreachable
        ups = self.echoes["A"].address + "," + dead_address
        with t.start_relay("127.0.0.1:0", ups, ["--threads=1"]) as relay:
            port = t.served_port(relay)
            answered = 0
            for ip in CLIENTS:
                # A client retries once, as DNS clients do.
                answered += (ask(ip, port, 2.0) or ask(ip, port, 2.0)) == "A"
            self.assertEqual(answered, len(CLIENTS))
            stats = relay.stats()
            self.assertGreaterEqual(stats["upstream_failovers"], 1, stats)


if __name__ == "__main__":
    t.take_tool_args()
    unittest.main()
