"""Who fdstore answers and what it will not touch: a client under another
uid (a child dropped to 65534) is refused by the kernel-attested
credentials even when the socket file lets it connect; `serve` will not
replace a path it does not own or a live server; `list`/`exec` refuse a
control socket served by another uid."""

import collections
import contextlib
import os
import shutil
import socket
import stat
import subprocess
import threading
import unittest

import fdstore_client as fc
import fdstore_testing as ft


# An uid to allow: not 65534, the kernel's overflow uid, which serve refuses
# to allow (every user of an unmapped user namespace appears as it).
OTHER = 65533


@contextlib.contextmanager
def holding_child_as(uid, work):
    """Runs `work(keep)` in a forked child dropped to `uid`; yields the
    string it returned (or the error it raised) while the child lives on,
    holding what `work` put in `keep`, until the block ends."""
    r, w = os.pipe()
    hold_r, hold_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.close(hold_w)
            ft.drop_to(uid)
            keep = []
            os.write(w, work(keep).encode())
            os.close(w)
            os.read(hold_r, 1)
        except BaseException as e:  # report anything, never return into the test
            os.write(w, ("error %r" % e).encode())
        finally:
            os._exit(0)
    os.close(w)
    os.close(hold_r)
    try:
        with os.fdopen(r, "rb") as f:
            yield f.read().decode()
    finally:
        os.close(hold_w)
        os.waitpid(pid, 0)


def in_child_as(uid, work):
    """Runs `work()` in a forked child dropped to `uid` (and gid `uid`, no
    groups); returns the string it returned, or the error it raised."""
    with holding_child_as(uid, lambda keep: work()) as out:
        return out


def reply_text(reply):
    """A reply tuple of fc.call_raw as one line (None: "hung up")."""
    if reply is None:
        return "hung up"
    rtype, code, strings, got = reply
    return "%#x %s %s fds=%d" % (rtype, fc.CODES[code], "|".join(strings), len(got))


def as_nobody(ctl, request, fds=(), uid=65534):
    """Sends `request` as `uid` (65534 unless told); returns what came back:
    a reply tuple or an error string."""
    def work():
        s = fc.connect(ctl)
        reply = fc.call_raw(s, request, fds)
        out = reply_text(reply)
        if reply is not None and reply[0] == fc.ERROR:
            out += " then eof=%s" % (s.recv(100) == b"")
        return out
    return in_child_as(uid, work)


def after_refusals_as_nobody(ctl, tries):
    """As uid 65534, `tries` times: connects, asks to FETCH and reads the
    reply and what follows it; returns how each try ended, counted
    ({"REFUSED then eof": n, ...})."""
    def work():
        seen = collections.Counter()
        for _ in range(tries):
            with fc.connect(ctl) as s:
                reply = fc.call_raw(s, fc.encode(fc.FETCH))
                how = "hung up" if reply is None else fc.CODES[reply[1]]
                try:
                    how += " then eof" if s.recv(100) == b"" else " then data"
                except OSError as e:
                    how += " then %s" % type(e).__name__
                seen[how] += 1
        return repr(dict(seen))
    return in_child_as(65534, work)


class RefusalTest(unittest.TestCase):

    def setUp(self):
        self.dir = ft.TempDir(mode=0o755)

    def tearDown(self):
        self.dir.close()

    def test_other_uid_is_refused_even_if_the_file_lets_it_in(self):
        ctl = self.dir.join("ctl")
        with ft.serve(ctl, "tcp:127.0.0.1:0=web") as server:
            self.assertEqual(stat.S_IMODE(os.lstat(ctl).st_mode), 0o600)
            # As created, the file alone keeps uid 65534 out.
            self.assertIn("PermissionError", as_nobody(ctl, fc.encode(fc.LIST)))
            # A careless chmod must not matter: the kernel says who is asking.
            os.chmod(ctl, 0o666)
            seen = as_nobody(ctl, fc.encode(fc.FETCH))
            self.assertEqual(seen, "0x81 REFUSED uid 65534 is not allowed fds=0 then eof=True")
            self.assertIn("refused pid", server.text())
            # The C++ client says so in one line (a copy uid 65534 can run).
            binary = self.dir.join("fdstore")
            shutil.copy(ft.TOOLS["fdstore"], binary)
            p = subprocess.run([binary, "list", "--socket=" + ctl], capture_output=True,
                               text=True, preexec_fn=ft.drop_to_nobody, timeout=20)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertEqual(p.stderr, "fdstore: fdstore server: REFUSED: uid 65534 is not "
                             "allowed\n")
            # The server still answers its own uid.
            with fc.connect(ctl) as s:
                self.assertEqual(len(fc.list_entries(s)), 1)
            self.assertEqual(server.stop(), 0)

    def test_a_refused_client_reads_the_reply_then_a_clean_end(self):
        # The refusal comes before the request is read; the server hangs up
        # so that the request it never read does not turn into a reset
        # (ECONNRESET) after the reply: every try ends in end of stream.
        ctl = self.dir.join("ctl")
        with ft.serve(ctl, "tcp:127.0.0.1:0=web") as server:
            os.chmod(ctl, 0o666)
            tries = 2000
            self.assertEqual(after_refusals_as_nobody(ctl, tries),
                             repr({"REFUSED then eof": tries}))
            self.assertEqual(server.stop(), 0)

    def test_a_silent_refused_client_holds_no_slot(self):
        # uid 65534 connects and says nothing: SO_PEERCRED vets it and it is
        # refused at once, so with --max_clients=1 the owner is still served.
        ctl = self.dir.join("ctl")
        with ft.serve(ctl, "tcp:127.0.0.1:0=web", extra=["--max_clients=1"]) as server:
            os.chmod(ctl, 0o666)
            def silent():
                s = fc.connect(ctl)
                return repr(fc.decode(s.recv(fc.MAX_MESSAGE)))  # without sending anything
            seen = in_child_as(65534, silent)
            self.assertEqual(seen, "(129, 2, ['uid 65534 is not allowed'])")
            rc, out, err = ft.run(["list", "--socket=" + ctl])
            self.assertEqual(rc, 0, err)
            self.assertEqual(server.stop(), 0)

    def test_the_owner_is_served_at_once_beside_a_silent_refused_client(self):
        # uid 65534 connects, says nothing and stays, holding the only slot;
        # the owner connecting right after is served, not told BUSY: a
        # client that has not spoken is vetted at once when slots run short.
        ctl = self.dir.join("ctl")
        with ft.serve(ctl, "tcp:127.0.0.1:0=web", extra=["--max_clients=1"]) as server:
            os.chmod(ctl, 0o666)
            def silent(keep):
                keep.append(fc.connect(ctl))
                return "connected"
            with holding_child_as(65534, silent) as seen:
                self.assertEqual(seen, "connected")
                s = fc.connect(ctl)
                try:
                    entries = fc.list_entries(s)
                finally:
                    s.close()
                self.assertEqual([e[0] for e in entries], ["web"])
            self.assertEqual(server.stop(), 0)

    def test_one_allowed_uid_cannot_take_every_slot(self):
        # OTHER, a reader, opens --max_clients connections and keeps each
        # one alive with a LIST: it gets at most half the slots (the rest
        # BUSY), and the server's own uid is still served.
        ctl = self.dir.join("ctl")
        with ft.serve(ctl, "tcp:127.0.0.1:0=web",
                      extra=["--max_clients=8", "--allow_uid=%d" % OTHER]) as server:
            os.chmod(ctl, 0o666)
            def eight_connections(keep):
                seen = []
                for _ in range(8):
                    s = fc.connect(ctl)
                    keep.append(s)
                    reply = fc.call_raw(s, fc.encode(fc.LIST))
                    seen.append("hung up" if reply is None else fc.CODES[reply[1]])
                return " ".join(seen)
            with holding_child_as(OTHER, eight_connections) as seen:
                self.assertEqual(seen, " ".join(["OK"] * 4 + ["BUSY"] * 4), server.text())
                rc, out, err = ft.run(["list", "--socket=" + ctl, "--wait=0"])
                self.assertEqual(rc, 0, err)
                self.assertIn("web", out)
            self.assertEqual(server.stop(), 0)

    def test_the_overflow_uid_cannot_be_allowed_in_a_user_namespace(self):
        # In a user namespace mapping one uid, every other uid of a peer
        # appears as 65534: allowing it would allow them all.
        ctl = self.dir.join("ctl")
        for flag in ("allow_uid", "allow_store_uid"):
            p = subprocess.run(["unshare", "--user", "--map-root-user", ft.TOOLS["fdstore"],
                                "serve", "--socket=" + ctl, "--%s=1000,65534" % flag],
                               stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=20)
            if "unshare failed" in p.stderr:
                self.skipTest("no user namespaces here: " + p.stderr.strip())
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn("65534 is the kernel's overflow uid", p.stderr)
            self.assertFalse(os.path.lexists(ctl))
        # In the initial namespace 65534 is a uid like any other (a
        # sandbox's outside uid): allowed.
        with ft.serve(ctl, extra=["--allow_uid=65534"]) as server:
            self.assertEqual(server.stop(), 0)

    def test_serve_will_not_run_as_the_overflow_uid_in_a_user_namespace(self):
        # Running as 65534 in a namespace that maps only it, the server
        # would see every unmapped client as its own uid: the admin.
        ctl = self.dir.join("ctl")
        p = subprocess.Popen(["unshare", "--user", "--map-user=65534", "--map-group=65534",
                              ft.TOOLS["fdstore"], "serve", "--socket=" + ctl],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            out, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            self.fail("serve ran as the overflow uid of a user namespace: " + err)
        if "unshare failed" in err:
            self.skipTest("no user namespaces here: " + err.strip())
        self.assertNotEqual(p.returncode, 0, err)
        self.assertIn("overflow uid", err)
        self.assertFalse(os.path.lexists(ctl))

    def test_a_client_does_not_trust_a_server_seen_as_the_overflow_uid(self):
        # A client running as 65534 in a namespace that maps only it sees a
        # server of any unmapped uid (here OTHER) as 65534, its own uid.
        serving = self.dir.join("other")
        os.mkdir(serving)
        os.chown(serving, OTHER, OTHER)
        ctl = os.path.join(serving, "ctl")

        def fake_store(keep):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            s.bind(ctl)
            os.chmod(ctl, 0o666)
            s.listen(4)
            keep.append(s)

            def answer():  # every LIST, with one entry
                while True:
                    c, _ = s.accept()
                    with c, contextlib.suppress(OSError):  # a client that hung up
                        c.recv(fc.MAX_MESSAGE)
                        c.send(fc.encode(fc.OK, ["planted", "tcp", "127.0.0.1:1"]))
            threading.Thread(target=answer, daemon=True).start()
            return "listening"

        with holding_child_as(OTHER, fake_store) as state:
            self.assertEqual(state, "listening")
            p = subprocess.run(["unshare", "--user", "--map-user=65534", "--map-group=65534",
                                ft.TOOLS["fdstore"], "list", "--socket=" + ctl, "--wait=0"],
                               stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=20)
        if "unshare failed" in p.stderr:
            self.skipTest("no user namespaces here: " + p.stderr.strip())
        self.assertNotIn("planted", p.stdout)
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertIn("overflow uid", p.stderr)

    def test_allow_uid_lets_the_other_uid_in(self):
        ctl = self.dir.join("ctl")
        with ft.serve(ctl, "tcp:127.0.0.1:0=web", extra=["--allow_uid=%d" % OTHER]) as server:
            os.chmod(ctl, 0o666)
            seen = as_nobody(ctl, fc.encode(fc.LIST), uid=OTHER)
            self.assertTrue(seen.startswith("0x80 OK web|tcp|127.0.0.1:"), seen)
            self.assertEqual(server.stop(), 0)

    def test_allow_uid_may_fetch_and_list_but_not_store_or_remove(self):
        ctl = self.dir.join("ctl")
        with ft.serve(ctl, "tcp:127.0.0.1:0=web", extra=["--allow_uid=%d" % OTHER]) as server:
            os.chmod(ctl, 0o666)
            self.assertTrue(as_nobody(ctl, fc.encode(fc.FETCH), uid=OTHER).startswith("0x80 OK web fds=1"))
            r, w = os.pipe()
            try:
                for request, fds in ((fc.encode(fc.STORE, ["mine"]), [r]),
                                     (fc.encode(fc.STORE, ["web"]), [r]),
                                     (fc.encode(fc.REMOVE, ["web"]), [])):
                    seen = as_nobody(ctl, request, fds, uid=OTHER)
                    self.assertTrue(seen.startswith("0x81 REFUSED uid %d may not " % OTHER), seen)
                    self.assertTrue(seen.endswith("then eof=True"), seen)
            finally:
                os.close(r)
                os.close(w)
            with fc.connect(ctl) as s:
                self.assertEqual([e[0] for e in fc.list_entries(s)], ["web"])
            self.assertEqual(server.stop(), 0)

    def test_a_passed_on_connection_is_served_with_no_more_than_its_openers_rights(self):
        # A connection opened by a reader (or a uid with no access) and
        # handed to a store uid, which speaks on it at once: STORE and
        # REMOVE take the lesser rights of the two, whenever it speaks.
        ctl = self.dir.join("ctl")
        storer = OTHER - 1
        with ft.serve(ctl, "tcp:127.0.0.1:0=web",
                      extra=["--allow_uid=%d" % OTHER, "--allow_store_uid=%d" % storer]) as server:
            os.chmod(ctl, 0o666)
            for opener in (OTHER, 65534):
                for request in (fc.STORE, fc.REMOVE):
                    seen = self.speak_on_a_connection_from(ctl, opener, storer, request)
                    self.assertTrue(seen.startswith("0x81 REFUSED"), (opener, seen))
            # Reads too: a connection a uid with no access opened, handed to
            # a reader, gets nothing (its opener could read the reply).
            for request in (fc.FETCH, fc.LIST):
                seen = self.speak_on_a_connection_from(ctl, 65534, OTHER, request)
                self.assertEqual(seen, "0x81 REFUSED uid 65534, which opened this connection, "
                                 "is not allowed fds=0", request)
            # The store uid on a connection of its own may store.
            r, w = os.pipe()
            try:
                self.assertEqual(as_nobody(ctl, fc.encode(fc.STORE, ["own"]), [r], uid=storer),
                                 "0x80 OK  fds=0")
            finally:
                os.close(r)
                os.close(w)
            self.assertEqual(server.stop(), 0)

    def speak_on_a_connection_from(self, ctl, opener, speaker, request):
        """`opener` connects and passes the connection to `speaker`, which
        at once sends `request`: a STORE of a pipe named "planted", a REMOVE
        of "web", or a FETCH or LIST of everything; returns what came back,
        as as_nobody does."""
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        def open_and_pass(keep):
            keep.append(fc.connect(ctl))
            socket.send_fds(a, [b"c"], [keep[0].fileno()])
            return "passed"
        def speak():
            _, fds, _, _ = socket.recv_fds(b, 1, 1)
            s = socket.socket(fileno=fds[0])
            s.settimeout(5)
            r, w = os.pipe()
            if request == fc.STORE:
                return reply_text(fc.call_raw(s, fc.encode(fc.STORE, ["planted"]), [r]))
            if request == fc.REMOVE:
                return reply_text(fc.call_raw(s, fc.encode(fc.REMOVE, ["web"])))
            return reply_text(fc.call_raw(s, fc.encode(request)))
        try:
            # The opener keeps its end until the speaker is done.
            with holding_child_as(opener, open_and_pass) as passed:
                self.assertEqual(passed, "passed")
                return in_child_as(speaker, speak)
        finally:
            a.close()
            b.close()

    def test_allow_store_uid_may_store_and_remove_only_its_own(self):
        ctl = self.dir.join("ctl")
        with ft.serve(ctl, "tcp:127.0.0.1:0=web",
                      extra=["--allow_store_uid=%d" % OTHER]) as server:
            os.chmod(ctl, 0o666)
            r, w = os.pipe()
            try:
                self.assertEqual(as_nobody(ctl, fc.encode(fc.STORE, ["mine"]), [r], uid=OTHER),
                                 "0x80 OK  fds=0")
                # The server's own entry stays the server's: a store uid may
                # not swap the socket every instance will be handed.
                seen = as_nobody(ctl, fc.encode(fc.STORE, ["web"]), [w], uid=OTHER)
                self.assertIn("REFUSED", seen)
                self.assertIn('"web" was stored by uid 0', seen)
                seen = as_nobody(ctl, fc.encode(fc.REMOVE, ["web"]), uid=OTHER)
                self.assertIn('"web" was stored by uid 0', seen)
                self.assertTrue(as_nobody(ctl, fc.encode(fc.FETCH, ["mine"]), uid=OTHER).startswith(
                    "0x80 OK mine fds=1"))
                self.assertEqual(as_nobody(ctl, fc.encode(fc.REMOVE, ["mine"]), uid=OTHER), "0x80 OK  fds=0")
            finally:
                os.close(r)
                os.close(w)
            with fc.connect(ctl) as s:
                entries = fc.list_entries(s)
            self.assertEqual([e[:2] for e in entries], [("web", "tcp")])
            # The server's own uid may replace anyone's entry.
            self.assertEqual(server.stop(), 0)

    def test_a_store_uid_cannot_fill_the_table(self):
        # A store uid gets 16 entries (it could take all 128 before, and the
        # server's own uid could then store nothing new).
        ctl = self.dir.join("ctl")
        binary = self.dir.join("fdstore")  # a copy OTHER can run
        shutil.copy(ft.TOOLS["fdstore"], binary)

        def store_as_other(names):
            p = subprocess.run(
                [binary, "store", "--socket=" + ctl, "--name=" + ",".join(names),
                 "--fd=" + ",".join(["0"] * len(names))],
                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20,
                preexec_fn=lambda: ft.drop_to(OTHER))
            return p.returncode, p.stderr

        with ft.serve(ctl, "tcp:127.0.0.1:0=web",
                      extra=["--allow_store_uid=%d" % OTHER]) as server:
            os.chmod(ctl, 0o666)
            names = ["n%d" % i for i in range(17)]
            rc, err = store_as_other(names)
            self.assertEqual(rc, 1, err)
            self.assertIn("FULL", err)
            self.assertIn("quota of 16", err)
            self.assertEqual(store_as_other(names[:16]), (0, ""))
            # Replacing its own entries takes no more room.
            self.assertEqual(store_as_other(names[:2]), (0, ""))
            rc, err = store_as_other(["n16"])
            self.assertEqual(rc, 1, err)
            self.assertIn("FULL", err)
            rc, _, err = ft.run(["store", "--socket=" + ctl, "--name=admin_new", "--fd=0"])
            self.assertEqual(rc, 0, err)
            with fc.connect(ctl) as s:
                self.assertEqual(len(fc.list_entries(s)), 18)
            self.assertEqual(server.stop(), 0)

    def hold_flock_as_nobody(self, path, how):
        """Starts flock(1) as uid 65534 holding flock(`how`: -s or -x) on
        `path` until killed; returns once it holds it."""
        holder = subprocess.Popen(
            ["flock", how, path, "-c", "echo held; exec sleep 600"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, preexec_fn=ft.drop_to_nobody,
            start_new_session=True, text=True)
        # The lock lives on in sleep, flock's child: kill the whole group.
        self.addCleanup(lambda: (os.killpg(holder.pid, 9), holder.communicate()))
        self.assertEqual(holder.stdout.readline(), "held\n")

    def test_another_uid_holding_the_directory_lock_does_not_stop_serve(self):
        # The directory is 0755 (as /run/fdstore): anyone may open and flock it.
        self.hold_flock_as_nobody(self.dir.path, "-s")
        ctl = self.dir.join("ctl")
        with ft.serve(ctl) as server:
            with fc.connect(ctl) as s:
                self.assertEqual(fc.list_entries(s), [])
            self.assertEqual(server.stop(), 0, server.text())
        # The lock file is the store's own: no other uid can open, so lock, it.
        lock = self.dir.join(".ctl.lock")
        st = os.lstat(lock)
        self.assertTrue(stat.S_ISREG(st.st_mode))
        self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode)), (os.geteuid(), 0o600))

    def test_serve_refuses_a_lock_file_it_does_not_own(self):
        lock = self.dir.join(".ctl.lock")
        with open(lock, "w"):
            pass
        os.chown(lock, 65534, 65534)
        os.chmod(lock, 0o600)
        code, _, err = ft.run(["serve", "--socket=" + self.dir.join("ctl")])
        self.assertEqual(code, 1, err)
        self.assertIn("owned by uid 65534", err)
        self.assertFalse(os.path.lexists(self.dir.join("ctl")))

    def refused_path(self, path, why):
        rc, _, err = ft.run(["serve", "--socket=" + path, "--listen=tcp:127.0.0.1:0"])
        self.assertEqual(rc, 1, err)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertIn(why, err)

    def test_serve_refuses_a_regular_file(self):
        path = self.dir.join("ctl")
        with open(path, "w") as f:
            f.write("precious")
        self.refused_path(path, "is not a socket; refusing to replace it")
        with open(path) as f:
            self.assertEqual(f.read(), "precious")

    def test_serve_refuses_a_symlink(self):
        path = self.dir.join("ctl")
        os.symlink("/nonexistent", path)
        self.refused_path(path, "is not a socket")
        self.assertTrue(os.path.islink(path))

    def test_serve_refuses_a_socket_owned_by_another_uid(self):
        os.chmod(self.dir.path, 0o777)
        path = self.dir.join("ctl")
        pid = os.fork()
        if pid == 0:
            try:
                ft.drop_to_nobody()
                s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                s.bind(path)  # bound, never listening: stale, but not ours
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        self.assertEqual(os.lstat(path).st_uid, 65534)
        self.refused_path(path, "is a socket owned by uid 65534")
        self.assertEqual(os.lstat(path).st_uid, 65534)

    def test_serve_refuses_a_live_server_and_replaces_a_stale_one(self):
        path = self.dir.join("ctl")
        with ft.serve(path) as first:
            self.refused_path(path, "is served by a running process")
            first.stop(9)  # SIGKILL: the socket file is left behind
        self.assertTrue(stat.S_ISSOCK(os.lstat(path).st_mode))
        with ft.serve(path) as second:
            rc, out, err = ft.run(["list", "--socket=" + path])
            self.assertEqual((rc, out), (0, ""), err)
            self.assertEqual(second.stop(), 0)
        self.assertFalse(os.path.lexists(path))

    def test_clients_refuse_a_server_of_another_uid(self):
        os.chmod(self.dir.path, 0o777)
        path = self.dir.join("ctl")
        # A copy uid 65534 can execute (the runfiles tree is under /root).
        binary = self.dir.join("fdstore")
        shutil.copy(ft.TOOLS["fdstore"], binary)
        os.chmod(binary, 0o755)
        argv = [binary, "serve", "--socket=" + path]
        with ft.Proc(argv, ready="serving", preexec=ft.drop_to_nobody) as server:
            os.chmod(path, 0o666)
            for args in (["list"], ["exec", "--", "/bin/true"]):
                rc, _, err = ft.run(args[:1] + ["--socket=" + path] + args[1:])
                self.assertEqual(rc, 1, err)
                self.assertIn("is served by uid 65534", err)
                self.assertIn("does not trust", err)
            self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    ft.take_tool_args()
    unittest.main(verbosity=2)
