#!/usr/bin/env python3
"""Soak and fault tests, bounded, loopback only; each stops by itself.

    tests/soak/run.sh [--minutes=N] [--spawns=N] [--clients=N] [--concurrency=N]
                      [--silent=N] [--restart=0|1] [--only=relay,spawn,fdstore]

relay    udp_relay (GSO/GRO off, so counters count datagrams) in front of
         udp_echo for --minutes: clients churn (a new udp_probe, so a new
         source port, every round), the upstream is restarted, malformed and
         oversized datagrams and datagrams from sockets that close at once
         are thrown in. The relay's RSS and fd count are sampled every round
         and must stay flat (after a warm-up round); it must not die; its
         counters must reconcile: client_rx = upstream_tx + counted drops,
         upstream_rx = client_tx + counted drops, and client_rx = what the
         clients sent (no datagram unaccounted).
spawn    --spawns sandboxes of /bin/true, 4 at a time, each with a cgroup:
         afterwards no process of this run (environment marker, launcher
         sessions), no new mount (mountinfo), no new fd in this process, no
         sandbox_run-PID-* cgroup of its launchers under any hierarchy, no
         file in its TMPDIR; every 100th sandbox lists its fds beside a stray
         inheritable fd of the launcher (only 0-2 may cross). A sampler must
         see the run's processes and cgroups while they run.
fdstore  fdstore serve under --clients legitimate clients (fdstore exec
         --wait), --concurrency at a time, beside --silent hostile
         connections held open and threads of garbage, oversized records and
         connect-and-close; with --restart=1 the store is restarted half-way.
         Zero failed legitimate hand-offs; each failure is listed by error
         and by whether it was in flight during the restart.
Prints each part's figures; exits 1 if any part failed, naming it.
"""

import argparse
import concurrent.futures
import glob
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ARGS = None
FAILED = []


def say(msg):
    print(msg, flush=True)


def check(ok, part, what):
    if not ok:
        FAILED.append("%s: %s" % (part, what))
        say("  FAIL: " + what)
    return ok


def start(cmd, log):
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_line(path, pattern, proc, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with open(path, errors="replace") as f:
            m = re.search(pattern, f.read())
        if m:
            return m
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    raise RuntimeError("no /%s/ in %s: %s" % (pattern, path, open(path, errors="replace").read()[-500:]))


def stop(proc, sig=signal.SIGTERM, seconds=10):
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(seconds)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def counters(text):
    line = [l for l in text.splitlines() if "client_rx_packets=" in l][-1]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}


# --- relay ---------------------------------------------------------------

def soak_relay(tools, work):
    part = "relay"
    say("relay: udp_relay -> udp_echo for %.1f min, clients churning, upstream restarts, junk" % ARGS.minutes)
    echo_log = os.path.join(work, "echo.log")
    relay_log = os.path.join(work, "relay.log")
    echo = start([tools["udp_echo"], "--listen=127.0.0.1:0", "--gro=off", "--gso=off"], open(echo_log, "w"))
    echo_addr = wait_line(echo_log, r"serving (127\.0\.0\.1:\d+)", echo).group(1)
    relay = start([tools["udp_relay"], "--listen=127.0.0.1:0", "--upstream=" + echo_addr,
                   "--threads=1", "--gro=off", "--gso=off", "--session_timeout=2s",
                   "--max_sessions=512"], open(relay_log, "w"))
    relay_addr = wait_line(relay_log, r"serving (127\.0\.0\.1:\d+)", relay).group(1)
    fds_before = fd_count(relay.pid)
    fds_idle = None
    host, port = relay_addr.rsplit(":", 1)
    target = (host, int(port))
    sent = 0
    probes_sent = probes_got = 0
    junk = 0
    restarts = 0
    samples = []
    deadline = time.monotonic() + ARGS.minutes * 60
    rnd = random.Random(1)
    round_no = 0
    try:
        while time.monotonic() < deadline:
            round_no += 1
            # Churn: 8 new clients (new source ports) probing at once.
            probes = [subprocess.Popen(
                [tools["udp_probe"], "--target=" + relay_addr, "--count=50", "--interval=2ms",
                 "--timeout=300ms", "--size=%d" % rnd.choice([16, 64, 512, 1400])],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(8)]
            # Junk: empty, oversized, and from sockets closed right after.
            for size in (0, 1, 65507, 9000, 0):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.sendto(os.urandom(size), target)
                s.close()
                junk += 1
            if round_no % 5 == 0:
                # The upstream goes away and comes back on the same port.
                stop(echo)
                time.sleep(0.1)
                echo = start([tools["udp_echo"], "--listen=" + echo_addr, "--gro=off", "--gso=off"],
                             open(echo_log, "w"))
                wait_line(echo_log, r"serving", echo)
                restarts += 1
            for p in probes:
                out = p.communicate(timeout=60)[0]
                m = re.search(r": (\d+) sent, (\d+) received", out)
                if m:
                    probes_sent += int(m.group(1))
                    probes_got += int(m.group(2))
            if relay.poll() is not None:
                break
            samples.append((rss_kib(relay.pid), fd_count(relay.pid)))
        # Once the clients are gone, every session expires (2 s): a session
        # fd that outlives that is a leak, whatever the load was.
        idle_deadline = time.monotonic() + 10
        while relay.poll() is None and time.monotonic() < idle_deadline:
            time.sleep(0.5)
            fds_idle = fd_count(relay.pid)
            if fds_idle <= fds_before + 2:
                break
    finally:
        code = stop(relay)
        stop(echo)
    sent = probes_sent + junk
    text = open(relay_log, errors="replace").read()
    say("  %d rounds, %d clients, %d probes (%d answered), %d junk datagrams, %d upstream restarts"
        % (round_no, 8 * round_no, probes_sent, probes_got, junk, restarts))
    check(code == 0, part, "udp_relay exited %s: %s" % (code, text[-300:]))
    if len(samples) >= 3:
        warm = samples[1:]
        rss = [s[0] for s in warm]
        fds = [s[1] for s in warm]
        say("  RSS %d..%d KiB, fds %d..%d over %d samples (after the first round)"
            % (min(rss), max(rss), min(fds), max(fds), len(warm)))
        check(max(rss) <= min(rss) * 1.25 + 1024, part, "RSS grew: %s" % rss)
        # Sessions are fds: under load they come and go with the 2 s session
        # timeout (how many are alive at a sample depends on the machine's
        # speed), never more than --max_sessions.
        check(max(fds) <= fds_before + 512, part, "more fds than --max_sessions: %s" % fds)
    say("  fds: %d before the clients, %s once they were gone" % (fds_before, fds_idle))
    check(fds_idle is not None and fds_idle <= fds_before + 2, part,
          "fds leaked: %d before, %s once every session had expired" % (fds_before, fds_idle))
    try:
        c = counters(text)
    except IndexError:
        check(False, part, "no final counters from udp_relay")
        return
    drops_in = sum(c.get(k, 0) for k in ("drop_no_pktinfo", "drop_bad_control", "drop_truncated",
                                          "drop_upstream_send", "drop_no_session", "drop_loop",
                                          "drop_draining"))
    drops_out = c.get("drop_client_send", 0)
    say("  relay: client_rx %d = upstream_tx %d + drops %d; upstream_rx %d = client_tx %d + drops %d;"
        " clients sent %d" % (c["client_rx_packets"], c["upstream_tx_packets"], drops_in,
                              c["upstream_rx_packets"], c["client_tx_packets"], drops_out, sent))
    check(c["client_rx_packets"] == c["upstream_tx_packets"] + drops_in, part,
          "client_rx != upstream_tx + drops")
    check(c["upstream_rx_packets"] == c["client_tx_packets"] + drops_out, part,
          "upstream_rx != client_tx + drops")
    # Datagrams the kernel dropped on a full receive queue never reach the
    # relay; it counts them (the listener's SO_MEMINFO drop count).
    overflow = c.get("drop_rx_queue_overflow", 0)
    check(c["client_rx_packets"] + overflow == sent, part,
          "the relay read %d datagrams (+%d dropped by the kernel, counted), the clients sent %d"
          % (c["client_rx_packets"], overflow, sent))
    check(probes_got <= c["client_tx_packets"], part, "more replies than the relay sent")


# --- spawn ---------------------------------------------------------------

def cgroup_roots():
    """The launcher's own cgroup in every mounted hierarchy (v1 and v2): the
    sandbox's cgroups are made below it (sandbox/cgroup.h)."""
    own = {}
    for line in open("/proc/self/cgroup"):
        _, controllers, path = line.rstrip("\n").split(":", 2)
        own[controllers] = path
    roots = []
    for line in open("/proc/self/mountinfo"):
        fields = line.split()
        sep = fields.index("-")
        fstype, options = fields[sep + 1], fields[sep + 3]
        if fstype == "cgroup2":
            key = ""
        elif fstype == "cgroup":
            names = [o for o in options.split(",") if o not in ("rw", "ro") and not o.startswith("release_agent")]
            key = ",".join(sorted(names))
            key = next((k for k in own if k and sorted(k.split(",")) == sorted(key.split(","))), None)
            if key is None:
                continue
        else:
            continue
        if key in own:
            roots.append(os.path.join(fields[4], own[key].lstrip("/")))
    return sorted(set(r for r in roots if os.path.isdir(r)))


def our_cgroups(roots, pids):
    """cgroups named sandbox_run-<pid>-<random> below the roots whose pid is
    one of this run's launchers."""
    found = []
    for root in roots:
        for path in glob.glob(os.path.join(root, "sandbox_run-*")):
            m = re.match(r"sandbox_run-(\d+)-", os.path.basename(path))
            if m and int(m.group(1)) in pids:
                found.append(path)
    return found


MARK = "SOAK_RUN=%d-%d" % (os.getpid(), random.randrange(1 << 30))


def our_processes(sessions):
    """Processes of this run: the launchers carry MARK in their environment,
    and the sandboxes get it through --setenv; also anything left in a
    launcher's session (each launcher starts its own). Other runs' sandboxes
    on the machine do not count. Returns their pids."""
    found = set()
    me = os.getpid()
    for d in glob.glob("/proc/[0-9]*"):
        try:
            pid = int(d[6:])
            if pid == me:
                continue
            with open(d + "/environ", "rb") as f:
                if MARK.encode() in f.read().split(b"\0"):
                    found.add(pid)
                    continue
            with open(d + "/stat") as f:
                stat = f.read()
            sid = int(stat[stat.rindex(")") + 2:].split()[3])
            if sid in sessions:
                found.add(pid)
        except (OSError, ValueError):
            pass
    return found


def own_fds():
    fds = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            fds[int(fd)] = os.readlink("/proc/self/fd/" + fd)
        except OSError:
            pass
    return fds


def snapshot(tmpdir):
    return {
        "mounts": set(l.split(" ", 2)[2] for l in open("/proc/self/mountinfo")),
        "fds": own_fds(),
        "tmpdir": set(os.listdir(tmpdir)),
        "tmp": set(x for x in os.listdir("/tmp") if "sandbox" in x or "shim" in x),
    }


def soak_spawn(tools, work):
    """Every sandbox gets a cgroup (--cgroup_pids, --cgroup_memory), so the
    cgroup check is not blind; each launcher runs in a session of its own
    with MARK in its environment and the sandbox's; every 100th sandbox runs
    ls /proc/self/fd with a launcher fd open without CLOEXEC, which must not
    reach it. While the spawns run a sampler must see this run's processes
    and cgroups (or the checks are blind)."""
    part = "spawn"
    n = ARGS.spawns
    say("spawn: %d sandboxes of /bin/true, 4 at a time, each with a cgroup (pids, memory)" % n)
    tmpdir = os.path.join(work, "spawn-tmp")
    os.makedirs(tmpdir)
    env = dict(os.environ, TMPDIR=tmpdir)
    env[MARK.split("=")[0]] = MARK.split("=")[1]
    roots = cgroup_roots()
    before = snapshot(tmpdir)
    policy = [tools["sandbox_run"], "--ro_bind=/usr,/lib,/lib64,/bin", "--setenv=" + MARK,
              "--cgroup_pids=32", "--cgroup_memory=64M"]
    # An fd the launcher inherits without CLOEXEC (as a careless caller would
    # leave one): sandbox_run must not hand it to the sandbox.
    stray_r, stray_w = os.pipe()
    os.set_inheritable(stray_r, True)
    failures = []
    fd_leaks = []
    pids = set()
    lock = threading.Lock()
    t = time.monotonic()

    def one(i):
        listing = i % 100 == 0
        cmd = policy + (["--", "/bin/ls", "/proc/self/fd"] if listing else ["--", "/bin/true"])
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE if listing else subprocess.DEVNULL,
                             stderr=subprocess.PIPE, env=env, text=True, start_new_session=True,
                             pass_fds=(stray_r,))
        with lock:
            pids.add(p.pid)
        out, err = p.communicate()
        if listing and p.returncode == 0:
            # ls has its own directory fd open (3) while it lists.
            extra = set(out.split()) - {"0", "1", "2", "3"}
            if extra or len(out.split()) > 4:
                with lock:
                    fd_leaks.append(out.split())
        return p.returncode, err

    seen = {"processes": 0, "cgroups": 0}
    running = threading.Event()
    running.set()

    def sample():
        while running.is_set():
            with lock:
                now_pids = set(pids)
            seen["processes"] = max(seen["processes"], len(our_processes(now_pids)))
            seen["cgroups"] = max(seen["cgroups"], len(our_cgroups(roots, now_pids)))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    progress = max(1, n // 10)
    done = 0
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for rc, err in pool.map(one, range(n), chunksize=16):
            done += 1
            if rc != 0:
                failures.append((rc, err.strip()))
            if done % progress == 0 and n >= 1000:
                say("  %d/%d spawned (%.0f s)" % (done, n, time.monotonic() - t))
    running.clear()
    sampler.join()
    seconds = time.monotonic() - t
    os.close(stray_r)
    os.close(stray_w)
    after = snapshot(tmpdir)
    left_procs = our_processes(pids)
    left_cg = our_cgroups(roots, pids)
    if left_procs or left_cg:  # give a sandbox being torn down a moment
        time.sleep(2)
        left_procs = our_processes(pids)
        left_cg = our_cgroups(roots, pids)
    new_mounts = sorted(after["mounts"] - before["mounts"])
    new_fds = {fd: target for fd, target in after["fds"].items() if before["fds"].get(fd) != target}
    new_tmpdir = sorted(after["tmpdir"] - before["tmpdir"])
    new_tmp = sorted(after["tmp"] - before["tmp"])
    say("  %d spawns in %.1f s (%.1f ms each, 4 at a time), %d failed; %d sandboxes listed their fds"
        % (n, seconds, 1000 * seconds / n, len(failures), (n + 99) // 100))
    say("  seen while running: up to %d of this run's processes, %d of its cgroups (in %d cgroup roots)"
        % (seen["processes"], seen["cgroups"], len(roots)))
    say("  left afterwards: processes %d, new mounts %d, new fds %d (of %d), cgroups %d, "
        "files in TMPDIR %d, new sandbox files in /tmp %d, sandboxes that saw a stray fd %d"
        % (len(left_procs), len(new_mounts), len(new_fds), len(after["fds"]), len(left_cg),
           len(new_tmpdir), len(new_tmp), len(fd_leaks)))
    check(seen["processes"] > 0, part, "never saw this run's processes while they ran (the process check is blind)")
    check(seen["cgroups"] > 0, part, "never saw this run's cgroups while they ran (the cgroup check is blind)")
    check(not failures, part, "%d spawns failed, first: %s" % (len(failures), failures[:1]))
    check(not left_procs, part, "processes left: %s" % sorted(left_procs)[:10])
    check(not new_mounts, part, "mounts left: %s" % new_mounts[:3])
    check(not new_fds, part, "fds left in the launcher's parent: %s" % new_fds)
    check(not left_cg, part, "cgroups left: %s" % left_cg[:5])
    check(not new_tmpdir, part, "temporary files left in TMPDIR: %s" % new_tmpdir[:5])
    check(not new_tmp, part, "files left in /tmp: %s" % new_tmp[:5])
    check(not fd_leaks, part, "a sandbox saw fds beyond 0-2: %s" % fd_leaks[:2])


# --- fdstore -------------------------------------------------------------

class Hostile:
    """The hostile share, as threads: `silent` connections held open at
    once (each reconnects when the store drops it: --client_timeout, a
    restart), and 4 threads churning garbage, oversized records and
    connect-and-close. Counts what it did."""

    def __init__(self, path, silent):
        self.path = path
        self.silent = silent
        self.stopping = threading.Event()
        self.counts = {"silent": 0, "garbage": 0, "oversized": 0, "close": 0}
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.hold)] + [
            threading.Thread(target=self.churn, args=(i,)) for i in range(4)]

    def connect(self, timeout):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            s.settimeout(timeout)
            s.connect(self.path)
            return s
        except OSError:
            s.close()
            return None

    def count(self, kind):
        with self.lock:
            self.counts[kind] += 1

    def hold(self):
        held = []
        while not self.stopping.is_set():
            # Drop the ones the store hung up on, then top up to `silent`.
            alive = []
            for s in held:
                try:
                    if s.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK) == b"":
                        s.close()
                        continue
                except BlockingIOError:
                    pass
                except OSError:
                    s.close()
                    continue
                alive.append(s)
            held = alive
            while len(held) < self.silent and not self.stopping.is_set():
                s = self.connect(0.5)
                if s is None:
                    break
                held.append(s)
                self.count("silent")
            self.stopping.wait(0.2)
        for s in held:
            s.close()

    def churn(self, i):
        kinds = ["garbage", "oversized", "close"]
        rnd = random.Random(i)
        while not self.stopping.is_set():
            kind = kinds[rnd.randrange(3)]
            s = self.connect(2)
            if s is None:
                self.stopping.wait(0.05)
                continue
            try:
                if kind == "garbage":
                    s.send(os.urandom(rnd.randint(1, 512)))
                elif kind == "oversized":
                    s.send(b"\xff" * 200000)
            except OSError:
                pass
            s.close()
            self.count(kind)
            self.stopping.wait(0.02)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for t in self.threads:
            t.join()


def raise_fd_limit(want):
    """The store holds a connection per client and this process one per
    silent client: a fresh machine's 1024 is too few (root may raise it)."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(want, soft), max(want, hard)))
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def soak_fdstore(tools, work):
    """Legitimate clients are `fdstore exec --wait` processes that must get
    the store's socket and run their command; up to --concurrency run at
    once beside the hostile share, so the store has thousands of clients
    connected at a time (its fd count, sampled, says how many). With
    --restart the store is stopped and a new one started half-way; a failed
    hand-off is reported with whether it was in flight during the restart."""
    part = "fdstore"
    n = ARGS.clients
    concurrency = min(ARGS.concurrency, n)
    silent = min(ARGS.silent, n // 2)
    limit = raise_fd_limit(16384)
    say("fdstore: %d legitimate clients (fdstore exec --wait), %d at a time, beside %d silent "
        "connections held open and 4 threads of garbage, oversized and connect-and-close "
        "clients%s (fd limit %d)" % (n, concurrency, silent, ", a store restart half-way" if ARGS.restart else "", limit))
    path = os.path.join(work, "fds.sock")
    log = os.path.join(work, "fdstore.log")
    serve_cmd = [tools["fdstore"], "serve", "--socket=" + path, "--listen=udp:127.0.0.1:0=dns",
                 "--max_clients=4096", "--client_timeout=120s"]
    server = start(serve_cmd, open(log, "w"))
    wait_for = time.monotonic() + 10
    while not os.path.exists(path) and time.monotonic() < wait_for:
        time.sleep(0.01)
    base_fds = fd_count(server.pid)
    results = []
    lock = threading.Lock()
    done = [0]
    restart = {}
    peak = [0]
    sampling = threading.Event()
    sampling.set()
    servers = [server]

    def sample():  # connections at the store = its fds beyond those at start
        while sampling.is_set():
            try:
                peak[0] = max(peak[0], fd_count(servers[-1].pid) - base_fds)
            except OSError:
                pass
            time.sleep(0.02)

    def legit(i):
        t0 = time.monotonic()
        p = subprocess.run([tools["fdstore"], "exec", "--socket=" + path, "--wait=30s", "--timeout=30s",
                            "--names=dns", "--", "/bin/sh", "-c",
                            'test "$LISTEN_FDNAMES" = dns -a "$LISTEN_FDS" = 1'],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        with lock:
            done[0] += 1
            results.append((p.returncode, p.stderr.strip(), t0, time.monotonic()))

    sampler = threading.Thread(target=sample)
    sampler.start()
    t = time.monotonic()
    with Hostile(path, silent) as hostile:
        # Let the silent ones take their places first.
        settle = time.monotonic() + 10
        while hostile.counts["silent"] < silent and time.monotonic() < settle:
            time.sleep(0.05)
        with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
            futures = [pool.submit(legit, i) for i in range(n)]
            while ARGS.restart and done[0] < n // 2 and server.poll() is None:
                time.sleep(0.01)
            if ARGS.restart:
                restart["from"] = time.monotonic()
                stop(server)
                server = start(serve_cmd, open(log, "a"))
                servers.append(server)
                while not os.path.exists(path) and server.poll() is None:
                    time.sleep(0.005)
                restart["to"] = time.monotonic()
            for f in futures:
                f.result()
    sampling.clear()
    sampler.join()
    seconds = time.monotonic() - t
    alive = server.poll() is None
    code = stop(server)
    failed = [r for r in results if r[0] != 0]
    ok = len(results) - len(failed)
    during = [r for r in failed if restart and r[2] <= restart["to"] and r[3] >= restart["from"]]
    say("  %d of %d hand-offs done, %d failed, in %.1f s; up to %d clients connected to the store at once"
        % (ok, n, len(failed), seconds, peak[0]))
    say("  hostile: %s" % ", ".join("%d %s" % (v, k) for k, v in sorted(hostile.counts.items())))
    if ARGS.restart:
        say("  store restarted once (down %.0f ms); %d of the failed hand-offs were in flight then, "
            "%d were not" % (1000 * (restart["to"] - restart["from"]), len(during), len(failed) - len(during)))
    say("  the last store %s" % ("stayed up" if alive else "DIED"))
    if failed:
        kinds = {}
        for r in failed:
            key = "exit %d: %s" % (r[0], re.sub(r"\d+", "N", (r[1].splitlines() or [""])[-1])[:160])
            kinds[key] = kinds.get(key, 0) + 1
        for key, count in sorted(kinds.items(), key=lambda kv: -kv[1])[:4]:
            say("    %dx %s" % (count, key))
    check(not failed, part, "%d legitimate hand-offs failed (%d in flight during the restart)"
          % (len(failed), len(during)))
    check(peak[0] >= min(1000, silent), part, "the store never had %d clients at once (peak %d): "
          "the load was not what it says" % (min(1000, silent), peak[0]))
    check(alive and code == 0, part, "fdstore serve exited %s" % code)
    check(not os.path.exists(path), part, "the control socket was left behind")


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--minutes", type=float, default=2.0)
    p.add_argument("--spawns", type=int, default=10000)
    p.add_argument("--clients", type=int, default=3000, help="fdstore: legitimate clients")
    p.add_argument("--concurrency", type=int, default=200, help="fdstore: legitimate clients at once")
    p.add_argument("--silent", type=int, default=1500,
                   help="fdstore: hostile connections held open at once (at most clients/2)")
    p.add_argument("--only", default="relay,spawn,fdstore")
    p.add_argument("--restart", type=int, default=1, help="fdstore: restart the store half-way (0: no)")
    for tool in ("udp_relay", "udp_echo", "udp_probe", "sandbox_run", "fdstore"):
        p.add_argument("--" + tool, required=True)
    ARGS = p.parse_args()
    tools = {t: getattr(ARGS, t) for t in ("udp_relay", "udp_echo", "udp_probe", "sandbox_run", "fdstore")}
    with tempfile.TemporaryDirectory(prefix="soak.") as work:
        for part in ARGS.only.split(","):
            t = time.monotonic()
            try:
                {"relay": soak_relay, "spawn": soak_spawn, "fdstore": soak_fdstore}[part](tools, work)
            except Exception as e:  # a part that breaks is a failed part, not a crash
                check(False, part, "%s: %s" % (type(e).__name__, e))
            say("  (%s took %.0f s)" % (part, time.monotonic() - t))
    if FAILED:
        say("soak: FAILED: " + "; ".join(FAILED))
        return 1
    say("soak: every part passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
