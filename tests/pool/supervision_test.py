"""worker_pool supervision, end to end: shared sockets (bound by the pool or
handed over by socket activation), restarts with back-off, the crash-loop
limit, a command that cannot run, SIGTERM, SIGKILL of the pool, orphans."""

import json
import os
import re
import signal
import socket
import tempfile
import time
import unittest

import pool_testing as pt

ISOLATIONS = ("worker", "pool")


def binds(*extra):
    return "--ro_bind=" + ",".join([pt.PY_BINDS] + list(extra))


WORKER = pt.worker_script("tcp_worker.py") + ":/worker.py"


def wait_files(directory, names, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not all(os.path.exists(os.path.join(directory, n)) for n in names):
        if time.monotonic() > deadline:
            raise AssertionError("%s never appeared in %s" % (names, directory))
        time.sleep(0.02)


class SupervisionTest(unittest.TestCase):

    def test_workers_share_the_listen_socket(self):
        for isolation in ISOLATIONS:
            with self.subTest(isolation=isolation):
                port = pt.free_port()
                pool = pt.Pool(["--workers=3", "--isolation=" + isolation, binds(WORKER),
                                "--listen=tcp:127.0.0.1:%d=web" % port],
                               ["/usr/bin/python3", "/worker.py"])
                try:
                    pool.wait_for(r"event=ready", count=3)
                    slots = set()
                    deadline = time.monotonic() + 20
                    while len(slots) < 3 and time.monotonic() < deadline:
                        slots.add(pt.tcp_request(port).split()[1])
                    self.assertEqual(slots, {"0", "1", "2"})
                finally:
                    pool.stop()
                self.assertEqual(pool.proc.returncode, 0, "\n".join(pool.lines))

    def test_socket_activation(self):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        port = listener.getsockname()[1]
        os.set_inheritable(listener.fileno(), True)
        # The activated fd must be at 3: dup it there for the child.
        duped = listener.fileno() != 3
        if duped:
            os.dup2(listener.fileno(), 3)
        pool = pt.Pool(["--workers=2", binds(WORKER)], ["/usr/bin/python3", "/worker.py"],
                       pass_fds=(3,), activation=True)
        try:
            pool.wait_for(r"event=ready", count=2)
            self.assertRegex(pt.tcp_request(port), r"^slot [01] pid \d+")
        finally:
            pool.stop()
            listener.close()
            if duped:
                os.close(3)
        self.assertEqual(pool.proc.returncode, 0)

    def test_crashed_worker_is_restarted(self):
        port = pt.free_port()
        pool = pt.Pool(["--workers=1", binds(WORKER), "--listen=tcp:127.0.0.1:%d" % port,
                        "--min_uptime=0"],
                       ["/usr/bin/python3", "/worker.py", "--die_after=1"])
        try:
            pool.wait_for(r"instance=1 event=ready")
            pt.tcp_request(port)
            pool.wait_for(r"instance=1 event=exited exited_with_status_3")
            pool.wait_for(r"instance=2 event=ready")
            # Read before the second request: instance 2 exits after answering it
            # (--die_after=1), and its restart would make this 2.
            self.assertEqual(pool.status()["workers"][0]["restarts"], 1)
            self.assertRegex(pt.tcp_request(port), r"^slot 0 ")
        finally:
            pool.stop()

    def test_crash_loop_backs_off_then_gives_up(self):
        for isolation in ISOLATIONS:
            with self.subTest(isolation=isolation):
                pool = pt.Pool(["--workers=1", "--isolation=" + isolation, binds(),
                                "--backoff_initial=50ms", "--backoff_max=150ms",
                                "--crash_limit=4"],
                               ["/bin/sh", "-c", "exit 7"])
                self.assertEqual(pool.wait_exit(), 1)
                delays = [int(float(m)) for l in pool.events("restart_scheduled")
                          for m in re.findall(r"delay_ms=(\d+)", l)]
                self.assertEqual(delays, [50, 100, 150])  # doubled, capped
                self.assertEqual(len(pool.events(r"event=exited exited_with_status_7")), 4)
                self.assertRegex(pool.lines[-1],
                                 r"^worker_pool: crash loop: workers ended early 4 times in a row "
                                 r"\(last: slot 0 exited with status 7\)$")

    def test_command_that_cannot_run_is_reported_once(self):
        for isolation in ISOLATIONS:
            with self.subTest(isolation=isolation):
                pool = pt.Pool(["--workers=4", "--isolation=" + isolation, binds()],
                               ["/no/such/command"])
                self.assertEqual(pool.wait_exit(), 1)
                reports = [l for l in pool.lines if "/no/such/command" in l]
                self.assertEqual(len(reports), 1, "\n".join(pool.lines))
                self.assertRegex(reports[0], r"^worker_pool: cannot execute /no/such/command: "
                                             r"No such file or directory")
                self.assertEqual(pool.events("restart_scheduled"), [])

    def test_command_is_searched_in_path(self):
        pool = pt.Pool(["--workers=1", "--isolation=pool", binds()], ["sleep", "1000"])
        try:
            pool.wait_for(r"event=ready")
        finally:
            pool.stop()
        self.assertEqual(pool.proc.returncode, 0)
        pool = pt.Pool(["--workers=1", binds(), "--setenv=PATH=/nowhere:/usr/bin"],
                       ["no-such-command-here"])
        self.assertEqual(pool.wait_exit(), 1)
        self.assertRegex(pool.lines[-1], r"cannot execute no-such-command-here: No such file")

    def test_command_that_is_not_executable(self):
        pool = pt.Pool(["--workers=2", binds()], ["/usr/lib/os-release"])
        self.assertEqual(pool.wait_exit(), 1)
        self.assertRegex(pool.lines[-1], r"^worker_pool: cannot execute /usr/lib/os-release: Permission denied")

    def test_sigterm_stops_workers_gracefully_and_exits_0(self):
        for isolation in ISOLATIONS:
            with self.subTest(isolation=isolation):
                out = tempfile.mkdtemp()
                os.chmod(out, 0o777)
                script = ("trap 'echo $WORKER_POOL_SLOT > /out/term.$WORKER_POOL_SLOT; exit 0' TERM; "
                          "touch /out/up.$WORKER_POOL_SLOT; while :; do sleep 0.05; done")
                pool = pt.Pool(["--workers=2", "--isolation=" + isolation, binds(),
                                "--bind=%s:/out" % out, "--kill_after=10s"],
                               ["/bin/sh", "-c", script])
                wait_files(out, ["up.0", "up.1"])  # the traps are set
                pool.signal(signal.SIGTERM)
                self.assertEqual(pool.wait_exit(), 0, "\n".join(pool.lines))
                self.assertEqual(sorted(f for f in os.listdir(out) if f.startswith("term")),
                                 ["term.0", "term.1"])
                self.assertEqual(pool.events(r"event=exited")[0].split("event=exited ")[1],
                                 "exited_with_status_0")

    def test_kill_after_sigkills_a_worker_that_ignores_sigterm(self):
        out = tempfile.mkdtemp()
        os.chmod(out, 0o777)
        pool = pt.Pool(["--workers=1", binds(), "--kill_after=300ms", "--bind=%s:/out" % out],
                       ["/bin/sh", "-c", "trap '' TERM; touch /out/up; while :; do sleep 0.05; done"])
        wait_files(out, ["up"])
        pool.signal(signal.SIGTERM)
        self.assertEqual(pool.wait_exit(), 0)
        self.assertTrue(pool.events(r"event=stopping signal=KILL"))
        self.assertTrue(pool.events(r"killed_by_signal_9"))

    def test_sigkilled_pool_takes_every_worker_with_it(self):
        for isolation in ISOLATIONS:
            with self.subTest(isolation=isolation):
                token = "%d%d" % (os.getpid(), time.monotonic_ns() % 1000000)
                pool = pt.Pool(["--workers=3", "--isolation=" + isolation, binds()],
                               ["/bin/sleep", "1000." + token])
                pool.wait_for(r"event=ready", count=3)
                # --ready=started: "ready" is the pool's word that it started
                # the worker; the host's /proc may show the exec a moment later.
                pids = []
                deadline = time.monotonic() + 5
                while len(pids) < 3 and time.monotonic() < deadline:
                    pids = pt.pids_matching(token, comm="sleep")
                    time.sleep(0.05)
                self.assertEqual(len(pids), 3)
                pool.proc.kill()
                pool.wait_exit()
                self.assertTrue(pt.wait_gone(lambda: [p for p in pids if pt.alive(p)]),
                                "workers outlived the SIGKILLed pool")

    def test_worker_that_forks_off_and_exits_leaves_no_orphan(self):
        for isolation in ISOLATIONS:
            with self.subTest(isolation=isolation):
                token = "%d%d" % (os.getpid(), time.monotonic_ns() % 1000000)
                out = tempfile.mkdtemp()
                os.chmod(out, 0o777)
                # The first instance leaves a daemon in its own session and a
                # plain background child, then exits; the next one stays.
                script = ("if [ ! -e /out/once ]; then touch /out/once; "
                          "(setsid /bin/sleep 1001.%s &); /bin/sleep 1000.%s & sleep 0.2; exit 0; fi; "
                          "exec /bin/sleep 1002.%s") % (token, token, token)
                pool = pt.Pool(["--workers=1", "--isolation=" + isolation, binds(),
                                "--bind=%s:/out" % out, "--min_uptime=0",
                                "--backoff_initial=0"],
                               ["/bin/sh", "-c", script])
                try:
                    pool.wait_for(r"instance=2 event=ready")
                    left = lambda: [p for t in ("1000.", "1001.")
                                    for p in pt.pids_matching(t + token, comm="sleep")
                                    if pt.alive(p)]
                    self.assertTrue(pt.wait_gone(left), "orphans left: %s" % left())
                    # "ready" comes when /bin/sh is exec'd; it execs sleep a moment later.
                    stays = pt.wait_for_pids(
                        lambda: pt.pids_matching("1002." + token, comm="sleep"), 1)
                    self.assertEqual(len(stays), 1)
                finally:
                    pool.stop()

    def test_status_fd_reports_each_worker(self):
        for isolation in ISOLATIONS:
            with self.subTest(isolation=isolation):
                r, w = os.pipe()
                token = "%d%d" % (os.getpid(), time.monotonic_ns() % 1000000)
                pool = pt.Pool(["--workers=2", "--isolation=" + isolation, binds(),
                                "--status_fd=%d" % w, "--min_uptime=0"],
                               ["/bin/sleep", "1000." + token], pass_fds=(w,))
                os.close(w)
                reader = os.fdopen(r)
                try:
                    def until(pred):
                        while True:
                            line = reader.readline()
                            self.assertTrue(line, "status fd closed")
                            status = json.loads(line)
                            if pred(status):
                                return status

                    status = until(lambda s: [w["state"] for w in s["workers"]] == ["ready"] * 2)
                    self.assertEqual(status["isolation"], isolation)
                    self.assertEqual(status["state"], "running")
                    for slot, worker in enumerate(status["workers"]):
                        self.assertEqual(worker["slot"], slot)
                        self.assertEqual(worker["restarts"], 0)
                        self.assertGreaterEqual(worker["uptime_s"], 0)
                        # The pid is the worker's, as the host sees it. (Read again
                        # for up to 2 s: once, under ASan on a loaded machine, the
                        # first read came back empty.)
                        want = b"/bin/sleep\0" + ("1000." + token).encode() + b"\0"
                        deadline = time.monotonic() + 2
                        while True:
                            with open("/proc/%d/cmdline" % worker["pid"], "rb") as f:
                                got = f.read()
                            if got == want or time.monotonic() > deadline:
                                break
                            time.sleep(0.05)
                        self.assertEqual(got, want)
                    # Killing the reported pid of slot 0 restarts slot 0.
                    os.kill(status["workers"][0]["pid"], signal.SIGKILL)
                    status = until(lambda s: s["workers"][0]["restarts"] == 1 and
                                   s["workers"][0]["state"] == "ready")
                    self.assertEqual(status["workers"][1]["restarts"], 0)
                    self.assertNotEqual(status["workers"][0]["instance"], 1)
                    # SIGUSR1 writes it too.
                    pool.signal(signal.SIGUSR1)
                    until(lambda s: True)
                finally:
                    pool.stop()
                    reader.close()


if __name__ == "__main__":
    pt.main()
