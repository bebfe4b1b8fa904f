"""Loopback UDP relay benchmark: a sendmmsg generator -> relay -> a
recvmmsg sink, for several relays side by side, 64- and 1200-byte payloads.
Prints datagrams per second delivered to the sink, loss, and how busy each
CPU was, as medians of several runs, with ratios against the peers."""

import argparse
import collections
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ARGS = None


def cpu_times():
    """Per-CPU (busy, total) jiffies from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                parts = line.split()
                v = [int(x) for x in parts[1:]]
                idle = v[3] + v[4]
                out[parts[0]] = (sum(v) - idle, sum(v))
    return out


def cpu_load(before, after):
    return [100.0 * (after[c][0] - before[c][0]) / max(1, after[c][1] - before[c][1])
            for c in sorted(before)]


def free_port():
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_ready(proc, log, needle, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(log) as f:
            if needle is None or needle in f.read():
                return
        if proc.poll() is not None:
            with open(log) as f:
                raise SystemExit("peer exited: %s\n%s" % (proc.args, f.read()))
        time.sleep(0.05)
    raise SystemExit("peer not ready: %s" % (proc.args,))


class Peer:
    def __init__(self, argv, tmp, ready=None, settle=0.3):
        self.log = os.path.join(tmp, "peer%d.log" % id(self))
        with open(self.log, "w") as f:
            self.proc = subprocess.Popen(argv, stdout=f, stderr=f, stdin=subprocess.DEVNULL)
        wait_ready(self.proc, self.log, ready)
        time.sleep(settle)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        with open(self.log) as f:
            return f.read()


def nginx_peer(tmp, port, sink_port):
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
master_process off;
worker_processes 1;
pid %(tmp)s/nginx.pid;
error_log %(tmp)s/nginx-error.log crit;
events { worker_connections 65536; }
stream {
  server {
    listen 0.0.0.0:%(port)d udp;
    proxy_pass 127.0.0.1:%(sink)d;
    proxy_responses 0;
    proxy_timeout 30s;
  }
}
""" % {"tmp": tmp, "port": port, "sink": sink_port})
    return Peer(RELAY_CPU + ["nginx", "-p", tmp, "-e", os.path.join(tmp, "nginx-error.log"), "-c",
                 conf], tmp, settle=0.5)


# Where each process runs: the generator and the sink share CPU 0, the relay
# has CPU 1 to itself (all of them, when it runs N threads). Unpinned, three
# busy processes on two cores measure the scheduler more than the relay.
LOAD_CPU = ["taskset", "-c", "0"]
RELAY_CPU = ["taskset", "-c", "1"]


def relay_under_test(kind, tmp, port, sink_port):
    up = "--upstream=127.0.0.1:%d" % sink_port
    listen = "0.0.0.0:%d" % port
    if kind == "none":
        return None
    if kind.startswith("relay"):
        # relay:THREADS:on|off[:notos]
        _, threads, offload, *extra = kind.split(":")
        pin = RELAY_CPU if threads == "1" else []
        flags = ["--carry_tos=false"] if "notos" in extra else []
        return Peer(pin + [ARGS.relay, "--listen=" + listen, up, "--threads=" + threads,
                           "--gso=" + offload, "--gro=" + offload] + flags, tmp,
                    ready="serving")
    if kind == "naive":
        return Peer(RELAY_CPU + [ARGS.naive, "--listen=" + listen, up], tmp,
                    ready="serving")
    if kind == "mmsg":
        return Peer(RELAY_CPU + [ARGS.mmsg, "--listen=" + listen, up], tmp,
                    ready="serving")
    if kind == "socat-many":
        # socat's way to serve many UDP clients: a child per datagram
        # (UDP4-RECVFROM,fork; a UDP4-LISTEN child serves one client only),
        # which sends it on, waits for the answer and returns it.
        return Peer(RELAY_CPU + ["socat", "-b", "65536", "-T", "0.2",
                                 "UDP4-RECVFROM:%d,reuseaddr,fork" % port,
                                 "UDP4:127.0.0.1:%d" % sink_port], tmp)
    if kind == "socat":
        return Peer(RELAY_CPU + ["socat", "-b", "65536",
                                 "UDP4-LISTEN:%d,reuseaddr" % port,
                                 "UDP4:127.0.0.1:%d" % sink_port], tmp)
    if kind == "nginx":
        return nginx_peer(tmp, port, sink_port)
    raise ValueError(kind)


def one_run(kind, size, gso_generator, flows, gro_sink, clients=0):
    """clients > 0: the many-clients row; the sink echoes and pps counts the
    replies that get back to the generator's clients."""
    with tempfile.TemporaryDirectory(prefix="udpbench.") as tmp:
        sink_port = free_port()
        # "none": no relay, the sink on the relay's core (two cores for the
        # two ends, which no relay row has); "none-beside": no relay, the
        # sink sharing CPU 0 with the generator as in every relay row.
        sink = Peer((RELAY_CPU if kind == "none" else LOAD_CPU) +
                    [ARGS.sink, "--listen=127.0.0.1:%d" % sink_port,
                     "--gro=%d" % (1 if gro_sink else 0),
                     "--echo=%d" % (1 if clients else 0)], tmp, ready="serving",
                    settle=0.1)
        relay = None
        try:
            port = sink_port
            if not kind.startswith("none"):
                port = free_port()
                relay = relay_under_test(kind, tmp, port, sink_port)
            before = cpu_times()
            gens = [subprocess.Popen(
                LOAD_CPU + [ARGS.blast, "--target=127.0.0.1:%d" % port, "--size=%d" % size,
                 "--seconds=%g" % ARGS.seconds] +
                (["--clients=%d" % clients] if clients else
                 ["--gso=%d" % (1 if gso_generator else 0)]),
                stdout=subprocess.PIPE, text=True) for _ in range(flows)]
            outs = [g.communicate()[0] for g in gens]
            after = cpu_times()
            time.sleep(0.3)  # let the last datagrams drain into the sink
        finally:
            if relay:
                relay.stop()
            sink_out = sink.stop()
        sent = sum(int(o.split("sent=")[1].split()[0]) for o in outs)
        seconds = max(float(o.split("seconds=")[1].split()[0]) for o in outs)
        received = int(sink_out.split("received=")[1].split()[0])
        setup = 0.0
        if clients:
            received = sum(int(o.split(" replies=")[1].split()[0]) for o in outs)
            warm = float(outs[0].split("warmup_seconds=")[1].split()[0])
            setup = int(outs[0].split("warmup_replies=")[1].split()[0]) / max(warm, 1e-9)
        return {"pps": received / seconds, "loss": max(0.0, 1 - received / max(sent, 1)),
                "cpu": cpu_load(before, after), "setup": setup}


ROWS = [
    # (label, kind, generator uses GSO, generator flows, sink reads with GRO)
    ("no relay (the limit here)", "none", False, 1, False),
    ("no relay, sink beside the generator", "none-beside", False, 1, False),
    ("udp_relay 1 thread, GSO/GRO off", "relay:1:off", False, 1, False),
    ("udp_relay 1 thread, GSO/GRO on", "relay:1:on", False, 1, False),
    # What the C relay does: no TOS carried (one control message fewer).
    ("udp_relay 1 thread, GSO/GRO off, --carry_tos=false", "relay:1:off:notos", False, 1,
     False),
    ("udp_relay N threads, GSO/GRO off, 2 flows", "relay:N:off", False, 2, False),
    ("naive recvmsg/sendto relay with pktinfo", "naive", False, 1, False),
    ("hand-written C mmsg relay (32/call, pktinfo)", "mmsg", False, 1, False),
    ("socat UDP4-LISTEN -> UDP4", "socat", False, 1, False),
    ("nginx stream proxy (udp, 1 worker)", "nginx", False, 1, False),
    # A receiver with UDP_GRO (as QUIC stacks have) takes a GSO send whole.
    ("udp_relay 1 thread, GSO/GRO on, GRO sink", "relay:1:on", False, 1, True),
    ("socat, GRO sink", "socat", False, 1, True),
    # A GSO sender (64 segments per send) and a GRO sink.
    ("no relay, GSO sender", "none", True, 1, True),
    ("udp_relay 1 thread, GSO/GRO on, GSO sender", "relay:1:on", True, 1, True),
    ("socat, GSO sender", "socat", True, 1, True),
    ("nginx, GSO sender", "nginx", True, 1, True),
]


# Many clients at once (CLIENTS source addresses, round-robin, every batch
# of the generator from 32+ of them): the sink echoes, and pps counts the
# replies back at the clients, so each datagram crosses the relay twice and
# every reply leaves by the listening socket for a different session.
CLIENTS = 10000
MANY_ROWS = [
    # (label, kind)
    ("no relay, echo (the limit here)", "none"),
    ("udp_relay 1 thread, GSO/GRO off", "relay:1:off"),
    ("udp_relay 1 thread, GSO/GRO on", "relay:1:on"),
    ("udp_relay 1 thread, GSO/GRO off, --carry_tos=false", "relay:1:off:notos"),
    ("hand-written C mmsg relay (32/call, pktinfo)", "mmsg"),
    ("socat UDP4-RECVFROM,fork (a child per datagram)", "socat-many"),
]


def interleaved(jobs):
    """Runs each (key, thunk) ARGS.runs times, one run of every job per pass,
    so that a machine whose speed drifts during the table moves every row
    alike; returns {key: [results]}."""
    out = {key: [] for key, _ in jobs}
    for _ in range(ARGS.runs):
        for key, thunk in jobs:
            out[key].append(thunk())
    return out


def many_clients(size):
    results = collections.defaultdict(lambda: float("nan"))
    rows = [row for row in MANY_ROWS if re.search(ARGS.rows, row[0])]
    all_runs = interleaved([(label, lambda kind=kind: one_run(kind, size, False, 1, False,
                                                              clients=CLIENTS))
                            for label, kind in rows])
    for label, kind in rows:
        runs = all_runs[label]
        pps = statistics.median(r["pps"] for r in runs)
        loss = statistics.median(r["loss"] for r in runs)
        cpu = [statistics.median(r["cpu"][i] for r in runs) for i in range(os.cpu_count())]
        setup = statistics.median(r["setup"] for r in runs)
        results[label] = max(pps, 1e-9)
        print("  %4dB  %dk clients: %-50s %10.0f pps  loss %5.1f%%  cpu %s  warm-up %6.0f "
              "new clients/s" % (size, CLIENTS // 1000, label, pps, 100 * loss,
                                 " ".join("%3.0f%%" % c for c in cpu), setup), flush=True)
    off = results["udp_relay 1 thread, GSO/GRO off"]
    on = results["udp_relay 1 thread, GSO/GRO on"]
    notos = results["udp_relay 1 thread, GSO/GRO off, --carry_tos=false"]
    mmsg = results["hand-written C mmsg relay (32/call, pktinfo)"]
    socat = results["socat UDP4-RECVFROM,fork (a child per datagram)"]
    def ratio(a, b):
        if math.isnan(a) or math.isnan(b):
            return "nan"  # a row left out by --rows
        return "%.2fx" % (a / b) if b >= 1 else "inf (it answered none)"

    print("  %4dB  ratios, %d clients, 1 thread: vs socat %s (GSO/GRO off), %s (on) "
          "(target >= 2x); vs the C mmsg relay %s (off), %s (on), %s (off, "
          "--carry_tos=false as the C relay) (target >= 1.0x)" % (
              size, CLIENTS, ratio(off, socat), ratio(on, socat), ratio(off, mmsg),
              ratio(on, mmsg), ratio(notos, mmsg)), flush=True)


def main():
    global ARGS
    p = argparse.ArgumentParser()
    for tool in ("relay", "blast", "sink", "naive", "mmsg"):
        p.add_argument("--" + tool, required=True)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--sizes", default="64,1200")
    p.add_argument("--only", default="one-flow,many-clients",
                   help="which tables: one-flow, many-clients or both")
    p.add_argument("--rows", default="",
                   help="a regular expression: only the rows whose label it finds "
                        "(a ratio that needs a row left out reads nan)")
    ARGS = p.parse_args()
    ncpu = os.cpu_count()
    print("UDP relay benchmark: loopback, sendmmsg generator -> relay -> recvmmsg sink;"
          " %d CPUs, %d runs of %gs each, medians; each table's rows take turns, one run"
          " of each per pass" % (ncpu, ARGS.runs, ARGS.seconds))
    print("Generator and sink pinned to CPU 0, the relay to CPU 1 (N threads = %d:"
          " unpinned); without a relay the sink runs on CPU 1, or beside the generator"
          " on CPU 0 (\"sink beside the generator\")." % ncpu)
    print("pps = datagrams a second reaching the sink; loss = 1 - received/sent;"
          " cpu = each core's busy share.")
    print("Load average at start: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    for size in [int(s) for s in ARGS.sizes.split(",")]:
        if "many-clients" in ARGS.only:
            many_clients(size)
        if "one-flow" not in ARGS.only:
            continue
        results = {}
        rows = [row for row in ROWS if re.search(ARGS.rows, row[0])]
        all_runs = interleaved([
            (label, lambda kind=kind, gso=gso, flows=flows, gro_sink=gro_sink: one_run(
                kind.replace(":N:", ":%d:" % ncpu), size, gso, flows, gro_sink))
            for label, kind, gso, flows, gro_sink in rows])
        for label, kind, gso, flows, gro_sink in rows:
            runs = all_runs[label]
            pps = statistics.median(r["pps"] for r in runs)
            loss = statistics.median(r["loss"] for r in runs)
            cpu = [statistics.median(r["cpu"][i] for r in runs) for i in range(ncpu)]
            results[label] = pps
            print("  %4dB  %-50s %10.0f pps  loss %5.1f%%  cpu %s" % (
                size, label, pps, 100 * loss, " ".join("%3.0f%%" % c for c in cpu)),
                flush=True)
        r = collections.defaultdict(lambda: math.nan,
                                    {k: max(v, 1e-9) for k, v in results.items()})
        relay1 = r["udp_relay 1 thread, GSO/GRO off"]
        gso_row = r["udp_relay 1 thread, GSO/GRO on, GSO sender"]
        socat = r["socat UDP4-LISTEN -> UDP4"]
        print("  %4dB  ratios, 1 thread GSO/GRO off: vs naive %.2fx (target 1.3x), vs "
              "socat %.2fx (target 2.5x), vs nginx %.2fx (target >1x)" % (
                  size, relay1 / r["naive recvmsg/sendto relay with pktinfo"],
                  relay1 / socat, relay1 / r["nginx stream proxy (udp, 1 worker)"]))
        print("  %4dB  ratios, 1 thread GSO/GRO on vs socat (target 5x): plain sender "
              "%.2fx; plain sender, GRO sink %.2fx; GSO sender %.2fx" % (
                  size, r["udp_relay 1 thread, GSO/GRO on"] / socat,
                  r["udp_relay 1 thread, GSO/GRO on, GRO sink"] / r["socat, GRO sink"],
                  gso_row / r["socat, GSO sender"]), flush=True)
        mmsg = r["hand-written C mmsg relay (32/call, pktinfo)"]
        print("  %4dB  ratios, 1 thread: GSO/GRO off vs the C mmsg relay %.2fx, %.2fx with "
              "--carry_tos=false as the C relay (target >= 1.0x); GSO/GRO on vs no relay "
              "%.2fx, vs no relay with the sink beside the generator %.2fx (target >= 0.9x)" % (
                  size, relay1 / mmsg,
                  r["udp_relay 1 thread, GSO/GRO off, --carry_tos=false"] / mmsg,
                  r["udp_relay 1 thread, GSO/GRO on"] / r["no relay (the limit here)"],
                  r["udp_relay 1 thread, GSO/GRO on"] /
                  r["no relay, sink beside the generator"]),
              flush=True)


if __name__ == "__main__":
    main()
