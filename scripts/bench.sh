#!/usr/bin/env bash
# Benchmarks carrick (release build, emu backend) against qemu-aarch64 on the same static
# arm64 guests, in one run with hyperfine: a register loop, random read-modify-write over
# 64 MiB, one million getpid calls, one million getppid calls, 50 starts of a static program
# that exits at once, and busybox sha256sum over a 64 MiB file. Each guest's output is
# compared between the two runtimes before timing. Writes target/bench/results.md (a
# markdown table with wall-clock and CPU-time ratios carrick/qemu) and prints it. CPU time
# varies less than wall-clock time when other jobs share the machine.
#
# Usage: scripts/bench.sh [RUNS]   (RUNS: hyperfine runs per command, default 5)
# Needs: aarch64-linux-gnu-gcc, qemu-aarch64, hyperfine, python3 (scripts/setup.sh), and
# the arm64 package architecture for `apt-get download busybox-static:arm64`.
set -euo pipefail

runs="${1:-5}"
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/target/bench"
mkdir -p "$out"

for tool in aarch64-linux-gnu-gcc qemu-aarch64 hyperfine python3; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "bench: $tool not found; run scripts/setup.sh first" >&2
    exit 1
  fi
done

echo "bench: building carrick (release)"
cargo build --release --quiet -p carrick --manifest-path "$root/Cargo.toml"
carrick="$root/target/release/carrick"

for name in cpu mem syscalls getppid true; do
  if [ ! -x "$out/$name" ] || [ "$root/bench/$name.c" -nt "$out/$name" ]; then
    aarch64-linux-gnu-gcc -O2 -static -o "$out/$name" "$root/bench/$name.c"
  fi
done

busybox="$out/busybox/bin/busybox"
if [ ! -x "$busybox" ]; then
  echo "bench: fetching busybox-static:arm64"
  (cd "$out" && rm -f busybox-static_*.deb && apt-get download -q busybox-static:arm64 \
    && dpkg-deb -x busybox-static_*.deb busybox)
fi

data="$out/data-64m.bin"
if [ ! -f "$data" ]; then
  head -c $((64 * 1024 * 1024)) /dev/urandom > "$data"
fi

# name | guest command line (relative to $out) | target ratio
benchmarks=(
  "cpu|./cpu|1.1"
  "memory|./mem|1.5"
  "syscalls|./syscalls|0.5"
  "getppid|./getppid|-"
  "startup|./true|1.0"
  "sha256sum|./busybox/bin/busybox sha256sum data-64m.bin|-"
)

cd "$out"
rm -f results-*.json
for entry in "${benchmarks[@]}"; do
  IFS='|' read -r name guest target <<<"$entry"
  if [ "$name" = startup ]; then
    carrick_cmd="for i in \$(seq 50); do $carrick run-elf $guest; done"
    qemu_cmd="for i in \$(seq 50); do qemu-aarch64 $guest; done"
  else
    carrick_cmd="$carrick run-elf $guest"
    qemu_cmd="qemu-aarch64 $guest"
  fi

  expected="$(sh -c "$qemu_cmd")"
  actual="$(sh -c "$carrick_cmd")"
  if [ "$expected" != "$actual" ]; then
    echo "bench: $name: carrick output differs from qemu-aarch64" >&2
    echo "  qemu:    $expected" >&2
    echo "  carrick: $actual" >&2
    exit 1
  fi

  echo "bench: $name"
  hyperfine --style basic --warmup 1 --runs "$runs" --export-json "results-$name.json" \
    -n carrick "$carrick_cmd" -n qemu "$qemu_cmd" >/dev/null
done

python3 - "$out" <<'PY'
import json, pathlib, platform, subprocess, sys

out = pathlib.Path(sys.argv[1])
targets = {"cpu": "1.1", "memory": "1.5", "syscalls": "0.5", "getppid": "-", "startup": "1.0", "sha256sum": "-"}
rows = ["| benchmark | carrick wall (s) | qemu wall (s) | wall ratio | carrick CPU (s) | qemu CPU (s) | CPU ratio | target |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |"]
for name, target in targets.items():
    results = json.loads((out / f"results-{name}.json").read_text())["results"]
    by_command = {r["command"]: r for r in results}
    c, q = by_command["carrick"], by_command["qemu"]
    c_cpu, q_cpu = c["user"] + c["system"], q["user"] + q["system"]
    rows.append(
        f"| {name} | {c['median']:.3f} ± {c['stddev'] or 0:.3f} | {q['median']:.3f} ± {q['stddev'] or 0:.3f} "
        f"| {c['median'] / q['median']:.2f} | {c_cpu:.3f} | {q_cpu:.3f} | {c_cpu / q_cpu:.2f} | {target} |")
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
qemu = subprocess.run(["qemu-aarch64", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
lines = rows + ["", f"Wall: median of the hyperfine runs. CPU: mean user+system time per run. Host: {cpu}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores, "
                f"{platform.system()} {platform.release()}; {qemu}."]
(out / "results.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
PY

# Container start-up: from carrick's start to the guest's first instruction, for a cached
# image (debian:bookworm, built by scripts/build-debian-image.sh) and for --rootfs. carrick
# logs the time at info level as it enters the guest; no qemu counterpart exists.
if "$carrick" images 2>/dev/null | grep -q 'debian.*bookworm'; then
  echo "bench: container start-up (20 runs each)"
  forms=(image)
  if [ -d "$root/.cache/debian-image/rootfs" ]; then
    forms+=(rootfs)
  fi
  for form in "${forms[@]}"; do
    samples=()
    for _ in $(seq 20); do
      if [ "$form" = image ]; then
        line=$(CARRICK_LOG=info "$carrick" run --rm debian:bookworm /bin/true 2>&1 >/dev/null)
      else
        line=$(CARRICK_LOG=info "$carrick" run --rootfs "$root/.cache/debian-image/rootfs" /bin/true 2>&1 >/dev/null)
      fi
      samples+=("$(printf '%s' "$line" | sed 's/\x1b\[[0-9;]*m//g' | grep -o 'micros=[0-9]*' | cut -d= -f2)")
    done
    median=$(printf '%s\n' "${samples[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    echo "| start-up to first guest instruction ($form) | median $((median / 1000)).$(( (median % 1000) / 100 )) ms of 20 |" | tee -a "$out/results.md"
  done
else
  echo "bench: debian:bookworm is not in the image store; run scripts/build-debian-image.sh to measure container start-up"
fi
