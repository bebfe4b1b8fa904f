"""Readiness the systemd way, end to end: systemd's own systemd-notify
inside the sandbox (a peer nobody here wrote), STATUS=, STOPPING=1,
WATCHDOG=1, a worker that never gets ready, and one worker trying to report
another ready."""

import errno
import os
import shutil
import tempfile
import time
import unittest

import pool_testing as pt

NOTIFY = shutil.which("systemd-notify", path="/usr/bin:/bin")


def binds(*extra):
    return "--ro_bind=" + ",".join([pt.PY_BINDS] + list(extra))


@unittest.skipIf(NOTIFY is None, "systemd-notify is not installed (Debian package systemd)")
class NotifyTest(unittest.TestCase):

    def test_systemd_notify_makes_a_worker_ready(self):
        for isolation in ("worker", "pool"):
            with self.subTest(isolation=isolation):
                script = ("systemd-notify --status='warming up'; while [ ! -e /out/go ]; do sleep 0.05; done; "
                          "systemd-notify --ready --status=serving; exec sleep 1000")
                out = tempfile.mkdtemp()
                os.chmod(out, 0o777)
                pool = pt.Pool(["--workers=2", "--isolation=" + isolation, "--ready=notify",
                                binds(), "--bind=%s:/out" % out],
                               ["/bin/sh", "-c", script])
                try:
                    pool.wait_for(r'event=status text="warming up"', count=2)
                    status = pool.status()
                    # Started, told the pool something, but not ready yet.
                    self.assertEqual([w["state"] for w in status["workers"]],
                                     ["started", "started"])
                    self.assertEqual(pool.events("event=ready"), [])
                    open(os.path.join(out, "go"), "w").close()
                    pool.wait_for(r"event=ready", count=2)
                    status = pool.status()
                    self.assertEqual([(w["state"], w["status"]) for w in status["workers"]],
                                     [("ready", "serving")] * 2)
                    # Each slot's READY=1 made that slot ready, after its "serving".
                    for slot in ("0", "1"):
                        mine = pool.events(r"^worker_pool: slot=%s " % slot)
                        order = [l.split("event=")[1].split()[0] for l in mine
                                 if "event=status" in l or "event=ready" in l]
                        self.assertEqual(order, ["status", "status", "ready"])
                    # None of a live worker's messages was ignored. systemd-notify
                    # ends with a BARRIER=1 it waits on for at most 5 s; on a slow
                    # (ASan, loaded) run it can be read after systemd-notify has
                    # exited, and is then rightly ignored as "(gone)".
                    ignored = [l for l in pool.events("notify_ignored") if "(gone)" not in l]
                    self.assertEqual(ignored, [])
                finally:
                    pool.stop()

    def test_a_status_that_is_not_utf8_stays_valid_json(self):
        # STATUS= is any bytes a worker sends: the events and the status
        # JSON must stay UTF-8 (RFC 8259), the bad bytes as U+FFFD.
        script = ("systemd-notify --ready --status=\"$(printf 'odd\\377\\376end')\"; "
                  "exec sleep 1000")
        pool = pt.Pool(["--workers=1", "--ready=notify", binds()], ["/bin/sh", "-c", script])
        try:
            pool.wait_for(r"event=ready")
            self.assertTrue(pool.events(r'event=status text="odd\\ufffd\\ufffdend"'),
                            pool.events("event=status"))
            self.assertEqual(pool.status()["workers"][0]["status"], "odd\ufffd\ufffdend")
        finally:
            pool.stop()

    def test_stopping_and_watchdog(self):
        out = tempfile.mkdtemp()
        os.chmod(out, 0o777)
        # Feeds the watchdog until /out/stop exists, then goes silent.
        script = ("systemd-notify --ready; systemd-notify STOPPING=1; "
                  "while [ ! -e /out/stop ]; do systemd-notify WATCHDOG=1; sleep 0.1; done; "
                  "exec sleep 1000")
        pool = pt.Pool(["--workers=1", "--ready=notify", "--watchdog=5s", "--kill_after=200ms",
                        "--min_uptime=0", binds(), "--bind=%s:/out" % out],
                       ["/bin/sh", "-c", script])
        try:
            pool.wait_for(r"instance=1 event=stopping_notified")
            self.assertEqual(pool.status()["workers"][0]["state"], "stopping")
            # Fed for longer than the watchdog's period: not expired. (Each
            # feed starts two processes: the period leaves room for a slow
            # machine.)
            time.sleep(6)
            self.assertEqual(pool.events("watchdog_expired"), [])
            open(os.path.join(out, "stop"), "w").close()
            pool.wait_for(r"instance=1 event=watchdog_expired")
            pool.wait_for(r"instance=1 event=exited killed_by_signal_6")
            pool.wait_for(r"instance=2 event=ready")
        finally:
            pool.stop()

    def test_worker_that_never_gets_ready(self):
        pool = pt.Pool(["--workers=1", "--ready=notify", "--ready_timeout=300ms",
                        "--crash_limit=2", "--backoff_initial=10ms", binds()],
                       ["/bin/sleep", "1000"])
        self.assertEqual(pool.wait_exit(), 1)
        self.assertEqual(len(pool.events(r"event=not_ready_in_time")), 2)
        self.assertRegex(pool.lines[-1], r"^worker_pool: crash loop: workers ended early 2 times")

    def test_a_worker_cannot_report_another_ready(self):
        out = tempfile.mkdtemp()
        os.chmod(out, 0o777)
        pool = pt.Pool(["--workers=2", "--isolation=pool", "--ready=notify",
                        "--ready_timeout=4s", "--crash_limit=1",
                        binds(pt.worker_script("spoof_worker.py") + ":/spoof.py"),
                        "--bind=%s:/out" % out],
                       ["/usr/bin/python3", "/spoof.py"])
        try:
            pool.wait_for(r"slot=1 instance=\d+ event=ready")
            # Slot 0 never said READY=1, whatever slot 1 sent.
            pool.wait_for(r"slot=0 instance=\d+ event=not_ready_in_time", timeout=30)
            self.assertEqual(pool.events(r"slot=0 instance=\d+ event=ready"), [])
            with open(os.path.join(out, "spoof.1")) as f:
                results = dict(kv.split("=") for kv in f.read().split())
            self.assertNotEqual(results["victim"], "None")
            # The kernel refused the forged credentials.
            self.assertEqual(results["claim"], str(errno.EPERM))
        finally:
            pool.stop()


if __name__ == "__main__":
    pt.main()
