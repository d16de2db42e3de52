#!/usr/bin/env bash
# Installs what is missing, then runs every test: the Swift suites (unit, end-to-end tests of the
# rnnkit binary, and interop tests with h5py, Keras, numpy and onnxruntime), the format lint, and
# the Python package's pytest suite over the C library.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --python
export KERAS_BACKEND=jax
# Every interop suite must run: a Python client that fails to import fails it instead of skipping it.
export RNNKIT_REQUIRE_INTEROP=1
# Keep JAX quiet and on the CPU.
export JAX_PLATFORMS=cpu TF_CPP_MIN_LOG_LEVEL=3
echo "== swift format lint"
swift format lint --strict --recursive Package.swift Sources Tests
echo "== swift build"
swift build --build-tests
echo "== fuzz targets (built with libFuzzer, so a broken target or manifest fails here; run them with scripts/fuzz.sh)"
(cd Fuzz && swift build --sanitize fuzzer)
echo "== swift test"
swift test --skip-build
echo "== documentation (DocC; a broken link or any other DocC warning fails)"
docc_log=$(mktemp)
if ! swift package generate-documentation --target RNNKit --warnings-as-errors >"$docc_log" 2>&1; then
  grep -E "(error|warning): " "$docc_log"
  exit 1
fi
rm -f "$docc_log"
echo "== python package (over librnnkit.so, installed into a scratch prefix)"
prefix=$(mktemp -d "${TMPDIR:-/tmp}/rnnkit-prefix.XXXXXX")
trap 'rm -rf "$prefix"' EXIT
RNNKIT_BIN_DIR=$(swift build --show-bin-path) bash scripts/install.sh "$prefix" >/dev/null
python3 -m pip install -q --disable-pip-version-check --no-build-isolation ./python
PKG_CONFIG_PATH="$prefix/lib/pkgconfig" RNNKIT_EXECUTABLE="$prefix/bin/rnnkit" python3 -m pytest -q python/tests
