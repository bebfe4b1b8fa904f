#!/usr/bin/env bash
# Worker start and replacement time of worker_pool beside fork+exec,
# bubblewrap and sandbox_run, in one run (see pool_bench.py). Builds with
# -c opt; installs bubblewrap from Debian if missing (as root).
#
# Usage: tests/bench/pool/pool_bench.sh [RUNS]   (default 200 of each)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../../.."
if ! command -v bwrap >/dev/null; then
  [[ $(id -u) -eq 0 ]] || { echo "pool_bench: install bubblewrap" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap >&2
fi
tools/bazel build -c opt //tools/worker_pool //tools/sandbox_run //tests/bench/pool:ping_worker >&2
bin="$(tools/bazel info -c opt bazel-bin 2>/dev/null)"
exec /usr/bin/python3 tests/bench/pool/pool_bench.py \
  --worker_pool="${bin}/tools/worker_pool/worker_pool" \
  --sandbox_run="${bin}/tools/sandbox_run/sandbox_run" \
  --ping_worker="${bin}/tests/bench/pool/ping_worker" --runs="${1:-200}"
