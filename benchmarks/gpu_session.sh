#!/usr/bin/env bash
# Everything that needs the GPU, in one go (for a lent GPU machine without network):
#   bash benchmarks/gpu_session.sh OUTDIR
# Carry .whl (wheels of array-api-compat, array-api-strict and threadpoolctl; the machine has CuPy,
# NumPy, PyTorch and pytest). MNIST's test files ship with xpnet (src/xpnet/datasets/data); .data/mnist
# may hold a copy for the commands below.
set -u
out=${1:-benchmarks/out}
mkdir -p "$out"
source benchmarks/gpu_setup.sh || exit 1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/speed.log"
timeout 240 python3 -m pytest -q -p no:cacheprovider tests > "$out/pytest.log" 2>&1
tail -3 "$out/pytest.log"
timeout 100 python3 examples/train.py --backend cupy --dataset mnist-t10k --data-dir .data/mnist --out "$out/run" \
    --no-progress > "$out/cli_backprop.log" 2>&1; tail -4 "$out/cli_backprop.log"
timeout 150 python3 examples/train.py --backend cupy --dataset mnist-t10k --data-dir .data/mnist --grad numerical \
    --out "$out/run_num" --no-progress > "$out/cli_numerical.log" 2>&1; tail -4 "$out/cli_numerical.log"
timeout 120 python3 benchmarks/numgrad_speed.py --loop-fraction 0.05 --gpu-loop-fraction 0.005 --out-dir "$out" \
    > "$out/numgrad.log" 2>&1; tail -9 "$out/numgrad.log"
timeout 240 python3 benchmarks/train_speed.py --impls book,xpnet-numpy,xpnet-cupy,xpnet-cupy-plain,torch-cpu,torch-cuda \
    --out-dir "$out" >> "$out/speed.log" 2>&1; tail -26 "$out/speed.log"
timeout 200 python3 benchmarks/train_speed.py --sizes book --impls xpnet-cupy,torch-cuda,torch-cuda-compile \
    --out-dir "$out/compile" > "$out/compile.log" 2>&1; tail -8 "$out/compile.log"
timeout 200 python3 benchmarks/sweep_speed.py --backend cupy --ks 1,10,100 --iters 1000 --no-pool \
    --out-dir "$out/sweep" > "$out/sweep.log" 2>&1; tail -6 "$out/sweep.log"
