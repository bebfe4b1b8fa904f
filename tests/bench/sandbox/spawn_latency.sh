#!/usr/bin/env bash
# Spawn latency of a sandboxed /bin/true, side by side in one run:
#   sandbox_run          --ro_bind=/usr,/lib,/lib64,/bin -- /bin/true
#   sandbox_run          the same with --seccomp=off (bubblewrap sets no filter)
#   bwrap --unshare-all  --die-with-parent, the same binds, --proc /proc --dev /dev
#   fork+exec            /bin/true, no sandbox (hyperfine -N spawns it directly)
# Prints each one's mean, median and minimum, and its median as a ratio to
# bubblewrap's and to fork+exec's.
#
# Usage: tests/bench/sandbox/spawn_latency.sh [ROUNDS] [RUNS_PER_ROUND]
#        (default 5 rounds of 200 runs of each)
# BASELINE=DIR adds DIR/sandbox_run (with DIR/sandbox_shim beside it: copy
# both out of bazel-bin before a change) as "baseline", to compare two builds
# in one run.
# The rounds rotate the order of the commands, so load from other processes
# on the machine falls on all of them alike. Builds sandbox_run with -c opt;
# set BAZEL_OUTPUT_BASE to use your own output base. Installs hyperfine and
# bubblewrap from Debian if missing (as root).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../../.."
rounds="${1:-5}"
runs="${2:-200}"

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
ro_bind="$(IFS=,; echo "${binds[*]}")"
names=("sandbox_run" "sandbox_run --seccomp=off" "bwrap --unshare-all" "fork+exec")
commands=(
  "${sandbox_run} --ro_bind=${ro_bind} -- /bin/true"
  "${sandbox_run} --seccomp=off --ro_bind=${ro_bind} -- /bin/true"
  "bwrap --unshare-all --die-with-parent ${bwrap_binds[*]} --proc /proc --dev /dev -- /bin/true"
  "/bin/true"
)
if [[ -n "${BASELINE:-}" ]]; then
  names+=("baseline")
  commands+=("${BASELINE}/sandbox_run --ro_bind=${ro_bind} -- /bin/true")
fi

out="$(mktemp -d /tmp/spawn_latency.XXXXXX)"
trap 'rm -rf "$out"' EXIT
n=${#names[@]}
for ((round = 0; round < rounds; round++)); do
  args=()
  for ((i = 0; i < n; i++)); do
    k=$(((i + round) % n))
    args+=(-n "${names[k]}" "${commands[k]}")
  done
  echo "round $((round + 1))/${rounds} (load average $(cut -d' ' -f1 /proc/loadavg))" >&2
  hyperfine -N --style none --warmup 20 --runs "$runs" \
    --export-json "${out}/round${round}.json" "${args[@]}" >/dev/null
done

python3 - "$out" "${commands[0]}" "${commands[2]}" <<'PY'
import glob, json, statistics, sys
times = {}
for path in sorted(glob.glob(sys.argv[1] + "/round*.json")):
    for r in json.load(open(path))["results"]:
        times.setdefault(r["command"], []).extend(r["times"])
order = ["sandbox_run", "sandbox_run --seccomp=off", "bwrap --unshare-all", "fork+exec"]
order += [name for name in ("baseline",) if name in times]
median = {name: statistics.median(times[name]) for name in order}
print(f"spawn latency of /bin/true ({len(times['fork+exec'])} runs each; ms; load average "
      f"{open('/proc/loadavg').read().split()[0]} at the end)")
print(f"{'':27}{'mean':>7}{'median':>8}{'min':>7}{'median vs bwrap':>17}{'vs fork+exec':>14}")
for name in order:
    t = times[name]
    print(f"{name:27}{statistics.mean(t)*1e3:7.2f}{median[name]*1e3:8.2f}{min(t)*1e3:7.2f}"
          f"{median[name]/median['bwrap --unshare-all']:16.2f}x"
          f"{median[name]/median['fork+exec']:13.2f}x")
print()
print("sandbox_run:", sys.argv[2])
print("bwrap:      ", sys.argv[3])
PY
