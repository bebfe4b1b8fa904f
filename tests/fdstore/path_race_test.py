"""The control socket's path: two stores started at once for one path must
not both think they own it (the loser says so and exits 1, the winner is the
one clients reach), and a store removes its own socket file on exit even
when a directory of its path was moved and replaced by a symlink meanwhile,
without touching what the symlink points to."""

import os
import stat
import subprocess
import time
import unittest

import fdstore_client as fc
import fdstore_testing as ft

PAIRS = 30


def start(ctl, name):
    return subprocess.Popen(
        [ft.TOOLS["fdstore"], "serve", "--socket=" + ctl, "--listen=udp:127.0.0.1:0=" + name],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def settle(proc, timeout=10.0):
    """Waits until `proc` exited or said it serves; returns its stderr so far
    (or its whole stderr when it exited)."""
    fd = proc.stderr.fileno()
    os.set_blocking(fd, False)
    text = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        exited = proc.poll() is not None
        try:
            text += os.read(fd, 65536).decode(errors="replace")
        except BlockingIOError:
            pass
        if "serving" in text or exited:
            return text
        time.sleep(0.005)
    raise AssertionError("serve neither served nor exited: %r" % text)


class PathRaceTest(unittest.TestCase):

    def setUp(self):
        self.dir = ft.TempDir()

    def tearDown(self):
        self.dir.close()

    def race(self, stale):
        problems = []
        for i in range(PAIRS):
            ctl = self.dir.join("ctl%d" % i)
            if stale:  # what a crashed store leaves behind
                with ft.Proc([ft.TOOLS["fdstore"], "serve", "--socket=" + ctl],
                             ready="serving") as crashed:
                    crashed.stop(9)
                self.assertTrue(stat.S_ISSOCK(os.lstat(ctl).st_mode))
            procs = {"a": start(ctl, "a"), "b": start(ctl, "b")}
            try:
                logs = {n: settle(p) for n, p in procs.items()}
                serving = sorted(n for n, p in procs.items() if p.poll() is None)
                if len(serving) != 1:
                    problems.append("pair %d: serving %s: %s" % (i, serving, logs))
                    continue
                loser = "b" if serving == ["a"] else "a"
                if procs[loser].returncode != 1 or "running process" not in logs[loser]:
                    problems.append("pair %d: loser %s: %s" % (i, loser, logs[loser]))
                with fc.connect(ctl) as s:
                    names = [e[0] for e in fc.list_entries(s)]
                if names != serving:
                    problems.append("pair %d: %s serves but clients reach %s" % (
                        i, serving, names))
            finally:
                for p in procs.values():
                    p.terminate()
                    p.communicate(timeout=10)
        self.assertEqual(problems, [])

    def test_two_stores_racing_for_a_free_path(self):
        self.race(stale=False)

    def test_two_stores_racing_to_replace_a_stale_socket(self):
        self.race(stale=True)

    def test_exit_removes_its_socket_through_a_moved_directory(self):
        sub = self.dir.join("sub")
        os.mkdir(sub)
        victim = self.dir.join("victim")
        os.mkdir(victim)
        with open(os.path.join(victim, "ctl"), "w") as f:
            f.write("precious")
        with ft.serve(os.path.join(sub, "ctl")) as server:
            # Someone who can write the parent swaps the directory for a
            # symlink to another one holding a file of the same name.
            os.rename(sub, self.dir.join("moved"))
            os.symlink(victim, sub)
            self.assertEqual(server.stop(), 0, server.text())
        with open(os.path.join(victim, "ctl")) as f:
            self.assertEqual(f.read(), "precious")
        self.assertFalse(os.path.lexists(self.dir.join("moved/ctl")),
                         "the store left its socket file behind")

    def test_a_failed_start_removes_its_unix_socket_through_a_moved_directory(self):
        # serve binds --listen=unix:sub/app.sock, then waits for the lock on
        # the control socket's directory, which the test holds until serve
        # gives up (10 s). Meanwhile sub/ is moved away and replaced by a
        # symlink to a directory holding a file of the same name: the
        # cleanup must remove serve's own socket, not that file.
        import fcntl
        sub, victim = self.dir.join("sub"), self.dir.join("victim")
        os.mkdir(sub)
        os.mkdir(victim)
        with open(os.path.join(victim, "app.sock"), "w") as f:
            f.write("precious")
        ctl_dir = self.dir.join("ctl")
        os.mkdir(ctl_dir)
        lock = os.open(ctl_dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            proc = subprocess.Popen(
                [ft.TOOLS["fdstore"], "serve", "--socket=" + os.path.join(ctl_dir, "ctl"),
                 "--listen=unix:%s=app" % os.path.join(sub, "app.sock")],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                text=True)
            deadline = time.monotonic() + 10
            while not os.path.lexists(os.path.join(sub, "app.sock")):
                self.assertLess(time.monotonic(), deadline, "serve never bound app.sock")
                time.sleep(0.01)
            os.rename(sub, self.dir.join("moved"))
            os.symlink(victim, sub)
            _, err = proc.communicate(timeout=30)
        finally:
            os.close(lock)
        self.assertEqual(proc.returncode, 1, err)
        self.assertIn("held the lock", err)
        with open(os.path.join(victim, "app.sock")) as f:
            self.assertEqual(f.read(), "precious")
        self.assertFalse(os.path.lexists(self.dir.join("moved/app.sock")))

    def test_no_temporary_names_are_left_behind(self):
        ctl = self.dir.join("ctl")
        with ft.serve(ctl) as server:
            self.assertEqual(os.listdir(self.dir.path), ["ctl"])
            self.assertEqual(server.stop(), 0)
        self.assertEqual(os.listdir(self.dir.path), [])


if __name__ == "__main__":
    ft.take_tool_args()
    unittest.main(verbosity=2)
