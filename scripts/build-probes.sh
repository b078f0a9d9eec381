#!/usr/bin/env bash
# Builds every conformance probe as a static Linux arm64 executable into
# conformance-probes/target/aarch64-unknown-linux-gnu/debug/, installing the probe
# toolchain first if needed (scripts/probe-toolchain.sh). Extra arguments go to cargo.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/probe-common.sh"

"$repo_root/scripts/probe-toolchain.sh"

rust="$toolchain_dir/rust/usr"
cd "$probes_dir"
env \
  RUSTC="$rust/bin/rustc" \
  RUSTDOC="$rust/bin/rustdoc" \
  LD_LIBRARY_PATH="$rust/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
  CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
  CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --quiet --locked --target "$probe_target" --target-dir "$probes_dir/target" "$@"
