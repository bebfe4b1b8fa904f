"""Hostile and broken clients: garbage, wrong versions, truncated records,
too many fds, oversized records, peers that vanish mid-exchange, clients
that never speak or never read. Each gets an error or is dropped; the
server keeps serving everyone else and its fd count stays flat across
thousands of such requests."""

import os
import resource
import socket
import time
import unittest

import fdstore_client as fc
import fdstore_testing as ft

ROUNDS = 200


def wait_fd_count(pid, want, timeout=10.0):
    """The server closes a dropped client on its next loop turn: poll."""
    deadline = time.monotonic() + timeout
    while True:
        have = ft.fd_count(pid)
        if have == want or time.monotonic() > deadline:
            return have
        time.sleep(0.01)


def expect_eof(sock, timeout=5.0):
    """Reads (and discards) until the server hangs up; True if it did."""
    sock.settimeout(timeout)
    try:
        while True:
            data, fds, _, _ = socket.recv_fds(sock, fc.MAX_MESSAGE, fc.MAX_FDS)
            for fd in fds:
                os.close(fd)
            if not data:
                return True
    except ConnectionResetError:
        return True  # hung up with our requests unread
    except (TimeoutError, socket.timeout):
        return False


class AbuseTest(unittest.TestCase):

    def setUp(self):
        self.dir = ft.TempDir()
        self.ctl = self.dir.join("ctl")
        self.server = ft.serve(self.ctl, "tcp:127.0.0.1:0=web,udp:127.0.0.1:0=dns",
                               extra=["--client_timeout=300ms"])
        self.pid = self.server.pid
        with fc.connect(self.ctl) as s:  # warm up: one whole session
            for _, fd in fc.fetch(s):
                os.close(fd)
        # Idle: the server reaps a closed client at the latest when its 300ms
        # deadline wakes the loop, so two equal samples 0.5s apart are the
        # count with no client at all.
        self.baseline, previous = -1, -2
        while self.baseline != previous:
            previous = self.baseline
            time.sleep(0.5)
            self.baseline = ft.fd_count(self.pid)

    def tearDown(self):
        self.assertEqual(self.server.stop(), 0, self.server.text())
        self.server.__exit__()
        self.dir.close()

    def assert_still_serving(self):
        with fc.connect(self.ctl) as s:
            self.assertEqual([e[0] for e in fc.list_entries(s)], ["web", "dns"])
            fetched = fc.fetch(s, ["dns"])
            self.assertEqual(len(fetched), 1)
            os.close(fetched[0][1])
        self.assertEqual(wait_fd_count(self.pid, self.baseline), self.baseline)

    def test_malformed_requests_are_answered_and_hung_up_without_leaks(self):
        r, w = os.pipe()
        many = [os.dup(r) for _ in range(200)]
        name255 = "n" * 255
        cases = [
            ("garbage", b"\xff" + b"\x5a" * 40, [], "UNSUPPORTED_VERSION"),
            ("short header", b"\x01\x01\x00", [], "BAD_REQUEST"),
            ("truncated string", fc.encode(fc.FETCH, ["web"])[:-1], [], "BAD_REQUEST"),
            ("missing string", fc.encode(fc.FETCH, ["web"])[:8], [], "BAD_REQUEST"),
            ("trailing bytes", fc.encode(fc.LIST) + b"zz", [], "BAD_REQUEST"),
            ("unknown type", fc.encode(9), [], "BAD_REQUEST"),
            ("a reply as request", fc.encode(fc.OK), [], "BAD_REQUEST"),
            ("nonzero code", fc.encode(fc.LIST, code=3), [], "BAD_REQUEST"),
            ("version 0", fc.encode(fc.LIST, version=0), [], "UNSUPPORTED_VERSION"),
            ("strings on LIST", fc.encode(fc.LIST, ["x"]), [], "BAD_REQUEST"),
            ("fds on FETCH", fc.encode(fc.FETCH), [r, w], "BAD_REQUEST"),
            ("fewer names than fds", fc.encode(fc.STORE, ["a"]), [r, w], "BAD_REQUEST"),
            ("STORE without fds", fc.encode(fc.STORE, ["a"]), [], "BAD_REQUEST"),
            ("200 fds", fc.encode(fc.STORE, ["a"]), many, "BAD_REQUEST"),
            ("bad name", fc.encode(fc.STORE, ["a:b"]), [r], "BAD_REQUEST"),
            ("name twice", fc.encode(fc.STORE, ["a", "a"]), [r, w], "BAD_REQUEST"),
            ("129 names", fc.encode(fc.FETCH, [name255[:5] + str(i) for i in range(129)]), [],
             "BAD_REQUEST"),
            ("oversized record", fc.encode(fc.FETCH, [name255] * 300)[:70000], [],
             "BAD_REQUEST"),
        ]
        seen = {}
        try:
            for _ in range(ROUNDS):
                for what, payload, fds, want in cases:
                    with fc.connect(self.ctl) as s:
                        reply = fc.call_raw(s, payload, fds)
                        self.assertIsNotNone(reply, what)
                        rtype, code, strings, rfds = reply
                        self.assertEqual((rtype, fc.CODES[code], rfds), (fc.ERROR, want, []),
                                         "%s: %s" % (what, strings))
                        self.assertTrue(expect_eof(s), what)
                        seen[what] = strings[0]
                # Peers that vanish: before speaking, and after asking for
                # fds without reading the reply that carries them.
                with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
                    s.connect(self.ctl)
                with fc.connect(self.ctl) as s:
                    socket.send_fds(s, [fc.encode(fc.FETCH)], [])
                with fc.connect(self.ctl) as s:
                    socket.send_fds(s, [fc.encode(fc.STORE, ["late"])], [r])
        finally:
            for fd in many + [r, w]:
                os.close(fd)
        requests = ROUNDS * (len(cases) + 3)
        print("%d hostile requests; errors seen: %s" % (requests, seen))
        self.assertGreaterEqual(requests, 4000)
        self.assertIn("MSG_CTRUNC", seen["200 fds"])
        self.assertIn("longer than 65536", seen["oversized record"])
        with fc.connect(self.ctl) as s:  # a vanished STORE may have landed; take it out
            if "late" in [e[0] for e in fc.list_entries(s)]:
                fc.remove(s, ["late"])
        self.assert_still_serving()

    def test_last_flag_closes_after_the_reply(self):
        # Code 1 on a request (LAST): answered, then the server hangs up at
        # once; any other nonzero code is a bad request.
        with fc.connect(self.ctl) as s:
            rtype, code, strings, fds = fc.call_raw(s, fc.encode(fc.FETCH, ["dns"], code=1))
            self.assertEqual((rtype, strings, len(fds)), (fc.OK, ["dns"], 1))
            os.close(fds[0])
            self.assertTrue(expect_eof(s, timeout=5))
        with fc.connect(self.ctl) as s:
            rtype, code, strings, _ = fc.call_raw(s, fc.encode(fc.LIST, code=2))
            self.assertEqual((rtype, fc.CODES[code]), (fc.ERROR, "BAD_REQUEST"))
            self.assertIn("requests carry code 0, or 1 (LAST)", strings[0])
        self.assert_still_serving()

    def test_an_error_too_long_to_encode_is_still_answered(self):
        # The longest name a record can carry: "no fd named ..." around it is
        # longer than a wire string may be. The reply is cut, not dropped.
        name = "n" * (fc.MAX_MESSAGE - 8 - 2)
        with fc.connect(self.ctl) as s:
            with self.assertRaises(fc.ServerError) as e:
                fc.fetch(s, [name])
            self.assertEqual(e.exception.code, "NOT_FOUND")
            self.assertIn("no fd named", e.exception.message)
            self.assertTrue(e.exception.message.endswith("...(truncated)"), e.exception.message[-40:])
            self.assertLess(len(e.exception.message), 4096)
            # NOT_FOUND keeps the connection.
            self.assertEqual([e[0] for e in fc.list_entries(s)], ["web", "dns"])
        self.assert_still_serving()

    def test_hostile_bytes_are_escaped_in_logs_and_replies(self):
        hostile = b"x\nfdstore: forged line\x1b[2J\xff"
        r, w = os.pipe()
        try:
            with fc.connect(self.ctl) as s:
                reply = fc.call_raw(s, fc.encode(fc.STORE, [hostile]), [r])
                self.assertEqual((reply[0], fc.CODES[reply[1]]), (fc.ERROR, "BAD_REQUEST"))
                self.assertIn("x\\nfdstore: forged line\\x1b[2J\\xff", reply[2][0])
        finally:
            os.close(r)
            os.close(w)
        self.server.wait_for("forged line")
        log = self.server.text()
        self.assertNotIn("\x1b", log)
        self.assertNotIn("\xff", log)
        self.assertNotIn("\nfdstore: forged line", log)
        self.assertIn("x\\nfdstore: forged line\\x1b[2J\\xff", log)
        self.assert_still_serving()

    def test_silent_and_deaf_clients_block_nobody(self):
        silent = [fc.connect(self.ctl) for _ in range(3)]
        deaf = fc.connect(self.ctl)
        deaf.setblocking(False)
        sent = 0
        try:
            while sent < 100000:  # until the server stops taking requests
                deaf.send(fc.encode(fc.LIST))
                sent += 1
        except BlockingIOError:
            pass
        # Someone else is answered at once, with three silent clients and a
        # flooding one that never reads connected.
        self.assert_still_serving()
        for s in silent:
            self.assertTrue(expect_eof(s), "a silent client was never dropped")
            s.close()
        self.assertTrue(expect_eof(deaf, timeout=10), "a client that never reads was kept")
        deaf.close()
        self.assertEqual(wait_fd_count(self.pid, self.baseline), self.baseline)
        self.assertIn("dropped client", self.server.text())

    def test_out_of_fds_the_server_waits_and_recovers(self):
        ctl = self.dir.join("tight")
        # 0-2, the TCP listener, the signalfd, the control socket and its
        # directory, then room for four clients.
        limit = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (11, 11))
        with ft.serve(ctl, "tcp:127.0.0.1:0=web", preexec=limit) as server:
            held = [fc.connect(ctl) for _ in range(8)]
            answered = []
            for s in held[:4]:
                answered.append(fc.list_entries(s))
            server.wait_for("accept4: EMFILE")
            for s in held[:4]:
                s.close()
            # The four that waited in the backlog are served once fds free up.
            for s in held[4:]:
                self.assertEqual([e[0] for e in fc.list_entries(s)], ["web"])
                s.close()
            self.assertEqual(server.stop(), 0, server.text())

    def test_busy_server_refuses_beyond_max_clients(self):
        ctl = self.dir.join("small")
        with ft.serve(ctl, extra=["--max_clients=2"]) as server:
            held = [fc.connect(ctl) for _ in range(2)]
            for s in held:  # surely accepted
                fc.list_entries(s)
            with fc.connect(ctl) as s:
                rtype, code, strings, _ = fc.call_raw(s, fc.encode(fc.LIST))
                self.assertEqual((rtype, fc.CODES[code]), (fc.ERROR, "BUSY"), strings)
                self.assertTrue(expect_eof(s))
            rc, _, err = ft.run(["list", "--socket=" + ctl])
            self.assertEqual(rc, 1)
            self.assertIn("BUSY: 2 clients connected", err)
            held[0].close()
            rc, _, err = ft.run(["list", "--socket=" + ctl])
            self.assertEqual(rc, 0, err)
            held[1].close()
            self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    ft.take_tool_args()
    unittest.main(verbosity=2)
