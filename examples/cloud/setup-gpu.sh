#!/usr/bin/env bash
# Set up Cadenza on a Linux machine with NVIDIA GPUs: a CUDA build of torch, then the
# README's `make setup`. Used by the SkyPilot tasks (setup:) and, once on every node, by the
# plain-cluster recipe. Run from anywhere; it works in the project folder it belongs to.
#
# Why torch comes first: the Makefile pins `torch==X` and is written for a laptop, where the
# pin resolves to a CPU wheel. Here torch X is installed first from PyTorch's CUDA index; pip
# ignores a local version label (+cu128) when it matches `==X`, so `make setup` finds the pin
# satisfied and keeps the CUDA build instead of replacing it.
#
# Environment (all optional):
#   PYTHON      the Python (3.10 or newer) that makes .venv        [python3]
#   TORCH_CUDA  the CUDA build of torch: the tag of a PyTorch wheel index (cu126, cu128, ...)
#               that the machine's driver supports (nvidia-smi shows the newest CUDA it runs)
#                                                                  [cu128]
#
# Ends with one line naming the GPUs torch sees, or one line saying why it sees none.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
PYTHON=${PYTHON:-python3}
TORCH_CUDA=${TORCH_CUDA:-cu128}

fail() {
    echo "error: $*" >&2
    exit 2
}

test -f Makefile || fail "no Makefile in $(pwd): run this script from a copy of the Cadenza project"
TORCH_VERSION=$(sed -n 's/^TORCH := torch==\([0-9.]*\)$/\1/p' Makefile)
test -n "$TORCH_VERSION" || fail "the Makefile no longer pins torch (TORCH := torch==X): update this script"
command -v "$PYTHON" >/dev/null || fail "no $PYTHON on this machine: set PYTHON to a Python 3.10 or newer"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
    || fail "$PYTHON is $("$PYTHON" --version 2>&1); Cadenza needs Python 3.10 or newer (set PYTHON)"
if ! command -v make >/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq make
fi

test -x .venv/bin/python || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
if ! .venv/bin/python -m pip install --quiet "torch==$TORCH_VERSION" \
        --index-url "https://download.pytorch.org/whl/$TORCH_CUDA"; then
    # PyPI's Linux x86-64 wheel of torch is a CUDA build too (for PyTorch's default CUDA)
    echo "torch $TORCH_VERSION is not on the $TORCH_CUDA index; taking PyPI's build" >&2
    .venv/bin/python -m pip install --quiet "torch==$TORCH_VERSION"
fi
make setup

.venv/bin/python - <<'EOF'
import sys

import torch

if not torch.cuda.is_available():
    sys.exit(f"error: torch {torch.__version__} sees no CUDA GPU (built for CUDA {torch.version.cuda}): "
             "check the driver with nvidia-smi, or set TORCH_CUDA to a build the driver supports")
names = sorted({torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())})
print(f"torch {torch.__version__}: {torch.cuda.device_count()} CUDA GPU(s): {', '.join(names)}")
EOF
