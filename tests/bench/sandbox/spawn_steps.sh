#!/usr/bin/env bash
# Where sandbox_run's spawn time goes, step by step (like sandbox2's latency
# breakdown): runs `sandbox_run --verbose --ro_bind=/usr,/lib,/lib64,/bin --
# /bin/true` RUNS times and prints the median and minimum of each step it
# reports: the launcher's (prepare ... child set-up) and the child's, from
# clone3 to its execveat of sandbox_shim (the child's steps sum to the
# launcher's "clone" + "id maps+handoff" + "child set-up to exec").
#
# Usage: tests/bench/sandbox/spawn_steps.sh [RUNS] [EXTRA SANDBOX_RUN FLAGS...]
#        (default 100 runs)
# Builds sandbox_run with -c opt; set BAZEL_OUTPUT_BASE to use your own
# output base.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../../.."
runs="${1:-100}"
shift || true

bazel=(tools/bazel)
[[ -n "${BAZEL_OUTPUT_BASE:-}" ]] && bazel+=("--output_base=${BAZEL_OUTPUT_BASE}")
"${bazel[@]}" build -c opt //tools/sandbox_run >&2
bin="$("${bazel[@]}" info -c opt bazel-bin 2>/dev/null)"
sandbox_run="${bin}/tools/sandbox_run/sandbox_run"

out="$(mktemp /tmp/spawn_steps.XXXXXX)"
trap 'rm -f "$out"' EXIT
for ((i = 0; i < runs; i++)); do
  "$sandbox_run" --verbose "$@" --ro_bind=/usr,/lib,/lib64,/bin -- /bin/true 2>>"$out" >/dev/null
done

python3 - "$out" "$runs" <<'PY'
import re, statistics, sys
steps = {}
order = []
for line in open(sys.argv[1]):
    m = re.match(r"sandbox_run: (set-up|child steps) in us: (.*)", line)
    if not m:
        continue
    for item in m.group(2).split(", "):
        name, value = item.rsplit(" ", 1)
        key = ("launcher: " if m.group(1) == "set-up" else "  child: ") + name
        if key not in steps:
            order.append(key)
        steps.setdefault(key, []).append(int(value))
print(f"sandbox_run spawn steps, {sys.argv[2]} runs of /bin/true (us)")
print(f"{'step':40}{'median':>8}{'min':>8}")
for key in order:
    v = steps[key]
    print(f"{key:40}{statistics.median(v):8.0f}{min(v):8d}")
PY
