#!/usr/bin/env bash
# A throw-away ARM system over a cached root file system, for the emulated-Pi stage.
#
#   test/pi/chroot.sh new ARCH ROOTFS     prints a new session directory: a clean copy
#                                         of the checkout (the files git knows, as a
#                                         fresh clone has them) to appear as /build
#   test/pi/chroot.sh run SESSION CMD...  runs CMD in /build of the session's system
#   test/pi/chroot.sh remove SESSION      deletes the session (and anything the test put
#                                         in it, such as the VM's work directory)
#
# `run` enters an overlay of the read-only cached root (lower) and the session's own
# layer (upper, where npm ci writes), with the npm download cache (kept per
# architecture in the cache) on /root/.npm, through pi_enter (common.sh): private mount
# and PID namespaces, so nothing can be left behind. ARM binaries run through qemu-user
# (test/pi/binfmt.sh). In a network namespace: `ip netns exec NS test/pi/chroot.sh run ...`.
set -euo pipefail
# shellcheck source=test/pi/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

repository="$(cd "$PI_SCRIPTS/../.." && pwd)"

new_session() {
  local arch="$1" rootfs="$2" session
  [[ -d "$rootfs/usr/local/bin" ]] || pi_die "not a root file system: $rootfs"
  sweep_sessions
  session="$(mktemp -d /var/tmp/piwire-pi-session.XXXXXX)"
  # The process that owns the session (the test runner's file process): when it died
  # without removing the session (SIGKILL), the next `new` removes it.
  printf '%s\n' "$PPID" >"$session/owner"
  mkdir -p "$session/upper/build" "$session/work" "$session/merged"
  printf '%s\n' "$rootfs" >"$session/lower"
  printf '%s\n' "$arch" >"$session/arch"
  # The checkout as CI's clean clone has it: tracked files and new, not ignored ones.
  # shellcheck disable=SC2016 # expanded by the inner sh
  (cd "$repository" && git ls-files -z --cached --others --exclude-standard \
    | xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh \
    | tar --null -T - -cf -) | tar -xf - -C "$session/upper/build"
  printf '%s\n' "$session"
}

# Removes sessions whose owner process is gone (nothing runs in them: their mounts and
# processes ended with their namespaces).
sweep_sessions() {
  local stale owner
  for stale in /var/tmp/piwire-pi-session.*; do
    [[ -f "$stale/lower" && -f "$stale/owner" ]] || continue
    owner="$(cat "$stale/owner")"
    [[ "$owner" =~ ^[0-9]+$ ]] && kill -0 "$owner" 2>/dev/null && continue
    pi_log "removing the session of a test that is gone: $stale"
    rm -rf --one-file-system "$stale"
  done
}

run_in_session() {
  local session="$1"
  shift
  [[ -f "$session/lower" ]] || pi_die "not a session: $session"
  local lower arch npm_cache
  lower="$(cat "$session/lower")"
  arch="$(cat "$session/arch")"
  npm_cache="$PI_CACHE/npm-cache-$arch"
  mkdir -p "$npm_cache"
  PI_ENTER_BINDS="$npm_cache:/root/.npm" \
    pi_enter "$session/merged" --overlay "$lower" "$session/upper" "$session/work" -- \
    /bin/sh -c 'cd /build && exec "$@"' sh "$@"
}

case "${1:-}" in
  new) new_session "${2:?arch}" "${3:?rootfs}" ;;
  run) shift; run_in_session "${1:?session}" "${@:2}" ;;
  remove)
    [[ -f "${2:?session}/lower" ]] || pi_die "not a session: $2"
    rm -rf --one-file-system "$2"
    ;;
  *) pi_die "usage: chroot.sh new ARCH ROOTFS | run SESSION CMD... | remove SESSION" ;;
esac
