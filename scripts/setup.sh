#!/usr/bin/env bash
# Installs, idempotently, everything carrick's build, tests and demos need on a Debian 12
# x86_64 machine: apt packages (C toolchain for Unicorn, the aarch64 cross compiler, qemu
# for the oracle and benchmarks, the local OCI registry tools), the arm64 package
# architecture, and the cargo tools the justfile uses. Safe to run again: each step checks
# first. Run as root, or as a user with sudo.
set -euo pipefail

apt_packages=(
  build-essential cmake ninja-build pkg-config libclang-dev clang
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross
  qemu-user qemu-system-arm cpio
  debootstrap hyperfine
  docker-registry skopeo umoci
  curl ca-certificates xz-utils zstd
)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd=(sudo)
fi

missing=()
for package in "${apt_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$package")
  fi
done

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  "${sudo_cmd[@]}" dpkg --add-architecture arm64
  missing+=(--update-needed)
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]/--update-needed/}"
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  packages=()
  for package in "${missing[@]}"; do
    [ "$package" = --update-needed ] || packages+=("$package")
  done
  if [ ${#packages[@]} -gt 0 ]; then
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "${packages[@]}"
  fi
fi

# qemu-user-binfmt would let the host run arm64 ELFs by itself, which could hide a test that
# forgot to go through carrick. Tests call carrick explicitly; make sure nothing else can.
if [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  echo -1 | "${sudo_cmd[@]}" tee /proc/sys/fs/binfmt_misc/qemu-aarch64 >/dev/null || true
fi

if ! command -v just >/dev/null 2>&1; then
  echo "setup: installing just"
  cargo install --locked --quiet just
fi

if ! command -v cargo-deny >/dev/null 2>&1; then
  echo "setup: installing cargo-deny"
  cargo install --locked --quiet cargo-deny
fi

# The conformance probes' toolchain, oracle kernel and busybox (project-local, git-ignored).
"$(dirname "${BASH_SOURCE[0]}")/probe-toolchain.sh"
