"""udp_relay (and udp_echo) serving sockets handed over by socket
activation: a systemd-style launcher (LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES),
fdstore exec (including a restart without dropping the socket), and
sandbox_run --listen=udp:... --net=host. Replies still leave from the address
each client sent to."""

import os
import shutil
import socket
import subprocess
import tempfile
import unittest

import udp_testing as t


def bound(family, host):
    s = socket.socket(family, socket.SOCK_DGRAM)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((host, 0))
    return s


class ActivationTest(unittest.TestCase):

    def setUp(self):
        self.echo = t.start_echo("127.0.0.1:0")
        self.addCleanup(self.echo.__exit__)
        self.upstream = "--upstream=127.0.0.1:%d" % t.served_port(self.echo)

    def check_clients(self, port4, port6=None):
        for host in ("127.0.0.1", "127.0.0.2", "127.0.0.3"):
            c = t.connected_client(host, port4)
            self.addCleanup(c.close)
            self.assertEqual(t.exchange(c, host.encode()), host.encode())
        if port6:
            c = t.connected_client("::1", port6, family=socket.AF_INET6)
            self.addCleanup(c.close)
            self.assertEqual(t.exchange(c, b"six"), b"six")

    def test_systemd_style_launcher(self):
        s4, s6 = bound(socket.AF_INET, "0.0.0.0"), bound(socket.AF_INET6, "::1")
        self.addCleanup(s4.close)
        self.addCleanup(s6.close)
        # The shell execs the relay, so $$ is the relay's pid, as systemd sets it.
        launcher = ('LISTEN_PID=$$ LISTEN_FDS=2 LISTEN_FDNAMES=v4:v6 exec "$0" "$@" '
                    '3<&%d 4<&%d' % (s4.fileno(), s6.fileno()))
        with t.Server(["/bin/sh", "-c", launcher, t.TOOLS["relay"], self.upstream,
                       "--threads=4"], pass_fds=(s4.fileno(), s6.fileno())) as relay:
            self.assertIn("serving 0.0.0.0:%d,[::1]:%d" % (s4.getsockname()[1],
                                                          s6.getsockname()[1]),
                          relay.ready_line)
            self.assertIn("threads=2", relay.ready_line)  # one per socket at most
            self.check_clients(s4.getsockname()[1], s6.getsockname()[1])
            code, final = relay.stop()
            self.assertEqual(code, 0)
            self.assertEqual(final["client_tx_packets"], 4)

    def test_dual_stack_socket_answers_ipv4_clients_from_the_right_address(self):
        # A launcher may hand over "[::]:P" without IPV6_V6ONLY: IPv4 clients
        # then arrive as ::ffff:a.b.c.d with both kinds of packet info.
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(("::", 0))
        self.addCleanup(s.close)
        launcher = 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@" 3<&%d' % s.fileno()
        with t.Server(["/bin/sh", "-c", launcher, t.TOOLS["relay"], self.upstream],
                      pass_fds=(s.fileno(),)):
            self.check_clients(s.getsockname()[1], s.getsockname()[1])

    def test_echo_under_systemd_style_launcher(self):
        s4 = bound(socket.AF_INET, "0.0.0.0")
        self.addCleanup(s4.close)
        launcher = 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@" 3<&%d' % s4.fileno()
        with t.Server(["/bin/sh", "-c", launcher, t.TOOLS["echo"]],
                      pass_fds=(s4.fileno(),)):
            self.check_clients(s4.getsockname()[1])

    def test_under_fdstore_exec_and_restart(self):
        if "fdstore" not in t.TOOLS:
            self.skipTest("no fdstore given")
        tmp = tempfile.mkdtemp(prefix="udprelay.")
        self.addCleanup(shutil.rmtree, tmp)
        control = os.path.join(tmp, "fds")
        with t.Server([t.TOOLS["fdstore"], "serve", "--socket=" + control,
                       "--listen=udp:0.0.0.0:0=dns"], ready="fdstore: serving") as store:
            listed = subprocess.run([t.TOOLS["fdstore"], "list", "--socket=" + control],
                                    capture_output=True, text=True, timeout=20).stdout
            port = int(listed.split()[2].rsplit(":", 1)[1])
            exec_relay = [t.TOOLS["fdstore"], "exec", "--socket=" + control, "--",
                          t.TOOLS["relay"], self.upstream, "--threads=1"]
            old = t.Server(exec_relay, ready="udp_relay: serving")
            self.addCleanup(old.__exit__)
            self.assertIn("serving 0.0.0.0:%d " % port, old.ready_line)
            self.check_clients(port)
            # An upgrade: a new instance on the same socket, then the old one
            # stops; clients keep getting answers from the right address.
            new = t.Server(exec_relay, ready="udp_relay: serving")
            self.addCleanup(new.__exit__)
            code, _ = old.stop()
            self.assertEqual(code, 0)
            self.check_clients(port)
            code, final = new.stop()
            self.assertEqual(code, 0)
            self.assertGreaterEqual(final["client_tx_packets"], 3)
            store.stop()

    def test_under_sandbox_run(self):
        if "sandbox_run" not in t.TOOLS:
            self.skipTest("no sandbox_run given")
        relay_bin = t.TOOLS["relay"]
        argv = [t.TOOLS["sandbox_run"], "--net=host",
                "--listen=udp:0.0.0.0:0=dns,udp:[::1]:0=dns6",
                "--ro_bind=/usr,/lib,/lib64,/bin,%s:/udp_relay" % relay_bin,
                "--timeout=50s",
                # For sanitizer builds: LeakSanitizer cannot stop the world in
                # the sandbox (ptrace is denied); other builds ignore it.
                "--setenv=ASAN_OPTIONS=detect_leaks=0",
                "--", "/udp_relay", self.upstream, "--threads=2"]
        with t.Server(argv, ready="udp_relay: serving") as relay:
            ports = [int(a.rsplit(":", 1)[1]) for a in
                     relay.ready_line.split("serving ")[1].split()[0].split(",")]
            self.check_clients(ports[0], ports[1])
            code, final = relay.stop()
            self.assertEqual(code, 0, relay.text())
            self.assertEqual(final["client_tx_packets"], 4)


if __name__ == "__main__":
    t.take_tool_args()
    unittest.main()
