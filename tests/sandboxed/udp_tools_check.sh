#!/bin/bash
# Runs inside the sandbox (its own network namespace with only lo): udp_echo
# serves, udp_relay on 0.0.0.0 forwards to it, and udp_probe --expect_source
# gets every reply from the address it probed, 127.0.0.1 and 127.0.0.2.
set -u
tools="${RUNFILES_DIR:?}/cmsg/tools"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT
wait_serving() {  # wait_serving LOG -> ADDR:PORT
  for _ in $(seq 500); do
    sed -nE 's/.*: serving ([0-9.]+:[0-9]+).*/\1/p' "$1" | head -1 | grep . && return 0
    sleep 0.01
  done
  echo "never started: $(cat "$1")" >&2; return 1
}
"$tools/udp_echo/udp_echo" --listen=127.0.0.1:0 2>/tmp/echo.log & pids+=($!)
echo_addr="$(wait_serving /tmp/echo.log)" || exit 1
"$tools/udp_relay/udp_relay" --listen=0.0.0.0:0 --upstream="$echo_addr" --threads=1 2>/tmp/relay.log & pids+=($!)
relay_addr="$(wait_serving /tmp/relay.log)" || exit 1
port="${relay_addr##*:}"
for target in "$echo_addr" "127.0.0.1:$port" "127.0.0.2:$port"; do
  out="$("$tools/udp_probe/udp_probe" --target="$target" --count=20 --interval=1ms --timeout=3s --expect_source 2>&1)" ||
    fail "udp_probe $target: $out"
  grep -q ': 20 sent, 20 received, 0.0% loss, .* 0 from other sources' <<<"$out" || fail "udp_probe $target: $out"
done
kill -TERM "${pids[1]}"; wait "${pids[1]}"
grep -q 'client_rx_packets=40 .*client_tx_packets=40 ' /tmp/relay.log || fail "relay counters: $(tail -1 /tmp/relay.log)"
if ((fails)); then echo "$fails failure(s)"; exit 1; fi
echo "udp_tools_check: echo, relay on 0.0.0.0 and probes to 127.0.0.1/127.0.0.2 all answered from the probed address"
