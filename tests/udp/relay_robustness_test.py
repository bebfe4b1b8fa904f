"""udp_relay under operations that broke it: a closed stderr pipe, a pending
error on a listening socket, an upstream that is the relay itself, a client
that claims to be the upstream."""

import os
import select
import signal
import socket
import subprocess
import time
import unittest

import udp_testing as t

IP_RECVERR = 11


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RobustnessTest(unittest.TestCase):

    def setUp(self):
        self.echo = t.start_echo("127.0.0.1:0")
        self.addCleanup(self.echo.__exit__)
        self.upstream = "127.0.0.1:%d" % t.served_port(self.echo)

    def test_stats_to_a_closed_stderr_pipe_do_not_kill_the_relay(self):
        proc = subprocess.Popen([t.TOOLS["relay"], "--listen=127.0.0.1:0",
                                 "--upstream=" + self.upstream],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait()))
        line = proc.stderr.readline().decode()
        self.assertIn("serving", line)
        port = int(line.split("serving ")[1].split(",")[0].rsplit(":", 1)[1].split()[0])
        proc.stderr.close()
        proc.send_signal(signal.SIGUSR1)  # a write to a pipe nobody reads
        time.sleep(0.3)
        self.assertIsNone(proc.poll(), "the relay died of the write")
        c = t.connected_client("127.0.0.1", port)
        self.addCleanup(c.close)
        self.assertEqual(t.exchange(c, b"still here"), b"still here")
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(10), 0)

    def test_a_pending_error_on_a_listening_socket_does_not_spin(self):
        # A launcher may hand over a socket with IP_RECVERR on: a reply to a
        # client that has gone then queues an ICMP error on the listening
        # socket, and epoll reports EPOLLERR until it is read.
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
        s.bind(("127.0.0.1", 0))
        self.addCleanup(s.close)
        up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        up.bind(("127.0.0.1", 0))
        up.settimeout(5)
        self.addCleanup(up.close)
        launcher = 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@" 3<&%d' % s.fileno()
        relay = t.Server(["/bin/sh", "-c", launcher, t.TOOLS["relay"],
                          "--upstream=127.0.0.1:%d" % up.getsockname()[1],
                          "--threads=1"], pass_fds=(s.fileno(),))
        self.addCleanup(relay.__exit__)
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        client.sendto(b"hello", s.getsockname())
        data, session = up.recvfrom(100)
        client.close()  # gone: the reply gets ICMP port unreachable
        up.sendto(b"reply", session)
        time.sleep(0.2)
        before = cpu_seconds(relay.proc.pid)
        time.sleep(2.0)
        used = cpu_seconds(relay.proc.pid) - before
        # Idle, the loop wakes once a second; spinning, it takes what the
        # (shared) CPU gives it, 0.3 s or more in 2 s on a busy 2-core VM.
        self.assertLess(used, 0.1, "the relay spun on EPOLLERR")
        stats = relay.stats()
        self.assertEqual(stats["err_client_unreachable"], 1)
        code, _ = relay.stop()
        self.assertEqual(code, 0)

    def run_relay(self, *args):
        return subprocess.run([t.TOOLS["relay"]] + list(args), capture_output=True,
                              text=True, timeout=10)

    def test_an_upstream_that_is_a_listening_address_is_refused(self):
        port = t.free_port()
        for listen, upstream in (("127.0.0.1:%d" % port, "127.0.0.1:%d" % port),
                                 ("0.0.0.0:%d" % port, "127.0.0.1:%d" % port),
                                 ("0.0.0.0:%d" % port, "127.0.0.5:%d" % port),
                                 ("[::]:%d,0.0.0.0:%d" % (port, port),
                                  "[::1]:%d" % port)):
            p = self.run_relay("--listen=" + listen, "--upstream=" + upstream)
            self.assertEqual(p.returncode, 2, (listen, upstream, p.stderr))
            self.assertIn("loop", p.stderr)

    def test_another_port_on_the_same_host_is_not_a_loop(self):
        with t.start_relay("0.0.0.0:0", self.upstream) as relay:
            c = t.connected_client("127.0.0.1", t.served_port(relay))
            self.addCleanup(c.close)
            self.assertEqual(t.exchange(c, b"x"), b"x")

    def test_a_client_with_the_upstreams_address_is_dropped(self):
        up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        up.bind(("127.0.0.1", 0))
        self.addCleanup(up.close)
        with t.start_relay("127.0.0.1:0",
                           "127.0.0.1:%d" % up.getsockname()[1]) as relay:
            # Spoofed or reflected: a datagram "from the upstream" to the
            # relay would be relayed to the upstream, whose answer ... loops.
            up.sendto(b"from upstream", ("127.0.0.1", t.served_port(relay)))
            # Once it is counted as dropped, it was handled: nothing came.
            stats = relay.stats_reaching("drop_loop", 1)
            r, _, _ = select.select([up], [], [], 0.2)
            self.assertEqual(r, [], "the relay forwarded it to the upstream")
            self.assertEqual(stats["drop_loop"], 1)
            self.assertEqual(stats["sessions_created"], 0)

    def bound_to_reflector_port(self, port):
        """A socket on a random 127/8 address and a well-known port (root)."""
        import random
        for _ in range(20):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            host = "127.%d.%d.%d" % (random.randint(1, 254), random.randint(0, 255),
                                     random.randint(1, 254))
            try:
                s.bind((host, port))
            except PermissionError:
                s.close()
                self.skipTest("binding port %d needs root or CAP_NET_BIND_SERVICE" % port)
            except OSError:
                s.close()
                continue
            self.addCleanup(s.close)
            return s
        self.skipTest("no free 127/8 address for port %d" % port)

    def upstream_socket(self):
        up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        up.bind(("127.0.0.1", 0))
        self.addCleanup(up.close)
        return up

    def test_a_client_on_a_reflector_port_is_dropped(self):
        # Loop DoS (CVE-2024-2169): a datagram spoofed from a chargen/echo/DNS
        # service makes the relay and that service answer each other forever.
        # Source port 19 (chargen) stands for such a service.
        reflector = self.bound_to_reflector_port(19)
        up = self.upstream_socket()
        with t.start_relay("127.0.0.1:0",
                           "127.0.0.1:%d" % up.getsockname()[1]) as relay:
            port = t.served_port(relay)
            reflector.sendto(b"from chargen", ("127.0.0.1", port))
            stats = relay.stats_reaching("drop_reflector_port", 1)
            r, _, _ = select.select([up], [], [], 0.2)
            self.assertEqual(r, [], "the relay forwarded a reflector's datagram")
            self.assertEqual(stats.get("drop_reflector_port"), 1)
            self.assertEqual(stats["sessions_created"], 0)
            # An ordinary client (an ephemeral port) still gets through.
            c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.addCleanup(c.close)
            c.sendto(b"ordinary", ("127.0.0.1", port))
            up.settimeout(5)
            data, _ = up.recvfrom(100)
            self.assertEqual(data, b"ordinary")

    def test_allow_source_ports_accepts_a_reflector_port(self):
        reflector = self.bound_to_reflector_port(19)
        up = self.upstream_socket()
        with t.start_relay("127.0.0.1:0", "127.0.0.1:%d" % up.getsockname()[1],
                           ["--allow_source_ports=7,17-19"]) as relay:
            reflector.sendto(b"allowed", ("127.0.0.1", t.served_port(relay)))
            up.settimeout(5)
            data, _ = up.recvfrom(100)
            self.assertEqual(data, b"allowed")
            self.assertEqual(relay.stats().get("drop_reflector_port"), 0)

    def test_bad_allow_source_ports_is_a_usage_error(self):
        for bad in ("x", "0", "65536", "20-19", "5,"):
            p = self.run_relay("--listen=127.0.0.1:0", "--upstream=" + self.upstream,
                               "--allow_source_ports=" + bad)
            self.assertEqual(p.returncode, 2, (bad, p.stderr))
            self.assertIn("--allow_source_ports", p.stderr)


if __name__ == "__main__":
    t.take_tool_args()
    unittest.main()
