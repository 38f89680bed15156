#!/usr/bin/env bash
# The arm64 test VM of the emulated-Pi stage (image: test/pi/vm-image.sh).
#
#   test/pi/vm.sh disk TREE OUT
#       an ext4 image OUT holding the directory TREE (the built checkout): the VM
#       mounts it on /build
#   test/pi/vm.sh run IMAGE BUILD_DISK WORKDIR TAP MAC
#       boots the VM in the foreground (run it in the test's network namespace:
#       `ip netns exec NS test/pi/vm.sh run ...`): QEMU's `virt` board with a
#       Cortex-A72 (TCG), the image's kernel and initramfs, the root disk read-only
#       underneath (snapshot=on: writes go to a temporary file in WORKDIR, the cached
#       image never changes), BUILD_DISK as vdb, one virtio NIC with MAC on the TAP
#       device TAP (QEMU creates it in the current namespace; it goes when QEMU exits;
#       no offloads, as on a wire),
#       and in WORKDIR: console.log (the serial console), agent.sock (the agent's
#       virtio serial port, see vm-agent.sh) and monitor.sock (QEMU's monitor: `set_link
#       net0 off` pulls the virtual cable).
# The Raspberry Pi boards of this QEMU (raspi3b, raspi4b) have no usable Ethernet, so
# the VM is the generic `virt` board with the Pi 4's CPU core.
set -euo pipefail
# shellcheck source=test/pi/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

make_disk() {
  local tree="$1" out="$2" size_mib
  size_mib=$(($(du -sm "$tree" | cut -f1) + 256))
  mkfs.ext4 -q -F -L piwire-build -d "$tree" "$out" "${size_mib}M"
}

run_vm() {
  local image="$1" build_disk="$2" workdir="$3" tap="$4" mac="$5"
  [[ -f "$image/.done" ]] || pi_die "not a VM image: $image"
  command -v qemu-system-aarch64 >/dev/null || pi_die "qemu-system-aarch64 is not installed (qemu-system-arm)"
  # A NIC like one on a wire: no checksum or segmentation offload either way. Offered
  # to the guest, QEMU switches the TAP's offloads on again (TUNSETOFFLOAD) whatever the
  # host side set, and the host then sends TCP with partial checksums, which piwire
  # rightly drops (ping, checksummed in software, would still pass).
  local wire_like_nic=csum=off,guest_csum=off,gso=off,guest_tso4=off,guest_tso6=off,guest_ecn=off,guest_ufo=off,host_tso4=off,host_tso6=off,host_ecn=off,host_ufo=off
  # snapshot=on keeps its temporary overlay in TMPDIR.
  export TMPDIR="$workdir"
  # The parent-death signal: QEMU dies with the test that started it, even a killed one.
  exec setpriv --pdeathsig KILL qemu-system-aarch64 \
    -M virt -cpu cortex-a72 -smp 2 -m 1024 \
    -display none -no-reboot \
    -serial "file:$workdir/console.log" \
    -monitor "unix:$workdir/monitor.sock,server=on,wait=off" \
    -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
    -append "console=ttyAMA0 net.ifnames=0 panic=-1 systemd.show_status=false" \
    -drive "if=none,id=root,file=$image/disk.img,format=raw,snapshot=on" -device virtio-blk-pci,drive=root \
    -drive "if=none,id=build,file=$build_disk,format=raw" -device virtio-blk-pci,drive=build \
    -netdev "tap,id=net0,ifname=$tap,script=no,downscript=no" \
    -device "virtio-net-pci,netdev=net0,mac=$mac,$wire_like_nic,romfile=" \
    -device virtio-serial-pci \
    -chardev "socket,id=agent,path=$workdir/agent.sock,server=on,wait=off" \
    -device virtserialport,chardev=agent,name=piwire-agent
}

case "${1:-}" in
  disk) make_disk "${2:?tree}" "${3:?out}" ;;
  run) run_vm "${2:?image}" "${3:?build disk}" "${4:?workdir}" "${5:?tap}" "${6:?mac}" ;;
  *) pi_die "usage: vm.sh disk TREE OUT | run IMAGE BUILD_DISK WORKDIR TAP MAC" ;;
esac
