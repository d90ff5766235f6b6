#!/usr/bin/env bash
# The GPU check rehearsed on a CPU machine: a fresh virtual environment holding only what the GPU
# machine's image holds (CuPy aside), plus the wheels the check carries (made by gpu_wheels.sh, as
# for the GPU machine), then benchmarks/gpu_session.sh OUTDIR exactly as it runs there.
#   bash benchmarks/gpu_rehearsal.sh OUTDIR
# Passes when every step is reached and each ends "ok" or "needs a GPU"; never a traceback or a
# missing module in any step's log.
set -u
IMAGE_PACKAGES="numpy matplotlib tqdm scikit-learn pytest"   # the GPU image's, CuPy aside: listed once
out=${1:?usage: gpu_rehearsal.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
# shellcheck disable=SC2086
"$work/venv/bin/python" -m pip install --quiet $IMAGE_PACKAGES || { echo "rehearsal: could not install the image's packages"; exit 1; }
# the checkout as the GPU machine gets it: tracked and untracked files (no venvs, no build outputs)
mkdir -p "$work/tree"
(cd "$root" && git ls-files -co --exclude-standard -z \
    | python3 -c "import os, sys; print('\0'.join(p for p in sys.stdin.read().split('\0') if os.path.isfile(p)), end='')" \
    | xargs -0 cp --parents -t "$work/tree")
(cd "$work/tree" && PATH="$work/venv/bin:$PATH" bash benchmarks/gpu_wheels.sh .whl > "$out/wheels.log" 2>&1) \
    || { echo "rehearsal: gpu_wheels.sh failed (see $out/wheels.log)"; exit 1; }
(cd "$work/tree" && PATH="$work/venv/bin:$PATH" bash benchmarks/gpu_session.sh "$out")
bad=0
while IFS= read -r line; do
  case "$line" in
    *": ok "*|*": needs a GPU"*) ;;
    *) echo "rehearsal: not ok: $line"; bad=1 ;;
  esac
done < "$out/summary.txt"
steps=$(bash "$root/benchmarks/gpu_session.sh" --dry-run | grep -c ' log: ')
reached=$(grep -c '^step ' "$out/summary.txt")
[ "$reached" = "$steps" ] || { echo "rehearsal: $reached of $steps steps reached"; bad=1; }
if grep -l -E 'Traceback|ModuleNotFoundError|No module named' "$out"/*.log; then
  echo "rehearsal: a traceback or a missing module in the logs above"; bad=1
fi
[ "$bad" = 0 ] && echo "rehearsal: every step reached; each ok or needs a GPU"
exit "$bad"
