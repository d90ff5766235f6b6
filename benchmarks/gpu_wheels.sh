#!/usr/bin/env bash
# The wheels the GPU check carries: what xpnet and its tests need that the GPU machine's image
# lacks (the image holds CuPy, NumPy, matplotlib, tqdm, scikit-learn, pytest, JAX, PyTorch).
# Made here, where the package registries can be reached; used by gpu_setup.sh there and by
# gpu_rehearsal.sh on a CPU machine:
#   bash benchmarks/gpu_wheels.sh [FOLDER]      # default .whl/
set -euo pipefail
CARRIED="array-api-compat array-api-strict threadpoolctl pytest-timeout"
folder=${1:-.whl}
mkdir -p "$folder"
# pure-Python wheels: one file each, for any Python 3 and any platform
# shellcheck disable=SC2086
python3 -m pip download --quiet --no-deps --only-binary :all: --dest "$folder" $CARRIED
ls "$folder"
