"""Bad usage of fdstore: one line on stderr, exit 2 for usage and 1 for a
runtime failure, and nothing left behind (no control socket, no unix
listening socket file, no process)."""

import os
import socket
import unittest

import fdstore_testing as ft


class FlagsTest(unittest.TestCase):

    def setUp(self):
        self.dir = ft.TempDir()
        self.ctl = self.dir.join("ctl")

    def tearDown(self):
        self.dir.close()

    def fails(self, args, code, needle):
        rc, out, err = ft.run(args)
        self.assertEqual(rc, code, err)
        self.assertEqual(out, "")
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertTrue(err.startswith("fdstore: "), err)
        self.assertIn(needle, err)
        self.assertEqual(os.listdir(self.dir.path), [], "left behind")

    def test_usage_errors_exit_2(self):
        s = "--socket=" + self.ctl
        for args, needle in [
            ([], "missing subcommand"),
            (["bogus"], "unknown subcommand 'bogus'"),
            (["serve", s, "--bogus=1"], "unknown flag --bogus"),
            (["serve"], "serve needs --socket=PATH"),
            (["serve", s, "--listen=tcp:nowhere"], "--listen:"),
            (["serve", s, "--listen=sctp:1.2.3.4:5"], "--listen:"),
            (["serve", s, "--allow_uid=alice"], "bad uid 'alice'"),
            (["serve", s, "--client_timeout=soon"], "bad duration 'soon'"),
            (["serve", s, "--client_timeout=0s"], "bad duration '0s'"),
            (["serve", s, "--max_clients=0"], "--max_clients must be 1-4096"),
            (["serve", s, "--max_clients=many"], "bad value 'many' for --max_clients"),
            (["serve", s, "--names=a"], "--names does not apply to serve"),
            (["serve", s, "--", "true"], "belong to exec only"),
            (["list", s, "--listen=tcp:127.0.0.1:0"], "--listen does not apply to list"),
            (["list", s, "extra"], "unexpected argument 'extra'"),
            (["exec", s], "exec needs -- COMMAND"),
            (["exec", s, "--names=a:b", "--", "true"], "printable ASCII"),
            (["exec", s, "--timeout=-1s", "--", "true"], "bad duration '-1s'"),
            (["exec", s, "--wait=-1s", "--", "true"], "bad duration '-1s'"),
            (["serve", s, "--wait=1s"], "--wait does not apply to serve"),
            (["list", s, "--ready_fd=3"], "--ready_fd does not apply to list"),
            (["exec", s, "true"], "unexpected argument 'true'"),
        ]:
            with self.subTest(args=args):
                self.fails(args, 2, needle)

    def test_runtime_failures_exit_1(self):
        s = "--socket=" + self.ctl
        self.fails(["list", s, "--wait=0"], 1, "connect(%s): ENOENT" % self.ctl)
        self.fails(["exec", s, "--wait=0", "--", "/bin/true"], 1, "ENOENT")
        self.fails(["serve", "--socket=" + self.dir.join("no/such/dir/ctl")], 1,
                   "open(%s): ENOENT" % self.dir.join("no/such/dir"))

    def test_a_failed_start_removes_what_it_created(self):
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        app = self.dir.join("app.sock")
        # The unix socket binds first, then the TCP port is in use.
        rc, _, err = ft.run(["serve", "--socket=" + self.ctl,
                             "--listen=unix:%s=app,tcp:127.0.0.1:%d=web" % (app, port)])
        taken.close()
        self.assertEqual(rc, 1, err)
        self.assertIn("EADDRINUSE", err)
        self.assertEqual(os.listdir(self.dir.path), [])

    def test_a_bad_control_path_removes_the_listening_socket_files(self):
        os.mkdir(self.ctl)  # a directory where the control socket should go
        app = self.dir.join("app.sock")
        rc, _, err = ft.run(["serve", "--socket=" + self.ctl, "--listen=unix:%s=app" % app])
        self.assertEqual(rc, 1, err)
        self.assertIn("is not a socket", err)
        self.assertEqual(os.listdir(self.dir.path), ["ctl"])
        os.rmdir(self.ctl)

    def test_exec_that_cannot_run_the_command_exits_127(self):
        with ft.serve(self.ctl, "tcp:127.0.0.1:0") as server:
            rc, _, err = ft.run(["exec", "--socket=" + self.ctl, "--", "/no/such/program"])
            self.assertEqual(rc, 127, err)
            self.assertIn("execvp(/no/such/program): ENOENT", err)
            rc, _, err = ft.run(["exec", "--socket=" + self.ctl, "--names=nope", "--", "true"])
            self.assertEqual(rc, 1, err)
            self.assertIn("NOT_FOUND: no fd named \"nope\"", err)
            self.assertEqual(server.stop(), 0)

    def test_help_documents_every_flag(self):
        rc, out, err = ft.run(["--help"])
        self.assertEqual(rc, 0, err)
        text = out + err
        for flag in ("socket", "listen", "allow_uid", "client_timeout", "max_clients",
                     "names", "timeout", "wait", "ready_fd"):
            self.assertIn("-" + flag, text)
        for word in ("serve", "exec", "list", "LISTEN_FDS", "Exit:", "README.md"):
            self.assertIn(word, text)


if __name__ == "__main__":
    ft.take_tool_args()
    unittest.main(verbosity=2)
