"""CPU speed on a busy machine (issue 10): iterations/s of ``fit`` and of the book's loop,
on a quiet machine and with one competing process that keeps a core busy, in one run.

``fit`` chooses its BLAS threads from the step's size (one at the book's size); the book's
loop runs with NumPy's default (every core). ``fit`` with every core is shown beside them.
Runs are interleaved and the median of ``--repeats`` is reported.

    python benchmarks/contention.py                 # 784-50-10, batch 100, MNIST test digits
    python benchmarks/contention.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

import book_reference as book  # noqa: E402
import xpnet  # noqa: E402
from xpnet.datasets import load_mnist_t10k  # noqa: E402
from xpnet.train import fit  # noqa: E402


def _fit_rate(x, t, iters, threads):
    net = xpnet.TwoLayerNet(784, 50, 10, seed=0)
    h = fit(net, x, t, iters=iters, batch_size=100, lr=0.1, seed=0, progress=False, evaluate=False,
            blas_threads=threads)
    return h.iters_per_second


def _book_rate(x, t_hot, iters):
    net = book.TwoLayerNet(784, 50, 10, seed=0)
    np.random.seed(0)
    t0 = time.perf_counter()
    book.train_loop(net, x, t_hot, iters)
    return iters / (time.perf_counter() - t0)


class Busy:
    """One process spinning on a core (a laptop's browser, a compile...)."""

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(0.3)
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iters", type=int, default=1000, help="iterations per measurement")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", help="write the numbers here")
    args = p.parse_args(argv)
    (x, t), _ = load_mnist_t10k(dtype="float64", backend="numpy")
    t_hot = np.eye(10)[t]
    cores = os.cpu_count()
    print(f"machine: {platform.machine()}, {cores} cores; numpy {np.__version__}; {args.iters} iterations of "
          f"784-50-10, batch 100; median of {args.repeats} interleaved runs")
    rows = {"fit (xpnet's choice: 1 BLAS thread)": lambda: _fit_rate(x, t, args.iters, None),
            f"fit with {cores} BLAS threads": lambda: _fit_rate(x, t, args.iters, cores),
            "book's loop (NumPy default threads)": lambda: _book_rate(x, t_hot, args.iters)}
    rates = {name: {"quiet": [], "busy": []} for name in rows}
    for _ in range(args.repeats):
        for name, run in rows.items():
            rates[name]["quiet"].append(run())
        with Busy():
            for name, run in rows.items():
                rates[name]["busy"].append(run())
    print(f"{'':40} {'quiet it/s':>11} {'busy it/s':>10} {'busy/quiet':>11}")
    summary = {}
    for name, r in rates.items():
        q, b = statistics.median(r["quiet"]), statistics.median(r["busy"])
        summary[name] = {"quiet": q, "busy": b, "ratio": b / q, "runs": r}
        print(f"{name:40} {q:11,.0f} {b:10,.0f} {b / q:11.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"iters": args.iters, "cores": cores, "rows": summary}, fh, indent=1)


if __name__ == "__main__":
    main()
