"""Numerical-gradient speed, side by side in one run: the book's element loop, xpnet's
element loop, the batched path and the incremental path, for TwoLayerNet(784, 50, 10)
on a batch of 100 (float64), on the CPU and (when present) on CuPy.

    python benchmarks/numgrad_speed.py
    python benchmarks/numgrad_speed.py --smoke       # tiny net, CI smoke test
    python benchmarks/numgrad_speed.py --loop-fraction 0.05   # time part of the slow loops, extrapolate

Also checks every fast result against backprop (max relative difference).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import book_reference as book  # noqa: E402

import xpnet  # noqa: E402
from xpnet.backend import synchronize  # noqa: E402


def _time(fn, xp=None, repeat=3):
    best = float("inf")
    out = None
    for _ in range(repeat):
        if xp is not None:
            synchronize(xp)
        t0 = time.perf_counter()
        out = fn()
        if xp is not None:
            synchronize(xp)
        best = min(best, time.perf_counter() - t0)
    return best, out


def _rel(a, b):
    a, b = xpnet.to_numpy(a), xpnet.to_numpy(b)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


def book_loop_partial(net, x, t_hot, fraction):
    """The book's element loop over a fraction of W1's elements (plus all of b1, W2, b2);
    returns the time extrapolated to the full gradient."""
    n_w1 = net.params["W1"].size
    rows = max(1, int(round(net.params["W1"].shape[0] * fraction)))
    w1_part = net.params["W1"][:rows]  # a view: perturbing it perturbs W1
    loss_W = lambda W: net.loss(x, t_hot)  # noqa: E731
    t0 = time.perf_counter()
    book.numerical_gradient(loss_W, w1_part)
    t_w1 = (time.perf_counter() - t0) * n_w1 / w1_part.size
    t0 = time.perf_counter()
    for k in ("b1", "W2", "b2"):
        book.numerical_gradient(loss_W, net.params[k])
    return t_w1 + time.perf_counter() - t0, rows / net.params["W1"].shape[0]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--loop-fraction", type=float, default=1.0,
                   help="fraction of W1 rows the element loops run over (times are extrapolated)")
    p.add_argument("--gpu-loop-fraction", type=float, default=0.005)
    p.add_argument("--no-gpu", action="store_true")
    p.add_argument("--no-cpu", action="store_true", help="GPU rows only")
    p.add_argument("--skip-cpu-batched", action="store_true", help="the batched path is slow on a CPU")
    p.add_argument("--mnist-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                                    "shared", "data", "mnist"),
                   help="folder with MNIST's t10k files: adds rows on a batch of 100 real digits")
    p.add_argument("--out-dir", default=os.path.join("benchmarks", "out"))
    args = p.parse_args(argv)
    d, h, c, n = (20, 6, 4, 10) if args.smoke else (784, 50, 10, 100)
    rng = np.random.default_rng(0)
    x = rng.random((n, d))
    labels = rng.integers(0, c, n)
    hot = np.eye(c)[labels]
    rows = []
    backends = ([] if args.no_cpu else ["numpy"]) + (
        ["cupy"] if xpnet.backend_available("cupy") and not args.no_gpu else [])
    print(f"TwoLayerNet({d}, {h}, {c}), batch {n}, float64; "
          f"{d * h + h + h * c + c} parameters, 2 loss evaluations each")
    for backend in backends:
        xp = xpnet.get_namespace(backend)
        dev = xpnet.backend.device_name(xp)
        net = xpnet.TwoLayerNet(d, h, c, seed=0, backend=backend)
        xb, tb = xpnet.asarray(x, backend=backend), xpnet.asarray(labels, backend=backend)
        ref = net.gradient(xb, tb)
        frac = args.loop_fraction if backend == "numpy" else args.gpu_loop_fraction
        if backend == "numpy":
            bnet = book.TwoLayerNet(d, h, c)
            bnet.params = {k: v.copy() for k, v in net.params.items()}
            secs, used = book_loop_partial(bnet, x, hot, frac)
            rows.append({"backend": backend, "device": dev, "method": "book loop", "seconds": secs,
                         "note": "" if used >= 1 else f"timed on {used:.1%} of W1, extrapolated"})
            print(f"  {backend:6s} book loop        {secs:10.4f} s", flush=True)
        # xpnet's element loop (the reference path), possibly on part of W1
        part = max(1, int(round(d * frac)))
        sub = xpnet.TwoLayerNet(part, h, c, seed=0, backend=backend)
        xs = xb[:, :part] if part < d else xb
        t0 = time.perf_counter()
        sub.numerical_gradient(xs, tb, method="loop")
        synchronize(xp)
        loop_secs = (time.perf_counter() - t0) * (d * h + h + h * c + c) / (part * h + h + h * c + c)
        rows.append({"backend": backend, "device": dev, "method": "xpnet loop", "seconds": loop_secs,
                     "note": "" if part == d else f"timed on {part} of {d} inputs, extrapolated"})
        print(f"  {backend:6s} xpnet loop       {loop_secs:10.4f} s", flush=True)
        real = None
        if not args.smoke and os.path.exists(os.path.join(args.mnist_dir, "t10k-images-idx3-ubyte.gz")):
            from xpnet.datasets import load_mnist_t10k
            (xr, tr), _ = load_mnist_t10k(data_dir=args.mnist_dir, dtype="float64", backend=backend)
            real = (xr[:n, ...], tr[:n])
        if real is not None:
            xr, tr = real
            ref_r = net.gradient(xr, tr)
            net.numerical_gradient(xr, tr)
            secs, g = _time(lambda: net.numerical_gradient(xr, tr), xp)
            err = max(_rel(g[k], ref_r[k]) for k in ref_r)
            rows.append({"backend": backend, "device": dev, "method": "incremental", "seconds": secs,
                         "max_rel_vs_backprop": err, "note": "a batch of 100 real MNIST digits"})
            print(f"  {backend:6s} incremental (MNIST) {secs:8.4f} s   max rel diff vs backprop {err:.1e}", flush=True)
        for method in ("batched", "incremental"):
            if method == "batched" and backend == "numpy" and args.skip_cpu_batched:
                continue
            net.numerical_gradient(xb, tb, method=method)  # warm-up
            secs, g = _time(lambda: net.numerical_gradient(xb, tb, method=method), xp)
            err = max(_rel(g[k], ref[k]) for k in ref)
            rows.append({"backend": backend, "device": dev, "method": method, "seconds": secs,
                         "max_rel_vs_backprop": err, "note": "random dense inputs"})
            print(f"  {backend:6s} {method:16s} {secs:10.4f} s   max rel diff vs backprop {err:.1e}", flush=True)
    print()
    print(f"{'backend':7s} {'method':12s} {'s / gradient':>13s} {'vs book loop':>13s} {'10,000 iters':>13s}  note")
    base = next((r["seconds"] for r in rows if r["method"] == "book loop"), None)
    for r in rows:
        ratio = f"{base / r['seconds']:.0f}x" if base else "-"
        total = r["seconds"] * 10_000
        span = f"{total / 86400:.1f} days" if total > 86400 else f"{total / 60:.1f} min" if total > 120 else f"{total:.0f} s"
        print(f"{r['backend']:7s} {r['method']:12s} {r['seconds']:13.4f} {ratio:>13s} {span:>13s}  {r['note']}")
    os.makedirs(args.out_dir, exist_ok=True)
    path = os.path.join(args.out_dir, "numgrad_speed.json")
    with open(path + ".part", "w") as fh:
        json.dump({"size": [d, h, c, n], "rows": rows}, fh, indent=1)
    os.replace(path + ".part", path)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
