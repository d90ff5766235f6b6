# Source on a GPU machine without network: installs carried wheels (.whl/, made by
# benchmarks/gpu_wheels.sh) into /tmp/site and points Python at them and at src/.
# It never stops the check: what is missing is said here, and each step says what it lacks.
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        || echo "setup: installing .whl/ failed (the steps will name what is missing)"
else
    echo "setup: no .whl/ folder (make it with: bash benchmarks/gpu_wheels.sh)"
fi
export PYTHONPATH="$PWD/src:/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg
[ -d .data/mnist ] && export XPNET_TEST_MNIST_DIR="$PWD/.data/mnist"
python3 - <<'PY'
import importlib
for name in ("cupy", "numpy", "array_api_compat", "array_api_strict", "matplotlib", "tqdm", "threadpoolctl", "pytest"):
    try:
        print(name, getattr(importlib.import_module(name), "__version__", "?"))
    except ImportError:  # reported, not fatal: the steps that need it say so
        print(name, "is not installed")
    except Exception as exc:  # installed but broken (a CUDA library missing, say)
        print(name, "cannot be imported:", exc)
PY
true
