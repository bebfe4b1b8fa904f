#!/usr/bin/env python3
"""Worker start and replacement time, side by side in one run:

  fork+exec            the harness starts the worker itself (the floor)
  bwrap --unshare-all  bubblewrap, --die-with-parent, the same binds
  sandbox_run          one sandbox per worker, as the tool makes it
  worker_pool --isolation=worker   (one sandbox per worker, a spare built ahead)
  worker_pool --isolation=pool     (one sandbox; workers are processes in it)

The worker is ping_worker (static): it sends one datagram to the harness's
unix socket (bind-mounted into every sandbox) as soon as it runs, then waits
for SIGTERM.

  start        from the request to the worker's datagram. Request: the
               harness spawning the process (fork+exec, bwrap, sandbox_run);
               SIGHUP to a pool of one worker (which starts the replacement).
  replacement  start a new worker, wait until it runs, SIGTERM the old one,
               until the old one is gone (reaped by the harness; for the
               pool: its "event=exited" line).

Between two measurements every method idles 50 ms (the pool builds its next
spare sandbox then). Prints medians and means in ms, and ratios of medians.

Usage: pool_bench.py --worker_pool=PATH --sandbox_run=PATH --ping_worker=PATH [--runs=N]
"""

import argparse
import os
import re
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BINDS = ["/usr", "/lib", "/lib64", "/bin"]
GAP = 0.05


class Harness:
    def __init__(self, ping_worker):
        self.dir = tempfile.mkdtemp(prefix="pool_bench.")
        os.chmod(self.dir, 0o755)
        self.sock_path = os.path.join(self.dir, "ping.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.sock_path)
        os.chmod(self.sock_path, 0o666)
        self.worker = ping_worker

    def wait_ping(self, timeout=10.0):
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            raise RuntimeError("no ping from the worker within %ss" % timeout)
        data = self.sock.recv(100)
        return time.perf_counter(), data.decode()

    def drain(self):
        while select.select([self.sock], [], [], 0)[0]:
            self.sock.recv(100)


def ro(path, dest=None):
    return "%s:%s" % (path, dest) if dest else path


class ProcessMethod:
    """A method where each worker is a process the harness spawns."""

    def __init__(self, name, argv_fn):
        self.name, self.argv_fn = name, argv_fn

    def measure(self, h, runs):
        starts, replacements = [], []
        old = None
        for i in range(runs + 1):
            t0 = time.perf_counter()
            new = subprocess.Popen(self.argv_fn(h), stdin=subprocess.DEVNULL, close_fds=True)
            t1, _ = h.wait_ping()
            if old is not None:
                old.send_signal(signal.SIGTERM)
                old.wait()
                t2 = time.perf_counter()
                starts.append(t1 - t0)
                replacements.append(t2 - t0)
            old = new
            time.sleep(GAP)
        old.send_signal(signal.SIGTERM)
        old.wait()
        return starts, replacements


class PoolMethod:
    def __init__(self, name, worker_pool, isolation):
        self.name, self.worker_pool, self.isolation = name, worker_pool, isolation

    def measure(self, h, runs):
        argv = [self.worker_pool, "--workers=1", "--isolation=" + self.isolation,
                "--ro_bind=%s,%s:/ping_worker,%s:/run/ping.sock" % (",".join(BINDS), h.worker,
                                                                    h.sock_path),
                "--kill_after=5s", "--", "/ping_worker", "/run/ping.sock"]
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        lines, cond = [], threading.Condition()

        def read():
            for line in p.stderr:
                with cond:
                    lines.append(line)
                    cond.notify_all()
        threading.Thread(target=read, daemon=True).start()

        def wait_line(pattern, timeout=10.0):
            deadline = time.monotonic() + timeout
            with cond:
                while True:
                    for line in lines:
                        if re.search(pattern, line):
                            lines.remove(line)
                            return time.perf_counter()
                    if time.monotonic() > deadline:
                        raise RuntimeError("pool: no %r in %s" % (pattern, lines))
                    cond.wait(0.05)

        starts, replacements = [], []
        try:
            h.wait_ping()
            current = 1
            time.sleep(0.3)
            for i in range(runs):
                t0 = time.perf_counter()
                p.send_signal(signal.SIGHUP)
                t1, msg = h.wait_ping()
                new = int(msg.split()[1])
                # The old instance's exit, as the pool reports it.
                wait_line(r"instance=%d event=exited" % current)
                t2 = time.perf_counter()
                starts.append(t1 - t0)
                replacements.append(t2 - t0)
                current = new
                time.sleep(GAP)
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(30)
        return starts, replacements


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker_pool", required=True)
    ap.add_argument("--sandbox_run", required=True)
    ap.add_argument("--ping_worker", required=True)
    ap.add_argument("--runs", type=int, default=200)
    args = ap.parse_args()
    h = Harness(os.path.abspath(args.ping_worker))
    bwrap_binds = []
    for b in BINDS:
        bwrap_binds += ["--ro-bind", b, b]
    methods = [
        ProcessMethod("fork+exec", lambda h: [h.worker, h.sock_path]),
        ProcessMethod("bwrap --unshare-all", lambda h: (
            ["bwrap", "--unshare-all", "--die-with-parent"] + bwrap_binds +
            ["--ro-bind", h.worker, "/ping_worker", "--bind", h.sock_path, "/run/ping.sock",
             "--proc", "/proc", "--dev", "/dev", "--", "/ping_worker", "/run/ping.sock"])),
        ProcessMethod("sandbox_run", lambda h: [
            args.sandbox_run,
            "--ro_bind=%s,%s:/ping_worker,%s:/run/ping.sock" % (",".join(BINDS), h.worker,
                                                                h.sock_path),
            "--", "/ping_worker", "/run/ping.sock"]),
        PoolMethod("worker_pool --isolation=worker", args.worker_pool, "worker"),
        PoolMethod("worker_pool --isolation=pool", args.worker_pool, "pool"),
    ]
    results = {}
    # Rounds rotate the order so load from elsewhere falls on all alike.
    rounds = 4
    per_round = max(1, args.runs // rounds)
    for r in range(rounds):
        for k in range(len(methods)):
            m = methods[(k + r) % len(methods)]
            print("round %d/%d: %s" % (r + 1, rounds, m.name), file=sys.stderr)
            s, rep = m.measure(h, per_round)
            results.setdefault(m.name, ([], []))
            results[m.name][0].extend(s)
            results[m.name][1].extend(rep)
            h.drain()
    ms = lambda xs: statistics.median(xs) * 1000
    base = ms(results["fork+exec"][0])
    bw = ms(results["bwrap --unshare-all"][0])
    base_r = ms(results["fork+exec"][1])
    bw_r = ms(results["bwrap --unshare-all"][1])
    print("%-32s %9s %9s %9s %9s %10s %10s %9s %9s" % (
        "", "start", "start", "vs fork", "vs bwrap", "replace", "replace", "vs fork", "vs bwrap"))
    print("%-32s %9s %9s %9s %9s %10s %10s %9s %9s" % (
        "(ms, n=%d each)" % (per_round * rounds), "median", "mean", "+exec", "", "median",
        "mean", "+exec", ""))
    for m in methods:
        s, rep = results[m.name]
        print("%-32s %9.3f %9.3f %8.2fx %8.2fx %10.3f %10.3f %8.2fx %8.2fx" % (
            m.name, ms(s), statistics.mean(s) * 1000, ms(s) / base, ms(s) / bw,
            ms(rep), statistics.mean(rep) * 1000, ms(rep) / base_r, ms(rep) / bw_r))
    pool = ms(results["worker_pool --isolation=pool"][0])
    worker = ms(results["worker_pool --isolation=worker"][0])
    print()
    for label, value, target in [
            ("pool start <= 1.5x fork+exec", pool / base, 1.5),
            ("pool start <= 0.25x bwrap", pool / bw, 0.25),
            ("worker start <= 0.8x bwrap", worker / bw, 0.8)]:
        print("target %-30s %6.2fx  %s" % (label, value, "met" if value <= target else "MISSED"))


if __name__ == "__main__":
    main()
