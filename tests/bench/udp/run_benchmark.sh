#!/bin/bash
# The UDP relay benchmark, one run, side by side (see run_benchmark.py):
#   tools/bazel run -c opt //tests/bench/udp:run_benchmark [-- --runs=5 --seconds=2]
# Installs its peers (socat, nginx with the stream module) with apt-get when
# they are missing (needs root).
set -euo pipefail
need=()
command -v socat >/dev/null || need+=(socat)
command -v nginx >/dev/null || need+=(nginx)
[[ -e /usr/lib/nginx/modules/ngx_stream_module.so ]] || need+=(libnginx-mod-stream)
if ((${#need[@]})); then
  echo "run_benchmark: installing ${need[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >&2 ||
    { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -q --no-install-recommends "${need[@]}" >&2; }
fi
here="${BASH_SOURCE[0]}.runfiles/cmsg"
[[ -d "$here" ]] || here="${RUNFILES_DIR:-$PWD}/cmsg"
[[ -d "$here" ]] || here="$PWD"
exec /usr/bin/python3 -B "$here/tests/bench/udp/run_benchmark.py" \
  --relay="$here/tools/udp_relay/udp_relay" \
  --blast="$here/tests/bench/udp/udp_blast" \
  --sink="$here/tests/bench/udp/udp_sink" \
  --naive="$here/tests/bench/udp/naive_relay" \
  --mmsg="$here/tests/bench/udp/mmsg_relay" "$@"
