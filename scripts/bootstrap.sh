#!/usr/bin/env bash
# Installs what RNNKit needs on a fresh Debian machine (run as root). Idempotent.
set -euo pipefail
need_apt=()
packages=(libhdf5-dev libopenblas0 pkg-config zip unzip gcc libasan8)
# Test mode: the report tests render pages in Debian's headless Chromium (driven over the DevTools
# pipe from Python's standard library, so no PyPI package is needed for it).
if [ "${1:-}" = "--python" ]; then packages+=(chromium); fi
for pkg in "${packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "bootstrap: installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if [ "${1:-}" = "--python" ]; then
  PY=${PYTHON:-python3}
  if ! KERAS_BACKEND=jax "$PY" -c "import h5py, keras, jax, onnxruntime, onnx, safetensors, numpy, xxhash, pytest, torch" >/dev/null 2>&1; then
    echo "bootstrap: installing Python test clients"
    "$PY" -m pip install -q --disable-pip-version-check -r "$(dirname "$0")/requirements.txt"
  fi
  # TensorFlow and tf2onnx live in their own virtual environment: they pin numpy and protobuf to
  # versions the clients above do not take. Skipped when it is there and imports.
  venv="$(cd "$(dirname "$0")/.." && pwd)/.venv-tf2onnx"
  if ! TF_CPP_MIN_LOG_LEVEL=3 "$venv/bin/python" -c "import tensorflow, tf2onnx" >/dev/null 2>&1; then
    echo "bootstrap: creating .venv-tf2onnx (TensorFlow and tf2onnx, about 1.3 GB)"
    rm -rf "$venv"
    if ! "$PY" -m venv "$venv" >/dev/null 2>&1; then
      # Debian's own python3 needs python3-venv for ensurepip.
      rm -rf "$venv"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq python3-venv >/dev/null
      "$PY" -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install -q --disable-pip-version-check \
      -r "$(dirname "$0")/requirements-tf2onnx.txt"
  fi
fi
