#!/usr/bin/env bash
# Soak and fault tests (see soak.py): bounded, loopback only, stop by themselves.
#   tests/soak/run.sh                      relay 2 min, 10,000 spawns, 3,000 fdstore clients
#   tests/soak/run.sh --minutes=0.3 --spawns=300 --clients=200   (CI's short run)
#   tests/soak/run.sh --only=spawn --spawns=100
# Builds the tools first. Needs root (sandboxes, namespaces).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
targets=(//tools/udp_relay //tools/udp_echo //tools/udp_probe //tools/sandbox_run //tools/fdstore)
tools/bazel build "${targets[@]}" >&2
bin="$(tools/bazel info bazel-bin 2>/dev/null)"
exec python3 -B tests/soak/soak.py \
  --udp_relay="$bin/tools/udp_relay/udp_relay" --udp_echo="$bin/tools/udp_echo/udp_echo" \
  --udp_probe="$bin/tools/udp_probe/udp_probe" --sandbox_run="$bin/tools/sandbox_run/sandbox_run" \
  --fdstore="$bin/tools/fdstore/fdstore" "$@"
