#!/usr/bin/env bash
# Records the expected output of conformance probes on a real arm64 Linux kernel.
#
#   scripts/oracle.sh [--out DIR] [--no-build] [NAME...]
#
# Builds the probes, packs them with a static busybox into an initramfs, boots Debian's
# arm64 kernel under qemu-system-aarch64 once, runs every named probe (default: all) the
# same way scripts/run-probe.sh runs it under carrick, and writes DIR/NAME.out (default
# DIR: conformance-probes/expected): the probe's stdout followed by `exit=STATUS`.
# When the boot fails, its console log is kept as ${TMPDIR:-/tmp}/carrick-oracle-console.log.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/probe-common.sh"

out_dir="$expected_dir"
build=1
names=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out)
      [ $# -ge 2 ] || { echo "oracle: --out needs a directory" >&2; exit 2; }
      out_dir="$2"
      shift 2
      ;;
    --no-build)
      build=0
      shift
      ;;
    -h | --help)
      awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"
      exit 0
      ;;
    -*)
      echo "oracle: unknown option '$1' (known: --out DIR, --no-build)" >&2
      exit 2
      ;;
    *)
      names+=("$1")
      shift
      ;;
  esac
done

if [ ${#names[@]} -eq 0 ]; then
  mapfile -t names < <(list_probes)
fi
require_probes "${names[@]}"

if [ "$build" = 1 ]; then
  "$repo_root/scripts/build-probes.sh"
else
  "$repo_root/scripts/probe-toolchain.sh"
fi
command -v qemu-system-aarch64 >/dev/null ||
  { echo "oracle: qemu-system-aarch64 not found; run scripts/setup.sh" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/carrick-oracle.XXXXXX")"
trap 'rm -rf "$work"' EXIT
initramfs="$work/root"
mkdir -p "$initramfs"/{bin,probes,proc,sys,dev,tmp}
cp "$toolchain_dir/busybox" "$initramfs/bin/busybox"
for name in "${names[@]}"; do
  binary="$probe_bin_dir/$name"
  [ -x "$binary" ] || { echo "oracle: $binary was not built" >&2; exit 1; }
  cp "$binary" "$initramfs/probes/$name"
done
printf '%s\n' "${names[@]}" >"$initramfs/probes.list"

# /init runs each probe from /tmp (tmpfs) under env -i with the shared environment, with
# stdin from /dev/null, and prints stdout and stderr base64-framed on the console.
{
  echo '#!/bin/busybox sh'
  echo '/bin/busybox --install -s /bin'
  echo 'mount -t proc proc /proc'
  echo 'mount -t sysfs sysfs /sys'
  echo 'mount -t devtmpfs devtmpfs /dev'
  echo 'mount -t tmpfs tmpfs /tmp'
  echo 'echo 1 4 1 7 > /proc/sys/kernel/printk'
  echo "umask $probe_umask"
  echo 'echo "==oracle begin=="'
  echo 'while read -r name; do'
  echo '  cd /tmp'
  echo "  timeout -s KILL $probe_timeout env -i ${probe_env[*]} /probes/\$name </dev/null >/stdout 2>/stderr"
  echo '  status=$?'
  echo '  echo "==probe $name stdout=="'
  echo '  base64 /stdout'
  echo '  echo "==probe $name stderr=="'
  echo '  base64 /stderr'
  echo '  echo "==probe $name exit=$status=="'
  echo 'done < /probes.list'
  echo 'echo "==oracle end=="'
  echo 'poweroff -f'
} >"$initramfs/init"
chmod +x "$initramfs/init"

(cd "$initramfs" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1) >"$work/init.cpio.gz"

echo "oracle: booting $(basename "$(ls "$toolchain_dir"/kernel/.installed-*)" | sed 's/^.installed-//') with ${#names[@]} probes"
start=$(date +%s)
console="$work/console.log"
kept_console="${TMPDIR:-/tmp}/carrick-oracle-console.log"
if ! timeout 600 qemu-system-aarch64 -M virt -cpu max,pauth-impdef=on -m 1024 -smp 2 \
  -nographic -no-reboot -nic none -kernel "$toolchain_dir/kernel/Image" \
  -initrd "$work/init.cpio.gz" -append 'console=ttyAMA0 quiet panic=-1' \
  </dev/null >"$console" 2>&1; then
  cp "$console" "$kept_console"
  echo "oracle: qemu-system-aarch64 failed or timed out after 600 s; last console lines" \
    "(full log: $kept_console):" >&2
  tail -n 40 "$console" >&2
  exit 1
fi
tr -d '\r' <"$console" >"$work/console.txt"
if ! grep -qx '==oracle end==' "$work/console.txt"; then
  cp "$work/console.txt" "$kept_console"
  echo "oracle: the guest did not reach the end of /init; last console lines" \
    "(full log: $kept_console):" >&2
  tail -n 40 "$work/console.txt" >&2
  exit 1
fi

# Split the framed console output into per-probe files.
split="$work/split"
mkdir -p "$split"
awk -v dir="$split" '
  /^==probe .* stdout==$/ { name = $2; file = dir "/" name ".stdout.b64"; printf "" > file; next }
  /^==probe .* stderr==$/ { file = dir "/" $2 ".stderr.b64"; printf "" > file; next }
  /^==probe .* exit=[0-9]+==$/ {
    status = $3; sub(/^exit=/, "", status); sub(/==$/, "", status)
    print status > (dir "/" $2 ".status"); file = ""; next
  }
  file != "" { print > file }
' "$work/console.txt"

mkdir -p "$out_dir"
failed=0
for name in "${names[@]}"; do
  if [ ! -f "$split/$name.status" ]; then
    echo "oracle: no result for probe $name in the console log" >&2
    failed=1
    continue
  fi
  base64 -d <"$split/$name.stdout.b64" >"$split/$name.stdout"
  base64 -d <"$split/$name.stderr.b64" >"$split/$name.stderr"
  format_result "$split/$name.stdout" "$(cat "$split/$name.status")" >"$out_dir/$name.out"
  if [ -s "$split/$name.stderr" ]; then
    echo "oracle: $name wrote to stderr:" >&2
    sed 's/^/  /' "$split/$name.stderr" >&2
  fi
done
echo "oracle: recorded ${#names[@]} probes into $out_dir in $(($(date +%s) - start)) s"
exit "$failed"
