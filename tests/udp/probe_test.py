"""udp_probe against udp_echo and through udp_relay: RTT figures from kernel
timestamps and user-space clocks, --json, --expect_source catching a server
that answers from the wrong address, loss when nobody answers."""

import json
import socket
import struct
import subprocess
import threading
import time
import unittest

import udp_testing as t

NAIVE_ECHO = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 0))
print("serving 0.0.0.0:%d" % s.getsockname()[1], file=sys.stderr, flush=True)
while True:
    d, a = s.recvfrom(70000); s.sendto(d, a)
"""


def probe(*args):
    p = subprocess.run([t.TOOLS["probe"]] + list(args), capture_output=True, text=True,
                       timeout=30)
    return p.returncode, p.stdout, p.stderr


class ProbeTest(unittest.TestCase):

    def test_json_through_the_relay_with_kernel_timestamps(self):
        with t.start_echo("127.0.0.1:0") as echo, \
             t.start_relay("0.0.0.0:0", "127.0.0.1:%d" % t.served_port(echo)) as relay:
            code, out, err = probe("--target=127.0.0.2:%d" % t.served_port(relay),
                                   "--count=20", "--interval=5ms", "--json",
                                   "--expect_source", "--size=200")
            self.assertEqual(code, 0, err)
            r = json.loads(out)
            self.assertEqual((r["sent"], r["received"], r["wrong_source"]), (20, 20, 0))
            self.assertEqual(r["loss_percent"], 0.0)
            for kind in ("rtt_kernel", "rtt_user"):
                s = r[kind]
                self.assertEqual(s["samples"], 20, kind)
                self.assertGreater(s["min_us"], 0)
                self.assertLessEqual(s["min_us"], s["p50_us"])
                self.assertLessEqual(s["p50_us"], s["p99_us"])
                self.assertLessEqual(s["p99_us"], s["max_us"])

    def test_text_output_ipv6(self):
        with t.start_echo("[::1]:0") as echo:
            code, out, err = probe("--target=[::1]:%d" % t.served_port(echo), "--count=3",
                                   "--interval=1ms", "--expect_source")
            self.assertEqual(code, 0, err)
            self.assertIn("3 sent, 3 received, 0.0% loss", out)
            self.assertIn("rtt kernel timestamps: min", out)
            self.assertIn("rtt user space:        min", out)

    def test_expect_source_catches_a_server_replying_from_elsewhere(self):
        with t.Server(["/usr/bin/python3", "-c", NAIVE_ECHO]) as naive:
            target = "--target=127.0.0.3:%d" % t.served_port(naive)
            code, out, err = probe(target, "--count=2", "--interval=1ms", "--timeout=2s",
                                   "--expect_source")
            self.assertEqual(code, 1)
            self.assertIn("reply from unexpected source 127.0.0.1:", out)
            self.assertIn("2 replies from an address other than 127.0.0.3", err)
            # The same replies without --expect_source: reported, not fatal
            # ... but none matched the target, so nothing was received.
            code, out, _ = probe(target, "--count=2", "--interval=1ms", "--timeout=2s", "--json")
            self.assertEqual(json.loads(out)["wrong_source"], 2)

    def test_nobody_listening_is_loss_and_icmp_errors(self):
        code, out, err = probe("--target=127.0.0.1:%d" % t.free_port(), "--count=3",
                               "--interval=1ms", "--timeout=100ms", "--json")
        self.assertEqual(code, 1)
        r = json.loads(out)
        self.assertEqual((r["sent"], r["received"]), (3, 0))
        self.assertEqual(r["loss_percent"], 100.0)
        self.assertGreaterEqual(r["icmp_errors"], 1)
        self.assertIn("no reply", err)

    def test_probes_keep_their_interval_when_replies_are_lost(self):
        # A target that never answers: 20 probes 10 ms apart must all leave
        # within about 200 ms, not one per --timeout (20 s stop-and-wait).
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sink.bind(("127.0.0.1", 0))
        self.addCleanup(sink.close)
        started = time.monotonic()
        code, out, _ = probe("--target=127.0.0.1:%d" % sink.getsockname()[1],
                             "--count=20", "--interval=10ms", "--timeout=1s", "--json")
        elapsed = time.monotonic() - started
        self.assertEqual(code, 1)
        # 0.19 s of sending and one last 1 s timeout; stop-and-wait took 20 s.
        self.assertLess(elapsed, 8.0)
        self.assertEqual(json.loads(out)["sent"], 20)
        sink.settimeout(0)
        arrivals = []
        while True:
            try:
                sink.recv(100)
            except BlockingIOError:
                break
            arrivals.append(1)
        self.assertEqual(len(arrivals), 20)

    def test_an_interval_or_timeout_too_long_to_schedule_is_a_usage_error(self):
        # first + interval * seq in int64 nanoseconds overflowed: every probe
        # left at once (and a huge --timeout waited for ever).
        with t.start_echo("127.0.0.1:0") as echo:
            target = "--target=127.0.0.1:%d" % t.served_port(echo)
            for flag in ("--interval=3000000h", "--interval=1000000000h",
                         "--interval=61m", "--timeout=3000000h"):
                try:
                    p = subprocess.run([t.TOOLS["probe"], target, "--count=3", flag],
                                       capture_output=True, text=True, timeout=5)
                except subprocess.TimeoutExpired:
                    self.fail("%s: still running after 5 s" % flag)
                self.assertEqual(p.returncode, 2, (flag, p.stdout, p.stderr))
                self.assertIn(flag.split("=")[0], p.stderr)
                self.assertIn("at most 1h", p.stderr)
                self.assertEqual(p.stdout, "", flag)
            code, out, err = probe(target, "--count=2", "--interval=1ms", "--timeout=1h")
            self.assertEqual(code, 0, err)
            self.assertIn("2 sent, 2 received", out)

    def test_late_replies_are_not_received(self):
        # Replies to even probes come 1.5 s after them, past --timeout=1s:
        # they count as late (those that arrive before the run ends; at
        # least probe 0's), never as received, and each reply is matched to
        # the probe it answers. The margins leave a loaded machine room to
        # answer the odd probes in time.
        with DelayedEcho(delay=1.5) as echo:
            code, out, err = probe("--target=127.0.0.1:%d" % echo.port, "--count=10",
                                   "--interval=200ms", "--timeout=1s", "--json")
            self.assertEqual(code, 0, err)
            r = json.loads(out)
            self.assertEqual((r["sent"], r["received"]), (10, 5), r)
            self.assertGreaterEqual(r["late"], 1, r)
            self.assertLessEqual(r["late"], 5, r)
            self.assertEqual(r["rtt_user"]["samples"], 5)
            self.assertLess(r["rtt_user"]["max_us"], 1000000)


class DelayedEcho:
    """Echoes probes with an even sequence number after `delay` seconds,
    the others at once."""

    def __init__(self, delay):
        self.delay = delay
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.timers = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(70000)
            except OSError:
                return
            if len(data) < 16:  # woken by __exit__
                return
            seq = struct.unpack_from("<Q", data, 8)[0]
            if seq % 2 == 0:
                timer = threading.Timer(self.delay, self.sock.sendto, (data, peer))
                self.timers.append(timer)
                timer.start()
            else:
                self.sock.sendto(data, peer)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for timer in self.timers:
            timer.cancel()
        self.sock.sendto(b"", ("127.0.0.1", self.port))  # wakes _run
        self.thread.join()
        self.sock.close()


if __name__ == "__main__":
    t.take_tool_args()
    unittest.main()
