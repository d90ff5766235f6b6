# Source on a GPU machine without network: installs carried wheels (.whl/) into
# /tmp/site and points Python at them and at src/. See benchmarks/RESULTS.md.
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || return 1
fi
export PYTHONPATH="$PWD/src:/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg
[ -d .data/mnist ] && export XPNET_TEST_MNIST_DIR="$PWD/.data/mnist"
python3 -c "import cupy, numpy, array_api_compat, array_api_strict; print('cupy', cupy.__version__, 'numpy', numpy.__version__, 'array-api-compat', array_api_compat.__version__)"
