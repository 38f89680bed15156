#!/usr/bin/env bash
# The Docker image of the emulated-Pi stage, without a Docker engine: buildah builds the
# repository's unchanged Dockerfile for an ARM platform and podman runs it, through
# qemu-user (test/pi/binfmt.sh), on their own storage in the stage's cache.
#
#   test/pi/image.sh check             exit 0 when buildah, podman and runc are here;
#                                      else exit 3 with ONE line on stderr saying which
#   test/pi/image.sh base ARCH         prints the name of a local base image for ARCH,
#                                      importing it first when the cache has none
#   test/pi/image.sh build ARCH TAG    builds the Dockerfile of a clean copy of the
#                                      checkout for linux/ARCH as TAG (the log on stderr)
#   test/pi/image.sh podman ARGS...    podman on the stage's storage (run, rm...)
#   test/pi/image.sh buildah ARGS...   buildah on the stage's storage (inspect...)
#   test/pi/image.sh ulimits           the --ulimit options podman run needs here
#
# No image registry is reachable here, so the Dockerfile's base (ARG NODE_IMAGE, by
# default the official node image) is stood in for by an image imported with
# `podman import` from the cached Debian root file system of rootfs.sh: Debian
# bookworm, Node for ARM with its headers in /usr/local/include/node (as the official
# image has them), build-essential and python3, and a `node` user (uid 1000). When this
# machine trusts an extra CA for the npm registry (NODE_EXTRA_CA_CERTS, a TLS-inspecting
# proxy), the base carries it as npm's `cafile` in /usr/local/etc/npmrc. It is cached
# in the storage under a tag keyed by its inputs; other tags of it are removed.
#
# How buildah and podman are run (what works on these machines): `--isolation chroot`
# for the build's RUN steps, runc (crun fails on this cgroup v1 layout), cgroupfs, and
# explicit --ulimit nproc/nofile within this process's hard limits (their defaults
# exceed them and the runtime then refuses to start). The npm download cache of the
# user-mode part is mounted into the build's RUN steps (a volume: never in the image).
# The storage is PIWIRE_PI_CACHE/containers; the run root is private to this cache.
set -euo pipefail
# shellcheck source=test/pi/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

repository="$(cd "$PI_SCRIPTS/../.." && pwd)"
storage=(--root "$PI_CACHE/containers/storage" --runroot /run/piwire-pi/containers --storage-driver overlay)
podman=(podman "${storage[@]}" --cgroup-manager cgroupfs --events-backend file --runtime runc)
buildah=(buildah "${storage[@]}")
BASE_REPOSITORY=localhost/piwire-pi-base

# --ulimit values: this process's hard limits, capped (the build and the firmware need
# far fewer; the cap keeps a huge limit from being passed on).
pi_ulimits() {
  local nofile nproc
  nofile="$(ulimit -Hn)" nproc="$(ulimit -Hu)"
  [[ "$nofile" =~ ^[0-9]+$ ]] && ((nofile <= 65536)) || nofile=65536
  [[ "$nproc" =~ ^[0-9]+$ ]] && ((nproc <= 8192)) || nproc=8192
  printf '%s\n' --ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc"
}

# The OCI platform of each target, and its parts.
platform() { case "$1" in arm64) echo linux/arm64 ;; armv7) echo linux/arm/v7 ;; *) pi_die "unknown arch $1" ;; esac; }
platform_options() { case "$1" in arm64) echo --arch arm64 ;; armv7) echo --arch arm --variant v7 ;; *) pi_die "unknown arch $1" ;; esac; }

check() {
  local tool
  for tool in buildah podman runc; do
    command -v "$tool" >/dev/null 2>&1 || { printf '%s\n' "$tool is not installed (Debian: buildah, podman, runc)" >&2; exit 3; }
  done
}

import_base() {
  local arch="$1" rootfs="$2" name="$3"
  "${podman[@]}" image exists "$name" && return 0
  pi_log "importing the $arch base image $name from $rootfs"
  local started=$SECONDS extra
  extra="$(mktemp -d)"
  # shellcheck disable=SC2064 # the path is fixed now
  trap "rm -rf '$extra'" RETURN
  local files=()
  if [[ -f "${NODE_EXTRA_CA_CERTS:-}" ]]; then
    mkdir -p "$extra/usr/local/etc" "$extra/usr/local/share/ca-certificates"
    cp "$NODE_EXTRA_CA_CERTS" "$extra/usr/local/share/ca-certificates/piwire-host-ca.crt"
    printf 'cafile=/usr/local/share/ca-certificates/piwire-host-ca.crt\n' >"$extra/usr/local/etc/npmrc"
    files=(usr/local/etc/npmrc usr/local/share/ca-certificates/piwire-host-ca.crt)
  fi
  local platform_args
  read -ra platform_args < <(platform_options "$arch")
  tar -C "$rootfs" --one-file-system -cf - . ${files[@]+-C "$extra" "${files[@]}"} \
    | "${podman[@]}" import --quiet --os linux "${platform_args[@]}" \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD ["node"]' - "$name" >/dev/null
  pi_log "$arch base image ready in $((SECONDS - started)) s: $name"
  # Older keys of this base: bounded cache.
  local stale
  for stale in $("${podman[@]}" images --format '{{.Repository}}:{{.Tag}}' "$BASE_REPOSITORY"); do
    [[ "$stale" == "$BASE_REPOSITORY:$arch-"* && "$stale" != "$name" ]] || continue
    pi_log "removing stale base image $stale"
    "${podman[@]}" rmi "$stale" >/dev/null || true
  done
}

base() {
  local arch="$1" rootfs key name
  rootfs="$(bash "$PI_SCRIPTS/rootfs.sh" "$arch")"
  # The key: the recipe, the root file system (its path carries its own key) and the CA.
  key="$(pi_key "$(declare -f import_base)" "$rootfs" "${NODE_EXTRA_CA_CERTS:-no extra CA}" \
    "$([[ -f "${NODE_EXTRA_CA_CERTS:-}" ]] && sha256sum <"$NODE_EXTRA_CA_CERTS")")"
  name="$BASE_REPOSITORY:$arch-$key"
  pi_with_lock "image-base-$arch" import_base "$arch" "$rootfs" "$name" >&2
  printf '%s\n' "$name"
}

build() {
  local arch="$1" tag="$2" base_image context npm_cache ulimits
  base_image="$(base "$arch")"
  context="$(mktemp -d /var/tmp/piwire-pi-image.XXXXXX)"
  # shellcheck disable=SC2064 # the path is fixed now
  trap "rm -rf --one-file-system '$context'" RETURN
  # The build context as CI's clean clone has it: tracked files and new, not ignored ones.
  # shellcheck disable=SC2016 # expanded by the inner sh
  (cd "$repository" && git ls-files -z --cached --others --exclude-standard \
    | xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh \
    | tar --null -T - -cf -) | tar -xf - -C "$context"
  npm_cache="$PI_CACHE/npm-cache-$arch"
  mkdir -p "$npm_cache"
  mapfile -t ulimits < <(pi_ulimits)
  local options=(--isolation chroot --pull=never --platform "$(platform "$arch")" "${ulimits[@]}"
    --layers --build-arg "NODE_IMAGE=$base_image" --volume "$npm_cache:/root/.npm" --file "$context/Dockerfile")
  pi_log "building the Dockerfile for $(platform "$arch") on $base_image"
  # The build stage first, tagged, then the whole file: both leaves stay tagged, so the
  # layers they are made of (apt, npm ci) stay in the storage as the next build's cache
  # (reused while their inputs are unchanged, as docker's layer cache is), and only the
  # previous build's layers, dangling once the tags move, are pruned.
  "${buildah[@]}" bud "${options[@]}" --target build --tag "$tag-build" "$context" >&2
  "${buildah[@]}" bud "${options[@]}" --tag "$tag" "$context" >&2
  "${podman[@]}" image prune --force >/dev/null
}

case "${1:-}" in
  base | build) pi_isolate "$0" "$@" ;;
esac
case "${1:-}" in
  check) check ;;
  base) base "${2:?arch}" ;;
  # One build at a time on this storage: the prune at its end must not take another
  # build's layers, committed but not tagged yet.
  build) pi_with_lock image-build build "${2:?arch}" "${3:?tag}" ;;
  podman)
    shift
    exec "${podman[@]}" "$@"
    ;;
  buildah)
    shift
    exec "${buildah[@]}" "$@"
    ;;
  ulimits) pi_ulimits ;;
  *) pi_die "usage: image.sh check | base ARCH | build ARCH TAG | podman ARGS... | buildah ARGS... | ulimits" ;;
esac
