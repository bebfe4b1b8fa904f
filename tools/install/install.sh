#!/usr/bin/env bash
# Installs the tools for users who do not use Bazel:
#   tools/bazel run -c opt //:install -- --prefix=/usr/local
# PREFIX/bin          sandbox_run and worker_pool (sandbox_shim and pool_agent
#                     beside them), fdstore, udp_relay, udp_echo, udp_probe
# PREFIX/share/man/man1  a man page per tool, made from its --help (help2man)
# UNITDIR             udp_relay@.service + udp_relay@.socket, fdstore.service
#                     (default PREFIX/lib/systemd/system)
# Flags: --prefix=DIR (required) --unitdir=DIR --sysconfdir=DIR (the units'
# conf files; default /etc) --no_man. Exit 0, or 1 with one line on stderr.
set -euo pipefail
readonly VERSION="0.1.0"
prefix="" unitdir="" sysconfdir="/etc" man=1
for arg in "$@"; do
  case "$arg" in
    --prefix=*) prefix="${arg#*=}" ;;
    --unitdir=*) unitdir="${arg#*=}" ;;
    --sysconfdir=*) sysconfdir="${arg#*=}" ;;
    --no_man) man=0 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
  esac
done
[[ -n "$prefix" ]] || { echo "install: --prefix=DIR is required" >&2; exit 2; }
[[ "$prefix" == /* ]] || prefix="${BUILD_WORKING_DIRECTORY:-$PWD}/$prefix"
unitdir="${unitdir:-$prefix/lib/systemd/system}"

runfiles="${RUNFILES_DIR:-}"
[[ -n "$runfiles" && -d "$runfiles" ]] || runfiles="$0.runfiles"
[[ -d "$runfiles" ]] || runfiles="${TEST_SRCDIR:-}"
[[ -d "$runfiles/cmsg" ]] || { echo "install: run it with tools/bazel run //:install -- --prefix=DIR" >&2; exit 1; }
r="$runfiles/cmsg"

declare -A summary=(
  [sandbox_run]="run a command in a sandbox, handing it sockets and files"
  [fdstore]="hold listening sockets so servers restart without dropping connections"
  [udp_relay]="relay UDP, replying from the address each client sent to"
  [udp_echo]="echo UDP datagrams from the address they were sent to"
  [udp_probe]="measure UDP round trips with kernel timestamps"
  [worker_pool]="run and supervise sandboxed workers that share sockets"
)
readonly tools=(sandbox_run worker_pool fdstore udp_relay udp_echo udp_probe)
mkdir -p "$prefix/bin" "$unitdir"
for tool in "${tools[@]}"; do
  install -m 0755 "$r/tools/$tool/$tool" "$prefix/bin/$tool"
done
# sandbox_run and worker_pool look for the shim (and worker_pool for the
# agent it runs in each sandbox) beside themselves.
install -m 0755 "$r/sandbox/sandbox_shim" "$prefix/bin/sandbox_shim"
install -m 0755 "$r/sandbox/pool_agent" "$prefix/bin/pool_agent"

if ((man)); then
  command -v help2man >/dev/null ||
    { echo "install: help2man is missing (apt-get install help2man, or --no_man)" >&2; exit 1; }
  mkdir -p "$prefix/share/man/man1"
  for tool in "${tools[@]}"; do
    help2man --no-info --version-string="$VERSION" --name="${summary[$tool]}" \
      --section=1 --output="$prefix/share/man/man1/$tool.1" "$prefix/bin/$tool" ||
      { echo "install: help2man failed for $tool" >&2; exit 1; }
  done
fi

for unit in "udp_relay@.service" "udp_relay@.socket" "fdstore.service"; do
  sed -e "s|@PREFIX@|$prefix|g" -e "s|@SYSCONFDIR@|$sysconfdir|g" \
    "$r/dist/systemd/$unit" >"$unitdir/$unit"
  chmod 0644 "$unitdir/$unit"
done
echo "install: installed ${#tools[@]} tools, sandbox_shim and pool_agent in $prefix/bin$( ((man)) && echo ", man pages in $prefix/share/man/man1"), units in $unitdir"
