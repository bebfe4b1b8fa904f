#!/usr/bin/env bash
# The README's WORKSPACE lines for users are this workspace's own, verbatim:
# what .ci/run builds here is what the README tells users to copy.
set -uo pipefail
readme="$1" workspace="$2"
want="$(grep -E '^(local_repository\(|                 path = )' "$workspace")"
got="$(sed -n '/^# WORKSPACE$/,/^```$/p' "$readme" | grep -E '^(local_repository\(|                 path = )')"
if [[ -z "$want" || "$want" != "$got" ]]; then
  echo "FAIL: README.md's WORKSPACE block differs from tests/consumer/WORKSPACE:"
  diff <(echo "$want") <(echo "$got")
  exit 1
fi
echo "readme_test: the README's $(wc -l <<<"$want") lines are the consumer's; 1 passed, 0 failed"
