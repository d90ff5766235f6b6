"""CPU speed on a busy machine (issue 10): iterations/s of ``fit`` and of the book's loop,
on a quiet machine and with one competing process that keeps a core busy, in one run.

``fit`` measures its BLAS threads on its own step (one thread or every core, looked at again
when the rate moves); it is shown beside ``fit`` with each fixed choice (one thread, every
core) and the book's loop with NumPy's default (every core). Runs are interleaved and the
median of ``--repeats`` is reported, with the measured choice against the better fixed one
(issue 28: it should never lose more than 5%).

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


def _fit_rate(x, t, iters, threads, chosen=None):
    net = xpnet.TwoLayerNet(784, 50, 10, seed=0, dtype=x.dtype)
    h = fit(net, x, t, iters=iters, batch_size=100, lr=0.1, seed=0, progress=False, evaluate=False,
            blas_threads=threads)
    if chosen is not None:
        chosen.append(h.config.get("blas_threads_measured"))
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
    p.add_argument("--dtypes", default="float64,float32")
    p.add_argument("--json", help="write the numbers here")
    args = p.parse_args(argv)
    (x64, t), _ = load_mnist_t10k(dtype="float64", backend="numpy")
    t_hot = np.eye(10)[t]
    cores = os.cpu_count()
    print(f"machine: {platform.machine()}, {cores} cores; numpy {np.__version__}; {args.iters} iterations of "
          f"784-50-10, batch 100; median of {args.repeats} interleaved runs")
    summary, choices = {}, {}
    for dt in args.dtypes.split(","):
        x = x64.astype(dt)
        chosen = choices.setdefault(dt, {"quiet": [], "busy": []})
        rows = {"fit (measured threads)": lambda state: _fit_rate(x, t, args.iters, None, chosen[state]),
                "fit with 1 BLAS thread": lambda state: _fit_rate(x, t, args.iters, 1),
                f"fit with {cores} BLAS threads": lambda state: _fit_rate(x, t, args.iters, cores)}
        if dt == "float64":
            rows["book's loop (NumPy default threads)"] = lambda state: _book_rate(x, t_hot, args.iters)
        rates = {name: {"quiet": [], "busy": []} for name in rows}
        for rep in range(args.repeats):
            order = list(rows.items()) if rep % 2 == 0 else list(rows.items())[::-1]
            for name, run in order:
                rates[name]["quiet"].append(run("quiet"))
            with Busy():
                for name, run in order:
                    rates[name]["busy"].append(run("busy"))
        print(f"\n{dt:40} {'quiet it/s':>11} {'busy it/s':>10} {'busy/quiet':>11}")
        for name, r in rates.items():
            q, b = statistics.median(r["quiet"]), statistics.median(r["busy"])
            summary[f"{dt} {name}"] = {"quiet": q, "busy": b, "ratio": b / q, "runs": r}
            print(f"{name:40} {q:11,.0f} {b:10,.0f} {b / q:11.2f}")
        for state in ("quiet", "busy"):
            best = max(statistics.median(rates[n][state]) for n in rates if n.startswith("fit with"))
            got = statistics.median(rates["fit (measured threads)"][state])
            picks = [c[-1][1] if c else None for c in chosen[state]]
            print(f"{dt}, {state}: measured / best fixed = {got / best:.3f}x (threads chosen: {picks})")
            summary[f"{dt} measured/best fixed, {state}"] = {"ratio": got / best, "chosen": chosen[state]}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"iters": args.iters, "cores": cores, "rows": summary}, fh, indent=1)


if __name__ == "__main__":
    main()
