#!/usr/bin/env bash
# Re-records every probe on the real arm64 kernel into a temporary directory and fails if
# any output differs from the committed conformance-probes/expected/, or if a probe has
# no committed output or a committed output has no probe. Used by CI.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/probe-common.sh"

fresh="$(mktemp -d "${TMPDIR:-/tmp}/carrick-oracle-check.XXXXXX")"
trap 'rm -rf "$fresh"' EXIT
"$repo_root/scripts/oracle.sh" --out "$fresh"

if diff -ru --label committed --label fresh "$expected_dir" "$fresh" >"$fresh.diff" 2>&1; then
  rm -f "$fresh.diff"
  echo "oracle-check: all $(list_probes | wc -l) recorded outputs match the real kernel"
  exit 0
fi
echo "oracle-check: recorded outputs differ from a fresh oracle run:" >&2
cat "$fresh.diff" >&2
rm -f "$fresh.diff"
echo "if the change is intended, run 'just oracle' and commit conformance-probes/expected/" >&2
exit 1
