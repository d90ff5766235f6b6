"""Two source trees of xpnet side by side on the CPU: is a refactoring slower?

Runs the same work under each tree's ``src`` in fresh processes, alternating old and new
``--repeats`` times (interleaved, so a shared machine's noise hits both alike), and prints
the median seconds of each and their ratio:

* ``fit``: the book's run on the bundled digits (8,000 images, batch 100, 2,000
  iterations, accuracy evaluated every epoch), NumPy, float64;
* ``fit_many``: 8 nets of the book's size, 200 iterations each (members side by side);
* ``gradient``: 300 calls of ``TwoLayerNet.gradient`` on a batch of 100 (a user's loop).

    python benchmarks/compare_trees.py --old /tmp/xpnet-main/src --new src --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys

WORK = r'''
import json, sys, time
import numpy as np
import xpnet
from xpnet.datasets import load_mnist_t10k
(x, t), (xt, tt) = load_mnist_t10k(dtype="float64", backend="numpy")
out = {}
net = xpnet.TwoLayerNet(784, 50, 10, seed=0, backend="numpy")
xpnet.fit(net, x, t, iters=20, progress=False)  # warm
net = xpnet.TwoLayerNet(784, 50, 10, seed=0, backend="numpy")
t0 = time.perf_counter()
h = xpnet.fit(net, x, t, xt, tt, iters=2000, seed=0, progress=False)
out["fit"] = time.perf_counter() - t0
out["fit_acc"] = h.final["test_acc"]
nets = [xpnet.TwoLayerNet(784, 50, 10, seed=i, backend="numpy") for i in range(8)]
t0 = time.perf_counter()
xpnet.fit_many(nets, x, t, lr=0.1, seed=list(range(8)), iters=200, evaluate=False, progress=False)
out["fit_many"] = time.perf_counter() - t0
net = xpnet.TwoLayerNet(784, 50, 10, seed=0, backend="numpy")
xb, tb = x[:100], t[:100]
t0 = time.perf_counter()
for _ in range(300):
    net.gradient(xb, tb)
out["gradient"] = time.perf_counter() - t0
print(json.dumps(out))
'''


def run(src):
    env = {**os.environ, "PYTHONPATH": os.path.abspath(src), "TQDM_DISABLE": "1"}
    done = subprocess.run([sys.executable, "-c", WORK], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", required=True, help="the old tree's src folder")
    ap.add_argument("--new", default="src", help="the new tree's src folder")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", help="write the numbers here")
    args = ap.parse_args()
    runs = {"old": [], "new": []}
    for r in range(args.repeats):
        for name in (("old", "new") if r % 2 == 0 else ("new", "old")):
            runs[name].append(run(getattr(args, name)))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"median of {args.repeats} interleaved runs each (seconds; ratio new/old, below 1 = faster)")
    print(f"{'work':<10} {'old':>8} {'new':>8} {'new/old':>8}  {'per-pair new/old (min-max)':>26}")
    table = {}
    for key in ("fit", "fit_many", "gradient"):
        old = statistics.median(r[key] for r in runs["old"])
        new = statistics.median(r[key] for r in runs["new"])
        pairs = [n[key] / o[key] for o, n in zip(runs["old"], runs["new"])]  # the spread, pair by pair
        table[key] = {"old": old, "new": new, "ratio": new / old, "pairs": pairs}
        print(f"{key:<10} {old:8.3f} {new:8.3f} {new / old:8.3f}  {min(pairs):12.3f} - {max(pairs):.3f}")
    same = {r["fit_acc"] for r in runs["old"] + runs["new"]}
    print(f"fit's final test accuracy, every run of both trees: {sorted(same)}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"runs": runs, "table": table}, fh, indent=1)


if __name__ == "__main__":
    main()
