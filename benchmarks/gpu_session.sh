#!/usr/bin/env bash
# The GPU check, the most important answer first, in under 7 minutes on one GPU:
#   bash benchmarks/gpu_session.sh OUTDIR        # on the GPU machine (no network needed)
#   bash benchmarks/gpu_session.sh --dry-run     # print the steps, their time limits and logs (any machine)
#   bash benchmarks/gpu_rehearsal.sh OUTDIR      # rehearse it on a CPU machine first
# Every step has its own time limit and log (OUTDIR/<step>.log) and one line in OUTDIR/summary.txt:
# ok, FAILED with the exit code, TIMEOUT, or "needs a GPU" where there is none (the pytest steps
# still run there, every case skipping: an import that fails is still caught). Carry .whl/
# (benchmarks/gpu_wheels.sh makes it); benchmarks/gpu_setup.sh installs it.
set -u

# name | seconds | kind | command   (in the order they run; the sum stays under 420 s)
# kind: any (runs anywhere), gpu (needs CuPy and a CUDA device), tests (runs anywhere; cases skip without one)
STEPS=(
  "versions|45|any|(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo 'no nvidia-smi'); python3 -m xpnet info"
  "headline|100|gpu|bash benchmarks/gpu_headline.sh \"\$OUT\""
  "gpu-tests|80|tests|python3 -m pytest -q -p no:cacheprovider -rs tests/gpu"
  "suite-cupy|100|tests|python3 -m pytest -q -p no:cacheprovider -k cupy tests --ignore=tests/gpu"
  "train-speed|60|gpu|python3 benchmarks/train_speed.py --sizes book --impls xpnet-numpy,xpnet-cupy,xpnet-cupy-plain,torch-cuda --out-dir \"\$OUT/speed\""
  "sweep-speed|35|gpu|python3 benchmarks/sweep_speed.py --backend cupy --ks 1,10,100 --iters 300 --no-pool --no-jax --out-dir \"\$OUT/sweep\""
)

if [ "${1:-}" = "--dry-run" ]; then
  total=0
  for step in "${STEPS[@]}"; do
    IFS='|' read -r name limit kind command <<< "$step"
    total=$((total + limit))
    printf '%-12s %4ss  log: OUTDIR/%s.log  (%s)  %s\n' "$name" "$limit" "$name" "$kind" "$command"
  done
  echo "total time limit: ${total}s"
  exit 0
fi

OUT=${1:-benchmarks/out}
export OUT
mkdir -p "$OUT"
# shellcheck disable=SC1091
source benchmarks/gpu_setup.sh > "$OUT/setup.log" 2>&1
gpu=$(python3 - 2>&1 <<'PY' | tail -1
try:
    import cupy
except ImportError:
    print("CuPy is not installed")
else:
    try:
        print("yes" if cupy.cuda.runtime.getDeviceCount() else "no CUDA device")
    except Exception as exc:  # no driver, no device
        print(f"no CUDA device ({str(exc)[:100]})")
PY
)
: > "$OUT/summary.txt"
for step in "${STEPS[@]}"; do
  IFS='|' read -r name limit kind command <<< "$step"
  start=$SECONDS
  if [ "$kind" = gpu ] && [ "$gpu" != yes ]; then
    echo "needs a GPU: $gpu" > "$OUT/$name.log"
    echo "step $name: needs a GPU ($gpu)" | tee -a "$OUT/summary.txt"
    continue
  fi
  timeout --kill-after=5 "$limit" bash -c "$command" > "$OUT/$name.log" 2>&1
  rc=$?
  took=$((SECONDS - start))
  case $rc in
    0) verdict="ok" ;;
    124|137) verdict="TIMEOUT after ${limit}s" ;;
    *) verdict="FAILED (exit code $rc)" ;;
  esac
  if [ "$kind" = tests ] && [ "$gpu" != yes ] && [ "$rc" = 0 ]; then
    verdict="needs a GPU (every case ran to its skip: no import failed)"
  fi
  last=$(grep -v '^\s*$' "$OUT/$name.log" | tail -1 | cut -c1-160)
  echo "step $name: $verdict in ${took}s | $last" | tee -a "$OUT/summary.txt"
done
