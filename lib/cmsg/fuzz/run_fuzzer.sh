#!/usr/bin/env bash
# Builds the control-message parser's libFuzzer target with Debian's clang
# (-fsanitize=fuzzer,address,undefined) and runs it for SECONDS seconds on a
# seed corpus of real encodings and kernel-filled buffers. Exits non-zero on
# any crash, leak or sanitizer report.
# Usage: lib/cmsg/fuzz/run_fuzzer.sh [SECONDS]   (default 60)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../../.."

seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || ((seconds < 1)); then
  echo "run_fuzzer.sh: SECONDS must be a positive integer, got '$seconds'" >&2
  exit 2
fi
CXX="${CXX_FUZZ:-clang++}"
if ! command -v "$CXX" >/dev/null; then
  echo "run_fuzzer.sh: $CXX not found (install clang and libclang-rt-14-dev)" >&2
  exit 2
fi

work="$(mktemp -d /tmp/cmsg_fuzz.XXXXXX)"
trap 'rm -rf "$work"' EXIT

srcs=(lib/cmsg/codec.cc lib/cmsg/socket_io.cc lib/cmsg/sockopts.cc
      lib/status/errno_status.cc lib/net/socket_address.cc)
libs=(-labsl_status -labsl_statusor -labsl_cord -labsl_cord_internal
      -labsl_cordz_info -labsl_cordz_handle -labsl_cordz_functions
      -labsl_strerror -labsl_strings -labsl_strings_internal
      -labsl_str_format_internal -labsl_int128 -labsl_throw_delegate
      -labsl_raw_logging_internal -labsl_base -labsl_spinlock_wait
      -labsl_synchronization -labsl_time -labsl_time_zone -labsl_exponential_biased
      -labsl_stacktrace -labsl_symbolize -labsl_debugging_internal
      -labsl_demangle_internal -labsl_malloc_internal)
common=(-std=c++20 -I. -g -O1 -fno-omit-frame-pointer)

echo "run_fuzzer.sh: building with $CXX"
"$CXX" "${common[@]}" -fsanitize=fuzzer,address,undefined \
  -fno-sanitize-recover=all lib/cmsg/fuzz/decode_fuzzer.cc "${srcs[@]}" \
  "${libs[@]}" -o "$work/decode_fuzzer"
"$CXX" "${common[@]}" lib/cmsg/fuzz/make_seeds.cc lib/cmsg/mmsg.cc "${srcs[@]}" \
  "${libs[@]}" -o "$work/make_seeds"

mkdir -p "$work/seeds" "$work/corpus"
"$work/make_seeds" "$work/seeds"

echo "run_fuzzer.sh: fuzzing for ${seconds}s"
crashes="/tmp/cmsg_fuzz_crashes"
mkdir -p "$crashes"
status=0
(cd "$work" &&
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  ./decode_fuzzer -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len=4096 -print_final_stats=1 -artifact_prefix="$crashes/" \
    corpus seeds >fuzz.log 2>&1) || status=$?
if ((status != 0)); then
  tail -n 60 "$work/fuzz.log" >&2
  echo "run_fuzzer.sh: the fuzzer failed (exit $status); crashing inputs are in $crashes" >&2
  exit 1
fi
grep -E '^(Done|stat::)' "$work/fuzz.log" || true
echo "run_fuzzer.sh: no crash in ${seconds}s"
