#!/usr/bin/env bash
# piwire's test command (README): bash test/run.sh
#
# 1. As root: installs the system packages the integration tests use, when missing
#    (Debian/Raspberry Pi OS: apt-get, non-interactive). Not root: says once that the
#    integration tests will skip, and goes on.
# 2. Installs the npm dependencies (npm ci; the native addon builds in the install script)
#    and Jazzer.js for the fuzz suite (test/fuzz/jazzer/setup.sh), then type-checks and
#    lints the whole project and builds the deployed bundle (dist/piwire.mjs). Any of
#    the last three failing stops here.
# 3. Runs the emulated Raspberry Pi stage (test/pi/*.test.ts: ARM under qemu and the
#    Docker image built with buildah, root only, artefacts cached in /var/cache/piwire-pi)
#    with its own, longer per-file hang guard,
#    then every other test/**/*.test.ts, each with node's test runner, one file at a
#    time: the integration tests start real processes in network namespaces and must
#    not compete for the CPU. The output ends with the main run's TAP summary (# pass /
#    # fail; the Pi stage's summary is printed before it) and the exit status is
#    non-zero when either run failed. The reporter (test/support/tap-with-failures.mjs) is
#    node's TAP with the failed tests named again just before each summary.
# 4. Removes any pw-*, pwb-*, pwsh-* or pwhal-* network namespace that appeared during the run (the tests clean up
#    after themselves; this catches a test process that was killed).
#
# Environment: PIWIRE_SKIP_INSTALL=1 skips step 2's npm install (a development tree
# whose node_modules is known to be current); CI never sets it. PIWIRE_PI=0 skips the
# emulated Raspberry Pi stage (one skip line), PIWIRE_PI_DOCKER=0 only its Docker image
# part; PIWIRE_PI_CACHE moves its cache.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'test/run.sh: %s\n' "$*"; }

# What the integration tests run: ip/ethtool for topologies, scapy for crafted frames,
# tshark/dumpcap for captures, the classic clients of SPEC section 9, and the C
# toolchain for the native addon; testssl.sh judges the shell's TLS port; libclang-rt
# brings the libFuzzer that the fuzz suite's Jazzer.js addon is built against; the DHCP
# client is tested against real DHCP servers (dnsmasq-base is dnsmasq without its
# system service); nftables holds IP mode's RST guard (added only inside the tests'
# own namespaces); mosquitto, curl and chromium are the real peers of the library and
# status-page suites. The emulated-Pi stage (test/pi/): qemu-user with binfmt and
# debootstrap for the ARM root file systems, qemu-system-arm for the arm64 VM,
# kmod/cpio/e2fsprogs/xz-utils to assemble its initramfs and disks, buildah/podman
# with runc (not crun, the alternative apt would pick alone: it fails on this cgroup
# layout) to build and run the Docker image without a Docker engine.
SYSTEM_PACKAGES=(iproute2 ethtool python3-scapy tshark socat netcat-openbsd telnet openssl iputils-ping tcpdump g++ make python3 shellcheck systemd testssl.sh libclang-rt-14-dev dnsmasq-base isc-dhcp-server nftables mosquitto curl chromium
  qemu-user-static binfmt-support debootstrap qemu-system-arm kmod cpio e2fsprogs xz-utils buildah podman runc)

is_root() { [[ "$(id -u)" == 0 ]]; }

install_system_packages() {
  if ! is_root; then
    log "not running as root: the integration tests (network namespaces) will skip"
    return 0
  fi
  if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
    log "no apt-get here: cannot install ${SYSTEM_PACKAGES[*]}; install them by hand"
    return 0
  fi
  local missing=() package
  for package in "${SYSTEM_PACKAGES[@]}"; do
    if [[ "$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)" != "install ok installed" ]]; then
      missing+=("$package")
    fi
  done
  ((${#missing[@]} == 0)) && return 0
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark's package asks whether non-root users may capture; the answer is no, and the
  # question must never wait for a terminal.
  if command -v debconf-set-selections >/dev/null 2>&1; then
    echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
  fi
  # A failed install is reported and the run goes on: the tests that need the missing
  # tool then fail with their own, precise message.
  if ! apt-get update -q; then
    log "WARNING: apt-get update failed"
  fi
  # isc-dhcp-server's postinst starts its system service. The tests run their own dhcpd
  # inside a namespace; a system one must never answer on the machine's own network:
  # service starts are forbidden during the install (policy-rc.d, honoured by
  # invoke-rc.d and deb-systemd-invoke), and the service is disabled afterwards.
  local policy=/usr/sbin/policy-rc.d policy_added=0
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && policy_added=1
  fi
  if ! apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null; then
    log "WARNING: could not install ${missing[*]}"
  fi
  if ((policy_added)); then rm -f "$policy"; fi
  if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
    systemctl disable --now isc-dhcp-server.service >/dev/null 2>&1 || true
  fi
}

install_npm_dependencies() {
  if [[ "${PIWIRE_SKIP_INSTALL:-}" == 1 ]]; then
    log "PIWIRE_SKIP_INSTALL=1: using node_modules as it is"
  elif [[ -f package-lock.json ]]; then
    npm ci --no-audit --no-fund
  else
    npm install --no-audit --no-fund
  fi
}

# Namespaces present before the run belong to someone else (another run, a developer):
# the final sweep leaves them alone.
namespaces_before=" "
if is_root && command -v ip >/dev/null 2>&1; then
  namespaces_before=" $(ip netns list 2>/dev/null | awk '{print $1}' | tr '\n' ' ') "
fi

# shellcheck disable=SC2317 # called from the EXIT trap
sweep_namespaces() {
  is_root && command -v ip >/dev/null 2>&1 || return 0
  local namespace pid
  for namespace in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    [[ "$namespace" =~ ^pw(hal|sh|b)?- ]] || continue
    [[ "$namespaces_before" == *" $namespace "* ]] && continue
    # A process left inside would keep the namespace (and its veth) alive after deletion.
    for pid in $(ip netns pids "$namespace" 2>/dev/null); do
      kill -KILL "$pid" 2>/dev/null || true
    done
    ip netns del "$namespace" 2>/dev/null || true
  done
}
# Silent, so the runner's summary stays the last thing printed; the exit status is kept.
trap 'sweep_namespaces >/dev/null 2>&1 || true' EXIT

# Jazzer.js for the fuzz suite (test/fuzz/jazzer/setup.sh: its own npm package, addon
# built from source here). A failure is reported; test/fuzz/jazzer.test.ts then fails
# with its precise message where libFuzzer is present.
install_fuzzer() {
  if [[ "${PIWIRE_SKIP_INSTALL:-}" == 1 && -d test/fuzz/jazzer/node_modules ]]; then
    return 0
  fi
  if ! bash test/fuzz/jazzer/setup.sh; then
    log "WARNING: Jazzer.js could not be set up (test/fuzz/jazzer/setup.sh)"
  fi
}

install_system_packages
install_npm_dependencies
install_fuzzer

log "type-checking"
npx tsc --noEmit -p tsconfig.json
log "linting"
npx eslint --max-warnings 0 .
# The deployed program (dist/piwire.mjs, deploy/build.mjs): the deploy tests and
# `npm start` run it; building it here also fails the run early when it cannot build.
log "building dist/piwire.mjs"
node deploy/build.mjs

mapfile -t test_files < <(find test -type f -name '*.test.ts' -not -path '*/node_modules/*' -not -path 'test/pi/*' | LC_ALL=C sort)
mapfile -t pi_files < <(find test/pi -type f -name '*.test.ts' | LC_ALL=C sort)
if ((${#test_files[@]} == 0)); then
  log "no test files under test/"
  exit 1
fi

status=0
# The emulated-Pi stage (test/pi/) first, in its own run of the test runner: the runner's
# --test-timeout also bounds each whole file, and this stage's file runs for many
# minutes (longer still when it builds its cache from scratch). Its own summary comes
# before the main one; a failure here fails the command.
if ((${#pi_files[@]} > 0)); then
  log "running the emulated Raspberry Pi stage (${#pi_files[@]} test files)"
  node --import tsx --test --test-concurrency=1 --test-reporter=./test/support/tap-with-failures.mjs --test-timeout=3600000 "${pi_files[@]}" || status=$?
fi

log "running ${#test_files[@]} test files"
# --test-timeout is the default hang guard for a test that sets no timeout of its own.
node --import tsx --test --test-concurrency=1 --test-reporter=./test/support/tap-with-failures.mjs --test-timeout=600000 "${test_files[@]}" || status=$?
exit "$status"
