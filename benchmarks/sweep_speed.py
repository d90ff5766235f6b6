"""Sweeps (issue 13), side by side in one run: net-iterations per second of K book-size nets
(784-50-10, batch 100) trained

* one after another (K ``fit`` calls: what a reader does first),
* stacked in one call (``fit_many``: on NumPy, members side by side on one thread per core,
  each with ``fit``'s own step; on JAX, the stacked step compiled and scanned),
* in shards on a local process pool (``fit_many(executor=...)``, what a cluster would run;
  the shards map the data from one file), and with ``--dask`` on a local Dask cluster (the
  data scattered to the workers once),
* with ``jax.vmap`` under ``jax.jit``, one compiled call per step: the peer a user would
  reach for (the same nets, the same mini-batches; compilation before the clock),

    python benchmarks/sweep_speed.py                          # K = 1, 4, 8, 16, 64, 256
    python benchmarks/sweep_speed.py --ks 1,8 --iters 100
    python benchmarks/sweep_speed.py --backend cupy --ks 1,10,100 --no-pool   # on a GPU
    python benchmarks/sweep_speed.py --smoke --out-dir /tmp/s  # tiny, CI (no timing claims)

Writes ``sweep_speed.json`` and ``sweep_speed.png`` to --out-dir. Times are wall clock of the
whole call (set-up included), except the JAX rows' compilation, done first on the same shapes.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import importlib.util
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
from xpnet.random import Rng  # noqa: E402
from xpnet.runloop import IndexStream, index_block  # noqa: E402
from xpnet.train import fit  # noqa: E402


def machine():
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            model = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, {os.cpu_count()} cores"


def _nets(k, shape, backend):
    return [xpnet.TwoLayerNet(*shape, seed=i, backend=backend) for i in range(k)]


def run_sequential(k, shape, data, iters, batch, backend):
    x, t = (xpnet.asarray(a, backend=backend) for a in data)
    fit(_nets(1, shape, backend)[0], x, t, iters=min(iters, 101), batch_size=batch, seed=0, progress=False,
        evaluate=False)  # warm-up (graphs and scans compiled)
    t0 = time.perf_counter()
    for i, net in enumerate(_nets(k, shape, backend)):
        fit(net, x, t, iters=iters, lr=0.1, seed=i, batch_size=batch, progress=False, evaluate=False)
    return time.perf_counter() - t0, None


def run_stacked(k, shape, data, iters, batch, backend, pool=None, shards=None):
    x, t = (xpnet.asarray(a, backend=backend) for a in data)
    if backend == "jax":  # the scans compiled for these shapes before the clock
        xpnet.fit_many(_nets(k, shape, backend), x, t, seed=list(range(k)), iters=min(iters, 101),
                       batch_size=batch, evaluate=False)
    nets = _nets(k, shape, backend)
    t0 = time.perf_counter()
    histories = xpnet.fit_many(nets, x, t, lr=0.1, seed=list(range(k)), iters=iters, batch_size=batch,
                               evaluate=False, executor=pool, shards=shards)
    return time.perf_counter() - t0, histories


def run_jax_vmap(k, shape, data, iters, batch):
    """K nets as a user writes them in JAX: one net's step (the book's pass, ``(y - t) / batch``),
    ``jax.vmap`` over the stacked parameters, rates and batches, ``jax.jit``, one call per step."""
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    x, labels = data
    X = jnp.asarray(x)
    T = jax.nn.one_hot(jnp.asarray(labels), shape[2], dtype=X.dtype)
    nets = _nets(k, shape, "numpy")
    params = tuple(jnp.asarray(np.stack([n.params[key] for n in nets])) for key in ("W1", "b1", "W2", "b2"))
    lrs = jnp.full((k,), 0.1, dtype=X.dtype)
    idx = np.stack([IndexStream(Rng(i), x.shape[0], batch, np, "cpu", block=index_block(iters, batch)).take(iters)
                    for i in range(k)], axis=1)  # (iters, K, batch): fit_many's batches
    idx = jnp.asarray(idx)

    def step(p, lr, i, X, T):
        W1, b1, W2, b2 = p
        xb, tb = X[i], T[i]
        z1 = jax.nn.sigmoid(xb @ W1 + b1)
        y = jax.nn.softmax(z1 @ W2 + b2, axis=-1)
        loss = -(tb * jnp.log(y + 1e-7)).sum() / batch
        dy = (y - tb) / batch
        dz1 = (dy @ W2.T) * z1 * (1 - z1)
        grads = (xb.T @ dz1, dz1.sum(0), z1.T @ dy, dy.sum(0))
        return tuple(a - lr * g for a, g in zip(p, grads)), loss

    vstep = jax.jit(jax.vmap(step, in_axes=(0, 0, 0, None, None)))
    jax.block_until_ready(vstep(params, lrs, idx[0], X, T))  # compile
    t0 = time.perf_counter()
    p, losses = params, []
    for i in range(iters):
        p, loss = vstep(p, lrs, idx[i], X, T)
        losses.append(loss)
    jax.block_until_ready((p, losses))
    return time.perf_counter() - t0, np.asarray(jnp.stack(losses))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ks", default="1,4,8,16,64,256", help="comma-separated numbers of nets")
    ap.add_argument("--iters", type=int, default=200, help="iterations per net")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--hidden", type=int, default=50)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="process-pool workers and shards")
    ap.add_argument("--backend", default="numpy", help="backend of the sequential and stacked rows")
    ap.add_argument("--no-pool", action="store_true")
    ap.add_argument("--no-jax", action="store_true")
    ap.add_argument("--dask", action="store_true", help="a row on a local Dask cluster of --workers processes")
    ap.add_argument("--smoke", action="store_true", help="K = 1, 2; 5 iterations; 16 hidden units")
    ap.add_argument("--out-dir", default=".")
    args = ap.parse_args(argv)
    if args.smoke:
        args.ks, args.iters, args.hidden = "1,2", 5, 16
    ks = [int(v) for v in args.ks.split(",")]
    (x, t), _ = load_mnist_t10k(dtype="float64", backend="numpy")
    data = (x, t)
    shape = (784, args.hidden, 10)
    have_jax = not args.no_jax and importlib.util.find_spec("jax") is not None
    methods = ["sequential", "stacked"] + ([] if args.no_pool else ["pool"]) + (["dask"] if args.dask else []) + \
        (["jax.vmap"] + (["xpnet-jax"] if args.backend != "jax" else []) if have_jax else [])
    print(f"machine: {machine()}; numpy {np.__version__}; xpnet on {args.backend}; 784-{args.hidden}-10, "
          f"batch {args.batch}, {args.iters} iterations per net, float64; net-iterations per second "
          f"(x: against the K nets one after another)", flush=True)
    print(f"{'K':>4} " + " ".join(f"{m:>20}" for m in methods), flush=True)
    rows = []
    ctx = multiprocessing.get_context("spawn")
    pool = None if args.no_pool else concurrent.futures.ProcessPoolExecutor(args.workers, mp_context=ctx)
    client = None
    if args.dask:  # shards get the data scattered once (Client.scatter), not with every task
        from dask.distributed import Client, LocalCluster
        client = Client(LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                                     dashboard_address=None))
    try:
        for executor in (pool, None if client is None else client.get_executor()):
            if executor is not None:  # workers started, xpnet imported in them, before any clock
                run_stacked(2, shape, data, 1, args.batch, "numpy", executor, 2)
        for k in ks:
            row, cells = {"K": k}, []
            stacked_losses = None
            for m in methods:
                if m == "sequential":
                    seconds, _ = run_sequential(k, shape, data, args.iters, args.batch, args.backend)
                elif m == "stacked":
                    seconds, hs = run_stacked(k, shape, data, args.iters, args.batch, args.backend)
                    stacked_losses = np.array([h.loss for h in hs]).T
                elif m == "pool":
                    seconds, _ = run_stacked(k, shape, data, args.iters, args.batch, "numpy", pool,
                                             min(k, args.workers))
                elif m == "dask":
                    seconds, _ = run_stacked(k, shape, data, args.iters, args.batch, "numpy", client.get_executor(),
                                             min(k, args.workers))
                elif m == "xpnet-jax":
                    seconds, _ = run_stacked(k, shape, data, args.iters, args.batch, "jax")
                else:
                    seconds, losses = run_jax_vmap(k, shape, data, args.iters, args.batch)
                    # the same work: the peer's losses against fit_many's (its dy is (y - t) / batch)
                    row["jax.vmap_loss_diff"] = float(np.max(np.abs(losses - stacked_losses)))
                row[m] = k * args.iters / seconds
                ratio = row[m] / row["sequential"]
                cells.append(f"{row[m]:>11,.0f} ({ratio:5.2f}x)")
            rows.append(row)
            print(f"{k:>4} " + " ".join(f"{c:>20}" for c in cells), flush=True)
    finally:
        if pool is not None:
            pool.shutdown()
        if client is not None:
            client.close()
    if "jax.vmap" in methods:
        print("jax.vmap: largest |loss difference| against fit_many's members, per K: "
              + ", ".join(f"{r['jax.vmap_loss_diff']:.1e}" for r in rows))
    os.makedirs(args.out_dir, exist_ok=True)
    result = {"machine": machine(), "backend": args.backend, "iters": args.iters, "batch": args.batch,
              "hidden": args.hidden, "workers": args.workers, "methods": methods, "rows": rows}
    with open(os.path.join(args.out_dir, "sweep_speed.json"), "w") as fh:
        json.dump(result, fh, indent=1)
    _plot(result, os.path.join(args.out_dir, "sweep_speed.png"))
    print(f"wrote {os.path.join(args.out_dir, 'sweep_speed.json')} and sweep_speed.png")


def _plot(result, path):
    from xpnet.plots import save_figure, subplots
    fig, ax = subplots()
    ks = [r["K"] for r in result["rows"]]
    for m in result["methods"]:
        ax.plot(ks, [r[m] for r in result["rows"]], marker="o", label=m)
    ax.set_xscale("log", base=2)
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_ylim(bottom=0)
    ax.set_xlabel("nets trained (K)")
    ax.set_ylabel("net-iterations per second")
    ax.set_title(f"K book-size nets, {result['machine']}", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    save_figure(fig, path)


if __name__ == "__main__":
    main()
