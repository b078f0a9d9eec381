#!/usr/bin/env bash
# Builds every conformance probe as a static Linux arm64 executable into
# conformance-probes/target/aarch64-unknown-linux-gnu/debug/, installing the probe
# toolchain first if needed (scripts/probe-toolchain.sh).
#
#   scripts/build-probes.sh [--clippy] [CARGO_ARGS...]
#
# --clippy runs Debian's clippy over the probes instead, with warnings denied. Other
# arguments go to cargo (e.g. --bin NAME).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/probe-common.sh"

"$repo_root/scripts/probe-toolchain.sh"

rust="$toolchain_dir/rust/usr"
rustflags="-C target-feature=+crt-static"
cargo_command=(build)
wrapper=()
if [ "${1:-}" = --clippy ]; then
  shift
  cargo_command=(check)
  wrapper=(RUSTC_WORKSPACE_WRAPPER="$rust/bin/clippy-driver")
  rustflags="$rustflags -D warnings"
fi

cd "$probes_dir"
env \
  RUSTC="$rust/bin/rustc" \
  RUSTDOC="$rust/bin/rustdoc" \
  "${wrapper[@]}" \
  LD_LIBRARY_PATH="$rust/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
  CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
  CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="$rustflags" \
  cargo "${cargo_command[@]}" --quiet --locked --target "$probe_target" \
  --target-dir "$probes_dir/target" "$@"
