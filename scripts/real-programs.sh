#!/usr/bin/env bash
# Runs real arm64 programs (tests/real/commands.txt) on a real arm64 Linux kernel and under
# carrick, and compares their stdout and exit status byte for byte.
#
#   scripts/real-programs.sh record [--out DIR] [NAME...]
#       Boots Debian's arm64 kernel under qemu-system-aarch64 once, with the fixture tree
#       from scripts/real-fixtures.sh as its initramfs, runs each command there and writes
#       DIR/NAME.out (default DIR: tests/real/expected): stdout, then `exit=STATUS`.
#   scripts/real-programs.sh check [NAME...]
#       Runs each command under ${CARRICK:-target/debug/carrick} and prints PASS, FAIL (with
#       a diff), XFAIL or UNEXPECTED PASS per command (tests/real/xfail.txt lists the
#       expected failures, `NAME  reason` per line). Exits 1 on any FAIL or UNEXPECTED PASS.
#   scripts/real-programs.sh oracle-check
#       Records every command into a temporary directory and fails if any result differs
#       from tests/real/expected/, as CI does.
#
# Environment: REAL_TIMEOUT (seconds per command, default 60), REAL_JOBS (commands run in
# parallel by check, default 2), CARRICK (the carrick binary).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/probe-common.sh"

real_dir="$repo_root/tests/real"
commands_file="$real_dir/commands.txt"
real_expected_dir="$real_dir/expected"
real_xfail_file="$real_dir/xfail.txt"
# The environment and umask of every command, on the oracle and under carrick alike.
real_env=(PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LC_ALL=C TZ=UTC)
real_umask=022
real_timeout="${REAL_TIMEOUT:-60}"
# Working directory of `elf` commands inside the tree. `rootfs` commands run in /.
elf_cwd=/real/data
# The program that runs the oracle's init script and its applets, taken from the fixture tree.
oracle_busybox=/usr/bin/busybox
# The oracle's init script (the kernel's rdinit=). It is the only file the oracle adds to
# the tree, and a file in an existing directory leaves `ls -la /` unchanged: the kernel
# restores each archived directory's time once the initramfs is unpacked.
oracle_init=/real/oracle-init
# The kernel file systems the init script mounts, as TYPE:DIRECTORY. Their mount points in
# / get the boot's link counts, sizes and times, which the ls-mounts filter masks.
oracle_mounts=(proc:/proc sysfs:/sys devtmpfs:/dev)

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}

die_usage() {
  echo "real-programs: $*" >&2
  echo "usage: scripts/real-programs.sh record [--out DIR] [NAME...] | check [NAME...] | oracle-check" >&2
  exit 2
}

if ! [[ "$real_timeout" =~ ^[1-9][0-9]*$ ]]; then
  echo "real-programs: invalid REAL_TIMEOUT '$real_timeout': expected a positive number of seconds" >&2
  exit 2
fi

# Reads commands.txt into all_names (in file order) and cmd_kind, cmd_stdin, cmd_filter,
# cmd_text (keyed by name), rejecting malformed lines with their line number.
declare -A cmd_kind=() cmd_stdin=() cmd_filter=() cmd_text=()
all_names=()
load_commands() {
  local line line_number=0 name kind stdin filter text where
  [ -f "$commands_file" ] || { echo "real-programs: $commands_file not found" >&2; exit 2; }
  while IFS= read -r line || [ -n "$line" ]; do
    line_number=$((line_number + 1))
    case "$line" in '' | '#'*) continue ;; esac
    where="$commands_file:$line_number"
    read -r name kind stdin filter text <<<"$line"
    if [ -z "$text" ]; then
      echo "$where: expected NAME KIND STDIN FILTER COMMAND, got '$line'" >&2
      exit 2
    fi
    if ! [[ "$name" =~ ^[A-Za-z0-9._-]+$ ]]; then
      echo "$where: invalid name '$name': use letters, digits, '.', '_' and '-'" >&2
      exit 2
    fi
    if [ -n "${cmd_kind[$name]+set}" ]; then
      echo "$where: '$name' is listed twice; rename one" >&2
      exit 2
    fi
    case "$kind" in
      elf | rootfs) ;;
      *) echo "$where: invalid kind '$kind' (known: elf, rootfs)" >&2; exit 2 ;;
    esac
    case "$stdin" in
      - | /*) ;;
      *) echo "$where: invalid stdin '$stdin': expected - or an absolute path in the tree" >&2; exit 2 ;;
    esac
    case "$filter" in
      - | ls-dirs | ls-mounts) ;;
      *) echo "$where: invalid filter '$filter' (known: -, ls-dirs, ls-mounts)" >&2; exit 2 ;;
    esac
    split_words "$text" "$where"
    if [ "$kind" = elf ] && [ "${words[0]:0:1}" != / ]; then
      echo "$where: an elf command needs an absolute program path, got '${words[0]}'" >&2
      exit 2
    fi
    cmd_kind["$name"]="$kind"
    cmd_stdin["$name"]="$stdin"
    cmd_filter["$name"]="$filter"
    cmd_text["$name"]="$text"
    all_names+=("$name")
  done <"$commands_file"
}

# Splits command text $1 into the array `words` with xargs' quoting rules; $2 names the
# line for the error message.
split_words() {
  local text="$1" where="$2" split_file
  split_file="$(mktemp "${TMPDIR:-/tmp}/carrick-real-words.XXXXXX")"
  if ! printf '%s\n' "$text" | xargs printf '%s\0' >"$split_file" 2>"$split_file.err"; then
    echo "$where: invalid quoting in '$text': $(cat "$split_file.err")" >&2
    rm -f "$split_file" "$split_file.err"
    exit 2
  fi
  mapfile -d '' words <"$split_file"
  rm -f "$split_file" "$split_file.err"
}

# Sets `argv` to the guest argv of command $1: the words of its text, with an `elf`
# program's absolute path rewritten relative to $elf_cwd so that both sides see the same
# argv[0].
command_argv() {
  local name="$1"
  split_words "${cmd_text[$name]}" "$name"
  argv=("${words[@]}")
  if [ "${cmd_kind[$name]}" = elf ]; then
    argv[0]="../..${argv[0]}"
  fi
}

# Prints the guest working directory of command $1.
command_cwd() {
  if [ "${cmd_kind[$1]}" = elf ]; then echo "$elf_cwd"; else echo /; fi
}

# Applies filter $1 to stdin.
apply_filter() {
  case "$1" in
    -) cat ;;
    ls-dirs) filter_ls_long "" ;;
    ls-mounts)
      # The mount points are directories in /, so ls lists them by their last component.
      local mount names=()
      for mount in "${oracle_mounts[@]}"; do
        names+=("${mount##*/}")
      done
      filter_ls_long "${names[*]}"
      ;;
  esac
}

# Masks the `total` line and the directory sizes of `ls -l` output on stdin and collapses
# runs of spaces, which those sizes change. The directories named in $1 (separated by
# spaces) also get placeholders for their link count and time.
filter_ls_long() {
  awk -v mounts="$1" '
    BEGIN {
      count = split(mounts, names, " ")
      for (i = 1; i <= count; i++) mounted[names[i]] = 1
    }
    /^total [0-9]+$/ { print "total (blocks depend on the filesystem)"; next }
    { $1 = $1 }
    # Mode, links, owner, group, size, two or three fields of time (by --time-style), name.
    /^d/ && NF >= 8 && ($NF in mounted) {
      print $1, "(links)", $3, $4, "(dir size)", "(time)", $NF
      next
    }
    /^d/ && NF >= 5 { $5 = "(dir size)" }
    { print }
  '
}

# Exits with a message unless every argument names a command.
require_names() {
  local name
  for name in "$@"; do
    if [ -z "${cmd_kind[$name]+set}" ]; then
      echo "real-programs: no command named '$name' in $commands_file" >&2
      exit 2
    fi
  done
}

# Quotes each argument for a POSIX shell (single quotes).
shell_quote() {
  local word out=()
  for word in "$@"; do
    out+=("'${word//\'/\'\\\'\'}'")
  done
  printf '%s' "${out[*]}"
}

# Builds the fixture tree and sets `rootfs` to it.
prepare_fixtures() {
  rootfs="$("$repo_root/scripts/real-fixtures.sh" | tail -n 1)"
  [ -d "$rootfs/real/data" ] ||
    { echo "real-programs: the fixture tree $rootfs has no /real/data; rerun scripts/real-fixtures.sh" >&2; exit 1; }
}

# --- record ---------------------------------------------------------------------------

record() {
  local out_dir="$real_expected_dir" names=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --out)
        [ $# -ge 2 ] || die_usage "--out needs a directory"
        out_dir="$2"
        shift 2
        ;;
      -*) die_usage "unknown option '$1' for record (known: --out DIR)" ;;
      *) names+=("$1"); shift ;;
    esac
  done
  local all=0
  if [ ${#names[@]} -eq 0 ]; then
    names=("${all_names[@]}")
    all=1
  fi
  require_names "${names[@]}"

  "$repo_root/scripts/probe-toolchain.sh"
  command -v qemu-system-aarch64 >/dev/null ||
    { echo "real-programs: qemu-system-aarch64 not found; run scripts/setup.sh" >&2; exit 1; }
  prepare_fixtures

  local work
  work="$(mktemp -d "${TMPDIR:-/tmp}/carrick-real-oracle.XXXXXX")"
  # shellcheck disable=SC2064 # expand $work now: it is local to this function
  trap "rm -rf '$work'" EXIT
  write_oracle_init "$work/extra$oracle_init" "${names[@]}"

  # Two concatenated newc archives, which the kernel unpacks in order: the fixture tree
  # unchanged, then the init script alone, without its directory, whose archived mode and
  # time would replace the tree's. The kernel also accepts uncompressed archives, so
  # neither the host nor the emulated guest spends time on gzip.
  local started=$SECONDS
  {
    (cd "$rootfs" && find . | LC_ALL=C sort | cpio -o -H newc --quiet)
    (cd "$work/extra" && echo ".$oracle_init" | cpio -o -H newc --quiet)
  } >"$work/initramfs.cpio"
  local packed=$((SECONDS - started))

  local kernel_name console="$work/console.log"
  local kept_console="${TMPDIR:-/tmp}/carrick-real-console.log"
  kernel_name="$(basename "$(ls "$toolchain_dir"/kernel/.installed-*)" | sed 's/^.installed-//')"
  echo "real-programs: booting $kernel_name with ${#names[@]} commands" \
    "($(du -m "$work/initramfs.cpio" | cut -f1) MB initramfs, packed in $packed s)"
  started=$SECONDS
  if ! timeout 900 qemu-system-aarch64 -M virt -cpu max,pauth-impdef=on -m 2048 -smp 2 \
    -nographic -no-reboot -nic none -kernel "$toolchain_dir/kernel/Image" \
    -initrd "$work/initramfs.cpio" -append "console=ttyAMA0 quiet panic=-1 rdinit=$oracle_init" \
    </dev/null >"$console" 2>&1; then
    cp "$console" "$kept_console"
    echo "real-programs: qemu-system-aarch64 failed or timed out after 900 s; last console" \
      "lines (full log: $kept_console):" >&2
    tail -n 40 "$console" >&2
    exit 1
  fi
  tr -d '\r' <"$console" >"$work/console.txt"
  if ! grep -qx '==real end==' "$work/console.txt"; then
    cp "$work/console.txt" "$kept_console"
    echo "real-programs: the guest did not reach the end of $oracle_init; last console lines" \
      "(full log: $kept_console):" >&2
    tail -n 40 "$work/console.txt" >&2
    exit 1
  fi
  local booted=$((SECONDS - started))

  local split="$work/split"
  mkdir -p "$split"
  awk -v dir="$split" '
    /^==real .* stdout==$/ { file = dir "/" $2 ".stdout.b64"; printf "" > file; next }
    /^==real .* stderr==$/ { file = dir "/" $2 ".stderr.b64"; printf "" > file; next }
    /^==real .* exit=[0-9]+==$/ {
      status = $3; sub(/^exit=/, "", status); sub(/==$/, "", status)
      print status > (dir "/" $2 ".status"); file = ""; next
    }
    file != "" { print > file }
  ' "$work/console.txt"

  mkdir -p "$out_dir"
  local name failed=0
  for name in "${names[@]}"; do
    if [ ! -f "$split/$name.status" ]; then
      echo "real-programs: no result for $name in the console log" >&2
      failed=1
      continue
    fi
    base64 -d <"$split/$name.stdout.b64" | apply_filter "${cmd_filter[$name]}" >"$split/$name.stdout"
    base64 -d <"$split/$name.stderr.b64" >"$split/$name.stderr"
    format_result "$split/$name.stdout" "$(cat "$split/$name.status")" >"$out_dir/$name.out"
    # 137 is SIGKILL, which is how the guest's timeout ends a command.
    if [ "$(cat "$split/$name.status")" = 137 ]; then
      echo "real-programs: $name was killed, probably after the ${real_timeout} s timeout;" \
        "its result is not a valid expectation" >&2
      failed=1
    fi
    if [ -s "$split/$name.stderr" ]; then
      echo "real-programs: $name wrote to stderr:"
      head -n 5 "$split/$name.stderr" | sed 's/^/  /'
    fi
  done

  # A full recording also drops the results of commands that no longer exist.
  if [ "$all" = 1 ]; then
    local file
    for file in "$out_dir"/*.out; do
      [ -e "$file" ] || continue
      name="$(basename "$file" .out)"
      if [ -z "${cmd_kind[$name]+set}" ]; then
        rm -f "$file"
        echo "real-programs: removed $file (no such command)"
      fi
    done
  fi
  echo "real-programs: recorded ${#names[@]} commands into $out_dir; boot and run took $booted s"
  return "$failed"
}

# Writes the oracle's init script, which runs commands $2..., to file $1.
write_oracle_init() {
  local script="$1" name cwd stdin mount
  shift
  mkdir -p "$(dirname "$script")"

  # The script mounts the kernel file systems, then runs each command in its working
  # directory under `env -i` with the shared environment and prints stdout and stderr
  # base64-framed on the console. The output files live in devtmpfs, so that writing them
  # changes no directory of the tree.
  local bb="$oracle_busybox" out=/dev/oracle-out
  {
    echo "#!$bb sh"
    for mount in "${oracle_mounts[@]}"; do
      echo "$bb mount -t ${mount%%:*} ${mount%%:*} ${mount#*:}"
    done
    cat <<EOF
echo 1 4 1 7 > /proc/sys/kernel/printk
umask $real_umask
run_one() {
  name=\$1 cwd=\$2 stdin=\$3
  shift 3
  (cd "\$cwd" && exec $bb timeout -s KILL $real_timeout $bb env -i ${real_env[*]} "\$@") \
    <"\$stdin" >$out.stdout 2>$out.stderr
  status=\$?
  echo "==real \$name stdout=="
  $bb base64 $out.stdout
  echo "==real \$name stderr=="
  $bb base64 $out.stderr
  echo "==real \$name exit=\$status=="
}
echo "==real begin=="
EOF
    for name in "$@"; do
      command_argv "$name"
      cwd="$(command_cwd "$name")"
      stdin="${cmd_stdin[$name]}"
      [ "$stdin" = - ] && stdin=/dev/null
      echo "run_one $(shell_quote "$name" "$cwd" "$stdin" "${argv[@]}")"
    done
    echo 'echo "==real end=="'
    echo "$bb poweroff -f"
  } >"$script"
  chmod 0755 "$script"
}

# --- check ----------------------------------------------------------------------------

# Runs command $1 under carrick and writes its formatted result to $2 and stderr to $3.
run_under_carrick() {
  local name="$1" result_file="$2" stderr_file="$3"
  local host_cwd stdin status=0 carrick_args host_env variable
  command_argv "$name"
  if [ "${cmd_kind[$name]}" = elf ]; then
    # run-elf gives the guest carrick's own environment and working directory.
    host_cwd="$rootfs$elf_cwd"
    host_env=("${real_env[@]}")
    carrick_args=(run-elf "${argv[@]}")
  else
    # `run` gives the guest only the variables set with -e, and stdin only with -i.
    # carrick's own environment just points it at a private image store.
    host_cwd=/
    host_env=("CARRICK_HOME=$carrick_home")
    carrick_args=(run --rootfs "$rootfs" --rm -i -w /)
    for variable in "${real_env[@]}"; do
      carrick_args+=(-e "$variable")
    done
    carrick_args+=("${argv[@]}")
  fi
  stdin="${cmd_stdin[$name]}"
  if [ "$stdin" = - ]; then stdin=/dev/null; else stdin="$rootfs$stdin"; fi

  # The braces' 2>/dev/null drops bash's notice for a run that dies by a signal.
  {
    (
      cd "$host_cwd"
      umask "$real_umask"
      exec timeout -k 2 "$real_timeout" env -i "${host_env[@]}" "$carrick_bin" "${carrick_args[@]}" \
        <"$stdin" >"$result_file.stdout" 2>"$stderr_file"
    )
  } 2>/dev/null || status=$?
  apply_filter "${cmd_filter[$name]}" <"$result_file.stdout" >"$result_file.filtered"
  format_result "$result_file.filtered" "$status" >"$result_file"
  rm -f "$result_file.stdout" "$result_file.filtered"
}

# Reads xfail.txt into xfail_reason (keyed by name).
declare -A xfail_reason=()
load_xfail() {
  local line line_number=0 name reason
  [ -f "$real_xfail_file" ] || return 0
  while IFS= read -r line || [ -n "$line" ]; do
    line_number=$((line_number + 1))
    case "$line" in '' | '#'*) continue ;; esac
    read -r name reason <<<"$line"
    if [ -z "${cmd_kind[$name]+set}" ]; then
      echo "$real_xfail_file:$line_number: no command named '$name'; remove the line" >&2
      exit 2
    fi
    if [ -z "$reason" ]; then
      echo "$real_xfail_file:$line_number: '$name' has no reason; write 'NAME  reason'" >&2
      exit 2
    fi
    xfail_reason["$name"]="$reason"
  done <"$real_xfail_file"
}

check() {
  local names=("$@")
  [ ${#names[@]} -gt 0 ] || names=("${all_names[@]}")
  require_names "${names[@]}"
  local jobs="${REAL_JOBS:-2}"
  if ! [[ "$jobs" =~ ^[1-9][0-9]*$ ]]; then
    echo "real-programs: invalid REAL_JOBS '$jobs': expected a positive number of parallel runs" >&2
    exit 2
  fi
  load_xfail
  resolve_carrick
  prepare_fixtures

  local work
  work="$(mktemp -d "${TMPDIR:-/tmp}/carrick-real-check.XXXXXX")"
  # shellcheck disable=SC2064 # expand $work now: it is local to this function
  trap "rm -rf '$work'" EXIT
  # The image store of `carrick run`, so that checks leave nothing in the user's store.
  carrick_home="$work/carrick-home"
  mkdir -p "$carrick_home"

  local name running=0 started=$SECONDS
  for name in "${names[@]}"; do
    (
      local begin=$SECONDS
      run_under_carrick "$name" "$work/$name.out" "$work/$name.stderr"
      echo $((SECONDS - begin)) >"$work/$name.seconds"
    ) &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
      wait -n || true
      running=$((running - 1))
    fi
  done
  wait

  local passed=0 failed=0 xfailed=0 unexpected=0 expected
  for name in "${names[@]}"; do
    expected="$real_expected_dir/$name.out"
    local seconds
    seconds="$(cat "$work/$name.seconds" 2>/dev/null || echo '?')"
    if [ ! -f "$expected" ]; then
      echo "FAIL  $name (no recorded result: run 'scripts/real-programs.sh record $name')"
      failed=$((failed + 1))
      continue
    fi
    if cmp -s "$expected" "$work/$name.out"; then
      if [ -n "${xfail_reason[$name]+set}" ]; then
        echo "UNEXPECTED PASS  $name (${seconds} s): remove it from tests/real/xfail.txt"
        unexpected=$((unexpected + 1))
      else
        echo "PASS  $name (${seconds} s)"
        passed=$((passed + 1))
      fi
      continue
    fi
    if [ -n "${xfail_reason[$name]+set}" ]; then
      echo "XFAIL  $name: ${xfail_reason[$name]}"
      xfailed=$((xfailed + 1))
      continue
    fi
    echo "FAIL  $name (${seconds} s): $(printf '%s' "${cmd_text[$name]}" | head -c 120)"
    diff -u --label "expected (real kernel)" --label "carrick" "$expected" "$work/$name.out" |
      head -n 30 | sed 's/^/    /' || true
    if [ -s "$work/$name.stderr" ]; then
      echo "    carrick stderr:"
      tail -n 10 "$work/$name.stderr" | sed 's/^/      /'
    fi
    failed=$((failed + 1))
  done
  echo "real-programs: $passed passed, $failed failed, $xfailed expected failures," \
    "$unexpected unexpected passes in $((SECONDS - started)) s"
  [ "$failed" -eq 0 ] && [ "$unexpected" -eq 0 ]
}

# --- oracle-check -----------------------------------------------------------------------

oracle_check() {
  [ $# -eq 0 ] || die_usage "oracle-check takes no names"
  local fresh
  fresh="$(mktemp -d "${TMPDIR:-/tmp}/carrick-real-oracle-check.XXXXXX")"
  # shellcheck disable=SC2064 # expand $fresh now: it is local to this function
  trap "rm -rf '$fresh' '$fresh.diff'" EXIT
  # A subshell, so that record's own EXIT trap does not replace this one.
  (record --out "$fresh")
  if diff -ru --label committed --label fresh "$real_expected_dir" "$fresh" >"$fresh.diff" 2>&1; then
    echo "real-programs: all ${#all_names[@]} recorded results match the real kernel"
    return 0
  fi
  echo "real-programs: recorded results differ from a fresh run on the real kernel:" >&2
  head -n 200 "$fresh.diff" >&2
  echo "if the change is intended, run 'scripts/real-programs.sh record' and commit tests/real/expected/" >&2
  return 1
}

[ $# -ge 1 ] || die_usage "missing mode"
mode="$1"
shift
case "$mode" in
  -h | --help) usage; exit 0 ;;
esac
load_commands
case "$mode" in
  record) record "$@" ;;
  check) check "$@" ;;
  oracle-check) oracle_check "$@" ;;
  *) die_usage "unknown mode '$mode'" ;;
esac
