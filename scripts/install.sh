#!/usr/bin/env bash
# Installs the rnnkit command, librnnkit.so, include/rnnkit.h and rnnkit.pc under PREFIX.
# Usage: scripts/install.sh PREFIX        (RNNKIT_BUILD_CONFIG=debug installs the debug build;
#        RNNKIT_BIN_DIR=DIR installs what is already built in DIR, without building)
# Afterwards: cc app.c $(PKG_CONFIG_PATH=PREFIX/lib/pkgconfig pkg-config --cflags --libs rnnkit)
set -euo pipefail
prefix=${1:?usage: scripts/install.sh PREFIX}
config=${RNNKIT_BUILD_CONFIG:-release}
cd "$(dirname "$0")/.."
if [ -n "${RNNKIT_BIN_DIR:-}" ]; then
  bin=$RNNKIT_BIN_DIR
else
  bash scripts/bootstrap.sh
  swift build -c "$config" --product rnnkit
  swift build -c "$config" --product rnnkit-c
  bin=$(swift build -c "$config" --show-bin-path)
fi
mkdir -p "$prefix/bin" "$prefix/lib/pkgconfig" "$prefix/include"
prefix=$(cd "$prefix" && pwd)
install -m 755 "$bin/rnnkit" "$prefix/bin/rnnkit"
install -m 755 "$bin/librnnkit-c.so" "$prefix/lib/librnnkit.so"
install -m 644 include/rnnkit.h "$prefix/include/rnnkit.h"
# The Swift runtime librnnkit.so needs, found through the toolchain that built it.
runtime=$(swift -print-target-info | python3 -c 'import json, sys; print(json.load(sys.stdin)["paths"]["runtimeLibraryPaths"][0])')
version=$(sed -n 's/^#define RNNKIT_VERSION "\(.*\)"$/\1/p' include/rnnkit.h)
sed -e "s|@PREFIX@|$prefix|g" -e "s|@SWIFT_RUNTIME@|$runtime|g" -e "s|@VERSION@|$version|g" \
  scripts/rnnkit.pc.in >"$prefix/lib/pkgconfig/rnnkit.pc"
echo "installed rnnkit $version under $prefix"
