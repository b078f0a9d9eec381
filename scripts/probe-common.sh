# Shared settings for the probe scripts; sourced, not run.
# Defines the paths every probe script uses and the exact way a probe is started, so the
# oracle (scripts/oracle.sh) and carrick (scripts/run-probe.sh, scripts/conformance.sh)
# run each probe with the same argv, cwd, environment, umask and stdin.

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
probes_dir="$repo_root/conformance-probes"
toolchain_dir="$probes_dir/.toolchain"
expected_dir="$probes_dir/expected"
xfail_file="$probes_dir/xfail.txt"
probe_target=aarch64-unknown-linux-gnu
probe_bin_dir="$probes_dir/target/$probe_target/debug"

# The environment of every probe run, on the oracle and under carrick alike.
probe_env=(PATH=/usr/bin:/bin HOME=/tmp LC_ALL=C TZ=UTC)
# The umask a probe starts with.
probe_umask=022
# Seconds a probe may run before the gate or the oracle kills it (PROBE_TIMEOUT overrides).
probe_timeout="${PROBE_TIMEOUT:-10}"

# Prints the names of all probes (the src/bin/*.rs stems), sorted.
list_probes() {
  local file
  for file in "$probes_dir"/src/bin/*.rs; do
    [ -e "$file" ] || continue
    basename "$file" .rs
  done | LC_ALL=C sort
}

# Exits with a message unless every argument names an existing probe.
require_probes() {
  local name
  for name in "$@"; do
    if [ ! -f "$probes_dir/src/bin/$name.rs" ]; then
      echo "no probe named '$name' (expected $probes_dir/src/bin/$name.rs); see scripts/new-probe.sh" >&2
      exit 2
    fi
  done
}

# Writes a probe's recorded result to stdout: its stdout bytes, then a last line
# `exit=STATUS`. Output that does not end in a newline gets a marker line first, so that
# "text" and "text\n" stay distinguishable. Used for the oracle and for carrick alike.
format_result() {
  local stdout_file="$1" status="$2"
  cat "$stdout_file"
  if [ -s "$stdout_file" ] && [ "$(tail -c 1 "$stdout_file" | od -An -tx1 | tr -d ' ')" != 0a ]; then
    printf '\n(no newline at end of output)\n'
  fi
  printf 'exit=%s\n' "$status"
}

# Resolves ${CARRICK:-target/debug/carrick} (relative paths from the repository root, bare
# names through PATH) into $carrick_bin, or explains how to get one and exits 1.
resolve_carrick() {
  local requested="${CARRICK:-target/debug/carrick}"
  case "$requested" in
    /*) carrick_bin="$requested" ;;
    */*) carrick_bin="$repo_root/$requested" ;;
    *) carrick_bin="$(command -v "$requested" || true)" ;;
  esac
  if [ -z "$carrick_bin" ] || [ ! -f "$carrick_bin" ] || [ ! -x "$carrick_bin" ]; then
    echo "carrick binary not found or not executable: ${carrick_bin:-$requested}" >&2
    echo "build it with 'cargo build -p carrick', or set CARRICK=/path/to/carrick" >&2
    exit 1
  fi
}

# Runs probe $1 under $carrick_bin the way the oracle runs it (fresh cwd, env -i with
# probe_env, umask, stdin from /dev/null, timeout) and writes the formatted result to $2
# and its stderr to $3. Sets probe_timed_out=1 when the timeout ended it (SIGTERM, then
# SIGKILL 2 s later), else 0.
run_probe_under_carrick() {
  local name="$1" result_file="$2" stderr_file="$3"
  local cwd status started
  cwd="$(mktemp -d "${TMPDIR:-/tmp}/carrick-probe-cwd.XXXXXX")"
  status=0
  started=$SECONDS
  # The braces' 2>/dev/null drops bash's "Segmentation fault" notice for a probe that
  # dies by a signal; the probe's own stderr still goes to $stderr_file.
  {
    (
      cd "$cwd"
      umask "$probe_umask"
      exec timeout -k 2 "$probe_timeout" env -i "${probe_env[@]}" \
        "$carrick_bin" run-elf "$probe_bin_dir/$name" </dev/null >"$cwd.stdout" 2>"$stderr_file"
    )
  } 2>/dev/null || status=$?
  probe_timed_out=0
  if [ $((SECONDS - started)) -ge "$probe_timeout" ] && { [ "$status" = 124 ] || [ "$status" = 137 ]; }; then
    probe_timed_out=1
  fi
  format_result "$cwd.stdout" "$status" >"$result_file"
  rm -rf "$cwd" "$cwd.stdout"
}
