#!/usr/bin/env bash
# customise.sh: turns an official Raspberry Pi OS Lite (Bookworm) image into one that
# boots straight into piwire. It works on the image's two file systems as directory
# trees, so it runs on any Linux machine (and in the tests) without a Pi:
#
#   sudo deploy/image/customise.sh --rootfs DIR --boot DIR [options]
#
#   --rootfs DIR          the image's root file system (partition 2), mounted or unpacked
#   --boot DIR            its boot partition (partition 1, FAT; /boot/firmware on the Pi)
#   --node-tarball FILE   an official Node.js build for the Pi's architecture
#                         (node-v22.*-linux-arm64.tar.xz, or -linux-armv7l for armhf),
#                         unpacked into /usr/local: Raspberry Pi OS ships no Node >= 20
#   --from-tree           copy this checkout's node_modules and addon (only when this
#                         machine has the Pi's architecture, or for tests); otherwise the
#                         first boot runs `npm ci` on the Pi (it needs the network then)
#   --setup FILE          put FILE on the boot partition as piwire-setup.txt (otherwise
#                         only piwire-setup.txt.example is put there, for the user to edit)
#
# Typical use with an image file (loop devices need root):
#   xz -d 2024-11-19-raspios-bookworm-arm64-lite.img.xz
#   loop=$(losetup --find --show --partscan raspios.img)
#   mount "${loop}p2" /mnt/rootfs && mount "${loop}p1" /mnt/boot
#   deploy/image/customise.sh --rootfs /mnt/rootfs --boot /mnt/boot --node-tarball node-v22.12.0-linux-arm64.tar.xz
#   umount /mnt/boot /mnt/rootfs && losetup -d "$loop"
#
# What it adds: Node (with --node-tarball), piwire through deploy/install.sh --root
# (program, user, unit enabled, I2C and LED overlays in config.txt, configuration), the
# first-boot unit (deploy/image/piwire-firstboot.service, enabled), and
# piwire-setup.txt.example (plus piwire-setup.txt with --setup) on the boot partition.
set -euo pipefail

SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
readonly SOURCE
readonly PREFIX=/opt/piwire

rootfs=
boot=
node_tarball=
deps=--deps-at-first-boot
setup=

say() { printf 'customise.sh: %s\n' "$*"; }
die() { printf 'customise.sh: error: %s\n' "$*" >&2; exit 1; }

while (($# > 0)); do
  case "$1" in
    --rootfs) [[ $# -ge 2 ]] || die "--rootfs needs a directory"; rootfs="$2"; shift 2 ;;
    --boot) [[ $# -ge 2 ]] || die "--boot needs a directory"; boot="$2"; shift 2 ;;
    --node-tarball) [[ $# -ge 2 ]] || die "--node-tarball needs a file"; node_tarball="$2"; shift 2 ;;
    --from-tree) deps=--from-tree; shift ;;
    --setup) [[ $# -ge 2 ]] || die "--setup needs a file"; setup="$2"; shift 2 ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) die "unknown option $1 (try --help)" ;;
  esac
done
[[ -n "$rootfs" && -n "$boot" ]] || die "usage: customise.sh --rootfs DIR --boot DIR [--node-tarball FILE] [--from-tree] [--setup FILE]"
[[ -d "$rootfs" ]] || die "--rootfs $rootfs is not a directory"
[[ -d "$boot" ]] || die "--boot $boot is not a directory"
rootfs="$(cd "$rootfs" && pwd)"
boot="$(cd "$boot" && pwd)"
[[ "$rootfs" != / ]] || die "--rootfs / would customise this machine: use deploy/install.sh instead"
# A Raspberry Pi OS root file system has these; a wrong directory must not be filled.
[[ -f "$rootfs/etc/os-release" && -f "$rootfs/etc/passwd" ]] || die "$rootfs has no etc/os-release and etc/passwd: not a root file system"
[[ -f "$boot/config.txt" ]] || die "$boot has no config.txt: not a Raspberry Pi boot partition"
[[ -z "$setup" || -f "$setup" ]] || die "--setup $setup is not a file"

if [[ -n "$node_tarball" ]]; then
  [[ -f "$node_tarball" ]] || die "--node-tarball $node_tarball is not a file"
  say "unpacking $(basename "$node_tarball") into /usr/local"
  mkdir -p "$rootfs/usr/local"
  tar -xf "$node_tarball" -C "$rootfs/usr/local" --strip-components=1 --no-same-owner \
    --exclude='*/CHANGELOG.md' --exclude='*/README.md' --exclude='*/LICENSE'
  [[ -x "$rootfs/usr/local/bin/node" ]] || die "$node_tarball held no bin/node"
fi

bash "$SOURCE/deploy/install.sh" --root "$rootfs" --boot-dir "$boot" --prefix "$PREFIX" --no-apt "$deps"

# The unit's ExecStart names /usr/bin/node; an image whose node lives in /usr/local
# gets the link Debian's own nodejs package would have made.
if [[ ! -e "$rootfs/usr/bin/node" && -x "$rootfs/usr/local/bin/node" ]]; then
  ln -s ../local/bin/node "$rootfs/usr/bin/node"
fi

install -D -m 0644 "$SOURCE/deploy/image/piwire-firstboot.service" "$rootfs/etc/systemd/system/piwire-firstboot.service"
sed -i "s#/opt/piwire#$PREFIX#g" "$rootfs/etc/systemd/system/piwire-firstboot.service"
chmod 0755 "$rootfs$PREFIX/deploy/image/piwire-firstboot"
ln -sfn /etc/systemd/system/piwire-firstboot.service "$rootfs/etc/systemd/system/multi-user.target.wants/piwire-firstboot.service"

install -m 0644 "$SOURCE/deploy/image/piwire-setup.txt.example" "$boot/piwire-setup.txt.example"
if [[ -n "$setup" ]]; then install -m 0600 "$setup" "$boot/piwire-setup.txt"; fi
say "done: flash the image; on first boot piwire-setup.txt (hostname, shell secret, network) is applied"
