#!/usr/bin/env bash
# Makes ARM executables run on this machine through qemu-user (binfmt_misc), for the
# emulated-Pi stage. Idempotent. Exit 0 when both handlers are active; otherwise exit 3
# with ONE line on stderr saying why (the caller skips the stage with that line).
#
# Debian's qemu-user-static ships the handlers with the `F` (fix binary) flag, so the
# interpreter is opened here once and a chroot needs no copy of it. On machines where
# binfmt_misc is not mounted and no service registers the handlers, it is mounted and
# update-binfmts enables them by hand.
set -euo pipefail
# shellcheck source=test/pi/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

skip() { printf '%s\n' "$*" >&2; exit 3; }

[[ "$(id -u)" == 0 ]] || skip "not running as root"
[[ "$(uname -m)" == x86_64 ]] || skip "not an x86_64 host ($(uname -m))"
if ! command -v update-binfmts >/dev/null || [[ ! -x /usr/libexec/qemu-binfmt/aarch64-binfmt-P ]]; then
  skip "qemu-user-static and binfmt-support are not installed"
fi
if [[ ! -e /proc/sys/fs/binfmt_misc/status ]]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || skip "cannot mount binfmt_misc"
fi
for arch in arm64 armv7; do
  name="$(pi_qemu_binfmt "$arch")"
  if ! grep -qx enabled "/proc/sys/fs/binfmt_misc/$name" 2>/dev/null; then
    update-binfmts --enable "$name" >/dev/null 2>&1 || true
  fi
  grep -qx enabled "/proc/sys/fs/binfmt_misc/$name" 2>/dev/null || skip "cannot enable the $name binfmt handler"
done
