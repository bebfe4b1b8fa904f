#!/usr/bin/env python3
"""Every benchmark of the project against its peers, in one run.

    tools/bazel run //tests/bench [-- --quick] [-- --out=DIR] [-- --only=relay,spawn]

Builds the benchmarks with -c opt, runs each (cmsg vs raw CMSG_* macros; fd
passing vs raw C and Python; fdstore hand-off vs raw C; sandbox spawn vs
bubblewrap and fork+exec; sandboxed worker start and replacement of
worker_pool vs fork+exec, bubblewrap and sandbox_run; UDP relay vs no relay,
a naive relay, socat and nginx), and writes into the results directory:
  summary.md      one Markdown page: machine, load, every figure and ratio
  *.svg           charts (gnuplot)
  raw/*.txt       each benchmark's own output, as printed
The per-area benchmarks print their own formats; they are parsed here
line by line, and a line that does not parse is kept verbatim in the page
with a note rather than dropped. Full run under 10 minutes on 2 cores;
--quick under 2. Installs its peers (hyperfine, bubblewrap, socat, nginx,
gnuplot) with apt-get when missing (as root).
"""

import argparse
import datetime
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time

PEERS = {  # command -> Debian package
    "hyperfine": "hyperfine",
    "bwrap": "bubblewrap",
    "socat": "socat",
    "nginx": "nginx",
    "gnuplot": "gnuplot-nox",
    "valgrind": "valgrind",  # cmsg_benchmark's instruction counts without a PMU
}
TARGETS = [
    "//lib/cmsg:cmsg_benchmark",
    "//tests/bench/fdstore:handoff_benchmark",
    "//tests/bench/udp:udp_blast",
    "//tests/bench/udp:udp_sink",
    "//tests/bench/udp:naive_relay",
    "//tests/bench/udp:mmsg_relay",
    "//tools/udp_relay",
    "//tools/sandbox_run",
    "//tools/worker_pool",
    "//tests/bench/pool:ping_worker",
    "//tests/bench/pool:fork_exec_launcher",
]
SECTIONS = ["cmsg", "fdpass", "handoff", "spawn", "pool", "relay"]
BOUND_SECONDS = {False: 600, True: 120}  # the full run's and --quick's benchmark time


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def sh(cmd, timeout, **kw):
    """Runs cmd; returns (exit code, stdout+stderr). A timeout is exit 124."""
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=timeout, **kw)
        return p.returncode, p.stdout
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        return 124, out + "\n(timed out after %ds)" % timeout


def install_peers():
    missing = sorted({pkg for cmd, pkg in PEERS.items() if shutil.which(cmd) is None})
    if not os.path.exists("/usr/lib/nginx/modules/ngx_stream_module.so"):
        missing.append("libnginx-mod-stream")
    if not missing:
        return
    if os.geteuid() != 0:
        sys.exit("bench: missing %s; install them (apt-get install %s) or run as root"
                 % (" ".join(missing), " ".join(missing)))
    log("installing " + " ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends"] + missing
    if subprocess.run(cmd, env=env, stdout=sys.stderr).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, stdout=sys.stderr)
        subprocess.run(cmd, env=env, stdout=sys.stderr, check=True)


def cpu_sample():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v), idle


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with open("/proc/meminfo") as f:
        kb = int(f.readline().split()[1])
        mem = "%.0f GiB" % (kb / 2**20)
    a = cpu_sample()
    time.sleep(2)
    b = cpu_sample()
    busy = 1 - (b[1] - a[1]) / max(b[0] - a[0], 1)
    return {
        "cpus": os.cpu_count(), "model": model, "memory": mem,
        "kernel": platform.release(), "host": socket.gethostname(),
        "busy_before": busy, "load_before": os.getloadavg(),
    }


# --- Each section returns (markdown, chart spec or None).

def parse_cmsg(out):
    rows, unparsed = [], []
    head = re.compile(r"^work\s+raw ns")
    started = False
    for line in out.splitlines():
        if head.match(line):
            started = True
            continue
        if not started or not line.strip():
            continue
        # work, raw ns, cmsg ns, ratio, fast ns, ratio, raw/fast instructions
        # and cycles per operation ("n/a" without hardware counters), target.
        m = re.match(r"^(.{30})\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)x" + r"\s+(\S+)" * 6
                     + r"\s+(.*)$", line)
        if m:
            rows.append([m.group(1).strip(), float(m.group(2)), float(m.group(3)),
                         float(m.group(4))] + [m.group(i) for i in range(5, 11)]
                        + [m.group(11).strip()])
        else:
            unparsed.append(line)
    return rows, unparsed


def section_cmsg(bin_dir, quick, raw):
    min_time = "0.05" if quick else "0.2"
    rc, out = sh([bin_dir + "/lib/cmsg/cmsg_benchmark", "--benchmark_min_time=" + min_time,
                  "--benchmark_repetitions=" + ("1" if quick else "2")], 300)
    raw["cmsg"] = out
    rows, unparsed = parse_cmsg(out)
    md = ["## Control messages: cmsg vs raw `CMSG_*` macros",
          "", "`lib/cmsg:cmsg_benchmark`; ns per operation (lower is better); "
          "ratio = cmsg / raw time (throughput rows: cmsg / raw rate).", ""]
    if rc != 0 or not rows:
        md.append("**failed** (exit %d): see raw/cmsg.txt" % rc)
        return md, None, rows
    md += ["| work | raw ns | cmsg ns | ratio | fast ns | fast ratio | raw ins | fast ins "
           "| raw cyc | fast cyc | target |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        md.append("| %s | %.1f | %.1f | %.3fx | %s | %s | %s | %s | %s | %s | %s |" % tuple(r))
    for line in unparsed:
        md.append("\n(unparsed line kept as printed: `%s`)" % line.strip())
    chart = {"name": "cmsg", "title": "cmsg vs raw CMSG_* (ns, lower is better)",
             "ylabel": "ns", "series": ["raw CMSG_*", "cmsg"],
             "rows": [(r[0], r[1], r[2]) for r in rows if not r[0].startswith("fd passing")]}
    return md, chart, rows


PY_FDPASS = r"""
import os, socket, sys, time
n, k = int(sys.argv[1]), int(sys.argv[2])
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(k)]
def once():
    socket.send_fds(a, [b"x"], fds)
    msg, got, flags, addr = socket.recv_fds(b, 16, 64)
    for fd in got: os.close(fd)
for _ in range(1000): once()
best = None
for _ in range(5):
    t = time.perf_counter_ns()
    for _ in range(n): once()
    ns = (time.perf_counter_ns() - t) / n
    best = ns if best is None else min(best, ns)
print(best)
"""


def section_fdpass(cmsg_rows, quick, raw):
    md = ["## fd passing: cmsg vs raw C vs Python",
          "", "ns per message sent and received over a unix socket pair "
          "(cmsg and raw C from `cmsg_benchmark`; Python's `socket.send_fds`/`recv_fds`, "
          "best of 5 loops, run here). Ratio = time / cmsg's.", ""]
    n = "2000" if quick else "20000"
    py = {}
    text = []
    for k in (1, 64):
        rc, out = sh([sys.executable, "-c", PY_FDPASS, n, str(k)], 120)
        text.append("k=%d rc=%d %s" % (k, rc, out.strip()))
        try:
            py[k] = float(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            py[k] = None
    raw["fdpass_python"] = "\n".join(text) + "\n"
    md += ["| fds per message | raw C ns | cmsg ns | Python ns | raw C / cmsg | Python / cmsg |",
           "|---:|---:|---:|---:|---:|---:|"]
    chart_rows = []
    for k in (1, 64):
        row = next((r for r in cmsg_rows if r[0] == "fd passing %d fd%s/msg" % (k, "" if k == 1 else "s")), None)
        rawc = row[1] if row else None
        lib = row[2] if row else None
        p = py.get(k)
        def f(x): return "%.1f" % x if x else "-"
        def ratio(x): return "%.2fx" % (x / lib) if x and lib else "-"
        md.append("| %d | %s | %s | %s | %s | %s |" % (k, f(rawc), f(lib), f(p), ratio(rawc), ratio(p)))
        chart_rows.append(("%d fd%s/msg" % (k, "" if k == 1 else "s"), rawc or 0, lib or 0, p or 0))
    chart = {"name": "fdpass", "title": "fd passing, ns per message (lower is better)",
             "ylabel": "ns", "series": ["raw C", "cmsg", "Python"], "rows": chart_rows}
    return md, chart


def section_handoff(bin_dir, quick, raw):
    rc, out = sh([bin_dir + "/tests/bench/fdstore/handoff_benchmark"], 300)
    raw["handoff"] = out
    md = ["## fdstore hand-off vs raw C",
          "", "`tests/bench/fdstore:handoff_benchmark`: hand-offs per second, a new "
          "client connecting and fetching N sockets (higher is better).", ""]
    rows = []
    for line in out.splitlines():
        # placement, N, fdstore/s, raw/s, fdstore/raw, then (ignored here) the
        # kept-connection columns and the target verdict.
        m = re.match(r"^(free|split|one-cpu)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)(\s|$)",
                     line)
        if m:
            rows.append((m.group(1), int(m.group(2)), float(m.group(3)), float(m.group(4)),
                         float(m.group(5))))
    if rc != 0 or not rows:
        md.append("**failed** (exit %d): see raw/handoff.txt" % rc)
        return md, None
    md += ["Placement: free (the scheduler's), split (client and servers on two CPUs: "
           "wake-up-bound), one-cpu (all on one: CPU-bound); the target is judged on free.", "",
           "| placement | N fds | fdstore/s | raw C/s | fdstore / raw |",
           "|---|---:|---:|---:|---:|"]
    for r in rows:
        md.append("| %s | %d | %.0f | %.0f | %.2fx |" % r)
    chart = {"name": "handoff", "title": "fd hand-offs per second (higher is better)",
             "ylabel": "hand-offs/s", "series": ["fdstore", "raw C"],
             "rows": [("N=%d %s" % (r[1], r[0]), r[2], r[3]) for r in rows]}
    return md, chart


def section_spawn(workspace, quick, raw):
    rounds, runs = ("1", "30") if quick else ("3", "100")
    rc, out = sh([workspace + "/tests/bench/sandbox/spawn_latency.sh", rounds, runs], 400,
                 cwd=workspace)
    raw["spawn"] = out
    md = ["## Sandbox spawn vs bubblewrap and fork+exec",
          "", "`tests/bench/sandbox/spawn_latency.sh %s %s` (hyperfine; ms to run "
          "/bin/true; lower is better)." % (rounds, runs), ""]
    rows = []
    for line in out.splitlines():
        m = re.match(r"^(\S.*?)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)x\s+([\d.]+)x\s*$", line)
        if m:
            rows.append((m.group(1).strip(),) + tuple(float(m.group(i)) for i in range(2, 7)))
    if rc != 0 or not rows:
        md.append("**failed** (exit %d): see raw/spawn.txt" % rc)
        return md, None
    md += ["| command | mean ms | median ms | min ms | median vs bwrap | vs fork+exec |",
           "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        md.append("| %s | %.2f | %.2f | %.2f | %.2fx | %.2fx |" % r)
    chart = {"name": "spawn", "title": "sandbox spawn latency, median ms (lower is better)",
             "ylabel": "ms", "series": ["median"], "rows": [(r[0], r[2]) for r in rows]}
    return md, chart


def section_pool(workspace, bin_dir, quick, raw):
    runs = "16" if quick else "40"
    cmd = [sys.executable, "-B", workspace + "/tests/bench/pool/pool_bench.py",
           "--worker_pool=" + bin_dir + "/tools/worker_pool/worker_pool",
           "--sandbox_run=" + bin_dir + "/tools/sandbox_run/sandbox_run",
           "--ping_worker=" + bin_dir + "/tests/bench/pool/ping_worker",
           "--fork_exec_launcher=" + bin_dir + "/tests/bench/pool/fork_exec_launcher",
           "--runs=" + runs]
    rc, out = sh(cmd, 400)
    raw["pool"] = out
    md = ["## Sandboxed worker start and replacement: worker_pool vs fork+exec, bubblewrap, sandbox_run",
          "", "`tests/bench/pool/pool_bench.sh %s` (ms, medians of %s of each; lower is better; "
          "a start is from the request to the worker's first datagram, a replacement from "
          "starting the new worker to the old one gone). Ratios of medians." % (runs, runs), ""]
    rows, targets = [], []
    num = r"\s+([\d.]+)"
    for line in out.splitlines():
        m = re.match(r"^(\S.*?)" + num * 2 + r"\s+([\d.]+)x\s+([\d.]+)x" + num * 2 +
                     r"\s+([\d.]+)x\s+([\d.]+)x\s*$", line)
        if m:
            rows.append((m.group(1).strip(),) + tuple(float(m.group(i)) for i in range(2, 10)))
        elif line.startswith("target "):
            targets.append(line[len("target "):].strip())
    if rc != 0 or not rows:
        md.append("**failed** (exit %d): see raw/pool.txt" % rc)
        return md, None
    md += ["| launcher | start ms | vs fork+exec | vs bwrap | replace ms | vs fork+exec | vs bwrap |",
           "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        md.append("| %s | %.2f | %.2fx | %.2fx | %.2f | %.2fx | %.2fx |"
                  % (r[0], r[1], r[3], r[4], r[5], r[7], r[8]))
    if targets:
        md += ["", "Targets as the benchmark prints them:", ""] + ["- " + t for t in targets]
    chart = {"name": "pool", "title": "sandboxed worker start and replacement, median ms (lower is better)",
             "ylabel": "ms", "series": ["start", "replacement"],
             "rows": [(r[0], r[1], r[5]) for r in rows]}
    return md, chart


def section_relay(workspace, bin_dir, quick, raw):
    args = ["--runs=1", "--seconds=0.4", "--sizes=64"] if quick else \
           ["--runs=3", "--seconds=1", "--sizes=64,1200"]
    here = workspace + "/tests/bench/udp"
    cmd = [sys.executable, "-B", here + "/run_benchmark.py",
           "--relay=" + bin_dir + "/tools/udp_relay/udp_relay",
           "--blast=" + bin_dir + "/tests/bench/udp/udp_blast",
           "--sink=" + bin_dir + "/tests/bench/udp/udp_sink",
           "--naive=" + bin_dir + "/tests/bench/udp/naive_relay",
           "--mmsg=" + bin_dir + "/tests/bench/udp/mmsg_relay"] + args
    rc, out = sh(cmd, 900)  # the many-clients rows warm 10,000 clients up first
    raw["relay"] = out
    md = ["## UDP relay vs no relay, naive relay, socat, nginx",
          "", "`tests/bench/udp/run_benchmark.py %s` (loopback; datagrams a second "
          "reaching the sink, higher is better; loss = 1 - received/sent)." % " ".join(args), ""]
    rows, notes = [], []
    for line in out.splitlines():
        m = re.match(r"^\s*(\d+)B\s+(.*?)\s+([\d.]+) pps\s+loss\s+([\d.]+)%\s+cpu\s+(.*?)"
                     r"(?:\s+warm-up.*)?$", line)
        if m:
            rows.append((int(m.group(1)), m.group(2).strip(), float(m.group(3)),
                         float(m.group(4)), m.group(5).strip()))
        elif re.match(r"^\s*\d+B\s+ratios", line):
            notes.append(line.strip())
    if rc != 0 or not rows:
        md.append("**failed** (exit %d): see raw/relay.txt" % rc)
        return md, None
    md += ["| size | setup | pps | loss | cpu |", "|---:|---|---:|---:|---|"]
    for r in rows:
        md.append("| %dB | %s | %.0f | %.1f%% | %s |" % r)
    if notes:
        md += ["", "Ratios as the benchmark prints them:", ""] + ["- " + n for n in notes]
    small = min(r[0] for r in rows)
    chart = {"name": "relay", "log": True,
             "title": "UDP relay, %dB datagrams: pps at the sink (higher is better; log scale)" % small,
             "ylabel": "datagrams/s", "series": ["pps"],
             "rows": [(r[1], r[2]) for r in rows if r[0] == small]}
    return md, chart


def gnuplot(chart, out_dir):
    data = os.path.join(out_dir, "raw", chart["name"] + ".dat")
    with open(data, "w") as f:
        for row in chart["rows"]:
            label = row[0].replace('"', "'")
            f.write('"%s" %s\n' % (label, " ".join("%g" % v for v in row[1:])))
    n = len(chart["rows"])
    width = max(640, 90 * n * len(chart["series"]) + 200)
    plots = ", ".join(
        "'%s' using %d:xtic(1) title '%s'" % (data, i + 2, s) for i, s in enumerate(chart["series"]))
    script = """
set terminal %s noenhanced
set output '%s'
set title "%s"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set ylabel "%s"
set grid ytics
set xtics rotate by -25 scale 0
set key top right
set bmargin 13
set rmargin 12
""" + ("set logscale y\nset yrange [*:*]\n" if chart.get("log") else "set yrange [0:*]\n") + """plot %s
"""
    # SVG for the page, PNG for places that show no SVG.
    for ext, term in (("svg", "svg size %d,520 dynamic font 'sans,11' background rgb 'white'" % width),
                      ("png", "pngcairo size %d,520 font 'sans,10' background rgb 'white'" % width)):
        out_file = os.path.join(out_dir, chart["name"] + "." + ext)
        rc, out = sh(["gnuplot"], 60, input=script % (
            term, out_file, chart["title"], chart["ylabel"], plots))
        if rc != 0:
            log("gnuplot failed for %s: %s" % (out_file, out.strip()))
            return None
    return chart["name"] + ".svg"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="short runs (under 2 minutes)")
    p.add_argument("--out", help="results directory (default bench-results/DATE in the checkout)")
    p.add_argument("--only", default=",".join(SECTIONS),
                   help="comma-separated sections: " + ",".join(SECTIONS))
    p.add_argument("--workspace", default=os.environ.get("BUILD_WORKSPACE_DIRECTORY", os.getcwd()))
    a = p.parse_args()
    only = [s for s in a.only.split(",") if s]
    for s in only:
        if s not in SECTIONS:
            sys.exit("bench: unknown section '%s' (%s)" % (s, ",".join(SECTIONS)))
    ws = os.path.abspath(a.workspace)
    if not os.path.exists(os.path.join(ws, "WORKSPACE")):
        sys.exit("bench: %s is not the checkout (run it with tools/bazel run //tests/bench)" % ws)
    started = datetime.datetime.now(datetime.timezone.utc)
    out_dir = os.path.abspath(a.out or os.path.join(ws, "bench-results", started.strftime("%Y%m%d-%H%M%S")))
    os.makedirs(os.path.join(out_dir, "raw"), exist_ok=True)
    t0 = time.monotonic()

    install_peers()
    log("building the benchmarks with -c opt")
    build_t0 = time.monotonic()
    bazel = [os.path.join(ws, "tools/bazel")]
    rc, out = sh(bazel + ["build", "-c", "opt"] + TARGETS, 1200, cwd=ws)
    if rc != 0:
        sys.exit("bench: the build failed:\n" + out[-3000:])
    rc, bin_dir = sh(bazel + ["info", "-c", "opt", "bazel-bin"], 120, cwd=ws)
    bin_dir = bin_dir.strip().splitlines()[-1]
    build_seconds = time.monotonic() - build_t0
    m = machine()
    log("machine: %d CPUs, %s; %.0f%% busy before the run" % (m["cpus"], m["model"], 100 * m["busy_before"]))

    raw, charts, parts = {}, [], []
    cmsg_rows = []
    timings = {}
    bench_t0 = time.monotonic()
    busy0 = cpu_sample()
    for s in SECTIONS:
        if s not in only:
            continue
        log("running " + s)
        t = time.monotonic()
        if s == "cmsg":
            md, chart, cmsg_rows = section_cmsg(bin_dir, a.quick, raw)
        elif s == "fdpass":
            if not cmsg_rows:
                _, _, cmsg_rows = section_cmsg(bin_dir, True, raw)
            md, chart = section_fdpass(cmsg_rows, a.quick, raw)
        elif s == "handoff":
            md, chart = section_handoff(bin_dir, a.quick, raw)
        elif s == "spawn":
            md, chart = section_spawn(ws, a.quick, raw)
        elif s == "pool":
            md, chart = section_pool(ws, bin_dir, a.quick, raw)
        else:
            md, chart = section_relay(ws, bin_dir, a.quick, raw)
        timings[s] = time.monotonic() - t
        if chart and chart["rows"]:
            svg = gnuplot(chart, out_dir)
            if svg:
                md += ["", "![%s](%s)" % (chart["title"], svg)]
                charts.append(svg)
        parts.append("\n".join(md))
    busy1 = cpu_sample()
    for name, text in raw.items():
        with open(os.path.join(out_dir, "raw", name + ".txt"), "w") as f:
            f.write(text)

    total = time.monotonic() - t0
    bench_seconds = total - build_seconds
    load_after = os.getloadavg()
    head = [
        "# Benchmarks, %s" % started.strftime("%Y-%m-%d %H:%M UTC"),
        "",
        "Machine: %s, %d CPUs (%s), %s memory, kernel %s; gcc -O2 (`-c opt`)%s." % (
            m["host"], m["cpus"], m["model"], m["memory"], m["kernel"],
            "; **--quick** (short runs: rough figures)" if a.quick else ""),
        "",
        "Load: other processes kept the CPUs %.0f%% busy in the 2 s before the run; "
        "load average %.2f / %.2f / %.2f before and %.2f / %.2f / %.2f after (1/5/15 min); "
        "the CPUs were %.0f%% busy during the benchmarks. On a shared machine the "
        "absolute figures are low; compare the ratios, taken in the same run." % (
            100 * m["busy_before"], *m["load_before"], *load_after,
            100 * (1 - (busy1[1] - busy0[1]) / max(busy1[0] - busy0[0], 1))),
        "",
        "The benchmarks took %.0f s (%s), after %.0f s of building; the bound is %d s%s." % (
            bench_seconds, ", ".join("%s %.0f s" % kv for kv in timings.items()), build_seconds,
            BOUND_SECONDS[a.quick], "" if bench_seconds <= BOUND_SECONDS[a.quick] else
            " (**over it**: the machine was busy, see the load above)"),
        "",
        "Each benchmark runs its peers in the same run; every ratio compares "
        "figures taken minutes apart at most, on the same machine.",
    ]
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write("\n".join(head) + "\n\n" + "\n\n".join(parts) + "\n")
    print(open(os.path.join(out_dir, "summary.md")).read())
    log("load average %.2f before, %.2f after; the benchmarks took %.0f s (bound %d s), the build %.0f s"
        % (m["load_before"][0], load_after[0], bench_seconds, BOUND_SECONDS[a.quick], build_seconds))
    log("results in %s (summary.md, %s, raw/)" % (out_dir, ", ".join(charts) or "no charts"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
