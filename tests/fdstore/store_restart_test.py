"""`fdstore exec --wait` survives a store that goes away mid-request.

A store being stopped or killed can take a client's connection with it after
the connect succeeded: the connection waited in the old listener's backlog,
or was accepted and closed with the request unread or unanswered. The client
then sees EPIPE, ECONNRESET or end of file instead of a reply. Within
--wait, such a hand-off is tried again against whatever store serves the
path next; a store that answers (REFUSED, NOT_FOUND, BUSY) is not asked
again.

The dying stores here are scripted (a Python listener that does exactly one
of those things), so each way of dying is exercised every run; then real
stores are restarted (SIGTERM and SIGKILL) under a crowd of hand-offs."""

import concurrent.futures
import os
import select
import signal
import socket
import subprocess
import threading
import time
import unittest

import fdstore_client as wire
import fdstore_testing as ft

# What exec runs: succeeds only with the one fd it asked for.
CHECK = ["/bin/sh", "-c", 'test "$LISTEN_FDNAMES" = dns -a "$LISTEN_FDS" = 1']


def exec_argv(ctl, wait="20s"):
    return [ft.TOOLS["fdstore"], "exec", "--socket=" + ctl, "--wait=" + wait, "--timeout=20s",
            "--names=dns", "--"] + CHECK


class FakeStore:
    """A listener at `path` speaking just enough of the store to die in a
    chosen way; counts the connections it accepted."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.bind(path)
        self.sock.listen(16)
        self.sock.settimeout(20)
        self.accepted = 0

    def accept(self):
        conn, _ = self.sock.accept()
        conn.settimeout(20)
        self.accepted += 1
        return conn

    def wait_for_pending(self):
        """Returns once a connection waits in the backlog, not accepted."""
        self.sock.setblocking(False)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if select.select([self.sock], [], [], 0.05)[0]:
                return
        raise AssertionError("no client connected to the fake store")

    def go_away(self):
        """Closes the listener (dropping what its backlog holds) and removes
        the path, as a stopping store does."""
        self.sock.close()
        os.unlink(self.path)


class DroppedRequestTest(unittest.TestCase):

    def setUp(self):
        self.dir = ft.TempDir()
        self.ctl = self.dir.join("ctl")

    def tearDown(self):
        self.dir.close()

    def handoff_through(self, die, argv=None, pass_fds=()):
        """Starts exec (or `argv`), lets a fake store at the path die in the
        way `die` does, then starts a real store there; returns the
        client's (code, stderr)."""
        fake = FakeStore(self.ctl)
        client = subprocess.Popen(argv or exec_argv(self.ctl), stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                  pass_fds=pass_fds)
        try:
            die(fake)
            if os.path.lexists(self.ctl):
                fake.go_away()
            with ft.serve(self.ctl, "udp:127.0.0.1:0=dns") as server:
                _, err = client.communicate(timeout=30)
                self.assertEqual(server.stop(), 0, server.text())
            return client.returncode, err
        finally:
            client.kill()
            client.wait()

    def test_connection_dropped_from_the_backlog(self):
        # Connected, never accepted: the listener closes under it.
        rc, err = self.handoff_through(lambda fake: fake.wait_for_pending())
        self.assertEqual(rc, 0, err)

    def test_accepted_and_closed_with_the_request_unread(self):
        def die(fake):
            conn = fake.accept()
            time.sleep(0.1)  # the request is queued, unread: ECONNRESET for the client
            conn.close()
        rc, err = self.handoff_through(die)
        self.assertEqual(rc, 0, err)

    def test_accepted_and_closed_at_once(self):
        # Closed before the client sent: its send fails with EPIPE.
        def die(fake):
            fake.accept().close()
        rc, err = self.handoff_through(die)
        self.assertEqual(rc, 0, err)

    def test_request_read_and_never_answered(self):
        def die(fake):
            conn = fake.accept()
            self.assertTrue(conn.recv(wire.MAX_MESSAGE))
            conn.close()  # end of file where the reply should be
        rc, err = self.handoff_through(die)
        self.assertEqual(rc, 0, err)

    def test_list_and_store_are_asked_again_too(self):
        def die(fake):
            fake.accept().close()
        rc, err = self.handoff_through(
            die, [ft.TOOLS["fdstore"], "list", "--socket=" + self.ctl, "--wait=20s"])
        self.assertEqual(rc, 0, err)
        r, w = os.pipe()
        try:
            rc, err = self.handoff_through(
                die, [ft.TOOLS["fdstore"], "store", "--socket=" + self.ctl, "--wait=20s",
                      "--name=pipe", "--fd=%d" % r], pass_fds=(r,))
        finally:
            os.close(r)
            os.close(w)
        self.assertEqual(rc, 0, err)

    def test_remove_is_not_asked_again(self):
        # A store that removed the names and died before answering would
        # make a second REMOVE fail with NOT_FOUND: remove reports the loss.
        def die(fake):
            fake.accept().close()
        rc, err = self.handoff_through(
            die, [ft.TOOLS["fdstore"], "remove", "--socket=" + self.ctl, "--wait=20s", "x"])
        self.assertEqual(rc, 1, err)

    def test_several_dying_stores_in_a_row(self):
        def die(fake):
            for _ in range(3):
                fake.accept().close()
        rc, err = self.handoff_through(die)
        self.assertEqual(rc, 0, err)

    def answered_once(self, code, text):
        """A fake store answering every request with ERROR `code`: exec must
        fail with it after one connection, --wait notwithstanding."""
        fake = FakeStore(self.ctl)
        client = subprocess.Popen(exec_argv(self.ctl), stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        stop = threading.Event()

        def serve():
            fake.sock.settimeout(0.05)
            while not stop.is_set():
                try:
                    conn = fake.accept()
                except socket.timeout:
                    continue
                with conn:
                    conn.recv(wire.MAX_MESSAGE)
                    conn.send(wire.encode(wire.ERROR, [text], code=code))

        server = threading.Thread(target=serve)
        server.start()
        try:
            _, err = client.communicate(timeout=30)
        finally:
            stop.set()
            server.join()
            client.kill()
            client.wait()
            fake.go_away()
        self.assertEqual(client.returncode, 1, err)
        self.assertIn(text, err)
        self.assertEqual(fake.accepted, 1, "asked again after a real answer: " + err)

    def test_refused_is_not_asked_again(self):
        self.answered_once(2, "uid 0 is not allowed")

    def test_not_found_is_not_asked_again(self):
        self.answered_once(3, "no fd named \"dns\"")

    def test_busy_is_not_asked_again(self):
        self.answered_once(6, "64 clients connected; try again")

    def test_a_store_that_keeps_dying_fails_after_the_wait(self):
        fake = FakeStore(self.ctl)
        stop = threading.Event()

        def drop_all():
            fake.sock.settimeout(0.05)
            while not stop.is_set():
                try:
                    fake.accept().close()
                except socket.timeout:
                    pass

        dropper = threading.Thread(target=drop_all)
        dropper.start()
        try:
            p = subprocess.run(exec_argv(self.ctl, wait="2s"), stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=30)
        finally:
            stop.set()
            dropper.join()
            fake.go_away()
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("after trying for 2s", p.stderr)
        self.assertGreater(fake.accepted, 1, p.stderr)

    def test_wait_zero_tries_once(self):
        fake = FakeStore(self.ctl)
        client = subprocess.Popen(exec_argv(self.ctl, wait="0"), stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            fake.accept().close()
            _, err = client.communicate(timeout=30)
        finally:
            client.kill()
            client.wait()
            fake.go_away()
        self.assertEqual(client.returncode, 1, err)
        self.assertEqual(fake.accepted, 1)


class RealRestartTest(unittest.TestCase):
    """Real stores stopped (SIGTERM) and killed (SIGKILL) and started again
    at the same path while hand-offs run 32 at a time: none may fail."""

    CLIENTS = 32
    RESTARTS = 4

    def test_restarts_under_a_crowd_of_handoffs(self):
        with ft.TempDir() as d:
            ctl = d.join("ctl")
            failures = []
            done = [0]
            lock = threading.Lock()
            stop = threading.Event()

            def hand_off_until_stopped():
                while not stop.is_set():
                    p = subprocess.run(exec_argv(ctl), stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                       text=True)
                    with lock:
                        done[0] += 1
                        if p.returncode != 0:
                            failures.append(p.stderr.strip())

            def wait_done(n):
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    with lock:
                        if done[0] >= n:
                            return
                    time.sleep(0.01)
                raise AssertionError("hand-offs stalled at %d" % done[0])

            store = ft.serve(ctl, "udp:127.0.0.1:0=dns")
            with concurrent.futures.ThreadPoolExecutor(self.CLIENTS) as pool:
                futures = [pool.submit(hand_off_until_stopped) for _ in range(self.CLIENTS)]
                try:
                    for i in range(self.RESTARTS):
                        wait_done(done[0] + 2 * self.CLIENTS)
                        # SIGKILL leaves the socket file, stale: the next
                        # store replaces it and clients see ECONNREFUSED.
                        sig = signal.SIGKILL if i % 2 else signal.SIGTERM
                        store.stop(sig)
                        store.__exit__()
                        store = ft.serve(ctl, "udp:127.0.0.1:0=dns")
                    wait_done(done[0] + 2 * self.CLIENTS)
                finally:
                    stop.set()
                    for f in futures:
                        f.result()
                    self.assertEqual(store.stop(), 0, store.text())
                    store.__exit__()
            print("%d hand-offs across %d restarts, %d failed" % (
                done[0], self.RESTARTS, len(failures)))
            self.assertEqual(failures, [])


if __name__ == "__main__":
    ft.take_tool_args()
    unittest.main(verbosity=2)
