#!/usr/bin/env bash
# Builds a debian:bookworm linux/arm64 image from Debian's archive and loads it into carrick's
# image store (CARRICK_HOME, or ~/.local/share/carrick) as docker.io/library/debian:bookworm.
#
# Steps, each skipped when its output is already in .cache/debian-image/ of this clone:
#   1. debootstrap --arch=arm64 --foreign --variant=minbase bookworm (stage one only unpacks
#      the packages; the tree contains device nodes, so this runs as root).
#   2. Pack the tree into one gzip layer and write an OCI image layout around it by hand,
#      with tar, gzip and sha256sum only.
#   3. carrick pull oci:LAYOUT:bookworm, then carrick tag it as debian:bookworm.
#
# Environment: DEBIAN_MIRROR overrides the mirror found in /etc/apt/sources.list.d/;
# CARRICK overrides the carrick binary (default: target/debug/carrick, built if missing).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cache="$repo/.cache/debian-image"
rootfs="$cache/rootfs"
layout="$cache/oci"
suite=bookworm

source "$repo/scripts/debian-mirror.sh"

mirror=$(find_debian_mirror "$suite")
if [ -z "$mirror" ]; then
  echo "build-debian-image: no $suite mirror in /etc/apt/sources.list.d/; set DEBIAN_MIRROR to one" >&2
  exit 1
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd=(sudo)
fi

mkdir -p "$cache"

# 1. The root filesystem.
if [ ! -e "$cache/rootfs-v2.done" ]; then
  echo "build-debian-image: debootstrap $suite arm64 from $mirror"
  "${sudo_cmd[@]}" rm -rf "$rootfs"
  "${sudo_cmd[@]}" debootstrap --arch=arm64 --foreign --variant=minbase "$suite" "$rootfs" "$mirror"
  # Stage two would create the account databases from base-passwd's templates (its
  # postinst); an image without them cannot resolve `-u NAME`.
  for db in passwd group; do
    if [ ! -e "$rootfs/etc/$db" ]; then
      "${sudo_cmd[@]}" cp "$rootfs/usr/share/base-passwd/$db.master" "$rootfs/etc/$db"
    fi
  done
  touch "$cache/rootfs-v2.done"
fi

# 2. The OCI layout: one layer, a config, a manifest and an index naming it "bookworm".
write_blob() {
  local file=$1 digest
  digest=$(sha256sum "$file" | cut -d' ' -f1)
  mkdir -p "$layout/blobs/sha256"
  mv "$file" "$layout/blobs/sha256/$digest"
  echo "$digest"
}

if [ ! -e "$cache/oci-v2.done" ]; then
  echo "build-debian-image: packing the layer"
  rm -rf "$layout" "$cache/work"
  mkdir -p "$layout/blobs/sha256" "$cache/work"

  "${sudo_cmd[@]}" tar --numeric-owner --sort=name --xattrs -C "$rootfs" -cf "$cache/work/layer.tar" .
  "${sudo_cmd[@]}" chown "$(id -u):$(id -g)" "$cache/work/layer.tar"
  diff_id=$(sha256sum "$cache/work/layer.tar" | cut -d' ' -f1)
  gzip -n -6 "$cache/work/layer.tar"
  layer_size=$(stat -c %s "$cache/work/layer.tar.gz")
  layer_digest=$(write_blob "$cache/work/layer.tar.gz")

  created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  printf '%s' "{\"architecture\":\"arm64\",\"variant\":\"v8\",\"os\":\"linux\",\"created\":\"$created\",\
\"config\":{\"Env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"],\"Cmd\":[\"bash\"],\"WorkingDir\":\"/\"},\
\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:$diff_id\"]},\
\"history\":[{\"created\":\"$created\",\"created_by\":\"debootstrap --arch=arm64 --foreign --variant=minbase $suite\"}]}" \
    >"$cache/work/config.json"
  config_size=$(stat -c %s "$cache/work/config.json")
  config_digest=$(write_blob "$cache/work/config.json")

  printf '%s' "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\
\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:$config_digest\",\"size\":$config_size},\
\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$layer_digest\",\"size\":$layer_size}]}" \
    >"$cache/work/manifest.json"
  manifest_size=$(stat -c %s "$cache/work/manifest.json")
  manifest_digest=$(write_blob "$cache/work/manifest.json")

  printf '%s' "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\
\"digest\":\"sha256:$manifest_digest\",\"size\":$manifest_size,\
\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"},\
\"annotations\":{\"org.opencontainers.image.ref.name\":\"$suite\"}}]}" >"$layout/index.json"
  printf '%s' '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
  rm -rf "$cache/work"
  touch "$cache/oci-v2.done"
fi

# 3. Into the store.
carrick=${CARRICK:-$repo/target/debug/carrick}
if [ ! -x "$carrick" ]; then
  (cd "$repo" && cargo build -p carrick)
fi
"$carrick" pull "oci:$layout:$suite" >/dev/null
"$carrick" tag "oci:$layout:$suite" "debian:$suite"
echo "build-debian-image: debian:$suite is in the store"
