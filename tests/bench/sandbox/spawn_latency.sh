#!/usr/bin/env bash
# Spawn latency of a sandboxed /bin/true, side by side in one hyperfine run:
#   sandbox_run   --ro_bind=/usr,/lib,/lib64,/bin -- /bin/true
#   bwrap         --unshare-all --die-with-parent with the same binds, /proc, /dev
#   fork+exec     /bin/true, no sandbox (hyperfine -N spawns it directly)
# and prints each mean as a ratio to bubblewrap's and to fork+exec's.
#
# Usage: tests/bench/sandbox/spawn_latency.sh [RUNS]   (default 500)
# Builds sandbox_run with -c opt; set BAZEL_OUTPUT_BASE to use your own output
# base. Installs hyperfine and bubblewrap from Debian if missing (as root).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../../.."
runs="${1:-500}"

missing=()
command -v hyperfine >/dev/null || missing+=(hyperfine)
command -v bwrap >/dev/null || missing+=(bubblewrap)
command -v python3 >/dev/null || missing+=(python3)
if ((${#missing[@]})); then
  [[ $(id -u) -eq 0 ]] || { echo "spawn_latency: install ${missing[*]}" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2
fi

bazel=(tools/bazel)
[[ -n "${BAZEL_OUTPUT_BASE:-}" ]] && bazel+=("--output_base=${BAZEL_OUTPUT_BASE}")
"${bazel[@]}" build -c opt //tools/sandbox_run >&2
bin="$("${bazel[@]}" info -c opt bazel-bin 2>/dev/null)"
sandbox_run="${bin}/tools/sandbox_run/sandbox_run"

binds=(/usr /lib /lib64 /bin)
bwrap_binds=()
for b in "${binds[@]}"; do bwrap_binds+=(--ro-bind "$b" "$b"); done
bwrap_cmd="bwrap --unshare-all --die-with-parent ${bwrap_binds[*]} --proc /proc --dev /dev -- /bin/true"
ours_cmd="${sandbox_run} --ro_bind=$(IFS=,; echo "${binds[*]}") -- /bin/true"
ours_noseccomp_cmd="${sandbox_run} --seccomp=off --ro_bind=$(IFS=,; echo "${binds[*]}") -- /bin/true"

json="$(mktemp /tmp/spawn_latency.XXXXXX.json)"
trap 'rm -f "$json"' EXIT
hyperfine -N --warmup 50 --runs "$runs" --export-json "$json" \
  -n sandbox_run "$ours_cmd" \
  -n "sandbox_run --seccomp=off" "$ours_noseccomp_cmd" \
  -n "bwrap --unshare-all" "$bwrap_cmd" \
  -n "fork+exec" /bin/true >&2

python3 - "$json" "$ours_cmd" "$bwrap_cmd" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
by_name = {r["command"]: r for r in results}
bwrap = by_name["bwrap --unshare-all"]["mean"]
plain = by_name["fork+exec"]["mean"]
print(f"spawn latency of /bin/true, {results[0]['times'].__len__()} runs each")
print(f"{'':28}{'mean ms':>9}{'stddev':>9}{'median':>9}{'vs bwrap':>10}{'vs fork+exec':>14}")
for r in results:
    print(f"{r['command']:28}{r['mean']*1e3:9.2f}{r['stddev']*1e3:9.2f}{r['median']*1e3:9.2f}"
          f"{r['mean']/bwrap:9.2f}x{r['mean']/plain:13.2f}x")
print()
print("sandbox_run:", sys.argv[2])
print("bwrap:      ", sys.argv[3])
PY
