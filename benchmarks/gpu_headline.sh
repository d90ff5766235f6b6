#!/usr/bin/env bash
# The headline command on the GPU, fast path and plain path, against NumPy (same seed, the bundled
# digits); its last line compares their accuracies. Called by gpu_session.sh:
#   bash benchmarks/gpu_headline.sh OUTDIR
# CuPy's legs run first and every leg runs: a NumPy leg that fails cannot hide the GPU's answer.
set -u
out=${1:-benchmarks/out}
failed=0
for run in "cupy|--backend cupy" "cupy-plain|--backend cupy --plain" "numpy|--backend numpy"; do
  IFS='|' read -r name flags <<< "$run"
  if python3 examples/train.py --dataset mnist-t10k --seed 0 $flags --out "$out/headline-$name" --overwrite \
      --no-progress --no-plots > "$out/headline-$name.log" 2>&1; then
    tail -2 "$out/headline-$name.log" | head -1
  else
    echo "$name: exit code $?: $(tail -1 "$out/headline-$name.log")"
    failed=1
  fi
done
[ "$failed" = 0 ] || exit 1
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
final = {n: json.load(open(f"{out}/headline-{n}/metrics.json"))["epochs"][-1] for n in ("numpy", "cupy", "cupy-plain")}
worst = max(abs(final[n][k] - final["numpy"][k]) for n in ("cupy", "cupy-plain") for k in ("train_acc", "test_acc"))
line = " | ".join(f"{n} train {f['train_acc']:.4f} test {f['test_acc']:.4f}" for n, f in final.items())
print(f"headline: {line} | largest difference from NumPy {worst:.4f} ({'within' if worst <= 0.002 else 'PAST'} 0.002)")
sys.exit(0 if worst <= 0.002 else 1)
PY
