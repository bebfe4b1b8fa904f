"""Helpers for worker_pool's end-to-end tests: run the pool as a process,
follow its event lines, serve and hammer real sockets."""

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

TOOLS = {}
HERE = os.path.dirname(os.path.abspath(__file__))
# What a Python worker needs inside its sandbox.
PY_BINDS = "/usr,/lib,/lib64,/bin"


def take_tool_args():
    """Pops --worker_pool=PATH style arguments (given by Bazel) out of sys.argv."""
    rest = [sys.argv[0]]
    for arg in sys.argv[1:]:
        m = re.match(r"--(\w+)=(.*)", arg)
        if m and m.group(1) in ("worker_pool", "sandbox_run"):
            TOOLS[m.group(1)] = os.path.abspath(m.group(2))
        else:
            rest.append(arg)
    sys.argv = rest


def free_port(kind=socket.SOCK_STREAM):
    """A port of `kind` nobody is bound to on 127.0.0.1 right now, from below
    the ephemeral range: one the kernel hands out for port 0 would be free
    only until the next socket that binds implicitly (another test's client
    connection) draws it, before the pool binds it."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
    ports = list(range(20000, min(low, 30000)))
    random.shuffle(ports)
    for port in ports:
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port below %d" % low)


def worker_script(name):
    """Host path of a worker script shipped beside the tests."""
    return os.path.join(HERE, name)


class Pool:
    """worker_pool as a child process; stderr lines collected by a thread."""

    def __init__(self, flags, command, pass_fds=(), activation=False, status_fd=None):
        self.lines = []
        self.cond = threading.Condition()
        argv = [TOOLS["worker_pool"]] + flags + ["--"] + command
        env = dict(os.environ)
        fds = list(pass_fds)
        if activation:
            # LISTEN_PID must be worker_pool's pid: set it in a shell that execs it.
            env["LISTEN_FDS"] = str(len(pass_fds))
            argv = ["/bin/sh", "-c", 'LISTEN_PID=$$ exec "$@"', "sh"] + argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, env=env,
                                     pass_fds=fds, close_fds=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stderr:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def events(self, pattern=""):
        with self.cond:
            return [l for l in self.lines if re.search(pattern, l)]

    def wait_for(self, pattern, count=1, timeout=20.0):
        """The first `count` lines matching `pattern`; fails the test on timeout."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [l for l in self.lines if re.search(pattern, l)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self.reader.is_alive()):
                    raise AssertionError("no %d lines matching %r in:\n%s" %
                                         (count, pattern, "\n".join(self.lines)))
                self.cond.wait(min(left, 0.2))

    def wait_exit(self, timeout=20.0):
        code = self.proc.wait(timeout=timeout)
        self.reader.join(5)
        return code

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(5)

    def status(self, timeout=10.0):
        """The JSON SIGUSR1 prints on stderr (no --status_fd)."""
        before = len(self.events(r"^\{"))
        self.signal(signal.SIGUSR1)
        return json.loads(self.wait_for(r"^\{", count=before + 1, timeout=timeout)[-1])


def pids_matching(token, comm=None):
    """Host pids whose command line contains `token` (and named `comm`)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                if token.encode() not in f.read():
                    continue
            if comm is not None:
                with open("/proc/%s/comm" % entry) as f:
                    if f.read().strip() != comm:
                        continue
            out.append(int(entry))
        except OSError:
            pass
    return out


def wait_for_pids(pids_fn, count, timeout=10.0):
    """pids_fn() once it returns `count` pids (or what it last returned)."""
    deadline = time.monotonic() + timeout
    while True:
        pids = pids_fn()
        if len(pids) == count or time.monotonic() > deadline:
            return pids
        time.sleep(0.05)


def wait_gone(pids_fn, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pids_fn():
            return True
        time.sleep(0.05)
    return not pids_fn()


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def tcp_request(port, timeout=5.0):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as c:
        data = b""
        while not data.endswith(b"\n"):
            chunk = c.recv(100)
            if not chunk:
                break
            data += chunk
        return data.decode()


def main():
    take_tool_args()
    unittest.main()
