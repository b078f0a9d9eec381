#!/usr/bin/env bash
# Runs one conformance probe under carrick and compares it with the oracle's output.
#
#   scripts/run-probe.sh NAME
#
# Prints MATCH and exits 0, or prints DIFF with the expected and the actual output (and
# carrick's stderr) and exits 1. The carrick binary is ${CARRICK:-target/debug/carrick}.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/probe-common.sh"

if [ $# -ne 1 ]; then
  echo "usage: scripts/run-probe.sh NAME (probes: conformance-probes/src/bin/)" >&2
  exit 2
fi
name="$1"
require_probes "$name"
expected="$expected_dir/$name.out"
if [ ! -f "$expected" ]; then
  echo "no expected output $expected; record it with scripts/oracle.sh $name" >&2
  exit 2
fi
resolve_carrick
"$repo_root/scripts/build-probes.sh" --bin "$name"

actual="$(mktemp)"
stderr="$(mktemp)"
trap 'rm -f "$actual" "$stderr"' EXIT
run_probe_under_carrick "$name" "$actual" "$stderr"

if cmp -s "$expected" "$actual"; then
  echo MATCH
  exit 0
fi
echo DIFF
if [ "$probe_timed_out" = 1 ]; then
  echo "(carrick was stopped after the $probe_timeout s timeout; set PROBE_TIMEOUT to change it)"
fi
echo "--- expected (real arm64 kernel): $expected"
cat "$expected"
echo "--- actual (carrick)"
cat "$actual"
echo "--- diff"
diff -u --label expected --label actual "$expected" "$actual" || true
if [ -s "$stderr" ]; then
  echo "--- carrick stderr"
  cat "$stderr"
fi
exit 1
