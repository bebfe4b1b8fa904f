"""Bad input to udp_relay, udp_echo and udp_probe: one clear line on stderr
and exit 2 for flags, exit 1 for runtime failures; --help is complete."""

import os
import socket
import subprocess
import unittest

import udp_testing as t


def run(tool, *args, env=None):
    p = subprocess.run([t.TOOLS[tool]] + list(args), capture_output=True, text=True,
                       timeout=20, env=env)
    return p.returncode, p.stdout, p.stderr


class FlagsTest(unittest.TestCase):

    def assertUsageError(self, tool, args, needle, env=None):
        code, out, err = run(tool, *args, env=env)
        self.assertEqual(code, 2, (args, err))
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn(needle, err)
        self.assertTrue(err.startswith("udp_"), err)

    def test_relay_bad_flags(self):
        up = "--upstream=127.0.0.1:9"
        cases = [
            (["--bogus", up, "--listen=127.0.0.1:0"], "unknown flag --bogus"),
            ([up], "--listen is required"),
            (["--listen=127.0.0.1:0"], "--upstream is required"),
            (["--upstream=nowhere", "--listen=127.0.0.1:0"], "bad address 'nowhere'"),
            (["--upstream=unix:/x", "--listen=127.0.0.1:0"], "bad address"),
            ([up, "--listen=127.0.0.1"], "bad address '127.0.0.1'"),
            ([up, "--listen=127.0.0.1:0,"], "bad address ''"),
            ([up, "--listen=127.0.0.1:0", "--threads=abc"], "bad value 'abc' for --threads"),
            ([up, "--listen=127.0.0.1:0", "--threads=-1"], "--threads must be"),
            ([up, "--listen=127.0.0.1:0", "--batch=0"], "--batch must be"),
            ([up, "--listen=127.0.0.1:0", "--gso=maybe"], "bad value 'maybe' for --gso"),
            ([up, "--listen=127.0.0.1:0", "--gro=1"], "bad value '1' for --gro"),
            ([up, "--listen=127.0.0.1:0", "--session_timeout=soon"], "bad duration 'soon'"),
            ([up, "--listen=127.0.0.1:0", "--session_timeout=0s"], "more than 0"),
            ([up, "--listen=127.0.0.1:0", "--stats_interval=-1s"], "bad duration '-1s'"),
            ([up, "--listen=127.0.0.1:0", "--max_sessions=0"], "at least 1"),
            ([up, "--listen=127.0.0.1:0", "--max_sessions"], "needs a value"),
            ([up, "--listen=127.0.0.1:0", "extra"], "unexpected argument 'extra'"),
        ]
        for args, needle in cases:
            with self.subTest(args=args):
                self.assertUsageError("relay", args, needle)

    def test_relay_bad_activation_variables(self):
        env = dict(os.environ, LISTEN_FDS="x", LISTEN_PID=str(os.getpid()))
        # LISTEN_PID names the test, not the relay: ignored, so --listen is
        # missing. A malformed LISTEN_FDS for the relay's own pid is rejected
        # by a wrapper that execs it (same pid).
        self.assertUsageError("relay", ["--upstream=127.0.0.1:9"], "--listen is required",
                              env=env)
        code = subprocess.run(
            ["/bin/sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=x exec "$0" --upstream=127.0.0.1:9',
             t.TOOLS["relay"]], capture_output=True, text=True, timeout=20)
        self.assertEqual(code.returncode, 2, code.stderr)
        self.assertIn("socket activation", code.stderr)

    def test_relay_listen_and_activation_together(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        self.addCleanup(s.close)
        p = subprocess.run(
            ["/bin/sh", "-c",
             'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" --upstream=127.0.0.1:9 --listen=127.0.0.1:0 3<&%d'
             % s.fileno(), t.TOOLS["relay"]],
            capture_output=True, text=True, timeout=20, pass_fds=(s.fileno(),))
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("use one", p.stderr)

    def test_relay_activated_fd_that_is_not_udp(self):
        r, w = os.pipe()
        self.addCleanup(os.close, r)
        self.addCleanup(os.close, w)
        p = subprocess.run(
            ["/bin/sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" --upstream=127.0.0.1:9 3<&%d'
             % r, t.TOOLS["relay"]],
            capture_output=True, text=True, timeout=20, pass_fds=(r,))
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("not a UDP socket", p.stderr)

    def test_relay_port_in_use_is_a_runtime_error(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        self.addCleanup(s.close)
        code, _, err = run("relay", "--upstream=127.0.0.1:9",
                           "--listen=127.0.0.1:%d" % s.getsockname()[1])
        self.assertEqual(code, 1, err)
        self.assertIn("EADDRINUSE", err)

    def test_echo_bad_flags(self):
        for args, needle in [
            (["--listen=127.0.0.1:0", "--nope=1"], "unknown flag --nope"),
            ([], "--listen is required"),
            (["--listen=::1:5"], "bad address '::1:5'"),
            (["--listen=127.0.0.1:0", "--threads=0"], "--threads must be"),
            (["--listen=127.0.0.1:0", "--stats_interval=often"], "bad duration"),
        ]:
            with self.subTest(args=args):
                self.assertUsageError("echo", args, needle)

    def test_probe_bad_flags(self):
        for args, needle in [
            ([], "--target is required"),
            (["--target=127.0.0.1"], "bad address"),
            (["--target=127.0.0.1:0"], "bad address"),
            (["--target=127.0.0.1:9", "--count=0"], "--count must be"),
            (["--target=127.0.0.1:9", "--size=8"], "--size must be"),
            (["--target=127.0.0.1:9", "--interval=x"], "bad duration 'x'"),
            (["--target=127.0.0.1:9", "--json=maybe"], "bad value 'maybe' for --json"),
        ]:
            with self.subTest(args=args):
                self.assertUsageError("probe", args, needle)

    def test_help_is_complete_and_exits_zero(self):
        for tool, flags in [
            ("relay", ["listen", "upstream", "threads", "batch", "gso", "gro",
                       "session_timeout", "max_sessions", "stats_interval"]),
            ("echo", ["listen", "threads", "batch", "gso", "gro", "stats_interval"]),
            ("probe", ["target", "count", "interval", "timeout", "size",
                       "expect_source", "json"]),
        ]:
            code, out, err = run(tool, "--help")
            self.assertEqual(code, 0)
            for f in flags:
                self.assertIn("-" + f + " (", out + err, (tool, f))


if __name__ == "__main__":
    t.take_tool_args()
    unittest.main()
