#!/usr/bin/env bash
# Runs the demo as a user would: the happy path, flags, bad usage and a child
# that fails. Checks output lines and exit codes.
set -uo pipefail
demo="$(dirname "$0")/library_demo"
[[ -x "$demo" ]] || demo="${TEST_SRCDIR:-.}/${TEST_WORKSPACE:-cmsg}/tools/demo/library_demo"
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
expect_line() {  # expect_line OUTPUT REGEX
  grep -Eq -- "$2" <<<"$1" || fail "no line matching /$2/ in:"$'\n'"$1"
}

out="$("$demo" 2>&1)"; rc=$?
[[ $rc -eq 0 ]] || fail "demo exited $rc"
expect_line "$out" '^parent: sent child [0-9]+ a file \(fd [0-9]+\) and a UDP socket \(fd [0-9]+\) over SCM_RIGHTS$'
expect_line "$out" '^child:  got 2 fds over SCM_RIGHTS; file \(fd [0-9]+\) says "hello through SCM_RIGHTS"$'
expect_line "$out" '^parent: datagram "hello through SCM_RIGHTS" from 127\.0\.0\.2:[0-9]+ to 127\.0\.0\.1 on lo \(ifindex [0-9]+\)$'
expect_line "$out" '^parent: kernel receive time \(SO_TIMESTAMPNS\) [0-9-]+ [0-9:.]+ UTC'
expect_line "$out" '^parent: child pid [0-9]+ uid [0-9]+ \(SCM_CREDENTIALS\) says "read 24 bytes and sent them"; it exited with status 0$'
[[ $(wc -l <<<"$out") -eq 6 ]] || fail "expected 6 lines, got:"$'\n'"$out"

out="$("$demo" --message='another text' --source=127.0.0.9 2>&1)"; rc=$?
[[ $rc -eq 0 ]] || fail "demo with flags exited $rc: $out"
expect_line "$out" '^parent: datagram "another text" from 127\.0\.0\.9:'

# Bad usage: one line on stderr, exit 2, nothing on stdout.
for args in "extra" "--source=not-an-address" "--message="; do
  stdout="$("$demo" $args 2>${TEST_TMPDIR:-/tmp}/demo_test_err.$$)"; rc=$?
  err="$(cat ${TEST_TMPDIR:-/tmp}/demo_test_err.$$)"
  [[ $rc -eq 2 ]] || fail "'demo $args' exited $rc, want 2"
  [[ -z "$stdout" ]] || fail "'demo $args' printed to stdout: $stdout"
  [[ $(wc -l <<<"$err") -eq 1 && "$err" == demo:* ]] || fail "'demo $args' stderr: $err"
done
rm -f ${TEST_TMPDIR:-/tmp}/demo_test_err.$$

# A source address the host does not own: the child's send fails, and the
# parent reports the child's error in one line and exits 1, leaving no child.
stdout="$("$demo" --source=192.0.2.1 2>${TEST_TMPDIR:-/tmp}/demo_test_err.$$)"; rc=$?
err="$(cat ${TEST_TMPDIR:-/tmp}/demo_test_err.$$)"; rm -f ${TEST_TMPDIR:-/tmp}/demo_test_err.$$
[[ $rc -eq 1 ]] || fail "unowned --source exited $rc, want 1"
[[ $(wc -l <<<"$err") -eq 1 ]] || fail "unowned --source stderr is not one line: $err"
# EINVAL or ENETUNREACH, depending on the routes the host has.
expect_line "$err" '^demo: the child failed: sendmsg: E[A-Z]+ '
child="$(sed -nE 's/^parent: sent child ([0-9]+) .*/\1/p' <<<"$stdout")"
[[ -n "$child" ]] || fail "no child pid in: $stdout"
[[ -n "$child" ]] && kill -0 "$child" 2>/dev/null && fail "child $child is still running"

"$demo" --help >${TEST_TMPDIR:-/tmp}/demo_test_help.$$ 2>&1
grep -q 'takes no arguments' ${TEST_TMPDIR:-/tmp}/demo_test_help.$$ || fail "--help lacks the usage text"
grep -q -- '-source' ${TEST_TMPDIR:-/tmp}/demo_test_help.$$ || fail "--help lacks --source"
rm -f ${TEST_TMPDIR:-/tmp}/demo_test_help.$$

if ((failures)); then echo "$failures failure(s)"; exit 1; fi
echo "demo_test: all checks passed"
