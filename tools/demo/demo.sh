#!/usr/bin/env bash
# The main job: the project's pieces working together, on loopback, in a few
# seconds. Runs the real tool binaries (Bazel data dependencies):
#   1. library  the cmsg library alone: a file and a UDP socket passed over
#               SCM_RIGHTS, a source address picked with IP_PKTINFO.
#   2. sandbox  udp_echo inside `sandbox_run --net=none` serves a UDP socket
#               bound outside and handed in over SCM_RIGHTS.
#   3. relay    udp_relay on the wildcard address forwards to it; udp_probe
#               --expect_source checks replies via 127.0.0.1 and 127.0.0.2.
#   4. restart  the worker's socket lives in `fdstore serve`; a new sandboxed
#               worker (fdstore exec -> worker_pool) replaces the old one
#               while probes flow; losses counted.
# Exit: 0 when every step worked; 1 naming the step that failed; 2 bad usage.
# Leaves no process, mount, socket file or temporary file behind.
set -uo pipefail

readonly ALL_STEPS="library,sandbox,relay,restart"
steps="$ALL_STEPS"
probes=1500
interval=2ms

usage() {
  cat <<EOF
demo: the project's pieces working together, on loopback.
Usage: demo [--steps=STEP,...] [--probes=N] [--plain]
Steps (default: all, in this order):
  library  the cmsg library alone: a parent passes a file and a UDP socket to
           a child over SCM_RIGHTS; the child replies from an address it picks
           with IP_PKTINFO; the parent decodes pktinfo, timestamp, credentials.
  sandbox  udp_echo inside sandbox_run --net=none serves a UDP socket that
           sandbox_run bound outside and handed in over SCM_RIGHTS.
  relay    udp_relay on 0.0.0.0 forwards to the sandboxed echo server;
           udp_probe --expect_source checks every reply comes back from the
           address it probed (127.0.0.1, then 127.0.0.2).
  restart  fdstore serve holds the echo socket; fdstore exec fetches it for
           worker_pool, which hands it into a sandbox (--net=none); a second
           such worker replaces the first while udp_probe
           sends --probes probes (default $probes, one every $interval); the
           probes lost are reported.
--plain    no terminal progress lines even on a terminal (the default when
           stdout is not a terminal).
Exit: 0 when every step worked, 1 naming the failed step, 2 on bad usage.
Needs root (sandbox_run and worker_pool make namespaces).
EOF
}

plain=0
[[ -t 1 ]] || plain=1
for arg in "$@"; do
  case "$arg" in
    --steps=*) steps="${arg#--steps=}" ;;
    --probes=*) probes="${arg#--probes=}" ;;
    --plain) plain=1 ;;
    --help|-h|--helpfull) usage; exit 0 ;;
    *) echo "demo: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$probes" =~ ^[0-9]+$ ]] && ((probes >= 10 && probes <= 100000)) ||
  { echo "demo: --probes must be 10 to 100000" >&2; exit 2; }
IFS=, read -r -a step_list <<<"$steps"
((${#step_list[@]})) || { echo "demo: --steps is empty" >&2; exit 2; }
for s in "${step_list[@]}"; do
  [[ ",$ALL_STEPS," == *",$s,"* ]] ||
    { echo "demo: unknown step '$s' (steps: $ALL_STEPS)" >&2; exit 2; }
done

# --- Finding the tools: Bazel runfiles, or (installed) beside this script.
find_tool() {  # find_tool PACKAGE/NAME -> absolute path of the real file
  local rel="$1" name="${1##*/}" c
  for c in "${RUNFILES_DIR:-}/cmsg/$rel" "$0.runfiles/cmsg/$rel" \
           "${TEST_SRCDIR:-}/cmsg/$rel" "$(dirname "$0")/$name"; do
    if [[ -x "$c" && -f "$c" ]]; then readlink -f "$c"; return 0; fi
  done
  command -v "$name" 2>/dev/null | xargs -r readlink -f
}

# --- Output: headers and results always; transient progress on a terminal.
bold="" dim="" reset=""
if ((!plain)); then bold=$'\e[1m' dim=$'\e[2m' reset=$'\e[0m'; fi
say() { ((plain)) || printf '\r\e[K'; printf '%s\n' "$*"; }
header() { say "${bold}$*${reset}"; }
progress() { ((plain)) || printf '\r\e[K%s  … %s%s' "$dim" "$*" "$reset"; }
current_step=""
die() {
  ((plain)) || printf '\r\e[K'
  echo "demo: step '$current_step' failed: $*" >&2
  exit 1
}

# --- Processes and files the demo owns, all removed on exit.
tmp="$(mktemp -d "${TMPDIR:-/tmp}/cmsg-demo.XXXXXX")" || { echo "demo: mktemp failed" >&2; exit 1; }
pids=()
cleanup() {
  local p
  trap '' INT TERM  # a second signal must not cut the clean-up short
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.02; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
export CMSG_DEMO_RUN="${CMSG_DEMO_RUN:-$$-$RANDOM}"  # marks every process of this run

stop() {  # stop PID: SIGTERM, wait for it (bounded), forget it
  local p="$1" i
  kill -TERM "$p" 2>/dev/null
  for i in $(seq 250); do kill -0 "$p" 2>/dev/null || break; sleep 0.02; done
  kill -KILL "$p" 2>/dev/null
  wait "$p" 2>/dev/null
  local keep=()
  for i in "${pids[@]}"; do [[ "$i" == "$p" ]] || keep+=("$i"); done
  pids=("${keep[@]}")
}

wait_for_line() {  # wait_for_line FILE REGEX PID WHAT: prints the line
  local file="$1" re="$2" pid="$3" what="$4" line i
  for i in $(seq 500); do
    line="$(grep -E -m1 -- "$re" "$file" 2>/dev/null)" && { echo "$line"; return 0; }
    kill -0 "$pid" 2>/dev/null || { sleep 0.05; die "$what exited early: $(tail -n 3 "$file" | tr '\n' ' ')"; }
    sleep 0.01
  done
  die "$what did not start within 5 s: $(tail -n 3 "$file" | tr '\n' ' ')"
}

sandbox_run="$(find_tool tools/sandbox_run/sandbox_run)"
fdstore="$(find_tool tools/fdstore/fdstore)"
udp_echo="$(find_tool tools/udp_echo/udp_echo)"
udp_relay="$(find_tool tools/udp_relay/udp_relay)"
udp_probe="$(find_tool tools/udp_probe/udp_probe)"
worker_pool="$(find_tool tools/worker_pool/worker_pool)"
library_demo="$(find_tool tools/demo/library_demo)"
for tool in sandbox_run fdstore udp_echo udp_relay udp_probe worker_pool library_demo; do
  [[ -n "${!tool}" ]] || { echo "demo: cannot find the $tool binary (run it with tools/bazel run //tools/demo)" >&2; exit 1; }
done
# Unix socket paths are limited to 107 bytes and TMPDIR may be deep: the
# control socket is named relative to the temporary directory.
cd "$tmp" || exit 1
# The read-only root every sandboxed worker gets: the system's libraries.
readonly SYSTEM_BINDS="/usr,/lib,/lib64"

probe_summary() {  # probe_summary LOG -> "S R LOSS P50"
  local log="$1" sent recv loss p50
  read -r sent recv loss < <(sed -nE 's/.*: ([0-9]+) sent, ([0-9]+) received, ([0-9.]+)% loss.*/\1 \2 \3/p' "$log" | head -1)
  p50="$(sed -nE 's/^rtt kernel timestamps:.*p50 ([0-9.]+ [mun]?s).*/\1/p' "$log" | head -1)"
  p50="${p50// /}"
  echo "${sent:-0} ${recv:-0} ${loss:-100} ${p50:-?}"
}

probe() {  # probe TARGET COUNT: runs udp_probe --expect_source; prints "S R LOSS P50 RC"
  local log="$tmp/probe.$RANDOM.log" rc
  "$udp_probe" --target="$1" --count="$2" --interval=2ms --timeout=2s --expect_source >"$log" 2>&1
  rc=$?
  echo "$(probe_summary "$log") $rc"
  if ((rc != 0)); then sed 's/^/    udp_probe: /' "$log" >&2; fi
}

# --- Step 1: the library alone.
step_library() {
  header "1. The cmsg library: a file and a UDP socket passed to a child over SCM_RIGHTS"
  local out rc
  out="$("$library_demo" 2>&1)"; rc=$?
  ((rc == 0)) || die "library_demo exited $rc: $out"
  # The child's "sending it" line says again what the parent's datagram line shows.
  grep -v '^child:  sending it' <<<"$out" | sed 's/^/   /'
}

# Starts udp_echo in a sandbox with no network, on a socket bound outside.
# Sets echo_pid and echo_addr.
start_sandboxed_echo() {
  local log="$tmp/echo.log" line
  progress "starting udp_echo in sandbox_run --net=none"
  "$sandbox_run" --net=none --listen=udp:127.0.0.1:0=echo \
      --ro_bind="$SYSTEM_BINDS,$udp_echo:/udp_echo" --timeout=5m \
      --setenv=CMSG_DEMO_RUN="$CMSG_DEMO_RUN" \
      -- /udp_echo >"$log" 2>&1 &
  echo_pid=$!; pids+=("$echo_pid")
  line="$(wait_for_line "$log" 'udp_echo: serving ' "$echo_pid" "sandboxed udp_echo")" || exit 1
  echo_addr="$(sed -nE 's/.*serving ([0-9.]+:[0-9]+).*/\1/p' <<<"$line")"
  [[ -n "$echo_addr" ]] || die "cannot read udp_echo's address from: $line"
}

# --- Step 2: a sandboxed worker with no network serves a socket bound outside.
step_sandbox() {
  header "2. A worker with no network serves a socket it was handed"
  start_sandboxed_echo
  local s r loss p50 rc
  progress "probing $echo_addr"
  read -r s r loss p50 rc < <(probe "$echo_addr" 20)
  ((rc == 0 && r == s)) || die "udp_probe to the sandboxed echo server: $r of $s replies (exit $rc)"
  say "   sandbox_run bound udp $echo_addr outside and passed it in over SCM_RIGHTS (fd 3,"
  say "   LISTEN_FDS=1); udp_echo runs in a new network namespace holding only lo,"
  say "   as uid 65534, no capabilities, seccomp on, a read-only root of /usr and /lib"
  say "   udp_probe $echo_addr: $r/$s replies, every one from $echo_addr, rtt p50 $p50 (kernel timestamps)"
}

# --- Step 3: the relay on the wildcard address answers from the right address.
step_relay() {
  header "3. udp_relay on 0.0.0.0 answers each client from the address it probed"
  [[ -n "${echo_pid:-}" ]] || start_sandboxed_echo
  local log="$tmp/relay.log" line relay_pid port ip s r loss p50 rc
  progress "starting udp_relay"
  "$udp_relay" --listen=0.0.0.0:0 --upstream="$echo_addr" --threads=1 >"$log" 2>&1 &
  relay_pid=$!; pids+=("$relay_pid")
  line="$(wait_for_line "$log" 'udp_relay: serving ' "$relay_pid" "udp_relay")" || exit 1
  port="$(sed -nE 's/.*serving 0\.0\.0\.0:([0-9]+) .*/\1/p' <<<"$line")"
  [[ -n "$port" ]] || die "cannot read udp_relay's port from: $line"
  say "   udp_relay 0.0.0.0:$port -> sandboxed udp_echo $echo_addr"
  for ip in 127.0.0.1 127.0.0.2; do
    progress "probing $ip:$port"
    read -r s r loss p50 rc < <(probe "$ip:$port" 20)
    ((rc == 0 && r == s)) || die "udp_probe --expect_source to $ip:$port: $r of $s replies (exit $rc)"
    say "   udp_probe $ip:$port: $r/$s replies, every one from $ip (IP_PKTINFO), rtt p50 $p50"
  done
  stop "$relay_pid"
  line="$(grep 'udp_relay: final' "$log")"
  local rx tx sessions
  rx="$(sed -nE 's/.* client_rx_packets=([0-9]+).*/\1/p' <<<"$line")"
  tx="$(sed -nE 's/.* client_tx_packets=([0-9]+).*/\1/p' <<<"$line")"
  sessions="$(sed -nE 's/.* sessions_created=([0-9]+).*/\1/p' <<<"$line")"
  say "   relay counters after SIGTERM: ${rx:-?} datagrams in, ${tx:-?} replies out, ${sessions:-?} sessions (one per client)"
}

# Starts a sandboxed worker on the socket fdstore holds: fdstore exec fetches
# it and execs worker_pool, which hands it into a new sandbox (no network)
# over SCM_RIGHTS. Sets worker_pid.
start_worker() {  # start_worker NAME
  local log="$tmp/worker-$1.log"
  progress "starting worker $1"
  # worker_pool makes its notify socket under TMPDIR: a short, relative one.
  TMPDIR=fds "$fdstore" exec --socket=fds/ctl -- "$worker_pool" --workers=1 --ready=started \
      --net=none --ro_bind="$SYSTEM_BINDS,$udp_echo:/udp_echo" \
      --setenv=CMSG_DEMO_RUN="$CMSG_DEMO_RUN" \
      -- /udp_echo >"$log" 2>&1 &
  worker_pid=$!; pids+=("$worker_pid")
  wait_for_line "$log" 'udp_echo: serving ' "$worker_pid" "worker $1" >/dev/null || exit 1
}

# --- Step 4: replace the worker while probes flow.
step_restart() {
  header "4. The worker is replaced while probes flow; fdstore keeps the socket"
  mkdir -p "$tmp/fds" && chmod 0711 "$tmp" "$tmp/fds" || die "cannot make $tmp/fds"
  local log="$tmp/fdstore.log" store_pid addr i
  progress "starting fdstore serve"
  # serve writes "ready" to fd 3 once its control socket answers.
  mkfifo fds/ready || die "cannot make a fifo"
  "$fdstore" serve --socket=fds/ctl --listen=udp:127.0.0.1:0=echo \
      --ready_fd=3 >"$log" 2>&1 3>fds/ready &
  store_pid=$!; pids+=("$store_pid")
  local ready=""
  read -r -t 10 ready <fds/ready
  rm -f fds/ready
  [[ "$ready" == ready ]] || die "fdstore serve did not get ready: $(cat "$log")"
  addr="$("$fdstore" list --socket=fds/ctl 2>/dev/null | awk '$1 == "echo" {print $3}')"
  [[ -n "$addr" ]] || die "fdstore list shows no socket named echo"
  say "   fdstore serve holds udp $addr; each worker: fdstore exec fetches it, worker_pool"
  say "   hands it into a new sandbox (--net=none) over SCM_RIGHTS"

  start_worker A; local a_pid="$worker_pid"
  local plog="$tmp/restart-probe.log" probe_pid
  "$udp_probe" --target="$addr" --count="$probes" --interval="$interval" \
      --timeout=500ms --expect_source >"$plog" 2>&1 &
  probe_pid=$!; pids+=("$probe_pid")
  sleep 0.5
  start_worker B; local b_pid="$worker_pid"
  sleep 0.3
  progress "stopping worker A"
  stop "$a_pid"
  progress "probes still flowing to worker B"
  wait "$probe_pid"; local rc=$?
  local keep=(); for i in "${pids[@]}"; do [[ "$i" == "$probe_pid" ]] || keep+=("$i"); done; pids=("${keep[@]}")
  stop "$b_pid"
  stop "$store_pid"
  local s r loss p50 a_rx b_rx
  read -r s r loss p50 < <(probe_summary "$plog")
  a_rx="$(sed -nE 's/.*udp_echo: final client_rx_packets=([0-9]+).*/\1/p' "$tmp/worker-A.log")"
  b_rx="$(sed -nE 's/.*udp_echo: final client_rx_packets=([0-9]+).*/\1/p' "$tmp/worker-B.log")"
  say "   worker A answered ${a_rx:-?}, then B started on the same socket, then A got SIGTERM;"
  say "   worker B answered ${b_rx:-?}"
  say "   udp_probe $addr: $r/$s replies, $((s - r)) lost (${loss}%) across the replacement, rtt p50 $p50"
  ((rc == 0)) || die "udp_probe exited $rc: $(tr '\n' ' ' <"$plog")"
  [[ -e fds/ctl ]] && die "fdstore serve left its control socket behind"
  return 0
}

start=$(date +%s%N)
for current_step in "${step_list[@]}"; do
  "step_$current_step"
done
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
say "demo: ${#step_list[@]} step(s) passed in $((elapsed_ms / 1000)).$(printf '%03d' $((elapsed_ms % 1000))) s"
exit 0
