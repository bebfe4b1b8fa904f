"""The command-line clients beside exec: `store` deposits fds the shell
opened, `remove` takes names out, `list --json` prints what a program can
parse. Each against a real `fdstore serve`."""

import json
import os
import socket
import subprocess
import unittest

import fdstore_client as fc
import fdstore_testing as ft


class SubcommandsTest(unittest.TestCase):

    def setUp(self):
        self.dir = ft.TempDir()
        self.ctl = self.dir.join("ctl")

    def tearDown(self):
        self.dir.close()

    def fdstore(self, args, pass_fds=()):
        p = subprocess.run([ft.TOOLS["fdstore"]] + args, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=20, pass_fds=pass_fds)
        return p.returncode, p.stdout, p.stderr

    def test_store_remove_and_json_list(self):
        s = "--socket=" + self.ctl
        with ft.serve(self.ctl, "tcp:127.0.0.1:0=web") as server:
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind(("127.0.0.1", 0))
            path = self.dir.join("data")
            with open(path, "w") as f:
                f.write("kept")
            data = os.open(path, os.O_RDONLY)
            try:
                rc, out, err = self.fdstore(
                    ["store", s, "--name=dns,data", "--fd=%d,%d" % (udp.fileno(), data)],
                    pass_fds=[udp.fileno(), data])
                self.assertEqual((rc, out), (0, ""), err)
            finally:
                os.close(data)
                udp_port = udp.getsockname()[1]
                udp.close()
            rc, out, err = self.fdstore(["list", s, "--json"])
            self.assertEqual(rc, 0, err)
            entries = json.loads(out)
            self.assertEqual([(e["name"], e["kind"]) for e in entries],
                             [("web", "tcp"), ("dns", "udp"), ("data", "file")])
            self.assertEqual(entries[1]["address"], "127.0.0.1:%d" % udp_port)
            # What was stored is what a client fetches.
            with fc.connect(self.ctl) as c:
                (name, fd), = fc.fetch(c, ["data"])
                self.assertEqual(os.pread(fd, 100, 0), b"kept")
                os.close(fd)
            rc, out, err = self.fdstore(["remove", s, "dns", "data"])
            self.assertEqual((rc, out), (0, ""), err)
            rc, out, err = self.fdstore(["list", s])
            self.assertEqual(rc, 0, err)
            self.assertEqual([line.split(" ")[0] for line in out.splitlines()], ["web"])
            # All or nothing: one missing name removes nothing.
            rc, _, err = self.fdstore(["remove", s, "web", "nope"])
            self.assertEqual(rc, 1, err)
            self.assertIn('NOT_FOUND: no fd named "nope"', err)
            rc, out, _ = self.fdstore(["list", s, "--json"])
            self.assertEqual([e["name"] for e in json.loads(out)], ["web"])
            self.assertEqual(server.stop(), 0)

    def test_json_list_of_an_empty_store(self):
        with ft.serve(self.ctl) as server:
            rc, out, err = self.fdstore(["list", "--socket=" + self.ctl, "--json"])
            self.assertEqual((rc, json.loads(out)), (0, []), err)
            self.assertEqual(server.stop(), 0)

    def test_json_escapes_what_a_unix_path_holds(self):
        odd = self.dir.join('a"b\\c')
        with ft.serve(self.ctl, "unix:%s=odd" % odd) as server:
            rc, out, err = self.fdstore(["list", "--socket=" + self.ctl, "--json"])
            self.assertEqual(rc, 0, err)
            self.assertEqual(json.loads(out)[0]["address"], "unix:" + odd)
            self.assertEqual(server.stop(), 0)
        os.unlink(odd)

    def test_list_escapes_what_a_stored_socket_is_named(self):
        # An abstract unix name is any bytes its binder chose: a newline and
        # terminal escapes must not forge lines, nor a NUL cut one short.
        hostile = b"\0x\n\x1b[31mweb tcp 0.0.0.0:80\x1b[0m\0tail"
        with ft.serve(self.ctl, "tcp:127.0.0.1:0=web") as server:
            planted = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            planted.bind(hostile)
            with planted:
                rc, out, err = self.fdstore(
                    ["store", "--socket=" + self.ctl, "--name=evil", "--fd=%d" % planted.fileno()],
                    pass_fds=[planted.fileno()])
                self.assertEqual(rc, 0, err)
            rc, out, err = self.fdstore(["list", "--socket=" + self.ctl])
            self.assertEqual(rc, 0, err)
            lines = out.splitlines()
            self.assertEqual([line.split(" ")[0] for line in lines], ["web", "evil"], out)
            self.assertFalse([c for c in out if c != "\n" and (ord(c) < 0x20 or ord(c) == 0x7f)],
                             repr(out))
            self.assertEqual(lines[1], "evil unix unix:@x\\n\\x1b[31mweb tcp 0.0.0.0:80"
                                       "\\x1b[0m\\x00tail", repr(out))
            self.assertEqual(server.stop(), 0)

    def test_json_list_is_utf8_whatever_a_socket_is_named(self):
        # JSON is UTF-8 (RFC 8259): a name's bytes that are not become
        # U+FFFD there (plain `list` shows them exactly, as C escapes).
        with ft.serve(self.ctl) as server:
            planted = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            planted.bind(b"\0odd\xff\xfename")
            with planted:
                rc, out, err = self.fdstore(
                    ["store", "--socket=" + self.ctl, "--name=odd", "--fd=%d" % planted.fileno()],
                    pass_fds=[planted.fileno()])
                self.assertEqual(rc, 0, err)
            p = subprocess.run([ft.TOOLS["fdstore"], "list", "--socket=" + self.ctl, "--json"],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
            self.assertEqual(p.returncode, 0, p.stderr)
            entries = json.loads(p.stdout.decode("utf-8"))  # strict: raises on bad bytes
            self.assertEqual(entries[0]["address"], "unix:@odd\ufffd\ufffdname")
            rc, out, err = self.fdstore(["list", "--socket=" + self.ctl])
            self.assertEqual(out, "odd unix unix:@odd\\xff\\xfename\n")
            self.assertEqual(server.stop(), 0)

    def test_usage_errors(self):
        s = "--socket=" + self.ctl
        for args, needle in [
            (["store", s, "--name=a"], "store needs --name and --fd"),
            (["store", s, "--fd=0"], "store needs --name and --fd"),
            (["store", s, "--name=a,b", "--fd=0"], "2 names but 1 fds"),
            (["store", s, "--name=a", "--fd=x"], "bad fd 'x'"),
            (["store", s, "--name=a", "--fd=77"], "--fd=77 is not an open fd"),
            (["store", s, "--name=a:b", "--fd=0"], "printable ASCII"),
            (["remove", s], "remove needs one or more NAMEs"),
            (["remove", s, "a:b"], "printable ASCII"),
            (["list", s, "extra"], "unexpected argument 'extra'"),
            (["exec", s, "--json", "--", "true"], "--json does not apply to exec"),
        ]:
            with self.subTest(args=args):
                rc, out, err = self.fdstore(args)
                self.assertEqual(rc, 2, err)
                self.assertEqual(len(err.splitlines()), 1, err)
                self.assertIn(needle, err)

    def test_help_names_the_subcommands(self):
        rc, out, err = self.fdstore(["--help"])
        text = out + err
        for word in ("fdstore store", "fdstore remove", "--json", "--allow_store_uid",
                     "-name", "-fd"):
            self.assertIn(word, text)


if __name__ == "__main__":
    ft.take_tool_args()
    unittest.main(verbosity=2)
