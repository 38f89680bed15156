#!/usr/bin/env bash
# usage: test/pi/vm-image.sh
#
# Prints the directory of a cached arm64 virtual machine for the emulated-Pi stage,
# building it first when the cache has none for the current inputs:
#   vmlinuz      Debian's arm64 kernel (linux-image-arm64 from the archive)
#   initrd.img   a minimal initramfs made here: busybox, the modules that mount an ext4
#                root on virtio-blk, and a 20-line /init
#   disk.img     ext4 root file system: the arm64 root of rootfs.sh plus systemd, udev,
#                ethtool, the kernel's modules, and the test agent (vm-agent.sh) as a
#                service on the virtio serial port `piwire-agent`
# It boots with `qemu-system-aarch64 -M virt` (test/pi/vm.sh run).
#
# Why not Debian's own initramfs: initramfs-tools under qemu-user takes ~15 minutes
# (it runs hundreds of short programs, each translated, and it builds twice). The
# kernel package is therefore unpacked with the host's dpkg-deb (no maintainer
# scripts), depmod runs on the host, and the initramfs is assembled with host tools:
# the only emulated steps are apt-get installing systemd and fetching two packages.
set -euo pipefail
# shellcheck source=test/pi/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

pi_isolate "$0" "$@"

# systemd as PID 1, udev (device units, the NIC's naming), kmod (udev loads virtio_net
# and af_packet), ethtool/iproute2 for the interface set-up of deploy/, ping for checks.
VM_PACKAGES="systemd systemd-sysv udev kmod ethtool iproute2 iputils-ping"
# What /init loads to mount the root: the rest comes from the root's own udev.
INITRD_MODULES="virtio_pci virtio_blk ext4"

rootfs="$(bash "$PI_SCRIPTS/rootfs.sh" arm64)"

build() {
  [[ -f "$target/.done" ]] && return 0
  local staging="$target.partial"
  rm -rf --one-file-system "$target" "$staging"
  mkdir -p "$staging"
  local started=$SECONDS root="$staging/root"
  pi_log "building the arm64 VM image (kernel, systemd, initramfs) from $rootfs"
  cp -a "$rootfs" "$root"
  mkdir -p "$root/var/cache/piwire-vm"
  # Emulated: apt installs systemd; the kernel and busybox are only fetched.
  # shellcheck disable=SC2016 # expanded inside the chroot
  if ! (pi_enter "$root" -- /bin/sh -euc '
      apt-get update -q
      apt-get install -y -q --no-install-recommends $1
      kernel=$(apt-cache depends linux-image-arm64 | sed -n "s/^ *Depends: \(linux-image-[0-9].*\)$/\1/p" | head -n 1)
      cd /var/cache/piwire-vm
      apt-get download -q -o APT::Sandbox::User=root "$kernel" busybox-static
      apt-get clean
      rm -rf /var/lib/apt/lists/*' sh "$VM_PACKAGES") >"$staging/apt.log" 2>&1; then
    tail -n 30 "$staging/apt.log" >&2
    pi_die "installing the VM's packages failed (log above)"
  fi

  # The kernel and its modules, unpacked on the host.
  local kernel_deb busybox_deb version
  kernel_deb="$(ls "$root"/var/cache/piwire-vm/linux-image-*.deb)"
  busybox_deb="$(ls "$root"/var/cache/piwire-vm/busybox-static_*.deb)"
  # --keep-directory-symlink: the package's /lib/modules must land in /usr/lib through
  # the merged-/usr symlink, not replace it with a directory (the loader lives there).
  dpkg-deb --fsys-tarfile "$kernel_deb" | tar -x --keep-directory-symlink -C "$root"
  version="$(basename "$(ls -d "$root"/lib/modules/*)")"
  depmod -b "$root" "$version"
  cp "$root/boot/vmlinuz-$version" "$staging/vmlinuz"

  # The initramfs: busybox, the root's modules in dependency order, /init.
  local initramfs="$staging/initramfs" module file line
  mkdir -p "$initramfs"/{bin,dev,proc,sys,newroot,modules}
  dpkg-deb --fsys-tarfile "$busybox_deb" | tar -xf - -C "$staging" ./bin/busybox
  mv "$staging/bin/busybox" "$initramfs/bin/busybox"
  : >"$initramfs/modules/order"
  for module in $INITRD_MODULES; do
    while read -r line; do
      [[ "$line" == insmod\ * ]] || continue
      file="$(awk '{print $2}' <<<"$line")"
      file="$root${file#"$root"}"
      local name
      name="$(basename "$file")"
      name="${name%%.ko*}.ko"
      grep -qx "$name" "$initramfs/modules/order" && continue
      case "$file" in
        *.xz) xz -dc "$file" >"$initramfs/modules/$name" ;;
        *.zst) zstd -qdc "$file" >"$initramfs/modules/$name" ;;
        *) cp "$file" "$initramfs/modules/$name" ;;
      esac
      printf '%s\n' "$name" >>"$initramfs/modules/order"
    done < <(modprobe -d "$root" -S "$version" --show-depends "$module")
  done
  cat >"$initramfs/init" <<'INIT'
#!/bin/busybox sh
# piwire test VM: load the root's modules, mount /dev/vda, hand over to systemd.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read -r module; do insmod "/modules/$module" 2>/dev/null || true; done </modules/order
tries=0
while [ ! -b /dev/vda ] && [ "$tries" -lt 100 ]; do sleep 0.1; tries=$((tries + 1)); done
mount -t ext4 -o rw /dev/vda /newroot || { echo "initramfs: cannot mount /dev/vda"; exec sh; }
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /sbin/init
INIT
  chmod 0755 "$initramfs/init"
  (cd "$initramfs" && find . | cpio --quiet -o -H newc | gzip -1) >"$staging/initrd.img"

  # The system: root on vda, the checkout disk on vdb (/build), volatile journal, the
  # agent on the virtio serial port, nothing that waits for a network or a clock.
  rm -rf "${root:?}/var/cache/piwire-vm" "${root:?}/boot/"*
  printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n/dev/vdb /build ext4 rw,nofail 0 0\n' >"$root/etc/fstab"
  mkdir -p "$root/build"
  printf 'piwire-vm\n' >"$root/etc/hostname"
  printf '127.0.0.1 localhost\n127.0.1.1 piwire-vm\n' >"$root/etc/hosts"
  mkdir -p "$root/etc/systemd/journald.conf.d"
  printf '[Journal]\nStorage=volatile\n' >"$root/etc/systemd/journald.conf.d/piwire-vm.conf"
  install -m 0755 "$PI_SCRIPTS/vm-agent.sh" "$root/usr/local/sbin/piwire-vm-agent"
  cat >"$root/etc/systemd/system/piwire-vm-agent.service" <<'UNIT'
[Unit]
Description=piwire test agent on the virtio serial port piwire-agent
BindsTo=dev-virtio\x2dports-piwire\x2dagent.device
After=dev-virtio\x2dports-piwire\x2dagent.device

StartLimitIntervalSec=0

[Service]
ExecStart=/usr/local/sbin/piwire-vm-agent /dev/virtio-ports/piwire-agent
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
UNIT
  mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
  ln -sf ../piwire-vm-agent.service "$root/etc/systemd/system/multi-user.target.wants/piwire-vm-agent.service"
  # Emulation (TCG) is 10-20x slower than a Pi: the firmware's start (tsx compiling the
  # sources) takes a minute or more here, past the unit's TimeoutStartSec=90s. The
  # test system allows more; nothing else of the installed unit is changed.
  mkdir -p "$root/etc/systemd/system/piwire.service.d"
  printf '[Service]\nTimeoutStartSec=600\n' >"$root/etc/systemd/system/piwire.service.d/emulated.conf"
  local unit
  for unit in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer fstrim.timer \
      systemd-timesyncd.service serial-getty@ttyAMA0.service getty@tty1.service; do
    ln -sf /dev/null "$root/etc/systemd/system/$unit"
  done
  local size_mib
  size_mib=$(($(du -sm "$root" | cut -f1) + 512))
  mkfs.ext4 -q -F -L piwire-vm -d "$root" "$staging/disk.img" "${size_mib}M"
  rm -rf --one-file-system "$root" "$initramfs" "${staging:?}/bin"
  mv "$staging" "$target"
  touch "$target/.done"
  pi_log "arm64 VM image ready in $((SECONDS - started)) s: $target"
  pi_prune vm-arm64 "$target"
}

key="$(pi_key "$(declare -f build)" "$rootfs" "$VM_PACKAGES" "$INITRD_MODULES" "$PI_SCRIPTS/vm-agent.sh")"
target="$PI_CACHE/vm-arm64-$key"
# Only the path goes to stdout (the caller reads it); the build talks on stderr.
pi_with_lock vm-arm64 build >&2
printf '%s\n' "$target"
