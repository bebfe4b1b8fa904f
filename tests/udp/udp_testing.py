"""Helpers for the UDP tools' end-to-end tests: run the tools as processes,
read their stats lines, talk to them with plain sockets."""

import contextlib
import fcntl
import glob
import os
import random
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

TOOLS = {}
SO_RCVBUFFORCE = 33  # not exported by Python's socket module; needs root


def take_tool_args():
    """Pops --relay=PATH style arguments (given by Bazel) out of sys.argv."""
    rest = [sys.argv[0]]
    for arg in sys.argv[1:]:
        m = re.match(r"--(\w+)=(.*)", arg)
        if m and m.group(1) in ("relay", "echo", "probe", "fdstore", "sandbox_run",
                                "naive", "blast"):
            TOOLS[m.group(1)] = os.path.abspath(m.group(2))
        else:
            rest.append(arg)
    sys.argv = rest


def free_port(family=socket.AF_INET):
    """A UDP port nobody is bound to on any address right now, from below the
    ephemeral range: a port the kernel hands out for port 0 would be free
    only until the next socket that binds implicitly (a relay's session
    socket, another test's client) draws the same one, which a test that
    binds it later (or counts on nobody answering there) cannot allow."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
    ports = list(range(10000, min(low, 20000)))
    random.shuffle(ports)
    for port in ports:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free UDP port below %d" % low)


class Server:
    """A tool running as a child process, its stderr collected in a file."""

    def __init__(self, argv, ready="serving", env=None, pass_fds=()):
        self.log = tempfile.TemporaryFile(mode="w+")
        # The child writes through the same open file description, so at
        # the offset text() moves to 0 to read: without O_APPEND a line
        # written meanwhile overwrote the log's start (the serving line)
        # and a stats line could be missed.
        flags = fcntl.fcntl(self.log.fileno(), fcntl.F_GETFL)
        fcntl.fcntl(self.log.fileno(), fcntl.F_SETFL, flags | os.O_APPEND)
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log, env=env,
                                     close_fds=True, pass_fds=pass_fds)
        self.ready_line = self.wait_for_line(ready) if ready else None

    def text(self):
        self.log.seek(0)
        return self.log.read()

    def lines(self):
        """Complete lines only: a line being written is not there yet."""
        text = self.text()
        return text[:text.rfind("\n") + 1].splitlines()

    def wait_for_line(self, needle, after=0, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines()[after:]:
                if needle in line:
                    return line
            if self.proc.poll() is not None:
                raise AssertionError("%s exited %s before printing %r:\n%s" % (
                    self.argv[0], self.proc.returncode, needle, self.text()))
            time.sleep(0.02)
        raise AssertionError("no %r from %s within %ss (threads %s):\n%s" % (
            needle, self.argv[0], timeout, self.task_states(), self.text()))

    def stats(self, timeout=10.0):
        """Sends SIGUSR1 and returns the counters of the stats line it prints."""
        before = len(self.lines())
        self.proc.send_signal(signal.SIGUSR1)
        return parse_stats(self.wait_for_line(": stats ", after=before,
                                              timeout=timeout))

    def settled_stats(self, timeout=10.0):
        """Stats once two reads 50 ms apart agree and every thread was asleep
        just before the second (the last ones if never).

        The stats line is read while the workers run, counter by counter, so
        while datagrams are still being handled two counters may be one
        event apart (a session created but its eviction not yet counted); and
        a worker that is runnable but not running changes nothing for a
        while without being done.
        """
        deadline = time.monotonic() + timeout
        last = self.stats()
        while True:
            time.sleep(0.05)
            asleep = all(s == "S" for s in self.task_states())
            now = self.stats()
            if (now == last and asleep) or time.monotonic() > deadline:
                return now
            last = now

    def stats_reaching(self, key, value, timeout=10.0):
        """Stats once counter `key` reaches `value` (the last ones seen if never).

        A reply can reach the client before the worker that sent it adds it to
        its counters, so a count read right after an exchange may lag by one
        round of the loop.
        """
        return self.stats_when(lambda s: s[key] >= value, timeout)

    def stats_when(self, done, timeout=10.0):
        """Stats read after `done(stats)` held (the last ones seen if never).

        The line is read counter by counter while the workers run, so the
        line in which `done` first holds may lack what a worker counted
        just before (client_rx_packets 0 beside drop_denied 20): the stats
        returned come from the next line.
        """
        deadline = time.monotonic() + timeout
        while True:
            now = self.stats()
            if done(now):
                return self.stats()
            if time.monotonic() > deadline:
                return now
            time.sleep(0.02)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Stops the process; returns (exit code, final counters or None)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("%s ignored signal %d" % (self.argv[0], sig))
        final = [l for l in self.lines() if ": final " in l]
        return self.proc.returncode, (parse_stats(final[-1]) if final else None)

    def task_states(self):
        """The scheduler state letter of each of the process's threads."""
        states = []
        for path in glob.glob("/proc/%d/task/*/stat" % self.proc.pid):
            try:
                with open(path) as f:
                    states.append(f.read().rsplit(")", 1)[1].split()[0])
            except OSError:  # the thread ended between glob and open
                pass
        return states

    def _wait_for_states(self, stopped, sig, timeout=5.0):
        """Waits until every thread is stopped (or none is), signalling again
        every 100 ms: a signal only takes effect when each thread next
        leaves the kernel, so "sent" is not yet "stopped"."""
        deadline = time.monotonic() + timeout
        resend = time.monotonic() + 0.1
        while self.proc.poll() is None:  # a process that died says so elsewhere
            states = self.task_states()
            if states and all((s == "T") == stopped for s in states):
                return
            if time.monotonic() > deadline:
                raise AssertionError("%s: threads %s after signal %d" % (
                    self.argv[0], states, sig))
            if time.monotonic() > resend:
                self.proc.send_signal(sig)
                resend = time.monotonic() + 0.1
            time.sleep(0.001)

    @contextlib.contextmanager
    def paused(self):
        """Stops the process (SIGSTOP) for the body of a with statement, so
        that what is sent meanwhile queues in its sockets; resumes it
        (SIGCONT) after, and returns once every thread runs again."""
        self.proc.send_signal(signal.SIGSTOP)
        try:
            self._wait_for_states(True, signal.SIGSTOP)
            yield
        finally:
            self.proc.send_signal(signal.SIGCONT)
            self._wait_for_states(False, signal.SIGCONT)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()
        self.log.close()


def parse_stats(line):
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}


def start_echo(listen, extra=()):
    return Server([TOOLS["echo"], "--listen=" + listen] + list(extra))


def start_relay(listen, upstream, extra=(), env=None):
    args = [TOOLS["relay"], "--upstream=" + upstream]
    if listen:
        args.append("--listen=" + listen)
    return Server(args + list(extra), env=env)


def served_port(server):
    """The port in a "serving ADDR:PORT,..." line."""
    m = re.search(r"serving \S*:(\d+)", server.ready_line)
    return int(m.group(1))


def connected_client(host, port, family=socket.AF_INET, timeout=2.0, rcvbuf=None):
    """A DNS-client-style socket: connect()ed, so the kernel drops any reply
    that does not come from exactly (host, port)."""
    s = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if rcvbuf:
            try:  # beyond net.core.rmem_max, where allowed
                s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
            except PermissionError:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(timeout)
        s.connect((host, port))
    except BaseException:
        s.close()
        raise
    return s


def exchange(sock, payload):
    """Sends `payload` on a connected socket and returns the reply."""
    sock.send(payload)
    return sock.recv(70000)


def unconnected_exchange(sock, payload, to):
    """Sends to `to` and returns (reply, source address)."""
    sock.sendto(payload, to)
    return sock.recvfrom(70000)


def _checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def spoofed_datagram(source, dest, payload=b"spoofed"):
    """An IPv4 or IPv6 packet (header included) carrying one UDP datagram
    from `source` (host, port), which need not be ours, to `dest`."""
    family = socket.AF_INET6 if ":" in source[0] else socket.AF_INET
    src = socket.inet_pton(family, source[0])
    dst = socket.inet_pton(family, dest[0])
    length = 8 + len(payload)
    if family == socket.AF_INET:
        pseudo = src + dst + struct.pack("!BBH", 0, socket.IPPROTO_UDP, length)
    else:
        pseudo = src + dst + struct.pack("!IxxxB", length, socket.IPPROTO_UDP)
    udp = struct.pack("!HHHH", source[1], dest[1], length, 0) + payload
    udp = udp[:6] + struct.pack("!H", _checksum(pseudo + udp) or 0xFFFF) + udp[8:]
    if family == socket.AF_INET:
        ip_header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + length, 0, 0, 64,
                                socket.IPPROTO_UDP, 0, src, dst)
        ip_header = ip_header[:10] + struct.pack("!H", _checksum(ip_header)) + ip_header[12:]
    else:
        ip_header = struct.pack("!IHBB16s16s", 6 << 28, length, socket.IPPROTO_UDP, 64,
                                src, dst)
    return family, ip_header + udp


def raw_socket_or_skip(test, family=socket.AF_INET):
    """A raw IPPROTO_RAW socket (the IP header is the caller's), or the test
    skipped with the reason (it needs CAP_NET_RAW)."""
    try:
        s = socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_RAW)
    except PermissionError as e:
        test.skipTest("a forged source needs a raw socket (CAP_NET_RAW): %s" % e)
    test.addCleanup(s.close)
    return s


def send_spoofed(raw, source, dest, payload=b"spoofed"):
    """Sends one UDP datagram from the forged `source` (host, port) to `dest`
    on `raw` (raw_socket_or_skip)."""
    _, packet = spoofed_datagram(source, dest, payload)
    raw.sendto(packet, (dest[0], 0))


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


class WhoAmI:
    """An upstream that answers every datagram with "ADDR:PORT|payload",
    where ADDR:PORT is the source it saw (or with "TAG|payload" when given
    a tag); runs in a thread."""

    def __init__(self, host="127.0.0.1", family=socket.AF_INET, tag=None):
        import threading
        self.tag = tag
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]
        self.stop_r, self.stop_w = os.pipe()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            r, _, _ = select.select([self.sock, self.stop_r], [], [])
            if self.stop_r in r:
                return
            data, peer = self.sock.recvfrom(70000)
            prefix = self.tag if self.tag is not None else "%s:%d" % peer[:2]
            self.sock.sendto((prefix + "|").encode() + data, peer)

    def close(self):
        os.write(self.stop_w, b"x")
        self.thread.join()
        self.sock.close()
        os.close(self.stop_r)
        os.close(self.stop_w)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def whoami_source(reply):
    """The upstream-side source "ADDR:PORT" a WhoAmI reply names."""
    return reply.split(b"|", 1)[0].decode()
