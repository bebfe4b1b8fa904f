#!/usr/bin/env bash
# `tools/bazel run //tests/bench [-- --quick]`: see run_all.py. Outside Bazel:
# tests/bench/bench.sh [--quick] from the checkout.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
script="$here/run_all.py"
[[ -f "$script" ]] || script="${RUNFILES_DIR:-$0.runfiles}/cmsg/tests/bench/run_all.py"
workspace="${BUILD_WORKSPACE_DIRECTORY:-$(cd "$here/../.." && pwd)}"
exec /usr/bin/python3 -B "$script" --workspace="$workspace" "$@"
