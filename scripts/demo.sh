#!/usr/bin/env bash
# The main job on real input: installs what carrick needs (scripts/setup.sh), builds carrick,
# builds a debian:bookworm arm64 image from Debian's archive into the local image store
# (scripts/build-debian-image.sh; cached in .cache/ after the first run), and runs programs
# from it: first as a container image, then from the same tree with --rootfs.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo build --release -p carrick
export CARRICK="$PWD/target/release/carrick"
scripts/build-debian-image.sh

show() {
  printf '\n$ carrick %s\n' "$*"
  "$CARRICK" "$@"
}

show run --rm debian:bookworm /bin/echo hi
show run --rm debian:bookworm /bin/bash -c 'echo data > /tmp/f && read x < /tmp/f && echo $x'
show run --rm debian:bookworm /bin/bash -c 'test -e /tmp/f && echo leaked || echo clean'
show run --rm debian:bookworm /usr/bin/sha256sum /etc/os-release
show run --rm -e GREETING=hello -w /tmp debian:bookworm /bin/bash -c 'echo "$GREETING from $(pwd) on $(uname -m)"'
show run --rootfs .cache/debian-image/rootfs /bin/ls -la /
show images
