#!/usr/bin/env bash
# The conformance gate: runs every probe (or the named ones) under carrick, compares each
# result byte for byte with conformance-probes/expected/NAME.out, and prints one line per
# probe and the totals.
#
#   scripts/conformance.sh [NAME...]
#
# PASS             output matches the oracle
# FAIL             output differs (the first differing lines follow)
# XFAIL            output differs and conformance-probes/xfail.txt lists the probe
# UNEXPECTED PASS  output matches but xfail.txt still lists the probe: remove its line
# Exits 1 on any FAIL or UNEXPECTED PASS, 0 otherwise. The carrick binary is
# ${CARRICK:-target/debug/carrick}. Probes run PROBE_JOBS at a time (default 2), each for
# at most PROBE_TIMEOUT seconds (default 10).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/probe-common.sh"

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  mapfile -t names < <(list_probes)
fi
require_probes "${names[@]}"
jobs="${PROBE_JOBS:-2}"
if ! [[ "$jobs" =~ ^[1-9][0-9]*$ ]]; then
  echo "invalid PROBE_JOBS '$jobs': expected a positive number of parallel probe runs" >&2
  exit 2
fi

# xfail.txt: `NAME  reason`, one probe per line; blank lines and `#` comments are skipped.
declare -A xfail_reason=()
if [ -f "$xfail_file" ]; then
  line_number=0
  while IFS= read -r line || [ -n "$line" ]; do
    line_number=$((line_number + 1))
    case "$line" in '' | '#'*) continue ;; esac
    name="${line%%[[:space:]]*}"
    reason="$(sed 's/^[^[:space:]]*[[:space:]]*//' <<<"$line")"
    if [ ! -f "$probes_dir/src/bin/$name.rs" ]; then
      echo "$xfail_file:$line_number: no probe named '$name'; remove the line" >&2
      exit 2
    fi
    if [ -z "$reason" ] || [ "$reason" = "$line" ]; then
      echo "$xfail_file:$line_number: '$name' has no reason; write 'NAME  reason'" >&2
      exit 2
    fi
    if [ -n "${xfail_reason[$name]+set}" ]; then
      echo "$xfail_file:$line_number: '$name' is listed twice; keep one line" >&2
      exit 2
    fi
    xfail_reason["$name"]="$reason"
  done <"$xfail_file"
fi

resolve_carrick
"$repo_root/scripts/build-probes.sh"

work="$(mktemp -d "${TMPDIR:-/tmp}/carrick-conformance.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# Runs one probe in the background and records whether the timeout stopped it.
run_in_background() {
  local name="$1"
  run_probe_under_carrick "$name" "$work/$name.out" "$work/$name.stderr"
  echo "$probe_timed_out" >"$work/$name.timed_out"
}

running=0
for name in "${names[@]}"; do
  [ -f "$expected_dir/$name.out" ] || continue
  run_in_background "$name" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait

passed=0 failed=0 xfailed=0 unexpected=0
for name in "${names[@]}"; do
  expected="$expected_dir/$name.out"
  actual="$work/$name.out"
  if [ ! -f "$expected" ]; then
    printf '%-16s %s (no expected output: run scripts/oracle.sh %s)\n' FAIL "$name" "$name"
    failed=$((failed + 1))
    continue
  fi

  probe_timed_out="$(cat "$work/$name.timed_out" 2>/dev/null || echo 0)"
  matched=0
  cmp -s "$expected" "$actual" && matched=1

  if [ -n "${xfail_reason[$name]+set}" ]; then
    if [ "$matched" = 1 ]; then
      printf '%-16s %s (remove it from xfail.txt)\n' "UNEXPECTED PASS" "$name"
      unexpected=$((unexpected + 1))
    else
      timed_out=""
      [ "$probe_timed_out" = 1 ] && timed_out=", timed out"
      printf '%-16s %s (%s%s)\n' XFAIL "$name" "${xfail_reason[$name]}" "$timed_out"
      xfailed=$((xfailed + 1))
    fi
  elif [ "$matched" = 1 ]; then
    printf '%-16s %s\n' PASS "$name"
    passed=$((passed + 1))
  else
    if [ "$probe_timed_out" = 1 ]; then
      printf '%-16s %s (timed out after %s s)\n' FAIL "$name" "$probe_timeout"
    else
      printf '%-16s %s\n' FAIL "$name"
    fi
    diff -u --label expected --label carrick "$expected" "$actual" | sed -n '3,14s/^/    /p' || true
    if [ -s "$work/$name.stderr" ]; then
      echo "    carrick stderr:"
      head -n 5 "$work/$name.stderr" | sed 's/^/      /'
    fi
    failed=$((failed + 1))
  fi
done

echo "conformance: $passed passed, $failed failed"
echo "xfail: $xfailed expected failures, $unexpected unexpected passes"
if [ "$failed" -gt 0 ] || [ "$unexpected" -gt 0 ]; then
  exit 1
fi
