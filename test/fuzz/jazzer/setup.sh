#!/usr/bin/env bash
# Installs Jazzer.js for the fuzz suite (test/fuzz/jazzer/README.md says why it is done
# this way) and builds its native addon from the sources in its npm package against
# Debian's libFuzzer (libclang-rt-*-dev), with shim/ bridging the few differences.
#
#   bash test/fuzz/jazzer/setup.sh      # idempotent; test/run.sh runs it
#
# Needs: npm (registry access), g++, node's headers (/usr/include/node), and a
# libclang_rt.fuzzer_no_main-<arch>.a. Exit 0 when the addon is in place.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

log() { printf 'test/fuzz/jazzer/setup.sh: %s\n' "$*"; }

# The install scripts are skipped: @jazzer.js/fuzzer's would download a prebuilt binary.
if [[ ! -d node_modules/@jazzer.js/core ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --ignore-scripts --no-audit --no-fund
fi

fuzzer=node_modules/@jazzer.js/fuzzer
addon="$fuzzer/build/Release/jazzerjs.node"
shopt -s nullglob
candidates=(/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-"$(uname -m)".a)
libfuzzer="${candidates[${#candidates[@]} - 1]:-}"
if [[ -z "$libfuzzer" ]]; then
  log "no libFuzzer archive (libclang_rt.fuzzer_no_main-$(uname -m).a): apt-get install libclang-rt-14-dev"
  exit 1
fi
node_headers="$(dirname "$(dirname "$(command -v node)")")/include/node"
[[ -f "$node_headers/node_api.h" ]] || node_headers=/usr/include/node
if [[ ! -f "$node_headers/node_api.h" ]]; then
  log "node's headers (node_api.h) are missing"
  exit 1
fi

sources=("$fuzzer"/*.cpp "$fuzzer"/shared/*.cpp shim/shim.cpp)
if [[ -f "$addon" && -z "$(find "${sources[@]}" shim/fuzzer/FuzzerDefs.h "$libfuzzer" setup.sh -newer "$addon" -print -quit)" ]]; then
  exit 0
fi
log "building the Jazzer.js addon against $libfuzzer"
mkdir -p "$(dirname "$addon")"
g++ -std=c++17 -O2 -fPIC -shared -DNAPI_VERSION=4 -DNAPI_CPP_EXCEPTIONS \
  -I shim -I "$fuzzer" -I node_modules/node-addon-api -I "$node_headers" \
  "${sources[@]}" \
  -Wl,--whole-archive "$libfuzzer" -Wl,--no-whole-archive \
  -o "$addon.tmp"
mv "$addon.tmp" "$addon"
log "built $addon"
