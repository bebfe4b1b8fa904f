#!/usr/bin/env bash
# Installs into a temporary prefix; checks binaries, man pages and units; runs
# the relay unit's ExecStart under systemd-socket-activate the way
# udp_relay@PORT.socket would start it, and fdstore.service's ExecStart with a
# NOTIFY_SOCKET (Type=notify), as systemd would.
set -uo pipefail
install="${TEST_SRCDIR}/cmsg/tools/install/install"
work="$(mktemp -d "${TEST_TMPDIR:-/tmp}/install_test.XXXXXX")"
# Unix socket paths must be short (107 bytes); TEST_TMPDIR may be deep.
sockets="$(mktemp -d /tmp/install_test.XXXXXX)"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait; rm -rf "$work" "$sockets"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
p="$work/prefix"; etc="$work/etc"

out="$("$install" --prefix="$p" --sysconfdir="$etc" 2>&1)" || { echo "FAIL: install: $out"; exit 1; }
echo "$out"
for t in sandbox_run sandbox_shim worker_pool pool_agent fdstore udp_relay udp_echo udp_probe; do
  [[ -x "$p/bin/$t" && ! -L "$p/bin/$t" ]] || fail "$p/bin/$t is not an installed executable"
done
for t in sandbox_run worker_pool fdstore udp_relay udp_echo udp_probe; do
  m="$p/share/man/man1/$t.1"
  grep -q "^\.TH ${t^^} \"1\"" "$m" 2>/dev/null || fail "$m has no .TH header"
done
grep -q 'upstream' "$p/share/man/man1/udp_relay.1" || fail "udp_relay.1 lacks --upstream"
grep -q 'ro_bind' "$p/share/man/man1/sandbox_run.1" || fail "sandbox_run.1 lacks --ro_bind"
grep -q 'isolation' "$p/share/man/man1/worker_pool.1" || fail "worker_pool.1 lacks --isolation"
u="$p/lib/systemd/system"
grep -q "^ExecStart=$p/bin/udp_relay " "$u/udp_relay@.service" || fail "relay unit ExecStart: $(grep ExecStart "$u/udp_relay@.service")"
grep -q "^EnvironmentFile=$etc/udp_relay/%i.conf$" "$u/udp_relay@.service" || fail "relay unit EnvironmentFile"
grep -rq '@PREFIX@\|@SYSCONFDIR@' "$u" && fail "placeholders left in the units"
grep -q '^Type=notify$' "$u/udp_relay@.service" || fail "the relay unit is not Type=notify"
"$install" --bogus >/dev/null 2>&1; [[ $? -eq 2 ]] || fail "a bad flag does not exit 2"
"$install" >/dev/null 2>&1; [[ $? -eq 2 ]] || fail "a missing --prefix does not exit 2"

# --- The installed sandbox tools find their helpers beside themselves, not
# in Bazel's runfiles (the variables that point there are unset).
clean_env=(env -u RUNFILES_DIR -u TEST_SRCDIR -u RUNFILES_MANIFEST_FILE -u SANDBOX_SHIM -u POOL_AGENT)
out="$("${clean_env[@]}" "$p/bin/sandbox_run" --ro_bind=/usr,/lib,/lib64,/bin -- /bin/echo sandboxed 2>&1)"
[[ "$out" == sandboxed ]] || fail "installed sandbox_run: $out"
mkdir -m 0777 "$work/pool_out"
"${clean_env[@]}" "$p/bin/worker_pool" --workers=2 --ro_bind=/usr,/lib,/lib64,/bin \
  --bind="$work/pool_out:/out" -- /bin/sh -c 'echo up >/out/$WORKER_POOL_SLOT; exec sleep 60' \
  >"$work/pool.log" 2>&1 &
pool=$!; pids+=($pool)
for _ in $(seq 1000); do [[ -e "$work/pool_out/0" && -e "$work/pool_out/1" ]] && break; sleep 0.01; done
[[ -e "$work/pool_out/0" && -e "$work/pool_out/1" ]] || fail "installed worker_pool started no 2 workers: $(tail -5 "$work/pool.log")"
kill -TERM "$pool"; wait "$pool"; rc=$?
[[ $rc -eq 0 ]] || fail "installed worker_pool exited $rc on SIGTERM: $(tail -5 "$work/pool.log")"

# --- udp_relay@PORT: the socket unit's address, the service's command line.
"$p/bin/udp_echo" --listen=127.0.0.1:0 2>"$work/echo.log" & pids+=($!)
for _ in $(seq 500); do grep -q serving "$work/echo.log" && break; sleep 0.01; done
echo_addr="$(sed -nE 's/.*serving ([0-9.]+:[0-9]+).*/\1/p' "$work/echo.log")"
[[ -n "$echo_addr" ]] || { echo "FAIL: udp_echo did not start: $(cat "$work/echo.log")"; exit 1; }
# A free port from below the ephemeral range: one drawn with port 0 could be
# taken by another test's implicitly bound socket before the launcher binds it.
port="$(python3 -c '
import random, socket
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
ports = list(range(30000, min(low, 32768)))
random.shuffle(ports)
for p in ports:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("0.0.0.0", p))
        except OSError:
            continue
    print(p)
    break
')"
[[ -n "$port" ]] || fail "no free UDP port below the ephemeral range"
mkdir -p "$etc/udp_relay"
printf 'UPSTREAM=%s\nRELAY_FLAGS="--threads=1 --stats_interval=0s"\n' "$echo_addr" >"$etc/udp_relay/$port.conf"
listen="$(sed -nE 's/^ListenDatagram=//p' "$u/udp_relay@.socket")"; listen="${listen//%i/$port}"
[[ "$listen" == "0.0.0.0:$port" ]] || fail "ListenDatagram is '$listen'"
exec_start="$(sed -nE 's/^ExecStart=//p' "$u/udp_relay@.service")"
# systemd's expansion: ${VAR} as one word, $VAR split on whitespace, which
# is what the shell does with the conf file's variables in scope.
(
  set -a; source "$etc/udp_relay/$port.conf"; set +a
  eval "set -- ${exec_start//%i/$port}"
  echo "running: systemd-socket-activate --datagram -l $listen -- $*"
  exec systemd-socket-activate --datagram -l "$listen" -- "$@"
) >"$work/relay.log" 2>&1 &
relay=$!; pids+=($relay)
for _ in $(seq 500); do grep -q 'Listening on' "$work/relay.log" && break; sleep 0.01; done
for ip in 127.0.0.1 127.0.0.2; do
  out="$("$p/bin/udp_probe" --target="$ip:$port" --count=5 --interval=10ms --timeout=3s --expect_source 2>&1)" ||
    fail "probe $ip:$port through the socket-activated relay: $out"$'\n'"$(cat "$work/relay.log")"
  grep -q ': 5 sent, 5 received' <<<"$out" || fail "probe $ip:$port: $out"
done
grep -q 'udp_relay: serving' "$work/relay.log" || fail "the relay did not say it serves: $(cat "$work/relay.log")"
kill -TERM "$relay"; wait "$relay"; rc=$?
[[ $rc -eq 0 ]] || fail "the activated relay exited $rc on SIGTERM: $(cat "$work/relay.log")"
grep -q 'client_rx_packets=10 ' "$work/relay.log" || fail "relay counters: $(grep final "$work/relay.log")"

# --- fdstore.service: Type=notify, READY=1 once the socket answers.
exec_start="$(sed -nE 's/^ExecStart=//p' "$u/fdstore.service")"
grep -q '^Type=notify$' "$u/fdstore.service" || fail "fdstore.service is not Type=notify"
exec_start="${exec_start//\/run\/fdstore\/fdstore.sock/$sockets/fds.sock}"
out="$(FDSTORE_FLAGS="--listen=udp:127.0.0.1:0=dns" python3 - "$sockets" "$exec_start" "$p/bin/fdstore" <<'PY' 2>&1
import os, shlex, signal, socket, subprocess, sys, time
work, exec_start, fdstore = sys.argv[1:]
argv = [os.path.expandvars(w) for w in shlex.split(exec_start)]
argv = [a for w in argv for a in w.split()]  # $FDSTORE_FLAGS splits
notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
notify.bind(work + "/notify")
notify.settimeout(10)
p = subprocess.Popen(argv, env=dict(os.environ, NOTIFY_SOCKET=work + "/notify"))
msg = notify.recv(4096).decode()
assert "READY=1" in msg, msg
listing = subprocess.run([fdstore, "list", "--socket=" + work + "/fds.sock"], capture_output=True, text=True)
assert listing.stdout.startswith("dns udp 127.0.0.1:"), listing
p.send_signal(signal.SIGTERM)
msg2 = notify.recv(4096).decode()
assert "STOPPING=1" in msg2, msg2
assert p.wait(10) == 0
print("fdstore.service: READY=1, serves dns, STOPPING=1, exit 0")
PY
)" || fail "fdstore.service command line: $out"
echo "$out"

if ((failures)); then echo "$failures failure(s)"; exit 1; fi
echo "install_test: all checks passed"
