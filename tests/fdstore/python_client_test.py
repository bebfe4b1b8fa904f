"""A Python client written from lib/fdstore/README.md alone (socket.send_fds
and socket.recv_fds, nothing else) fetches, stores, removes and lists fds on
`fdstore serve`, and fds it stores reach a program started by `fdstore exec`."""

import os
import socket
import subprocess
import unittest

import fdstore_client as fc
import fdstore_testing as ft


class PythonClientTest(unittest.TestCase):

    def setUp(self):
        self.dir = ft.TempDir()
        self.ctl = self.dir.join("ctl")
        self.server = ft.serve(self.ctl, "tcp:127.0.0.1:0=web,udp:[::1]:0=dns,unix:%s=app" %
                               self.dir.join("app.sock"))
        self.sock = fc.connect(self.ctl)

    def tearDown(self):
        self.sock.close()
        self.assertEqual(self.server.stop(), 0, self.server.text())
        self.server.__exit__()
        self.dir.close()

    def test_list_and_fetch_all(self):
        entries = fc.list_entries(self.sock)
        self.assertEqual([(n, k) for n, k, _ in entries],
                         [("web", "tcp"), ("dns", "udp"), ("app", "unix")])
        fetched = fc.fetch(self.sock)
        try:
            self.assertEqual([n for n, _ in fetched], ["web", "dns", "app"])
            for (name, fd), (_, kind, address) in zip(fetched, entries):
                s = socket.socket(fileno=os.dup(fd))
                with s:
                    local = s.getsockname()
                    if kind == "unix":
                        self.assertEqual("unix:" + local, address)
                    elif s.family == socket.AF_INET6:
                        self.assertEqual("[%s]:%d" % local[:2], address)
                    else:
                        self.assertEqual("%s:%d" % local, address)
        finally:
            for _, fd in fetched:
                os.close(fd)

    def test_store_fetch_remove_a_pipe(self):
        r, w = os.pipe()
        try:
            fc.store(self.sock, ["pipe-w"], [w])
            os.close(w)
            [(name, fd)] = fc.fetch(self.sock, ["pipe-w"])
            self.assertEqual(name, "pipe-w")
            os.write(fd, b"through the store")
            os.close(fd)
            self.assertEqual(os.read(r, 100), b"through the store")
            self.assertIn(("pipe-w", "pipe", "-"), fc.list_entries(self.sock))
            fc.remove(self.sock, ["pipe-w"])
            with self.assertRaises(fc.ServerError) as e:
                fc.fetch(self.sock, ["pipe-w"])
            self.assertEqual(e.exception.code, "NOT_FOUND")
            # NOT_FOUND keeps the connection.
            self.assertEqual(len(fc.list_entries(self.sock)), 3)
        finally:
            os.close(r)

    def test_fetch_in_the_order_asked(self):
        fetched = fc.fetch(self.sock, ["app", "web"])
        self.assertEqual([n for n, _ in fetched], ["app", "web"])
        for _, fd in fetched:
            os.close(fd)

    def test_stored_fds_reach_an_exec_child(self):
        r, w = os.pipe()
        fc.store(self.sock, ["out"], [w])
        os.close(w)
        rc, out, err = ft.run(["exec", "--socket=" + self.ctl, "--names=out,web", "--",
                               "/bin/sh", "-c",
                               'echo "$LISTEN_FDS $LISTEN_FDNAMES" >&3'])
        self.assertEqual(rc, 0, err)
        fc.remove(self.sock, ["out"])  # the last writer: EOF after this
        self.assertEqual(os.read(r, 100), b"2 out:web\n")
        os.close(r)

    def test_unsupported_version_is_answered_then_hung_up(self):
        reply = fc.call_raw(self.sock, fc.encode(fc.LIST, version=2))
        self.assertIsNotNone(reply)
        rtype, code, strings, fds = reply
        self.assertEqual((rtype, fc.CODES[code]), (fc.ERROR, "UNSUPPORTED_VERSION"))
        self.assertIn("version 2", strings[0])
        self.assertEqual(self.sock.recv(100), b"")

    def test_store_with_mismatched_fds_is_a_bad_request(self):
        r, w = os.pipe()
        with self.assertRaises(fc.ServerError) as e:
            fc.store(self.sock, ["a", "b"], [r])
        os.close(r)
        os.close(w)
        self.assertEqual(e.exception.code, "BAD_REQUEST")
        self.assertIn("2 names but 1 fds", e.exception.message)
        self.assertEqual(self.sock.recv(100), b"")

    def test_cpp_list_sees_python_stores(self):
        fc.store(self.sock, ["py"], [self.sock.fileno()])
        rc, out, err = ft.run(["list", "--socket=" + self.ctl])
        self.assertEqual(rc, 0, err)
        self.assertIn("py unix-seqpacket unix:(unnamed)", out.splitlines())


if __name__ == "__main__":
    ft.take_tool_args()
    unittest.main(verbosity=2)
