"""Sweeps (issue 13): net-iterations per second of K nets trained stacked (``fit_many``), one
after another (K ``fit`` calls), and in shards on a process pool, side by side in one run.

    python benchmarks/sweep_speed.py                       # K = 1, 4, 8, 16; 784-50-10, batch 100
    python benchmarks/sweep_speed.py --ks 1,4 --iters 200 --json out.json
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import platform
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

import numpy as np  # noqa: E402

import xpnet  # noqa: E402
from xpnet.datasets import load_mnist_t10k  # noqa: E402
from xpnet.train import fit  # noqa: E402


def _nets(k):
    return [xpnet.TwoLayerNet(784, 50, 10, seed=i) for i in range(k)]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ks", default="1,4,8,16")
    p.add_argument("--iters", type=int, default=500)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--json")
    args = p.parse_args(argv)
    (x, t), _ = load_mnist_t10k(dtype="float64", backend="numpy")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; numpy {np.__version__}; 784-50-10, batch 100, "
          f"{args.iters} iterations per net; net-iterations per second")
    rows = []
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(args.workers, mp_context=ctx) as pool:
        pool.submit(int, 0).result()  # start the workers before any clock
        for k in (int(v) for v in args.ks.split(",")):
            lrs, seeds = [0.1] * k, list(range(k))
            t0 = time.perf_counter()
            for i, net in enumerate(_nets(k)):
                fit(net, x, t, iters=args.iters, lr=lrs[i], seed=seeds[i], progress=False, evaluate=False)
            sequential = time.perf_counter() - t0
            t0 = time.perf_counter()
            xpnet.fit_many(_nets(k), x, t, lr=lrs, seed=seeds, iters=args.iters, evaluate=False)
            stacked = time.perf_counter() - t0
            t0 = time.perf_counter()
            xpnet.fit_many(_nets(k), x, t, lr=lrs, seed=seeds, iters=args.iters, evaluate=False,
                           executor=pool, shards=min(k, args.workers))
            pooled = time.perf_counter() - t0
            row = {"K": k, "sequential": k * args.iters / sequential, "stacked": k * args.iters / stacked,
                   "pool": k * args.iters / pooled}
            rows.append(row)
            print(f"K={k:3d}  sequential {row['sequential']:8,.0f}  stacked {row['stacked']:8,.0f} "
                  f"({row['stacked'] / row['sequential']:.2f}x)  process pool of {args.workers} "
                  f"{row['pool']:8,.0f} ({row['pool'] / row['sequential']:.2f}x)", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"iters": args.iters, "workers": args.workers, "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
