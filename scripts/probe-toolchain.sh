#!/usr/bin/env bash
# Installs, idempotently, what building and recording conformance probes needs into
# conformance-probes/.toolchain (git-ignored), without installing any Debian package:
#   rust/      Debian's rustc-web and clippy with the x86_64 and aarch64 std (rustup
#              cannot fetch targets here), extracted from the .debs
#   kernel/    the arm64 kernel Image that Debian's linux-image-arm64:arm64 depends on
#   busybox    a static arm64 busybox, the oracle's /init shell
# Needs the arm64 package architecture and the apt packages from scripts/setup.sh
# (aarch64-linux-gnu-gcc, qemu-system-arm, cpio). Prints nothing when all is in place.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
toolchain="$root/conformance-probes/.toolchain"
debs="$toolchain/debs"

rust_version="1.96"
rust_packages=(
  rustc-web
  rust-web-clippy
  libstd-rust-web-dev
  libstd-rust-web-dev:arm64
  "libstd-rust-web-$rust_version"
  libllvm22
)

# Download the named packages into $debs (apt-get download needs a writable cwd).
download() {
  mkdir -p "$debs"
  (cd "$debs" && apt-get download -qq "$@" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
}

install_rust() {
  # The stamp names the package set, so adding a package reinstalls once.
  local stamp="$toolchain/rust/.installed-$rust_version-with-clippy"
  [ -e "$stamp" ] && return 0

  echo "probe-toolchain: installing rustc and clippy $rust_version with the aarch64 std"
  rm -rf "$toolchain/rust" "$debs"/rustc-web_* "$debs"/rust-web-clippy_* \
    "$debs"/libstd-rust-web* "$debs"/libllvm22_*
  download "${rust_packages[@]}"
  mkdir -p "$toolchain/rust"
  for deb in "$debs"/rustc-web_*.deb "$debs"/rust-web-clippy_*.deb "$debs"/libstd-rust-web*.deb \
    "$debs"/libllvm22_*.deb; do
    dpkg-deb -x "$deb" "$toolchain/rust"
  done

  if [ ! -d "$toolchain/rust/usr/lib/rustlib/aarch64-unknown-linux-gnu/lib" ]; then
    echo "probe-toolchain: the aarch64 std is missing from $toolchain/rust; delete it and rerun" >&2
    exit 1
  fi
  LD_LIBRARY_PATH="$toolchain/rust/usr/lib/x86_64-linux-gnu" \
    "$toolchain/rust/usr/bin/rustc" --version >/dev/null
  touch "$stamp"
}

# Prints the versioned kernel package (linux-image-6.1.0-N-arm64) that the metapackage
# linux-image-arm64:arm64 depends on.
kernel_package() {
  apt-cache depends linux-image-arm64:arm64 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[0-9][^:]*-arm64\).*/\1/p' | head -n 1
}

install_kernel() {
  local package
  package="$(kernel_package)"
  if [ -z "$package" ]; then
    echo "probe-toolchain: apt does not know linux-image-arm64:arm64; run scripts/setup.sh" \
      "(it adds the arm64 architecture and runs apt-get update)" >&2
    exit 1
  fi

  local stamp="$toolchain/kernel/.installed-$package"
  [ -e "$stamp" ] && return 0

  echo "probe-toolchain: installing the oracle kernel $package"
  rm -rf "$toolchain/kernel" "$debs"/linux-image-*.deb
  download "$package:arm64"
  local extract="$toolchain/kernel/extract"
  mkdir -p "$extract"
  dpkg-deb -x "$debs"/linux-image-*.deb "$extract"
  # Debian's arm64 vmlinuz is an uncompressed Image that qemu boots directly.
  mv "$extract"/boot/vmlinuz-* "$toolchain/kernel/Image"
  rm -rf "$extract" "$debs"/linux-image-*.deb
  touch "$stamp"
}

install_busybox() {
  [ -x "$toolchain/busybox" ] && return 0

  echo "probe-toolchain: installing busybox-static:arm64"
  rm -f "$debs"/busybox-static_*.deb
  download busybox-static:arm64
  local extract="$toolchain/busybox-extract"
  rm -rf "$extract"
  dpkg-deb -x "$debs"/busybox-static_*.deb "$extract"
  mv "$extract/bin/busybox" "$toolchain/busybox"
  rm -rf "$extract"
}

for tool in aarch64-linux-gnu-gcc dpkg-deb apt-get; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "probe-toolchain: $tool not found; run scripts/setup.sh first" >&2
    exit 1
  fi
done

mkdir -p "$toolchain"
install_rust
install_kernel
install_busybox
# The .debs are only needed while extracting.
rm -rf "$debs"
