"""Every bad flag combination: exit status 2, one line on stderr naming the
problem, and nothing started (no sandbox, no worker, no socket left)."""

import os
import socket
import subprocess
import tempfile
import time
import unittest

import pool_testing as pt

BINDS = "--ro_bind=" + pt.PY_BINDS


class BadInputTest(unittest.TestCase):

    def run_pool(self, flags, command=None, env_extra=None, pass_fds=()):
        token = "%d%d" % (os.getpid(), time.monotonic_ns() % 1000000)
        tmp = tempfile.mkdtemp()
        env = dict(os.environ, TMPDIR=tmp, **(env_extra or {}))
        argv = [pt.TOOLS["worker_pool"]] + flags
        if command is not False:
            argv += ["--"] + (command or ["/bin/sleep", "1000." + token])
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           env=env, timeout=30, pass_fds=pass_fds)
        # Nothing started: no notify socket directory, no worker.
        self.assertEqual(os.listdir(tmp), [], flags)
        self.assertEqual(pt.pids_matching("1000." + token, comm="sleep"), [], flags)
        return p

    def assert_usage_error(self, flags, pattern, **kw):
        p = self.run_pool(flags, **kw)
        self.assertEqual(p.returncode, 2, (flags, p.stderr))
        lines = p.stderr.splitlines()
        self.assertEqual(len(lines), 1, (flags, p.stderr))
        self.assertRegex(lines[0], r"^worker_pool: " + pattern)

    def test_bad_flags(self):
        port = pt.free_port()
        cases = [
            (["--workers=0", BINDS], r'--workers: want 1\.\.1024, not "0"$'),
            (["--workers=5000", BINDS], r"--workers: want 1\.\.1024"),
            (["--workers=many", BINDS], r'--workers: want 1\.\.1024, not "many"$'),
            (["--workers=1", "--workers=2", BINDS], r"--workers given twice"),
            (["--bogus=1", BINDS], r"unknown flag --bogus"),
            (["--isolation=container", BINDS], r"--isolation: want worker or pool"),
            (["--ready=maybe", BINDS], r"--ready: want started or notify"),
            (["--kill_after=0", BINDS], r"--kill_after: bad duration"),
            (["--kill_after=-1s", BINDS], r"--kill_after: bad duration"),
            (["--ready_timeout=soon", BINDS], r"--ready_timeout: bad duration"),
            (["--backoff_initial=2s", "--backoff_max=1s", BINDS],
             r"--backoff_max is shorter than --backoff_initial"),
            (["--crash_limit=0", BINDS], r"--crash_limit: want 1\.\."),
            (["--status_fd=x", BINDS], r"--status_fd: want"),
            (["--watchdog=1s", BINDS], r"--watchdog needs --ready=notify"),
            (["--status_fd=1", BINDS], r"--status_fd: 1 is not an open fd above 2"),
            (["--status_fd=987", BINDS], r"--status_fd: 987 is not an open fd above 2"),
            (["--listen=tcp:nowhere", BINDS], r"--listen"),
            (["--net=moon", BINDS], r".*net"),
            (["--ro_bind=/no/such/dir"], r".*/no/such/dir"),
            (["--pass_file=/no/such/file", BINDS], r".*/no/such/file"),
            (["--seccomp=maybe", BINDS], r".*seccomp"),
        ]
        for flags, pattern in cases:
            with self.subTest(flags=flags):
                self.assert_usage_error(flags, pattern)

    def test_no_command(self):
        self.assert_usage_error([BINDS], r"no COMMAND given", command=False)

    def test_listen_and_socket_activation_together(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        os.dup2(s.fileno(), 3) if s.fileno() != 3 else None
        try:
            # LISTEN_PID is checked against worker_pool's pid: set it in a shell that execs.
            token = "%d%d" % (os.getpid(), time.monotonic_ns() % 1000000)
            tmp = tempfile.mkdtemp()
            p = subprocess.run(
                ["/bin/sh", "-c", 'LISTEN_PID=$$ exec "$@"', "sh", pt.TOOLS["worker_pool"], BINDS,
                 "--listen=tcp:127.0.0.1:%d" % pt.free_port(), "--", "/bin/sleep", "1000." + token],
                env=dict(os.environ, LISTEN_FDS="1", TMPDIR=tmp), pass_fds=(3,),
                capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertEqual(p.stderr.splitlines(),
                             ["worker_pool: --listen given, but sockets were also handed over "
                              "(LISTEN_FDS); use one"])
            self.assertEqual(os.listdir(tmp), [])
        finally:
            if s.fileno() != 3:
                os.close(3)
            s.close()

    def test_port_in_use_starts_nothing(self):
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        self.assert_usage_error([BINDS, "--listen=tcp:127.0.0.1:%d" % port],
                                r"listen tcp:127\.0\.0\.1:%d.*in use" % port)
        busy.close()

    def test_help_exits_0(self):
        p = subprocess.run([pt.TOOLS["worker_pool"], "--help"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0)
        out = p.stdout + p.stderr
        for flag in ("workers", "isolation", "ready", "kill_after", "ro_bind", "listen",
                     "status_fd", "cgroup_memory"):
            self.assertIn("-%s (" % flag, out)


if __name__ == "__main__":
    pt.main()
