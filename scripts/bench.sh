#!/usr/bin/env bash
# Benchmarks carrick (release build, emu backend) against qemu-aarch64 on the same static
# arm64 guests, in one run with hyperfine: a register loop, random read-modify-write over
# 64 MiB, one million getppid calls, 50 starts of a static program that exits at once, and
# busybox sha256sum over a 64 MiB file. Each guest's output is compared between the two
# runtimes before timing. Writes target/bench/results.md (a markdown table with the ratios
# carrick/qemu) and prints it.
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

for name in cpu mem syscalls true; do
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
targets = {"cpu": "1.1", "memory": "1.5", "syscalls": "0.5", "startup": "1.0", "sha256sum": "-"}
rows = ["| benchmark | carrick (s) | qemu-aarch64 (s) | carrick/qemu | target |",
        "| --- | --- | --- | --- | --- |"]
for name, target in targets.items():
    results = json.loads((out / f"results-{name}.json").read_text())["results"]
    times = {r["command"]: (r["median"], r["stddev"] or 0.0) for r in results}
    (c, cs), (q, qs) = times["carrick"], times["qemu"]
    rows.append(f"| {name} | {c:.3f} ± {cs:.3f} | {q:.3f} ± {qs:.3f} | {c / q:.2f} | {target} |")
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
qemu = subprocess.run(["qemu-aarch64", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
lines = rows + ["", f"Medians of hyperfine runs. Host: {cpu}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores, "
                f"{platform.system()} {platform.release()}; {qemu}."]
(out / "results.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
PY
