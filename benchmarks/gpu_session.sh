#!/usr/bin/env bash
# The GPU check, the most important answer first, in under 8 minutes on one GPU:
#   bash benchmarks/gpu_session.sh OUTDIR        # on the GPU machine (no network needed)
#   bash benchmarks/gpu_session.sh --dry-run     # print the steps, their time limits and logs (any machine)
# Every step has its own time limit and log (OUTDIR/<step>.log) and one summary line in
# OUTDIR/summary.txt (ok, FAILED with the exit code, or TIMEOUT), so a step that is killed still
# leaves the others' answers. Carry .whl (array-api-compat and array-api-strict wheels) where the
# machine lacks them; benchmarks/gpu_setup.sh installs them.
set -u

# name | seconds | command   (in the order they run; the sum stays under 480 s)
STEPS=(
  "versions|25|nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; python3 -m xpnet info"
  "headline|100|bash benchmarks/gpu_headline.sh \"\$OUT\""
  "gpu-tests|80|python3 -m pytest -q -p no:cacheprovider -x tests/gpu"
  "suite-cupy|130|python3 -m pytest -q -p no:cacheprovider -k cupy tests --ignore=tests/gpu"
  "train-speed|75|python3 benchmarks/train_speed.py --sizes book --impls xpnet-numpy,xpnet-cupy,xpnet-cupy-plain,torch-cuda --out-dir \"\$OUT/speed\""
  "sweep-speed|60|python3 benchmarks/sweep_speed.py --backend cupy --ks 1,10,100 --iters 300 --no-pool --no-jax --out-dir \"\$OUT/sweep\""
)

if [ "${1:-}" = "--dry-run" ]; then
  total=0
  for step in "${STEPS[@]}"; do
    IFS='|' read -r name limit command <<< "$step"
    total=$((total + limit))
    printf '%-12s %4ss  log: OUTDIR/%s.log  %s\n' "$name" "$limit" "$name" "$command"
  done
  echo "total time limit: ${total}s"
  exit 0
fi

OUT=${1:-benchmarks/out}
export OUT
mkdir -p "$OUT"
source benchmarks/gpu_setup.sh > "$OUT/setup.log" 2>&1 || { echo "setup FAILED: see $OUT/setup.log"; exit 1; }
: > "$OUT/summary.txt"
for step in "${STEPS[@]}"; do
  IFS='|' read -r name limit command <<< "$step"
  start=$SECONDS
  timeout --kill-after=5 "$limit" bash -c "$command" > "$OUT/$name.log" 2>&1
  rc=$?
  took=$((SECONDS - start))
  case $rc in
    0) verdict="ok" ;;
    124|137) verdict="TIMEOUT after ${limit}s" ;;
    *) verdict="FAILED (exit code $rc)" ;;
  esac
  last=$(grep -v '^\s*$' "$OUT/$name.log" | tail -1 | cut -c1-160)
  echo "step $name: $verdict in ${took}s | $last" | tee -a "$OUT/summary.txt"
done
