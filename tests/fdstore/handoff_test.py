"""The reason fdstore exists: a server restarted through `fdstore exec`
drops no connection. Process A serves a TCP (or UDP) echo on sockets held by
`fdstore serve`; B is started the same way, A is stopped, and a client
hammering all along counts every failed exchange. A control run where A and
B bind the port themselves shows the hammer does see a restart's gap."""

import os
import socket
import sys
import threading
import time
import unittest

import fdstore_testing as ft

ECHO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "activated_echo.py")
PYTHON = "/usr/bin/python3"
SOCKET_ACTIVATE = "/usr/bin/systemd-socket-activate"
THREADS = 4


class Hammer:
    """Threads exchanging one message per TCP connection (or UDP datagram)
    with the echo, counting replies by server tag and every failure."""

    def __init__(self, kind, port):
        self.kind, self.port = kind, port
        self.lock = threading.Lock()
        self.by_tag = {}
        self.failures = []
        self.stopped = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(THREADS)]
        for t in self.threads:
            t.start()

    def _exchange_tcp(self, payload):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall(payload + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(4096)
                if not chunk:
                    raise ConnectionError("closed after %r" % data)
                data += chunk
            return data[:-1]

    def _run(self, thread):
        udp = None
        if self.kind == "udp":
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.settimeout(10)  # generous: a late reply would read as a mismatch
            udp.connect(("127.0.0.1", self.port))
        i = 0
        while not self.stopped.is_set():
            payload = b"%d-%d" % (thread, i)
            i += 1
            try:
                if udp:
                    udp.send(payload)
                    reply = udp.recv(65536)
                else:
                    reply = self._exchange_tcp(payload)
                head, _, tag = reply.rpartition(b" ")
                if head != payload:
                    raise AssertionError("reply %r to %r" % (reply, payload))
                with self.lock:
                    self.by_tag[tag] = self.by_tag.get(tag, 0) + 1
            except (OSError, AssertionError) as e:
                with self.lock:
                    self.failures.append("%s: %r" % (payload.decode(), e))
                time.sleep(0.001)
        if udp:
            udp.close()

    def count(self, tag=None):
        with self.lock:
            return sum(self.by_tag.values()) if tag is None else self.by_tag.get(tag, 0)

    def wait(self, predicate, what, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.005)
        raise AssertionError("timed out waiting for %s (served %s, %d failures)" % (
            what, self.by_tag, len(self.failures)))

    def stop(self):
        self.stopped.set()
        for t in self.threads:
            t.join()


def exec_echo(ctl, tag):
    return ft.Proc([ft.TOOLS["fdstore"], "exec", "--socket=" + ctl, "--",
                    PYTHON, "-B", ECHO, tag], ready="activated_echo %s: ready" % tag)


def held_port(ctl, name):
    rc, out, err = ft.run(["list", "--socket=" + ctl])
    assert rc == 0, err
    for line in out.splitlines():
        n, _kind, address = line.split(" ", 2)
        if n == name:
            return int(address.rsplit(":", 1)[1])
    raise AssertionError("no %s in %r" % (name, out))


class HandoffTest(unittest.TestCase):

    def switch(self, kind):
        with ft.TempDir() as d:
            ctl = d.join("ctl")
            with ft.serve(ctl, "%s:127.0.0.1:0=echo" % kind) as server:
                port = held_port(ctl, "echo")
                with exec_echo(ctl, "A") as a:
                    hammer = Hammer(kind, port)
                    try:
                        hammer.wait(lambda: hammer.count(b"A") >= 200, "A to serve 200")
                        with exec_echo(ctl, "B") as b:
                            served_before_stop = hammer.count()
                            hammer.wait(lambda: hammer.count() >= served_before_stop + 100,
                                        "100 more with both running")
                            self.assertEqual(a.stop(), 0, a.text())
                            after_a = hammer.count()
                            hammer.wait(lambda: hammer.count(b"B") >= 200 and
                                        hammer.count() >= after_a + 200,
                                        "B to serve 200 after A stopped")
                            hammer.stop()
                            self.assertEqual(b.stop(), 0, b.text())
                    finally:
                        hammer.stop()
                self.assertEqual(server.stop(), 0, server.text())
            print("%s: %s exchanges, by server %s, %d failed" % (
                kind, hammer.count(), hammer.by_tag, len(hammer.failures)), file=sys.stderr)
            self.assertEqual(hammer.failures, [])
            self.assertGreater(hammer.count(b"A"), 0)
            self.assertGreater(hammer.count(b"B"), 0)

    def test_tcp_restart_drops_no_connection(self):
        self.switch("tcp")

    def test_udp_restart_drops_no_datagram(self):
        self.switch("udp")

    def test_store_killed_mid_hammer_is_replaced_without_a_failed_connection(self):
        # S1 holds the port; a standby store S2 is started from S1 the way
        # any instance is (`fdstore exec ... -- fdstore serve`), so it holds
        # the same socket. S1 is SIGKILLed while clients connect; a new S3
        # takes S1's path from S2's copy, serves instance B, and A stops.
        with ft.TempDir() as d:
            ctl, standby_ctl = d.join("ctl"), d.join("standby")
            store = [ft.TOOLS["fdstore"], "serve"]
            with ft.serve(ctl, "tcp:127.0.0.1:0=echo") as s1, \
                    ft.Proc([ft.TOOLS["fdstore"], "exec", "--socket=" + ctl, "--"] + store +
                            ["--socket=" + standby_ctl], ready="serving") as s2:
                port = held_port(ctl, "echo")
                self.assertEqual(held_port(standby_ctl, "echo"), port)
                with exec_echo(ctl, "A") as a:
                    hammer = Hammer("tcp", port)
                    try:
                        hammer.wait(lambda: hammer.count(b"A") >= 200, "A to serve 200")
                        s1.kill()  # SIGKILL: its control socket file stays, stale
                        served_at_crash = hammer.count()
                        hammer.wait(lambda: hammer.count() >= served_at_crash + 100,
                                    "100 more after the store died")
                        with ft.Proc([ft.TOOLS["fdstore"], "exec", "--socket=" + standby_ctl,
                                      "--"] + store + ["--socket=" + ctl],
                                     ready="serving") as s3:
                            self.assertEqual(held_port(ctl, "echo"), port)
                            with exec_echo(ctl, "B") as b:
                                self.assertEqual(a.stop(), 0, a.text())
                                after_a = hammer.count()
                                hammer.wait(lambda: hammer.count(b"B") >= 200 and
                                            hammer.count() >= after_a + 200,
                                            "B to serve 200 after A stopped")
                                hammer.stop()
                                self.assertEqual(b.stop(), 0, b.text())
                            self.assertEqual(s3.stop(), 0, s3.text())
                    finally:
                        hammer.stop()
                self.assertEqual(s2.stop(), 0, s2.text())
            print("store replaced: %s connections, by server %s, %d failed" % (
                hammer.count(), hammer.by_tag, len(hammer.failures)), file=sys.stderr)
            self.assertEqual(hammer.failures, [])
            self.assertGreater(hammer.count(b"B"), 0)

    def test_serve_under_systemd_socket_activate(self):
        # systemd's own launcher binds the port and, at the first
        # connection, execs `fdstore serve` with LISTEN_FDS; that first
        # connection waits in the backlog until an instance accepts it.
        if not os.path.exists(SOCKET_ACTIVATE):
            self.skipTest("%s is not installed (Debian package systemd)" % SOCKET_ACTIVATE)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        with ft.TempDir() as d:
            ctl = d.join("ctl")
            with ft.Proc([SOCKET_ACTIVATE, "-l", "127.0.0.1:%d" % port, "--fdname=echo",
                          ft.TOOLS["fdstore"], "serve", "--socket=" + ctl],
                         ready="Listening on") as store:
                first = socket.create_connection(("127.0.0.1", port), timeout=10)
                first.sendall(b"first\n")
                store.wait_for("serving 1 fds")
                self.assertEqual(held_port(ctl, "echo"), port)
                with exec_echo(ctl, "A") as a:
                    self.assertEqual(first.recv(100), b"first A\n")
                    first.close()
                    self.assertEqual(a.stop(), 0)
                self.assertEqual(store.stop(), 0, store.text())

    def test_activated_fds_need_distinct_names(self):
        with ft.TempDir() as d:
            ctl = d.join("ctl")
            with ft.serve(ctl, "tcp:127.0.0.1:0=a,tcp:127.0.0.1:0=b") as server:
                # LISTEN_FDNAMES of "x:x": two fds, one name.
                rc, _, err = ft.run(["exec", "--socket=" + ctl, "--", "/bin/sh", "-c",
                                     'LISTEN_FDNAMES=x:x exec "$0" serve --socket=' +
                                     d.join("other"), ft.TOOLS["fdstore"]])
                self.assertEqual(rc, 1, err)
                self.assertIn('passed two fds named "x"', err)
                self.assertFalse(os.path.lexists(d.join("other")))
                self.assertEqual(server.stop(), 0)

    def test_control_restart_without_fdstore_drops_connections(self):
        # Same hammer, but A and B bind the port themselves: between A's exit
        # and B's bind nobody listens, and the hammer must notice.
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        bind = "--bind=tcp:127.0.0.1:%d" % port
        with ft.Proc([PYTHON, "-B", ECHO, "A", bind], ready="ready") as a:
            hammer = Hammer("tcp", port)
            try:
                hammer.wait(lambda: hammer.count(b"A") >= 100, "A to serve 100")
                self.assertEqual(a.stop(), 0)
                hammer.wait(lambda: len(hammer.failures) > 0, "a failure with nobody bound")
                with ft.Proc([PYTHON, "-B", ECHO, "B", bind], ready="ready") as b:
                    hammer.wait(lambda: hammer.count(b"B") >= 100, "B to serve 100")
                    hammer.stop()
                    b.stop()
            finally:
                hammer.stop()
        self.assertGreater(len(hammer.failures), 0)
        self.assertRegex(hammer.failures[0], "ConnectionRefused|ConnectionReset")

    def test_sockets_outlive_the_server_until_the_last_holder(self):
        with ft.TempDir() as d:
            ctl = d.join("ctl")
            with ft.serve(ctl, "tcp:127.0.0.1:0=echo") as server:
                port = held_port(ctl, "echo")
                with exec_echo(ctl, "A") as a:
                    self.assertEqual(server.stop(), 0, server.text())
                    self.assertIn("stopped by", server.text())
                    self.assertFalse(os.path.lexists(ctl), "SIGTERM left the control socket")
                    # A still holds the socket: still served.
                    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                        s.sendall(b"hi\n")
                        self.assertEqual(s.recv(100), b"hi A\n")
                    self.assertEqual(a.stop(), 0)
                with self.assertRaises(ConnectionRefusedError):
                    socket.create_connection(("127.0.0.1", port), timeout=5)

    def test_sigint_removes_the_control_socket(self):
        with ft.TempDir() as d:
            ctl = d.join("ctl")
            with ft.serve(ctl) as server:
                self.assertTrue(os.path.exists(ctl))
                self.assertEqual(server.stop(2), 0)
                self.assertFalse(os.path.lexists(ctl))


if __name__ == "__main__":
    ft.take_tool_args()
    unittest.main(verbosity=2)
