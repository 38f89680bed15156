#!/usr/bin/env bash
# piwire installer for Raspberry Pi OS (Bookworm, arm64 and armhf). Idempotent: run it
# again after `git pull` to upgrade; the configuration you edited is never overwritten.
#
#   sudo deploy/install.sh [options]            install (or upgrade) and start piwire
#   sudo deploy/install.sh --uninstall          remove piwire; keep /etc/piwire,
#                                               /var/lib/piwire and the piwire user
#   sudo deploy/install.sh --uninstall --purge  remove those too
#
# Options:
#   --root DIR          install into the directory tree DIR instead of / (an SD card's
#                       root file system, a test tree): nothing is started, no package
#                       is installed, the unit is enabled by its symlink only
#   --boot-dir DIR      the boot partition (default ROOT/boot/firmware, else ROOT/boot)
#   --prefix DIR        where the program goes (default /opt/piwire)
#   --from-tree         no network: copy this checkout's production node_modules and
#                       its built addon (build/Release/piwire_link.node) instead of
#                       running `npm ci` (same CPU architecture only; the tests use it)
#   --deps-at-first-boot  install no dependencies now; deploy/image's first-boot step
#                       runs `npm ci` on the Pi (for SD images built on another machine)
#   --layout macvlan|dedicated|wifi, --interface NAME, --parent IF
#                       the interface layout written to /etc/piwire/link.env when it
#                       does not exist yet (default macvlan piwire0 on eth0; see
#                       deploy/interfaces/README.md). wifi (default interface wlan0):
#                       for Wi-Fi-only boards; the kernel keeps the interface and its
#                       address, piwire runs in IP mode (--link ip:wlan0) behind an
#                       nftables rule that the installer adds (and --uninstall removes)
#   --no-apt            do not install missing Debian packages
#   --no-start          install and enable, but do not (re)start the service
#
# What it does: checks Node >= 20 (22 LTS recommended); installs ethtool, iproute2,
# i2c-tools and the C toolchain the addon needs; copies the program to the prefix
# (root-owned, read-only to the service) with the JavaScript the service runs, built
# there (dist/piwire.mjs, deploy/build.mjs); installs production dependencies, which
# builds the addon; creates the system user `piwire` (systemd-sysusers, member of gpio
# and i2c); enables I2C and declares the three LEDs with the gpio-led overlay in the
# boot configuration (a marked block in config.txt; reboot to apply); writes
# /etc/piwire/config.json from deploy/config.example.json and /etc/piwire/link.env if
# absent; keeps NetworkManager off piwire's interface; installs, enables and starts
# deploy/systemd/piwire.service.
set -euo pipefail

SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly SOURCE
readonly UNIT_NAME=piwire.service
readonly MIN_NODE_MAJOR=20
readonly RECOMMENDED_NODE_MAJOR=22
readonly BLOCK_BEGIN='# BEGIN piwire (deploy/install.sh; install.sh --uninstall removes this block)'
readonly BLOCK_END='# END piwire'
# What the program needs at run time; tests, benchmarks and git history stay behind.
# The program runs as dist/piwire.mjs (built here: build_program); the sources come along
# for reference and for `npm ci`'s addon build (binding.gyp, hal/native).
readonly PROGRAM_FILES=(package.json package-lock.json binding.gyp tsconfig.json README.md firmware src hal deploy)
DEBIAN_PACKAGES=(ethtool iproute2 i2c-tools build-essential python3)

root=/
boot_dir=
prefix=/opt/piwire
deps=npm
layout=macvlan
interface=
parent=eth0
apt=yes
start=yes
action=install
purge=no

say() { printf 'install.sh: %s\n' "$*"; }
die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

while (($# > 0)); do
  case "$1" in
    --root) [[ $# -ge 2 ]] || die "--root needs a directory"; root="$2"; shift 2 ;;
    --boot-dir) [[ $# -ge 2 ]] || die "--boot-dir needs a directory"; boot_dir="$2"; shift 2 ;;
    --prefix) [[ $# -ge 2 ]] || die "--prefix needs a directory"; prefix="$2"; shift 2 ;;
    --from-tree) deps=tree; shift ;;
    --deps-at-first-boot) deps=first-boot; shift ;;
    --layout) [[ $# -ge 2 ]] || die "--layout needs macvlan, dedicated or wifi"; layout="$2"; shift 2 ;;
    --interface) [[ $# -ge 2 ]] || die "--interface needs a name"; interface="$2"; shift 2 ;;
    --parent) [[ $# -ge 2 ]] || die "--parent needs an interface"; parent="$2"; shift 2 ;;
    --no-apt) apt=no; shift ;;
    --no-start) start=no; shift ;;
    --uninstall) action=uninstall; shift ;;
    --purge) purge=yes; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option $1 (try --help)" ;;
  esac
done

[[ "$layout" == macvlan || "$layout" == dedicated || "$layout" == wifi ]] || die "--layout must be macvlan, dedicated or wifi"
if [[ -z "$interface" ]]; then
  if [[ "$layout" == wifi ]]; then interface=wlan0; else interface=piwire0; fi
fi
# IP mode checks its nftables rule with `nft`.
if [[ "$layout" == wifi ]]; then DEBIAN_PACKAGES+=(nftables); fi
readonly DEBIAN_PACKAGES
[[ "$interface" =~ ^[A-Za-z0-9_.-]{1,15}$ ]] || die "--interface must be an interface name"
[[ "$parent" =~ ^[A-Za-z0-9_.-]{1,15}$ ]] || die "--parent must be an interface name"
[[ "$prefix" == /* ]] || die "--prefix must be absolute"
[[ "$purge" == no || "$action" == uninstall ]] || die "--purge goes with --uninstall"
[[ -d "$root" ]] || die "--root $root is not a directory"
root="$(cd "$root" && pwd)"
# Paths inside the target tree: "$R/etc/..." is /etc/... when installing for real.
if [[ "$root" == / ]]; then R=''; live=yes; else R="$root"; live=no; fi
if [[ -z "$boot_dir" ]]; then
  if [[ -d "$R/boot/firmware" ]]; then boot_dir="$R/boot/firmware"; else boot_dir="$R/boot"; fi
fi
if [[ "$(id -u)" != 0 ]]; then die "run as root (sudo)"; fi

readonly UNIT_PATH="$R/etc/systemd/system/$UNIT_NAME"
readonly DROPIN_DIR="$R/etc/systemd/system/$UNIT_NAME.d"
readonly IP_LINK_DROPIN="$DROPIN_DIR/ip-link.conf"
readonly WANTS_LINK="$R/etc/systemd/system/multi-user.target.wants/$UNIT_NAME"
readonly SYSUSERS_PATH="$R/etc/sysusers.d/piwire.conf"
readonly MODULES_PATH="$R/etc/modules-load.d/piwire-i2c.conf"
readonly NM_PATH="$R/etc/NetworkManager/conf.d/piwire-unmanaged.conf"
readonly CONFIG_DIR="$R/etc/piwire"
readonly STATE_DIR="$R/var/lib/piwire"
readonly BOOT_CONFIG="$boot_dir/config.txt"

# ------------------------------------------------------------------------------------
# Helpers

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

check_node() {
  command -v node >/dev/null 2>&1 || die "Node.js is not installed: install Node $RECOMMENDED_NODE_MAJOR LTS (https://nodejs.org or NodeSource's Debian packages)"
  local major
  major="$(node_major)"
  ((major >= MIN_NODE_MAJOR)) || die "Node $(node --version) is too old: piwire needs Node >= $MIN_NODE_MAJOR ($RECOMMENDED_NODE_MAJOR LTS recommended)"
  if ((major < RECOMMENDED_NODE_MAJOR)); then
    say "warning: Node $(node --version) is past end of life; Node $RECOMMENDED_NODE_MAJOR LTS is the supported target"
  fi
}

install_debian_packages() {
  [[ "$live" == yes && "$apt" == yes ]] || return 0
  command -v apt-get >/dev/null 2>&1 || { say "no apt-get: make sure ${DEBIAN_PACKAGES[*]} are installed"; return 0; }
  local missing=() package
  for package in "${DEBIAN_PACKAGES[@]}"; do
    [[ "$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)" == "install ok installed" ]] || missing+=("$package")
  done
  ((${#missing[@]} == 0)) && return 0
  say "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
}

# Writes FILE with CONTENT (stdin) and MODE, only when it differs: re-runs touch nothing.
put_file() {
  local file="$1" mode="$2" content
  content="$(cat)"
  mkdir -p "$(dirname "$file")"
  if [[ -f "$file" ]] && [[ "$(cat "$file")" == "$content" ]]; then
    chmod "$mode" "$file"
    return 0
  fi
  printf '%s\n' "$content" >"$file.piwire-new"
  chmod "$mode" "$file.piwire-new"
  mv "$file.piwire-new" "$file"
}

# The uid/gid of a name in the target tree's own account files (not the host's).
tree_id() {
  local file="$1" name="$2"
  awk -F: -v name="$name" '$1 == name { print $3; found = 1 } END { exit !found }' "$R/etc/$file"
}

# ------------------------------------------------------------------------------------
# Install steps

install_program() {
  local target="$R$prefix" staging="$R$prefix.piwire-new" old="$R$prefix.piwire-old" item
  rm -rf "$staging" "$old"
  mkdir -p "$staging"
  for item in "${PROGRAM_FILES[@]}"; do
    [[ -e "$SOURCE/$item" ]] || die "$SOURCE/$item is missing: run install.sh from a piwire checkout"
    cp -R "$SOURCE/$item" "$staging/"
  done
  rm -rf "$staging/hal/native/build"
  build_program "$staging"
  case "$deps" in
    npm)
      say "installing production dependencies and building the addon (npm ci)"
      (cd "$staging" && npm ci --omit=dev --no-audit --no-fund)
      [[ -f "$staging/build/Release/piwire_link.node" ]] || die "the native addon did not build (is build-essential installed?)"
      if [[ "$layout" == wifi && ! -f "$staging/node_modules/raw-socket/build/Release/raw.node" ]]; then
        die "raw-socket (IP mode, --layout wifi) did not build (is build-essential installed?)"
      fi
      ;;
    tree)
      [[ -f "$SOURCE/build/Release/piwire_link.node" ]] || die "--from-tree: $SOURCE/build/Release/piwire_link.node is missing (npm install first)"
      local module
      # The production dependency closure, exactly as npm resolved it in the checkout.
      while IFS= read -r module; do
        [[ "$module" == "$SOURCE/node_modules/"* ]] || continue
        mkdir -p "$staging/$(dirname "${module#"$SOURCE"/}")"
        cp -R "$module" "$staging/${module#"$SOURCE"/}"
      done < <(cd "$SOURCE" && npm ls --omit=dev --all --parseable 2>/dev/null)
      mkdir -p "$staging/build/Release"
      cp "$SOURCE/build/Release/piwire_link.node" "$staging/build/Release/"
      ;;
    first-boot)
      : >"$staging/.deps-pending"
      ;;
  esac
  chown -R 0:0 "$staging"
  chmod -R u+rwX,go+rX,go-w "$staging"
  if [[ -e "$target" ]]; then mv "$target" "$old"; fi
  mv "$staging" "$target"
  rm -rf "$old"
}

# The JavaScript the service runs: deploy/build.mjs bundles the sources into
# STAGING/dist/piwire.mjs (plain node, no TypeScript compiler at start-up; the bundle is
# the same on every CPU architecture). It needs esbuild, a development dependency: the
# checkout's own when it has one (a developer's tree, --from-tree), otherwise a
# throw-away `npm ci` in a scratch directory (needs the network, like the npm mode).
build_program() {
  local staging="$1" scratch
  if [[ -f "$SOURCE/node_modules/esbuild/package.json" ]]; then
    say "building dist/piwire.mjs"
    node "$SOURCE/deploy/build.mjs" --outdir "$staging/dist"
  elif [[ "$deps" == npm ]]; then
    scratch="$(mktemp -d)"
    say "building dist/piwire.mjs (npm ci for the build tools in $scratch)"
    cp -R "$staging/." "$scratch/"
    if ! (cd "$scratch" && npm ci --ignore-scripts --no-audit --no-fund >/dev/null && node deploy/build.mjs --outdir "$staging/dist"); then
      rm -rf "$scratch"
      die "building dist/piwire.mjs failed"
    fi
    rm -rf "$scratch"
  else
    die "$SOURCE has no node_modules/esbuild to build dist/piwire.mjs with: run \`npm ci\` in the checkout first"
  fi
  [[ -f "$staging/dist/piwire.mjs" ]] || die "deploy/build.mjs wrote no dist/piwire.mjs"
}

install_user() {
  put_file "$SYSUSERS_PATH" 0644 <<'EOF'
# piwire's service account (deploy/install.sh): no login, no home beyond its state.
u piwire - "piwire firmware" /var/lib/piwire /usr/sbin/nologin
m piwire gpio
m piwire i2c
EOF
  if command -v systemd-sysusers >/dev/null 2>&1; then
    if [[ "$live" == yes ]]; then systemd-sysusers "$SYSUSERS_PATH"; else systemd-sysusers --root="$R" "$SYSUSERS_PATH"; fi
  else
    die "systemd-sysusers is missing: install systemd"
  fi
}

install_boot_config() {
  mkdir -p "$boot_dir"
  [[ -f "$BOOT_CONFIG" ]] || say "warning: $BOOT_CONFIG did not exist; creating it"
  touch "$BOOT_CONFIG"
  local without block
  without="$(awk -v begin="$BLOCK_BEGIN" -v end="$BLOCK_END" '$0 == begin { skip = 1 } !skip { print } $0 == end { skip = 0 }' "$BOOT_CONFIG")"
  # [all] ends any [pi4]/[cm4] filter section above, so the lines apply to every board.
  block="$(printf '%s\n' "$BLOCK_BEGIN" '[all]' \
    'dtparam=i2c_arm=on' \
    'dtoverlay=gpio-led,gpio=17,label=piwire-status,trigger=none' \
    'dtoverlay=gpio-led,gpio=27,label=piwire-link,trigger=none' \
    'dtoverlay=gpio-led,gpio=22,label=piwire-fault,trigger=none' \
    "$BLOCK_END")"
  local before
  before="$(cat "$BOOT_CONFIG")"
  if [[ -n "$without" ]]; then printf '%s\n\n%s\n' "${without%$'\n'}" "$block" >"$BOOT_CONFIG.piwire-new"; else printf '%s\n' "$block" >"$BOOT_CONFIG.piwire-new"; fi
  # Keep a blank line before the block from piling up on re-runs.
  awk 'NF { blank = 0; print; next } !blank++ { print }' "$BOOT_CONFIG.piwire-new" >"$BOOT_CONFIG"
  rm -f "$BOOT_CONFIG.piwire-new"
  if [[ "$(cat "$BOOT_CONFIG")" != "$before" ]]; then
    say "boot configuration updated ($BOOT_CONFIG): reboot for I2C and the LEDs to appear"
  fi
  put_file "$MODULES_PATH" 0644 <<'EOF'
# /dev/i2c-N for the local sensors (deploy/install.sh; what raspi-config's I2C switch loads)
i2c-dev
EOF
}

install_configuration() {
  local gid
  gid="$(tree_id group piwire)" || die "group piwire is missing from $R/etc/group"
  mkdir -p "$CONFIG_DIR"
  chmod 0755 "$CONFIG_DIR"
  if [[ ! -f "$CONFIG_DIR/config.json" ]]; then
    cp "$SOURCE/deploy/config.example.json" "$CONFIG_DIR/config.json"
    chmod 0640 "$CONFIG_DIR/config.json"
    # The Pi's defaults: the prepared interface, the overlay's LEDs, I2C bus 1, and the
    # interface's own MAC (net.mac removed: a macvlan only receives for its own MAC).
    # wifi: IP mode on the interface, whose address (and router) the kernel holds.
    local link_edits=("link=packet:$interface" -net.mac)
    if [[ "$layout" == wifi ]]; then link_edits=("link=ip:$interface" -net.mac -net.ip -net.gateway); fi
    node "$SOURCE/deploy/lib/config-edit.mjs" "$CONFIG_DIR/config.json" \
      "${link_edits[@]}" \
      leds.driver=sysfs leds.status=piwire-status leds.link=piwire-link leds.fault=piwire-fault \
      i2c.bus=1 log.format=json
    if [[ "$layout" == wifi ]]; then
      say "wrote $CONFIG_DIR/config.json (IP mode on $interface): set services.shell.users, then restart piwire"
    else
      say "wrote $CONFIG_DIR/config.json: set net.ip (or dhcp), net.gateway and services.shell.users, then restart piwire"
    fi
  fi
  # Secrets' stored forms live here: readable by the service, not by everyone.
  chown "0:$gid" "$CONFIG_DIR/config.json"
  chmod 0640 "$CONFIG_DIR/config.json"
  if [[ ! -f "$CONFIG_DIR/link.env" ]]; then
    put_file "$CONFIG_DIR/link.env" 0644 <<EOF
# piwire's interface (deploy/interfaces/README.md); read by piwire-link before each start.
# LAYOUT=macvlan: a macvlan INTERFACE on PARENT (the OS keeps PARENT and its address);
# LAYOUT=dedicated: INTERFACE is a NIC of its own (e.g. a USB Ethernet adapter);
# LAYOUT=wifi: the kernel keeps INTERFACE and its address; piwire runs in IP mode.
LAYOUT=$layout
INTERFACE=$interface
PARENT=$parent
MAC=
WAIT_SECONDS=30
EOF
  fi
  if [[ "$layout" == wifi ]]; then
    # NetworkManager keeps managing the Wi-Fi: it holds the address piwire uses.
    rm -f "$NM_PATH"
    return 0
  fi
  put_file "$NM_PATH" 0644 <<EOF
# piwire owns $interface (deploy/install.sh): NetworkManager must not put an address on it.
[keyfile]
unmanaged-devices=interface-name:$interface
EOF
}

# wifi: the nftables rule that keeps the kernel's TCP off piwire's ports. piwire-link up
# adds it again before every start (rules do not survive a reboot); adding it here makes
# it present at once, also with --no-start.
install_rst_guard() {
  [[ "$layout" == wifi && "$live" == yes ]] || return 0
  "$R$prefix/deploy/interfaces/piwire-rst-guard" add "$interface"
  say "nftables RST guard added for $interface"
}

install_unit() {
  local node_path unit
  node_path="$(command -v node)"
  unit="$(cat "$SOURCE/deploy/systemd/piwire.service")"
  unit="${unit//\/opt\/piwire/$prefix}"
  # The target's node: the one on PATH for a live install; /usr/bin/node in a tree.
  if [[ "$live" == yes && "$node_path" != /usr/bin/node ]]; then unit="${unit//\/usr\/bin\/node /$node_path }"; fi
  put_file "$UNIT_PATH" 0644 <<<"$unit"
  # wifi: the IP-level link's drop-in (raw IPv4 sockets, the nftables check); otherwise none.
  if [[ "$layout" == wifi ]]; then
    put_file "$IP_LINK_DROPIN" 0644 <"$SOURCE/deploy/systemd/ip-link.conf"
  else
    rm -f "$IP_LINK_DROPIN"
    rmdir "$DROPIN_DIR" 2>/dev/null || true
  fi
  chmod 0755 "$R$prefix/deploy/interfaces/piwire-link" "$R$prefix/deploy/interfaces/piwire-rst-guard"
  mkdir -p "$(dirname "$WANTS_LINK")"
  ln -sfn "/etc/systemd/system/$UNIT_NAME" "$WANTS_LINK"
}

start_service() {
  [[ "$live" == yes ]] || { say "installed into $root (nothing started)"; return 0; }
  systemctl daemon-reload
  if [[ "$start" == yes ]]; then
    systemctl restart "$UNIT_NAME"
    say "piwire started: journalctl -u piwire -f"
  else
    say "piwire enabled; start it with: systemctl start piwire"
  fi
}

do_install() {
  check_node
  install_debian_packages
  install_program
  install_user
  install_boot_config
  install_configuration
  install_unit
  install_rst_guard
  start_service
}

# ------------------------------------------------------------------------------------
# Uninstall

remove_boot_block() {
  [[ -f "$BOOT_CONFIG" ]] || return 0
  grep -qxF "$BLOCK_BEGIN" "$BOOT_CONFIG" || return 0
  awk -v begin="$BLOCK_BEGIN" -v end="$BLOCK_END" '$0 == begin { skip = 1 } !skip { print } $0 == end { skip = 0 }' "$BOOT_CONFIG" >"$BOOT_CONFIG.piwire-new"
  # Drop the blank line install_boot_config put before the block.
  awk '{ lines[NR] = $0 } END { last = NR; while (last > 0 && lines[last] == "") last--; for (i = 1; i <= last; i++) print lines[i] }' "$BOOT_CONFIG.piwire-new" >"$BOOT_CONFIG"
  rm -f "$BOOT_CONFIG.piwire-new"
  if [[ ! -s "$BOOT_CONFIG" ]]; then rm -f "$BOOT_CONFIG"; fi
}

do_uninstall() {
  if [[ "$live" == yes ]] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now "$UNIT_NAME" 2>/dev/null || true
    if [[ -x "$prefix/deploy/interfaces/piwire-link" && -f "$CONFIG_DIR/link.env" ]]; then
      "$prefix/deploy/interfaces/piwire-link" down || true
    fi
  fi
  rm -f "$WANTS_LINK" "$UNIT_PATH" "$MODULES_PATH" "$NM_PATH" "$IP_LINK_DROPIN"
  rmdir "$DROPIN_DIR" 2>/dev/null || true
  rm -rf "${R:?}$prefix" "$R$prefix.piwire-new" "$R$prefix.piwire-old"
  # What deploy/image/customise.sh adds, if this tree was an SD image.
  rm -f "$R/etc/systemd/system/piwire-firstboot.service" \
    "$R/etc/systemd/system/multi-user.target.wants/piwire-firstboot.service" \
    "$boot_dir/piwire-setup.txt.example"
  remove_boot_block
  rmdir "$R/etc/systemd/system/multi-user.target.wants" "$R/etc/modules-load.d" "$R/etc/NetworkManager/conf.d" "$R/etc/NetworkManager" 2>/dev/null || true
  if [[ "$purge" == yes ]]; then
    rm -rf "$CONFIG_DIR" "$STATE_DIR"
    rm -f "$SYSUSERS_PATH"
    rmdir "$R/etc/sysusers.d" 2>/dev/null || true
    if tree_id passwd piwire >/dev/null 2>&1; then
      if [[ "$live" == yes ]]; then userdel piwire; else userdel --root "$R" piwire; fi
    fi
    if tree_id group piwire >/dev/null 2>&1; then
      if [[ "$live" == yes ]]; then groupdel piwire; else groupdel --root "$R" piwire; fi
    fi
    say "piwire removed with its configuration, state and user"
  else
    say "piwire removed; kept $CONFIG_DIR, $STATE_DIR and the piwire user (--purge removes them)"
  fi
  # In a tree, directories that only piwire's files made (on a live system they hold others').
  if [[ "$live" == no ]]; then
    rmdir "$R/etc/systemd/system" "$R/etc/systemd" "$(dirname "$R$prefix")" 2>/dev/null || true
  fi
  if [[ "$live" == yes ]] && command -v systemctl >/dev/null 2>&1; then systemctl daemon-reload || true; fi
}

if [[ "$action" == install ]]; then do_install; else do_uninstall; fi
