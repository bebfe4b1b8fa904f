"""`fdstore serve &` followed at once by a client must work: serve says when
it is ready (READY=1 to $NOTIFY_SOCKET through libsystemd, a line on
--ready_fd) and clients wait a bounded time for the store (--wait)."""

import os
import socket
import subprocess
import time
import unittest

import fdstore_testing as ft

TRIES = 10


class ReadinessTest(unittest.TestCase):

    def setUp(self):
        self.dir = ft.TempDir()

    def tearDown(self):
        self.dir.close()

    def test_exec_right_after_serve_in_the_background(self):
        # What a shell script does: `fdstore serve ... & fdstore exec ...`.
        failures = []
        for i in range(TRIES):
            ctl = self.dir.join("ctl%d" % i)
            serve = subprocess.Popen(
                [ft.TOOLS["fdstore"], "serve", "--socket=" + ctl,
                 "--listen=tcp:127.0.0.1:0=web"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                rc, out, err = ft.run(["exec", "--socket=" + ctl, "--", "/bin/sh", "-c",
                                       "echo $LISTEN_FDS $LISTEN_FDNAMES"])
                if (rc, out) != (0, "1 web\n"):
                    failures.append("try %d: exit %d: %s" % (i, rc, err.strip()))
            finally:
                serve.terminate()
                serve.communicate(timeout=10)
        self.assertEqual(failures, [])

    def test_ready_fd_is_written_once_the_socket_answers(self):
        ctl = self.dir.join("ctl")
        r, w = os.pipe()
        try:
            serve = subprocess.Popen(
                [ft.TOOLS["fdstore"], "serve", "--socket=" + ctl, "--ready_fd=%d" % w,
                 "--listen=tcp:127.0.0.1:0=web"],
                stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, pass_fds=[w])
            os.close(w)
            w = -1
            try:
                with os.fdopen(r, "rb") as ready:
                    r = -1
                    # The line, then end of file: serve closed its end.
                    self.assertEqual(ready.read(), b"ready\n")
                # Ready means a client is answered without waiting.
                rc, out, err = ft.run(["list", "--wait=0", "--socket=" + ctl])
                self.assertEqual(rc, 0, err)
                self.assertTrue(out.startswith("web tcp 127.0.0.1:"), out)
            finally:
                serve.terminate()
                self.assertEqual(serve.wait(10), 0)
        finally:
            for fd in (r, w):
                if fd >= 0:
                    os.close(fd)

    def test_ready_fd_that_is_not_open_is_a_usage_error(self):
        rc, _, err = ft.run(["serve", "--socket=" + self.dir.join("ctl"), "--ready_fd=97"])
        self.assertEqual(rc, 2, err)
        self.assertIn("--ready_fd=97 is not an open fd", err)
        rc, _, err = ft.run(["serve", "--socket=" + self.dir.join("ctl"), "--ready_fd=1"])
        self.assertEqual(rc, 2, err)
        self.assertIn("--ready_fd must be 3 or more", err)
        self.assertEqual(os.listdir(self.dir.path), [])

    def test_sd_notify_ready_and_stopping(self):
        # The peer is what systemd would be: a datagram socket at
        # $NOTIFY_SOCKET; libsystemd's sd_notify in serve writes to it.
        notify_path = self.dir.join("notify")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        notify.settimeout(10)
        ctl = self.dir.join("ctl")
        env = dict(os.environ, NOTIFY_SOCKET=notify_path)
        with notify, ft.Proc([ft.TOOLS["fdstore"], "serve", "--socket=" + ctl,
                              "--listen=tcp:127.0.0.1:0=web"], env=env) as serve:
            first = notify.recv(4096).decode()
            self.assertIn("READY=1", first.split("\n"))
            self.assertIn("STATUS=serving 1 fds on %s" % ctl, first)
            # READY=1 is sent only once the socket answers.
            rc, out, err = ft.run(["list", "--wait=0", "--socket=" + ctl])
            self.assertEqual(rc, 0, err)
            self.assertEqual(serve.stop(), 0, serve.text())
            self.assertIn("STOPPING=1", notify.recv(4096).decode().split("\n"))

    def test_a_stuck_notify_socket_does_not_stop_serving(self):
        # systemd busy or hung: its queue (net.unix.max_dgram_qlen) is full
        # and sd_notify would wait. The store must serve and stop anyway.
        stuck_path = self.dir.join("notify")
        stuck = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        stuck.bind(stuck_path)
        filler = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        with stuck, filler:
            filled = 0
            while True:
                try:
                    filler.sendto(b"x", socket.MSG_DONTWAIT, stuck_path)
                    filled += 1
                except BlockingIOError:
                    break
            self.assertGreater(filled, 0)
            ctl = self.dir.join("ctl")
            env = dict(os.environ, NOTIFY_SOCKET=stuck_path)
            with ft.Proc([ft.TOOLS["fdstore"], "serve", "--socket=" + ctl,
                          "--listen=tcp:127.0.0.1:0=web"], env=env) as serve:
                rc, out, err = ft.run(["list", "--wait=5s", "--socket=" + ctl])
                self.assertEqual(rc, 0, err)
                self.assertTrue(out.startswith("web tcp 127.0.0.1:"), out)
                start = time.monotonic()
                self.assertEqual(serve.stop(), 0, serve.text())
                self.assertLess(time.monotonic() - start, 5, "STOPPING=1 held the exit")
            self.assertFalse(os.path.exists(ctl))

    def test_wait_gives_up_after_the_bound(self):
        ctl = self.dir.join("ctl")
        start = time.monotonic()
        rc, _, err = ft.run(["exec", "--wait=300ms", "--socket=" + ctl, "--", "/bin/true"])
        took = time.monotonic() - start
        self.assertEqual(rc, 1, err)
        self.assertIn("connect(%s) after waiting 300ms: ENOENT" % ctl, err)
        self.assertGreaterEqual(took, 0.3)
        # --wait=0 does not wait at all.
        rc, _, err = ft.run(["list", "--wait=0", "--socket=" + ctl])
        self.assertEqual(rc, 1, err)
        self.assertNotIn("after waiting", err)

    def test_wait_sees_a_store_that_comes_late(self):
        ctl = self.dir.join("ctl")
        client = subprocess.Popen(
            [ft.TOOLS["fdstore"], "exec", "--wait=20s", "--socket=" + ctl, "--", "/bin/sh", "-c",
             "echo $LISTEN_FDNAMES"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(0.5)
            self.assertIsNone(client.poll(), "exec did not wait")
            with ft.serve(ctl, "udp:127.0.0.1:0=dns") as server:
                out, err = client.communicate(timeout=20)
                self.assertEqual((client.returncode, out), (0, "dns\n"), err)
                self.assertEqual(server.stop(), 0)
        finally:
            client.kill()
            client.wait()


if __name__ == "__main__":
    ft.take_tool_args()
    unittest.main(verbosity=2)
