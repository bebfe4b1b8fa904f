"""Rolling replacement on SIGHUP with a client hammering a TCP and a UDP
service throughout: every request is answered (counted and asserted), and
afterwards only new workers answer."""

import os
import re
import signal
import socket
import threading
import time
import unittest

import pool_testing as pt

WORKER = pt.worker_script("tcp_worker.py") + ":/worker.py"


class Hammer:
    """Sequential requests on one protocol until stopped; counts outcomes."""

    def __init__(self, kind, port):
        self.kind, self.port = kind, port
        self.ok = 0
        self.failures = []
        self.instances = []  # (time the request was sent, instance) of every reply
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def one(self):
        if self.kind == "tcp":
            return pt.tcp_request(self.port, timeout=5)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            s.sendto(b"ping", ("127.0.0.1", self.port))
            return s.recv(200).decode()

    def run(self):
        while not self.stopped.is_set():
            try:
                # The send time, not the reply's: a reply an old worker sent just
                # before it exited can be read after the test saw the exit.
                sent = time.monotonic()
                reply = self.one()
                m = re.match(r"slot \d+ pid \d+ instance (\d+)\n", reply)
                if not m:
                    raise ValueError("bad reply %r" % reply)
                self.ok += 1
                self.instances.append((sent, int(m.group(1))))
            except (OSError, ValueError) as e:
                self.failures.append(repr(e))

    def stop(self):
        self.stopped.set()
        self.thread.join(30)


class RollingTest(unittest.TestCase):

    def test_sighup_replaces_every_worker_without_a_failed_request(self):
        for isolation in ("worker", "pool"):
            with self.subTest(isolation=isolation):
                tcp, udp = pt.free_port(), pt.free_port(socket.SOCK_DGRAM)
                flags = ["--workers=3", "--isolation=" + isolation, "--ready=notify",
                         "--ro_bind=%s,%s" % (pt.PY_BINDS, WORKER), "--kill_after=5s",
                         "--listen=tcp:127.0.0.1:%d=web,udp:127.0.0.1:%d=dns" % (tcp, udp)]
                pool = pt.Pool(flags, ["/usr/bin/python3", "/worker.py", "--notify"])
                hammers = []
                try:
                    pool.wait_for(r"event=ready", count=3)
                    hammers = [Hammer("tcp", tcp), Hammer("udp", udp)]
                    time.sleep(0.5)
                    pool.signal(signal.SIGHUP)
                    new = pool.wait_for(r"event=starting replaces=", count=3, timeout=60)
                    new_ids = {int(re.search(r"instance=(\d+)", l).group(1)) for l in new}
                    # Every old worker stopped (gracefully) after its successor was ready.
                    pool.wait_for(r"instance=[123] event=exited exited_with_status_0", count=3,
                                  timeout=60)
                    switched = time.monotonic()
                    time.sleep(0.5)
                finally:
                    for h in hammers:
                        h.stop()
                    pool.stop()
                self.assertEqual(pool.proc.returncode, 0)
                for h in hammers:
                    print("%s isolation: %s requests %d answered, %d failed" %
                          (isolation, h.kind, h.ok, len(h.failures)))
                    self.assertEqual(h.failures, [], "%s requests failed" % h.kind)
                    self.assertGreater(h.ok, 20, h.kind)
                    late = {i for t, i in h.instances if t > switched}
                    self.assertTrue(late, h.kind)
                    self.assertLessEqual(late, new_ids, h.kind)
                # Replacement is one at a time: each new worker is ready before an
                # old one is stopped.
                before_shutdown = pool.lines[:next(i for i, l in enumerate(pool.lines)
                                                   if "event=shutdown" in l)]
                order = [l for l in before_shutdown if "event=ready" in l or "signal=TERM" in l]
                kinds = ["ready" if "event=ready" in l else "stop" for l in order[3:]]
                self.assertEqual(kinds, ["ready", "stop"] * 3, "\n".join(pool.lines))
                self.assertEqual(pool.events("restart_scheduled"), [])


if __name__ == "__main__":
    pt.main()
