#!/bin/bash
# Runs inside the sandbox: fdstore serve holds a UDP socket, list shows it,
# exec hands it to a command as fd 3 with LISTEN_FDS/LISTEN_FDNAMES.
set -u
fdstore="${RUNFILES_DIR:?}/cmsg/tools/fdstore/fdstore"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
"$fdstore" serve --socket=/tmp/ctl --listen=udp:127.0.0.1:0=dns,tcp:127.0.0.1:0=web 2>/tmp/serve.log &
serve=$!
trap 'kill "$serve" 2>/dev/null; wait' EXIT
for _ in $(seq 500); do [[ -S /tmp/ctl ]] && break; sleep 0.01; done
list="$("$fdstore" list --socket=/tmp/ctl 2>&1)" || fail "list: $list"
grep -Eq '^dns udp 127\.0\.0\.1:[0-9]+$' <<<"$list" || fail "list lacks dns: $list"
grep -Eq '^web tcp 127\.0\.0\.1:[0-9]+$' <<<"$list" || fail "list lacks web: $list"
out="$("$fdstore" exec --socket=/tmp/ctl --names=web -- /bin/bash -c \
  'echo "$LISTEN_FDS $LISTEN_FDNAMES $(readlink /proc/self/fd/3 | cut -d: -f1)"' 2>&1)"
[[ "$out" == "1 web socket" ]] || fail "exec: '$out', want '1 web socket'"
kill -TERM "$serve"; wait "$serve"
[[ -e /tmp/ctl ]] && fail "serve left /tmp/ctl behind"
if ((fails)); then echo "serve said: $(cat /tmp/serve.log)"; echo "$fails failure(s)"; exit 1; fi
echo "fdstore_check: serve, list and exec work inside the sandbox"
