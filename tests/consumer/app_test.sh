#!/usr/bin/env bash
# Runs the consumer's program: each library must print its line.
set -uo pipefail
app="$(dirname "$0")/app"
[[ -x "$app" ]] || app="${TEST_SRCDIR}/consumer/app"
out="$("$app" "$1" 2>&1)"; rc=$?
echo "$out"
[[ $rc -eq 0 ]] || { echo "FAIL: app exited $rc"; exit 1; }
for want in '^cmsg: a pipe passed over SCM_RIGHTS reads "through"$' \
            '^fdstore: stored a UDP socket and fetched it back as "kept"' \
            '^sandbox: /bin/sh ran in a sandbox and exited 7$'; do
  grep -Eq "$want" <<<"$out" || { echo "FAIL: no line matching /$want/"; exit 1; }
done
echo "app_test: 3 passed, 0 failed"
