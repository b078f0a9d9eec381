#!/usr/bin/env bash
# Builds, idempotently, the arm64 programs that scripts/real-programs.sh runs on the real
# kernel and under carrick, into .cache/real/ (git-ignored):
#   debootstrap/  Debian bookworm arm64, `debootstrap --foreign --variant=minbase` (stage one
#                 only: packages unpacked, no maintainer scripts run)
#   rootfs/       a copy of that tree with python3.11 and the libraries it links added.
#                 It also gets Debian's static busybox (/usr/bin/busybox), ruff's static
#                 musl build (/usr/local/bin/ruff) and the test data under /real. Every
#                 file this script adds, the root directory and each entry of it have a
#                 fixed modification time.
#   debs/         the downloaded .debs and the ruff wheel
# rootfs/ is rebuilt whenever this script changes; debootstrap/ only when it is missing.
# Runs as root (debootstrap creates device nodes), or through sudo. DEBIAN_MIRROR overrides
# the mirror found in apt's sources. Prints the rootfs path as its last line.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$repo/scripts/debian-mirror.sh"
cache="$repo/.cache/real"
pristine="$cache/debootstrap"
rootfs="$cache/rootfs"
debs="$cache/debs"
suite=bookworm

# python3.11 and the arm64 libraries its standard library links that minbase lacks, and
# esbuild. The
# `mime-support | media-types` dependency takes media-types, because mime-support would
# pull in mailcap and perl.
debian_packages=(
  python3.11-minimal:arm64 libpython3.11-minimal:arm64 libpython3.11-stdlib:arm64
  python3.11:arm64 libexpat1:arm64 libssl3:arm64 libncursesw6:arm64 libreadline8:arm64
  libsqlite3-0:arm64 libnsl2:arm64 libtirpc3:arm64 libgssapi-krb5-2:arm64 libk5crypto3:arm64
  libkrb5-3:arm64 libkrb5support0:arm64 libkeyutils1:arm64
  # esbuild is a Go program, which Debian builds linked against glibc.
  esbuild:arm64
  # Architecture-independent (Architecture: all), so without the :arm64 suffix.
  media-types readline-common libtirpc-common
)
ruff_version=0.17.6
# Every file this script adds gets this modification time, so listings do not depend on
# the day the fixtures were built.
fixed_time='2024-01-02 03:04:05 UTC'

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd=(sudo)
fi

for tool in debootstrap dpkg-deb apt-get python3; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "real-fixtures: $tool not found; run scripts/setup.sh first" >&2
    exit 1
  fi
done
if ! python3 -m pip --version >/dev/null 2>&1; then
  echo "real-fixtures: 'python3 -m pip' failed; install pip (apt-get install python3-pip)" >&2
  exit 1
fi

recipe="$(sha256sum "${BASH_SOURCE[0]}" | cut -c 1-16)"
if [ -e "$cache/rootfs.done-$recipe" ] && [ -d "$rootfs" ]; then
  echo "$rootfs"
  exit 0
fi
mkdir -p "$cache"

# Stage one of debootstrap, kept unmodified so that a changed recipe only redoes the rest.
if [ ! -e "$cache/debootstrap.done" ]; then
  mirror="$(find_debian_mirror "$suite")"
  if [ -z "$mirror" ]; then
    echo "real-fixtures: no $suite mirror in apt's sources; set DEBIAN_MIRROR to one" >&2
    exit 1
  fi
  echo "real-fixtures: debootstrap $suite arm64 from $mirror" >&2
  "${sudo_cmd[@]}" rm -rf "$pristine"
  if ! "${sudo_cmd[@]}" debootstrap --arch=arm64 --foreign --variant=minbase "$suite" \
    "$pristine" "$mirror" >"$cache/debootstrap.log" 2>&1; then
    echo "real-fixtures: debootstrap failed; last lines of $cache/debootstrap.log:" >&2
    tail -n 20 "$cache/debootstrap.log" >&2
    exit 1
  fi
  touch "$cache/debootstrap.done"
fi

# Downloads (apt-get download writes into its working directory).
if [ ! -e "$debs/.done-$recipe" ]; then
  echo "real-fixtures: downloading python3.11, esbuild, busybox-static and ruff $ruff_version" >&2
  rm -rf "$debs"
  mkdir -p "$debs"
  (
    cd "$debs"
    apt-get download -qq "${debian_packages[@]}" busybox-static:arm64 2>&1 |
      { grep -v '^W: Download is performed unsandboxed' || true; } >&2
  )
  python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --platform musllinux_1_2_aarch64 --dest "$debs" "ruff==$ruff_version" >&2
  touch "$debs/.done-$recipe"
fi

echo "real-fixtures: assembling $rootfs" >&2
staging="$cache/rootfs.tmp"
"${sudo_cmd[@]}" rm -rf "$staging"
"${sudo_cmd[@]}" cp -a "$pristine" "$staging"

# Stage two would install the cached .debs and delete them. Nothing here runs stage two,
# and the .debs (about 29 MB for bookworm minbase) would only grow the oracle's initramfs.
"${sudo_cmd[@]}" rm -rf "$staging/debootstrap" "$staging"/var/cache/apt/archives/*.deb

# When debootstrap (1.0.128) runs in a Docker container, it replaces base-files' /proc
# directory with a symlink to /proc. The oracle cannot mount proc there, because a symlink
# to itself does not resolve. Restore the directory as base-files ships it, so that the
# tree does not depend on the host that built it.
if [ -L "$staging/proc" ]; then
  "${sudo_cmd[@]}" rm "$staging/proc"
  "${sudo_cmd[@]}" install -d -m 0755 -o root -g root "$staging/proc"
fi

# base-passwd's maintainer script creates these from its templates in stage two; without
# them programs print numeric owners.
"${sudo_cmd[@]}" cp "$staging/usr/share/base-passwd/passwd.master" "$staging/etc/passwd"
"${sudo_cmd[@]}" cp "$staging/usr/share/base-passwd/group.master" "$staging/etc/group"

# --keep-directory-symlink keeps the merged-usr /bin, /lib and /sbin symlinks, which
# `dpkg-deb -x` would replace with directories.
for deb in "$debs"/*.deb; do
  dpkg-deb --fsys-tarfile "$deb" | "${sudo_cmd[@]}" tar -C "$staging" -x --keep-directory-symlink
done
"${sudo_cmd[@]}" ln -sfn python3.11 "$staging/usr/bin/python3"
"${sudo_cmd[@]}" touch -h -d "$fixed_time" "$staging/usr/bin/python3" "$staging/etc/passwd" \
  "$staging/etc/group"

wheel=("$debs"/ruff-"$ruff_version"-*.whl)
if [ ! -f "${wheel[0]}" ]; then
  echo "real-fixtures: pip left no ruff $ruff_version wheel in $debs" >&2
  exit 1
fi
# A wheel is a zip archive; python's zipfile saves installing unzip.
python3 -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' \
  "${wheel[0]}" "ruff-$ruff_version.data/scripts/ruff" >"$cache/ruff"
"${sudo_cmd[@]}" install -D -m 0755 "$cache/ruff" "$staging/usr/local/bin/ruff"
rm -f "$cache/ruff"
"${sudo_cmd[@]}" touch -d "$fixed_time" "$staging/usr/local/bin/ruff" "$staging/usr/local/bin"

# The test data: regular files with several modes, an empty file, a symlink and a
# subdirectory. The text has no trailing spaces and ends with a newline.
data="$staging/real/data"
"${sudo_cmd[@]}" mkdir -p "$data/sub"
printf 'hello, world\n' | "${sudo_cmd[@]}" tee "$data/hello.txt" >/dev/null
printf '%s\n' \
  'The quick brown fox' \
  'jumps over the lazy dog.' \
  '' \
  'Pack my box with five dozen liquor jugs.' \
  'tab	separated	words' |
  "${sudo_cmd[@]}" tee "$data/lines.txt" >/dev/null
printf '#!/bin/sh\necho "script ran with $# arguments"\n' |
  "${sudo_cmd[@]}" tee "$data/script.sh" >/dev/null
printf 'only the owner may read this\n' | "${sudo_cmd[@]}" tee "$data/private.txt" >/dev/null
printf 'nested\n' | "${sudo_cmd[@]}" tee "$data/sub/nested.txt" >/dev/null
# Input for ruff (an unused import, a comparison with None, spacing to reformat) and for
# esbuild (a comment and names that minification removes).
printf '%s\n' \
  'import os' \
  'import sys' \
  '' \
  '' \
  'def pair(x):' \
  '    if x == None:' \
  '        return sys.argv' \
  '    return   [x,x]' |
  "${sudo_cmd[@]}" tee "$data/example.py" >/dev/null
printf '%s\n' \
  '// A comment that minification drops.' \
  'function add(first, second) {' \
  '  const total = first + second;' \
  '  return total;' \
  '}' \
  'console.log(add(1, 2));' |
  "${sudo_cmd[@]}" tee "$data/example.js" >/dev/null
"${sudo_cmd[@]}" touch "$data/empty"
"${sudo_cmd[@]}" ln -sfn hello.txt "$data/link"
"${sudo_cmd[@]}" chmod 0644 "$data/hello.txt" "$data/lines.txt" "$data/empty" "$data/sub/nested.txt" \
  "$data/example.py" "$data/example.js"
"${sudo_cmd[@]}" chmod 0755 "$data/script.sh" "$data/sub" "$data" "$staging/real"
"${sudo_cmd[@]}" chmod 0600 "$data/private.txt"
# Children first, so that setting a file's time does not change its directory's afterwards.
"${sudo_cmd[@]}" find "$staging/real" -depth -exec touch -h -d "$fixed_time" {} +

# `ls -la /` shows the root and its entries, which debootstrap and the steps above created
# or changed on the day of the build. Fixed times keep that listing the same across builds,
# and a time more than six months old makes ls print the year, not the time of day.
"${sudo_cmd[@]}" find "$staging" -mindepth 1 -maxdepth 1 -exec touch -h -d "$fixed_time" {} +
"${sudo_cmd[@]}" touch -d "$fixed_time" "$staging"

"${sudo_cmd[@]}" rm -rf "$rootfs"
"${sudo_cmd[@]}" mv "$staging" "$rootfs"
rm -f "$cache"/rootfs.done-*
touch "$cache/rootfs.done-$recipe"
echo "$rootfs"
