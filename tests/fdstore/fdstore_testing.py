"""Helpers for the fdstore end-to-end tests: tool paths from Bazel, a
private directory for control sockets, processes with collected stderr."""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

TOOLS = {}


def take_tool_args():
    """Pops --fdstore=PATH style arguments (given by Bazel) out of sys.argv."""
    rest = [sys.argv[0]]
    for arg in sys.argv[1:]:
        m = re.match(r"--(fdstore|echo)=(.*)", arg)
        if m:
            TOOLS[m.group(1)] = os.path.abspath(m.group(2))
        else:
            rest.append(arg)
    sys.argv = rest


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class TempDir:
    """A short /tmp directory (sun_path holds 108 bytes; TEST_TMPDIR is long)."""

    def __init__(self, mode=0o700):
        self.path = tempfile.mkdtemp(prefix="fdstore.", dir="/tmp")
        os.chmod(self.path, mode)

    def join(self, name):
        return os.path.join(self.path, name)

    def close(self):
        shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Proc:
    """A child process whose stdout+stderr go to a file we can poll."""

    def __init__(self, argv, ready=None, preexec=None, env=None):
        self.log = tempfile.TemporaryFile(mode="w+")
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=self.log, preexec_fn=preexec, env=env,
                                     close_fds=True)
        self.pid = self.proc.pid
        if ready:
            self.wait_for(ready)

    def text(self):
        self.log.seek(0)
        return self.log.read()

    def wait_for(self, needle, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            if needle in text[:text.rfind("\n") + 1]:
                return
            if self.proc.poll() is not None:
                raise AssertionError("%s exited %s before printing %r:\n%s" % (
                    self.argv, self.proc.returncode, needle, self.text()))
            time.sleep(0.01)
        raise AssertionError("no %r from %s within %ss:\n%s" % (
            needle, self.argv, timeout, self.text()))

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Signals the process and returns its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("%s ignored signal %d:\n%s" % (self.argv, sig, self.text()))
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()
        self.log.close()


def serve(socket_path, listen="", extra=(), preexec=None):
    argv = [TOOLS["fdstore"], "serve", "--socket=" + socket_path]
    if listen:
        argv.append("--listen=" + listen)
    return Proc(argv + list(extra), ready="serving", preexec=preexec)


def run(args, timeout=20, preexec=None):
    """Runs fdstore with `args`; returns (exit code, stdout, stderr)."""
    p = subprocess.run([TOOLS["fdstore"]] + list(args), stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=timeout,
                       preexec_fn=preexec)
    return p.returncode, p.stdout, p.stderr


def drop_to(uid):
    """Child: become `uid` (and gid `uid`) with no groups."""
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def drop_to_nobody():
    """preexec_fn / child: become uid and gid 65534 with no groups."""
    drop_to(65534)
