#!/usr/bin/env bash
# Install cosmos-env and everything it needs on a fresh machine (idempotent; ~1-2 min).
#   bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

# Headless MuJoCo rendering needs an EGL (or OSMesa) library from the system.
if ! ldconfig -p 2>/dev/null | grep -qE 'libEGL\.so|libOSMesa\.so'; then
  echo "setup: installing EGL for headless MuJoCo rendering"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq libegl1 libgl1 libosmesa6 >/dev/null
fi

# torch first, pinned to its CPU build: a plain `torch` requirement resolved later would pull
# PyPI's multi-GB CUDA build instead. Our CPU machines serve 2.13.0+cpu from a local wheel;
# elsewhere it comes from PyTorch's CPU index. A torch 2.13.0 already installed (a CUDA
# machine's own build) is kept.
if ! $PY -c 'import torch, sys; sys.exit(torch.__version__.split("+")[0] != "2.13.0")' 2>/dev/null; then
  $PY -m pip install -q "torch==2.13.0+cpu" 2>/dev/null \
    || $PY -m pip install -q "torch==2.13.0+cpu" --extra-index-url https://download.pytorch.org/whl/cpu
fi
$PY -m pip install -q -e ".[dev]"
# natten is optional (the neighborhood-attention kernels on CUDA); it builds from source
# against the installed torch, hence --no-build-isolation. Everything works without it.
$PY -m pip install -q --no-build-isolation "natten==0.21.7" \
  || echo "setup: natten did not install; attention uses the torch path"
command -v pyenv >/dev/null && pyenv rehash || true  # expose the cosmos-env script
echo "setup: done ($($PY -c 'import cosmos_env, torch, mujoco; print("cosmos-env", cosmos_env.__version__, "torch", torch.__version__, "mujoco", mujoco.__version__)'))"
