#!/usr/bin/python3 -B
"""sandbox_shim against hand-made hand-offs: whatever the launcher side of
its control socket sends (the wire format of handoff_wire.h), a malformed
hand-off ends in exit 125 with one line naming what was wrong, never a
crash or a command started; a well-formed one starts the command with the
fds at 3.. and LISTEN_FDS right. The shim parses this itself (it links no
C library), so the parser is tested here on its own.

Usage: shim_handoff_test.py PATH_TO_SANDBOX_SHIM"""

import array
import os
import socket
import struct
import subprocess
import sys
import unittest

SHIM = None
MAGIC = 0x53424F58
MAX_BLOB = 4 << 20


def header(fd_count=0, has_broker=0, argc=1, envc=0, blob=b"", blob_size=None, magic=MAGIC):
    return struct.pack("6I", magic, fd_count, has_broker, argc, envc,
                       len(blob) if blob_size is None else blob_size)


def run(head, blob=b"", fds=()):
    """Starts the shim with a socketpair at fd 3, sends `head` (with `fds`
    attached) and `blob`, and returns (exit code, stdout, stderr)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with ours:
        proc = subprocess.Popen([SHIM], pass_fds=(), preexec_fn=lambda: os.dup2(theirs.fileno(), 3),
                                close_fds=False, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        theirs.close()
        try:
            ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
            ours.sendmsg([head], ancillary)
            if blob:
                ours.sendall(blob)
            ours.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the shim hung up first: it refused what it had read
        out, err = proc.communicate(timeout=20)
    return proc.returncode, out.decode(), err.decode()


COMMAND = b"/bin/echo\0hi\0"


class ShimHandoffTest(unittest.TestCase):
    def setUp(self):
        self.null = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
        self.addCleanup(os.close, self.null)

    def assertRefused(self, result, message):
        code, out, err = result
        self.assertEqual(code, 125, err)
        self.assertEqual(out, "", "the command ran")
        self.assertTrue(err.startswith("sandbox: receiving the command and its fds: "), err)
        self.assertEqual(err.count("\n"), 1, err)
        self.assertIn(message, err)

    def test_malformed_handoffs_are_refused(self):
        n = self.null
        cases = [
            ("bad magic", header(argc=2, blob=COMMAND, magic=1), COMMAND, (), "bad handoff header"),
            ("short header", header(argc=2, blob=COMMAND)[:20], b"", (), "bad handoff header"),
            ("nothing sent", b"", b"", (), "bad handoff header"),
            ("fewer fds than promised", header(fd_count=1, argc=2, blob=b"n\0" + COMMAND),
             b"n\0" + COMMAND, (), "not the ones it promised"),
            ("more fds than promised", header(argc=2, blob=COMMAND), COMMAND, (n,),
             "not the ones it promised"),
            ("broker promised, missing", header(fd_count=1, has_broker=1, argc=2,
                                                blob=b"n\0" + COMMAND),
             b"n\0" + COMMAND, (n,), "not the ones it promised"),
            ("has_broker 2", header(has_broker=2, argc=2, blob=COMMAND), COMMAND, (n, n),
             "not the ones it promised"),
            ("fd count 2^32-1", header(fd_count=2**32 - 1, argc=2, blob=COMMAND), COMMAND, (),
             "not the ones it promised"),
            ("argc 2^32-1", header(argc=2**32 - 1, blob=COMMAND), COMMAND, (),
             "handoff too large or cut short"),
            ("argc + envc wrap", header(argc=2, envc=2**32 - 2, blob=COMMAND), COMMAND, (),
             "handoff too large or cut short"),
            ("blob over the bound", header(argc=2, blob_size=MAX_BLOB + 1), COMMAND, (),
             "handoff too large or cut short"),
            ("blob cut short", header(argc=2, blob_size=MAX_BLOB), COMMAND, (),
             "control socket closed mid-message"),
            ("no final NUL", header(argc=2, blob=b"/bin/echo\0hi"), b"/bin/echo\0hi", (),
             "handoff strings cut short"),
            ("argc 0", header(argc=0, blob=COMMAND), COMMAND, (), "no command"),
            ("empty argv[0]", header(argc=1, blob=b"\0"), b"\0", (), "no command"),
        ]
        for name, head, blob, fds, message in cases:
            with self.subTest(name):
                self.assertRefused(run(head, blob, fds), message)

    def test_well_formed_handoffs_start_the_command(self):
        self.assertEqual(run(header(argc=2, blob=COMMAND), COMMAND), (0, "hi\n", ""))
        env = b"/bin/sh\0-c\0echo $X $LISTEN_FDS\0X=1\0"
        self.assertEqual(run(header(argc=3, envc=1, blob=env), env), (0, "1 0\n", ""))

    def test_the_most_fds_a_handoff_carries_arrive_at_3_on(self):
        script = b"/bin/sh\0-c\0echo $LISTEN_FDS; test -e /proc/self/fd/255 && echo 255 open\0"
        names = b"x\0" * 253
        code, out, err = run(header(fd_count=253, argc=3, blob=names + script), names + script,
                             (self.null,) * 253)
        self.assertEqual((code, out), (0, "253\n255 open\n"), err)
        # One of them the broker: LISTEN_FDS counts the others.
        code, out, err = run(header(fd_count=252, has_broker=1, argc=3, blob=names[2:] + script),
                             names[2:] + script, (self.null,) * 253)
        self.assertEqual((code, out.splitlines()[0]), (0, "252"), err)


if __name__ == "__main__":
    SHIM = sys.argv.pop(1)
    unittest.main()
