#!/bin/bash
# Runs inside the sandbox: checks the policy sandboxed_test was given.
# Usage: policy_check.sh --expect_fds=N
set -u
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
want_fds="${1#--expect_fds=}"
[[ "$(id -u)" == 65534 ]] || fail "uid $(id -u), want 65534"
ifaces="$(sed -nE '3,$ s/^ *([^:]+):.*/\1/p' /proc/net/dev | tr '\n' ' ')"
[[ "$ifaces" == "lo " ]] || fail "network interfaces: '$ifaces', want only lo"
touch /runfiles/x 2>/dev/null && fail "the runfiles are writable"
touch /x 2>/dev/null && fail "the root is writable"
echo ok >/tmp/x || fail "the tmpfs at /tmp is not writable"
[[ "$(ulimit -n)" == 64 ]] || fail "RLIMIT_NOFILE $(ulimit -n), want 64"
[[ "${GREETING:-}" == hello ]] || fail "GREETING='${GREETING:-}', want hello"
[[ "${LISTEN_FDS:-}" == "$want_fds" ]] || fail "LISTEN_FDS='${LISTEN_FDS:-}', want $want_fds"
[[ "${LISTEN_FDNAMES:-}" == probe ]] || fail "LISTEN_FDNAMES='${LISTEN_FDNAMES:-}', want probe"
[[ "$(readlink /proc/self/fd/3)" == socket:* ]] || fail "fd 3 is not a socket: $(readlink /proc/self/fd/3)"
[[ -r /etc/passwd ]] && fail "the host's /etc is visible"
[[ -x /runfiles/cmsg/tests/sandboxed/policy_check ]] || fail "the runfiles are not at /runfiles"
if ((fails)); then echo "$fails failure(s)"; exit 1; fi
echo "policy_check: uid 65534, only lo, read-only root and runfiles, /tmp tmpfs, nofile 64, env, 1 socket at fd 3"
