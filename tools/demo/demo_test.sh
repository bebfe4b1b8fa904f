#!/usr/bin/env bash
# Runs the whole demo as a user would and checks that it tells its story and
# leaves nothing behind: no process (every process it starts, inside the
# sandboxes too, carries CMSG_DEMO_RUN=<id> in its environment), no mount, no
# socket file and no temporary file (it is given a TMPDIR of its own). Then a
# step that fails, a demo stopped by SIGTERM half-way, and bad usage.
set -uo pipefail
demo="${TEST_SRCDIR:-.}/${TEST_WORKSPACE:-cmsg}/tools/demo/demo"
[[ -x "$demo" ]] || demo="$(dirname "$0")/demo"
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
expect_line() {  # expect_line OUTPUT REGEX
  grep -Eq -- "$2" <<<"$1" || fail "no line matching /$2/ in:"$'\n'"$1"
}
work="$(mktemp -d "${TEST_TMPDIR:-/tmp}/demo_test.XXXXXX")"
trap 'rm -rf "$work"' EXIT

marked_pids() {  # marked_pids ID: pids whose environment holds CMSG_DEMO_RUN=ID
  grep -lzx -- "CMSG_DEMO_RUN=$1" /proc/[0-9]*/environ 2>/dev/null |
    sed -nE 's|^/proc/([0-9]+)/environ$|\1|p'
}

# check_clean ID TMPDIR WHAT: nothing of run ID is left.
check_clean() {
  local id="$1" dir="$2" what="$3" left
  left="$(marked_pids "$id")"
  [[ -z "$left" ]] || fail "$what: processes left: $(for p in $left; do tr '\0' ' ' </proc/$p/cmdline; echo; done)"
  left="$(find "$dir" -mindepth 1 2>/dev/null)"
  [[ -z "$left" ]] || fail "$what: files left in its TMPDIR: $left"
  grep -qF "$dir" /proc/self/mountinfo && fail "$what: mounts left: $(grep -F "$dir" /proc/self/mountinfo)"
  return 0
}

# 1. The whole story, piped: plain lines, every step, exit 0. While it runs,
# the marker must be seen on the sandboxed udp_echo (else the leak check
# below could not see a leaked sandboxed process).
id="test-$$-$RANDOM"; dir="$work/run1"; mkdir "$dir"
CMSG_DEMO_RUN="$id" TMPDIR="$dir" "$demo" >"$work/out" 2>"$work/err" &
demo_pid=$!
seen_inside=0
while kill -0 "$demo_pid" 2>/dev/null; do
  for p in $(marked_pids "$id"); do
    [[ "$(tr '\0' ' ' </proc/$p/cmdline 2>/dev/null)" == "/udp_echo "* ]] && seen_inside=1
  done
  ((seen_inside)) && break
  sleep 0.05
done
wait "$demo_pid"; rc=$?
out="$(cat "$work/out")"
[[ $rc -eq 0 ]] || fail "demo exited $rc: $(cat "$work/err")"$'\n'"$out"
((seen_inside)) || fail "never saw the sandboxed /udp_echo carry CMSG_DEMO_RUN"
grep -q $'\e' "$work/out" && fail "piped output has escape sequences"
expect_line "$out" '^1\. The cmsg library'
expect_line "$out" '^   parent: datagram "hello through SCM_RIGHTS" from 127\.0\.0\.2:[0-9]+ to 127\.0\.0\.1 on lo'
expect_line "$out" '^2\. A worker with no network'
expect_line "$out" '^   udp_probe 127\.0\.0\.1:[0-9]+: 20/20 replies, every one from 127\.0\.0\.1:[0-9]+, rtt p50 [0-9.]+[mun]?s'
expect_line "$out" '^3\. udp_relay on 0\.0\.0\.0'
expect_line "$out" '^   udp_probe 127\.0\.0\.1:[0-9]+: 20/20 replies, every one from 127\.0\.0\.1 \(IP_PKTINFO\)'
expect_line "$out" '^   udp_probe 127\.0\.0\.2:[0-9]+: 20/20 replies, every one from 127\.0\.0\.2 \(IP_PKTINFO\)'
expect_line "$out" '^   relay counters after SIGTERM: 40 datagrams in, 40 replies out, 2 sessions'
expect_line "$out" '^4\. The worker is replaced'
expect_line "$out" '^   worker A answered [1-9][0-9]*, then B started'
expect_line "$out" '^   worker B answered [1-9][0-9]*$'
expect_line "$out" '^   udp_probe 127\.0\.0\.1:[0-9]+: [0-9]+/1500 replies, [0-9]+ lost'
expect_line "$out" '^demo: 4 step\(s\) passed in [0-9.]+ s$'
check_clean "$id" "$dir" "a full run"

# 2. One step alone.
id="test-$$-$RANDOM"; dir="$work/run2"; mkdir "$dir"
out="$(CMSG_DEMO_RUN="$id" TMPDIR="$dir" "$demo" --steps=relay 2>&1)"; rc=$?
[[ $rc -eq 0 ]] || fail "--steps=relay exited $rc: $out"
grep -q '^1\.\|^2\.\|^4\.' <<<"$out" && fail "--steps=relay ran other steps: $out"
expect_line "$out" '^3\. udp_relay'
check_clean "$id" "$dir" "--steps=relay"

# 3. A step that fails: udp_echo replaced by /bin/false in a runfiles tree.
fake="$work/runfiles"
for t in sandbox_run fdstore udp_relay udp_probe; do
  mkdir -p "$fake/cmsg/tools/$t"
  ln -s "$(readlink -f "${TEST_SRCDIR}/cmsg/tools/$t/$t")" "$fake/cmsg/tools/$t/$t"
done
mkdir -p "$fake/cmsg/tools/demo"
ln -s "$(readlink -f "${TEST_SRCDIR}/cmsg/tools/demo/library_demo")" "$fake/cmsg/tools/demo/library_demo"
mkdir -p "$fake/cmsg/tools/udp_echo" && ln -s /bin/false "$fake/cmsg/tools/udp_echo/udp_echo"
id="test-$$-$RANDOM"; dir="$work/run3"; mkdir "$dir"
CMSG_DEMO_RUN="$id" TMPDIR="$dir" RUNFILES_DIR="$fake" "$demo" >"$work/out" 2>"$work/err"; rc=$?
[[ $rc -eq 1 ]] || fail "a failing udp_echo: exit $rc, want 1"
expect_line "$(cat "$work/err")" "^demo: step 'sandbox' failed: sandboxed udp_echo exited early"
grep -q '^3\.' "$work/out" && fail "the demo went on after a failed step"
check_clean "$id" "$dir" "a failed step"

# 4. SIGTERM in the middle of the restart step: exit 143, nothing left.
id="test-$$-$RANDOM"; dir="$work/run4"; mkdir "$dir"
CMSG_DEMO_RUN="$id" TMPDIR="$dir" "$demo" --steps=restart --probes=20000 >"$work/out" 2>&1 &
demo_pid=$!
for _ in $(seq 500); do
  grep -q 'fdstore serve holds' "$work/out" && break
  sleep 0.02
done
sleep 0.5
kill -TERM "$demo_pid"; wait "$demo_pid"; rc=$?
[[ $rc -eq 143 ]] || fail "SIGTERM: exit $rc, want 143: $(cat "$work/out")"
check_clean "$id" "$dir" "a run stopped by SIGTERM"

# 5. Bad usage: one line on stderr, exit 2, nothing started.
for args in "--steps=bogus" "--probes=1" "extra" "--steps="; do
  id="test-$$-$RANDOM"; dir="$work/usage"; mkdir -p "$dir"
  stdout="$(CMSG_DEMO_RUN="$id" TMPDIR="$dir" "$demo" $args 2>"$work/err")"; rc=$?
  err="$(cat "$work/err")"
  [[ $rc -eq 2 ]] || fail "'demo $args' exited $rc, want 2"
  [[ -z "$stdout" ]] || fail "'demo $args' printed to stdout: $stdout"
  [[ $(wc -l <<<"$err") -eq 1 && "$err" == demo:* ]] || fail "'demo $args' stderr: $err"
  check_clean "$id" "$dir" "'demo $args'"
done
"$demo" --help | grep -q -- '--steps=STEP' || fail "--help lacks --steps"

if ((failures)); then echo "$failures failure(s)"; exit 1; fi
echo "demo_test: all checks passed"
