"""Training speed, side by side in one run: the book's NumPy loop, xpnet on NumPy,
xpnet on CuPy (CUDA-graph fast path, and the plain path), PyTorch eager on CPU and GPU.

    python benchmarks/train_speed.py                 # all sizes, float64 and float32
    python benchmarks/train_speed.py --smoke         # tiny sizes, CI smoke test (no timing claims)
    python benchmarks/train_speed.py --sizes book --dtypes float64

Prints a table with ratios against the book's loop and against PyTorch on the
same device, writes ``train_speed.json`` and ``train_speed.png`` to --out-dir.
The step is the book's chapter-4 step: 784-hidden-10, sigmoid, softmax,
cross-entropy, backprop, SGD, one mini-batch drawn per iteration.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import book_reference as book  # noqa: E402

import xpnet  # noqa: E402
from xpnet.train import fit  # noqa: E402

SIZES = {"book": (50, 100), "medium": (1000, 1000), "large": (4096, 4096), "smoke": (8, 16)}
# iterations timed per (size, cpu|gpu); the first value is what the targets refer to
ITERS = {("book", "cpu"): 2000, ("book", "gpu"): 10000, ("medium", "cpu"): 40, ("medium", "gpu"): 3000,
         ("large", "cpu"): 3, ("large", "gpu"): 300, ("smoke", "cpu"): 20, ("smoke", "gpu"): 20}
INPUT, OUTPUT = 784, 10


def flops_per_iter(hidden, batch):
    """Matrix-product FLOPs of one step: forward 2B(DH + HC), backward 2B(DH + 2HC)."""
    return 4 * batch * INPUT * hidden + 6 * batch * hidden * OUTPUT


def make_data(rows, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((rows, INPUT))
    labels = rng.integers(0, OUTPUT, rows)
    hot = np.zeros((rows, OUTPUT))
    hot[np.arange(rows), labels] = 1
    return x, labels, hot


def has_cupy():
    return xpnet.backend_available("cupy")


def torch_devices():
    try:
        import torch
    except ImportError:
        return []
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


# ------------------------------------------------------------------ runners

def rate(hidden):
    """The learning rate of every row at a hidden size: the book's 0.1 at its size, smaller for wider
    nets (5 / hidden), whose synthetic runs at 0.1 diverge within a few steps (xpnet's stop there)."""
    return min(0.1, 5.0 / hidden)


def run_book(hidden, batch, dtype, iters, data, lr=0.1):
    x, labels, hot = data
    x = x.astype(dtype)
    hot = hot.astype(dtype)
    net = book.TwoLayerNet(INPUT, hidden, OUTPUT, dtype=np.dtype(dtype))
    book.train_loop(net, x, hot, min(3, iters), batch, lr)  # warm-up
    t0 = time.perf_counter()
    book.train_loop(net, x, hot, iters, batch, lr)
    return {"seconds": time.perf_counter() - t0, "iters": iters}


def run_xpnet(backend, hidden, batch, dtype, iters, data, fast, lr=0.1):
    x, labels, _ = data
    xb = xpnet.asarray(x, dtype=dtype, backend=backend)
    tb = xpnet.asarray(labels, backend=backend)
    mem0 = _gpu_used() if backend == "cupy" else None
    net = xpnet.TwoLayerNet(INPUT, hidden, OUTPUT, seed=0, dtype=dtype, backend=backend)
    warm = min(iters, 250 if backend in ("cupy", "jax") else 3)  # graphs and scans: both shapes compiled
    fit(net, xb, tb, iters=warm, batch_size=batch, progress=False, fast=fast, seed=1, evaluate=False, lr=lr)
    h = fit(net, xb, tb, iters=iters, batch_size=batch, progress=False, fast=fast, seed=2, evaluate=False, lr=lr)
    if h.stopped:  # a rate of the steps before a stop is no rate of the run asked for
        raise RuntimeError(f"xpnet-{backend} at hidden {hidden} stopped: {h.stopped}")
    out = {"seconds": h.train_seconds, "iters": h.iterations}
    if backend == "cupy":
        out["gpu_mem_mb"] = (_gpu_used() - mem0) / 2**20
    return out


def run_jax(mode, hidden, batch, dtype, iters, data, lr=0.1):
    """The same step hand-written in JAX: one ``jax.jit`` call per step ("jit"), or all steps in
    one ``jax.lax.scan`` under ``jax.jit`` ("scan"). Mini-batch indices drawn up front on the host
    and placed once, as ``xpnet.fit`` does; compilation is done before the clock starts."""
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    x, labels, hot = data
    X, T = jnp.asarray(x, dtype=dtype), jnp.asarray(hot, dtype=dtype)
    rng = np.random.default_rng(0)
    params = (jnp.asarray(0.01 * rng.standard_normal((INPUT, hidden)), dtype=dtype), jnp.zeros(hidden, dtype),
              jnp.asarray(0.01 * rng.standard_normal((hidden, OUTPUT)), dtype=dtype), jnp.zeros(OUTPUT, dtype))
    idx = jnp.asarray(np.random.default_rng(1).integers(0, X.shape[0], (iters, batch)))

    def step(p, i):
        W1, b1, W2, b2 = p
        xb, tb = X[i], T[i]
        z1 = jax.nn.sigmoid(xb @ W1 + b1)
        y = jax.nn.softmax(z1 @ W2 + b2, axis=1)
        loss = -(tb * jnp.log(y + 1e-7)).sum() / batch
        dy = (y - tb) / batch
        dz1 = (dy @ W2.T) * z1 * (1 - z1)
        grads = (xb.T @ dz1, dz1.sum(0), z1.T @ dy, dy.sum(0))
        return tuple(a - lr * g for a, g in zip(p, grads)), loss

    if mode == "jit":
        jstep = jax.jit(step)
        p = params
        for k in range(min(5, iters)):  # compile and warm up
            p, _ = jstep(p, idx[k])
        jax.block_until_ready(p)
        t0 = time.perf_counter()
        p = params
        losses = []
        for k in range(iters):
            p, loss = jstep(p, idx[k])
            losses.append(loss)
        jax.block_until_ready((p, losses))
    else:
        run = jax.jit(lambda p, i: jax.lax.scan(step, p, i))
        jax.block_until_ready(run(params, idx))  # compile (same shapes) and warm up
        t0 = time.perf_counter()
        jax.block_until_ready(run(params, idx))
    return {"seconds": time.perf_counter() - t0, "iters": iters}


def _gpu_used():
    import cupy
    free, total = cupy.cuda.runtime.memGetInfo()
    return total - free


def run_torch(device, hidden, batch, dtype, iters, data, compiled=False, lr=0.1):
    """The same step hand-written in PyTorch, eager (in-place updates), or with the step as a
    function of the parameters under ``torch.compile`` (``mode="reduce-overhead"``, CUDA graphs,
    on a GPU); compilation is done before the clock starts."""
    import torch
    x, labels, hot = data
    tdt = getattr(torch, dtype)
    dev = torch.device(device)
    X = torch.as_tensor(x, dtype=tdt, device=dev)
    T = torch.as_tensor(hot, dtype=tdt, device=dev)
    g = torch.Generator(device="cpu").manual_seed(0)
    W1 = (0.01 * torch.randn(INPUT, hidden, generator=g, dtype=tdt)).to(dev)
    W2 = (0.01 * torch.randn(hidden, OUTPUT, generator=g, dtype=tdt)).to(dev)
    b1 = torch.zeros(hidden, dtype=tdt, device=dev)
    b2 = torch.zeros(OUTPUT, dtype=tdt, device=dev)
    n = X.shape[0]
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def steps(k):
        losses = []
        for _ in range(k):
            idx = torch.randint(0, n, (batch,), device=dev)
            xb, tb = X[idx], T[idx]
            a1 = xb @ W1 + b1
            z1 = torch.sigmoid(a1)
            y = torch.softmax(z1 @ W2 + b2, dim=1)
            losses.append(-(tb * torch.log(y + 1e-7)).sum() / batch)
            dy = (y - tb) / batch
            gW2, gb2 = z1.T @ dy, dy.sum(0)
            dz1 = (dy @ W2.T) * z1 * (1 - z1)
            gW1, gb1 = xb.T @ dz1, dz1.sum(0)
            W1.sub_(lr * gW1); b1.sub_(lr * gb1); W2.sub_(lr * gW2); b2.sub_(lr * gb2)
        return torch.stack(losses)

    if compiled:
        return _run_torch_compiled(torch, dev, (W1, b1, W2, b2), X, T, lr, batch, iters)
    with torch.no_grad():
        steps(min(20, iters))
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        losses = steps(iters)
        losses.cpu()
        seconds = time.perf_counter() - t0
    out = {"seconds": seconds, "iters": iters}
    if device == "cuda":
        out["gpu_mem_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def _run_torch_compiled(torch, dev, params, X, T, lr, batch, iters):
    n = X.shape[0]

    def step(W1, b1, W2, b2, idx):
        xb, tb = X[idx], T[idx]
        z1 = torch.sigmoid(xb @ W1 + b1)
        y = torch.softmax(z1 @ W2 + b2, dim=1)
        loss = -(tb * torch.log(y + 1e-7)).sum() / batch
        dy = (y - tb) / batch
        dz1 = (dy @ W2.T) * z1 * (1 - z1)
        return W1 - lr * (xb.T @ dz1), b1 - lr * dz1.sum(0), W2 - lr * (z1.T @ dy), b2 - lr * dy.sum(0), loss

    cuda = dev.type == "cuda"
    fn = torch.compile(step, mode="reduce-overhead" if cuda else None, fullgraph=True)

    def steps(p, k):
        losses = []
        for _ in range(k):
            idx = torch.randint(0, n, (batch,), device=dev)
            if cuda:
                torch.compiler.cudagraph_mark_step_begin()
            *out, loss = fn(*p, idx)
            p = [t.clone() for t in out] if cuda else out  # graph outputs are overwritten by the next replay
            losses.append(loss.clone() if cuda else loss)
        return p, torch.stack(losses)

    with torch.no_grad():
        p, _ = steps(list(params), min(20, iters))  # compile and warm up
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        p, losses = steps(p, iters)
        losses.cpu()
        seconds = time.perf_counter() - t0
    out = {"seconds": seconds, "iters": iters}
    if cuda:
        out["gpu_mem_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def matmul_peak(dtype):
    """Dense matmul TFLOP/s of the GPU for dtype (cuBLAS via CuPy, 8192^3, median of 10)."""
    import cupy
    n = 8192
    a = cupy.random.random((n, n)).astype(dtype)
    b = cupy.random.random((n, n)).astype(dtype)
    for _ in range(3):
        a @ b
    times = []
    start, end = cupy.cuda.Event(), cupy.cuda.Event()
    for _ in range(10):
        start.record()
        a @ b
        end.record()
        end.synchronize()
        times.append(cupy.cuda.get_elapsed_time(start, end) / 1e3)
    del a, b
    cupy.get_default_memory_pool().free_all_blocks()
    return 2 * n ** 3 / float(np.median(times)) / 1e12


# ------------------------------------------------------------------ main

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="book,medium,large", help="comma list of book, medium, large")
    p.add_argument("--dtypes", default="float64,float32")
    p.add_argument("--impls", default="book,xpnet-numpy,xpnet-cupy,xpnet-cupy-plain,torch-cpu,torch-cuda,"
                                      "torch-cpu-compile,torch-cuda-compile,xpnet-torch,xpnet-jax,jax-jit,jax-scan",
                   help="which rows (--smoke leaves out the torch.compile rows: their compilation takes minutes)")
    p.add_argument("--scale", type=float, default=1.0, help="multiply the iteration counts")
    p.add_argument("--train-rows", type=int, default=60000, help="rows of the synthetic training set")
    p.add_argument("--repeats", type=int, default=3, help="interleaved repeats of every row (median shown), default 3")
    p.add_argument("--smoke", action="store_true", help="tiny sizes and few iterations, one repeat (CI)")
    p.add_argument("--no-gpu", action="store_true", help="CPU rows only")
    p.add_argument("--fresh", action="store_true",
                   help="each timed run in a process of its own (no library's threads or caches left over from "
                        "the rows before: PyTorch's OpenMP threads, say)")
    p.add_argument("--one", help=argparse.SUPPRESS)  # IMPL:SIZE:DTYPE, one run, its row as JSON (for --fresh)
    p.add_argument("--out-dir", default=os.path.join("benchmarks", "out"))
    args = p.parse_args(argv)
    if args.one:
        impl, size, dt = args.one.split(":")
        r = _measure(p, args, impl, size, dt, make_data(args.train_rows), has_cupy() and not args.no_gpu,
                     torch_devices(), {})
        print(json.dumps(r))
        return 0
    sizes = ["smoke"] if args.smoke else args.sizes.split(",")
    for s in sizes:
        if s not in SIZES:
            p.error(f"--sizes: unknown size {s!r} (book, medium, large)")
    dtypes = args.dtypes.split(",")
    impls = args.impls.split(",")
    if args.smoke:
        impls = [i for i in impls if not i.endswith("-compile")]
    gpu = has_cupy() and not args.no_gpu
    tdevs = torch_devices()
    rows = 500 if args.smoke else args.train_rows
    data = make_data(rows)
    machine = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
               "cpu_count": os.cpu_count(), "numpy": np.__version__,
               "gpu": xpnet.backend.device_name(xpnet.get_namespace("cupy")) if gpu else None}
    print(f"machine: {machine['cpu_count']} CPU cores ({machine['processor']}); GPU: {machine['gpu'] or 'none'}")
    peaks = {}
    if gpu and not args.smoke:
        for dt in dtypes:
            peaks[dt] = matmul_peak(dt)
            print(f"dense matmul peak (cuBLAS, 8192^3, {dt}): {peaks[dt]:.1f} TFLOP/s")
    runs: dict = {}  # (size, dtype, impl) -> one result per repeat, in the order first measured
    for rep in range(1 if args.smoke else args.repeats):
        order = impls if rep % 2 == 0 else impls[::-1]  # interleaved: the machine's drift hits all alike
        for size in sizes:
            for dt in dtypes:
                for impl in order:
                    if args.fresh:
                        r = _measure_fresh(args, impl, size, dt, peaks)
                    else:
                        r = _measure(p, args, impl, size, dt, data, gpu, tdevs, peaks)
                    if r is not None:
                        runs.setdefault((size, dt, impl), []).append(r)
    keys = sorted(runs, key=lambda key: (sizes.index(key[0]), dtypes.index(key[1]), impls.index(key[2])))
    rows_out = [_median_row(runs[key]) for key in keys]
    _table(rows_out)
    os.makedirs(args.out_dir, exist_ok=True)
    result = {"machine": machine, "matmul_peak_tflops": peaks, "rows": rows_out,
              "flops_per_iter": {s: flops_per_iter(*SIZES[s]) for s in sizes}}
    path = os.path.join(args.out_dir, "train_speed.json")
    with open(path + ".part", "w") as fh:
        json.dump(result, fh, indent=1)
    os.replace(path + ".part", path)
    _chart(rows_out, os.path.join(args.out_dir, "train_speed.png"))
    print(f"wrote {path} and {os.path.join(args.out_dir, 'train_speed.png')}")
    return 0


def _measure(p, args, impl, size, dt, data, gpu, tdevs, peaks):
    """One timed run of ``impl`` at ``size`` and ``dt``: its row, or None where it cannot run here."""
    hidden, batch = SIZES[size]
    where = "gpu" if impl in ("xpnet-cupy", "xpnet-cupy-plain", "torch-cuda", "torch-cuda-compile") else "cpu"
    if where == "gpu" and not gpu:
        return None
    if impl.startswith("torch") and impl.split("-")[1] not in tdevs:
        return None
    if impl == "xpnet-torch" and not tdevs:
        return None
    if "jax" in impl and importlib.util.find_spec("jax") is None:
        return None
    iters = max(1, int(ITERS[(size, where)] * args.scale))
    if impl == "xpnet-cupy-plain":
        iters = max(1, iters // 10)
    lr = rate(hidden)
    runners = {
        "book": lambda: run_book(hidden, batch, dt, iters, data, lr),
        "xpnet-numpy": lambda: run_xpnet("numpy", hidden, batch, dt, iters, data, fast="auto", lr=lr),
        "xpnet-cupy": lambda: run_xpnet("cupy", hidden, batch, dt, iters, data, fast="auto", lr=lr),
        "xpnet-cupy-plain": lambda: run_xpnet("cupy", hidden, batch, dt, iters, data, fast=False, lr=lr),
        "xpnet-torch": lambda: run_xpnet("torch", hidden, batch, dt, iters, data, fast="auto", lr=lr),
        "xpnet-jax": lambda: run_xpnet("jax", hidden, batch, dt, iters, data, fast="auto", lr=lr),
    }
    if impl.startswith("torch"):
        runners[impl] = lambda: run_torch(impl.split("-")[1], hidden, batch, dt, iters, data,
                                          compiled=impl.endswith("-compile"), lr=lr)
    elif impl in ("jax-jit", "jax-scan"):
        runners[impl] = lambda: run_jax(impl.split("-")[1], hidden, batch, dt, iters, data, lr)
    if impl not in runners:
        p.error(f"--impls: unknown {impl!r}")
    try:
        r = runners[impl]()
    except Exception as exc:  # report and go on: one broken row must not hide the rest
        print(f"  {size} {dt} {impl}: FAILED {type(exc).__name__}: {exc}", file=sys.stderr)
        return None
    r.update(size=size, hidden=hidden, batch=batch, dtype=dt, impl=impl, device=where)
    r["it_s"] = r["iters"] / r["seconds"]
    r["tflops"] = r["it_s"] * flops_per_iter(hidden, batch) / 1e12
    if where == "gpu" and dt in peaks:
        r["of_matmul_peak"] = r["tflops"] / peaks[dt]
    print(f"  {size:6s} {dt:7s} {impl:17s} {r['it_s']:12,.1f} it/s  ({r['iters']} iters, {r['seconds']:.3f} s)",
          flush=True)
    return r


def _measure_fresh(args, impl, size, dt, peaks):
    """``_measure`` in a new Python process (its own data, the same seed): the row, or None."""
    cmd = [sys.executable, os.path.abspath(__file__), "--one", f"{impl}:{size}:{dt}", "--scale", str(args.scale),
           "--train-rows", str(500 if args.smoke else args.train_rows)] + (["--no-gpu"] if args.no_gpu else [])
    run = subprocess.run(cmd, capture_output=True, text=True)
    lines = run.stdout.strip().splitlines()
    if run.returncode != 0 or not lines or lines[-1] == "null":
        if run.returncode != 0:
            print(f"  {size} {dt} {impl}: FAILED in its own process: {run.stderr.strip()[-300:]}", file=sys.stderr)
        return None
    print("\n".join(lines[:-1]), flush=True)
    r = json.loads(lines[-1])
    if r.get("device") == "gpu" and dt in peaks:
        r["of_matmul_peak"] = r["tflops"] / peaks[dt]
    return r


def _median_row(rs):
    """One row of the repeats of one measurement: the median rate, each repeat's rate kept."""
    row = dict(rs[len(rs) // 2])
    row["it_s_runs"] = [r["it_s"] for r in rs]
    row["it_s"] = statistics.median(row["it_s_runs"])
    row["tflops"] = rs[0]["tflops"] * row["it_s"] / rs[0]["it_s"]
    return row


def _ratio(r, base):
    """``r`` against ``base``: the median of the repeat-by-repeat ratios (interleaved pairs) and their spread."""
    pairs = [a / b for a, b in zip(r["it_s_runs"], base["it_s_runs"])]
    return statistics.median(pairs), min(pairs), max(pairs)


def _shown(ratio):
    med, lo, hi = ratio
    return f"{med:.2f}x" if lo == hi else f"{med:.2f}x ({lo:.2f}-{hi:.2f})"


def _lookup(rows, size, dt, impl):
    for r in rows:
        if r["size"] == size and r["dtype"] == dt and r["impl"] == impl:
            return r
    return None


def _table(rows):
    print()
    repeats = len(rows[0]["it_s_runs"]) if rows else 0
    print(f"(each rate the median of {repeats} interleaved repeats; each ratio the median of the repeat-by-repeat "
          f"ratios, their range in brackets)")
    print(f"{'size':7s} {'dtype':8s} {'implementation':18s} {'it/s':>12s} {'vs book':>20s} {'vs torch':>20s} "
          f"{'TFLOP/s':>8s} {'of peak':>8s} {'GPU MiB':>8s}")
    for r in rows:
        base = _lookup(rows, r["size"], r["dtype"], "book")
        torch_same = _lookup(rows, r["size"], r["dtype"], "torch-cuda" if r["device"] == "gpu" else "torch-cpu")
        vb = _shown(_ratio(r, base)) if base else "-"
        vt = _shown(_ratio(r, torch_same)) if torch_same else "-"
        peak = f"{100 * r['of_matmul_peak']:.0f}%" if "of_matmul_peak" in r else "-"
        mem = f"{r['gpu_mem_mb']:.0f}" if "gpu_mem_mb" in r else "-"
        print(f"{r['size']:7s} {r['dtype']:8s} {r['impl']:18s} {r['it_s']:12,.1f} {vb:>20s} {vt:>20s} "
              f"{r['tflops']:8.3f} {peak:>8s} {mem:>8s}")
    for r in rows:
        scan = _lookup(rows, r["size"], r["dtype"], "jax-scan")
        if r["impl"] == "xpnet-jax" and scan:
            print(f"xpnet-jax / jax-scan, {r['size']} {r['dtype']}: {_shown(_ratio(r, scan))}")
    f64 = {r["size"]: r for r in rows if r["impl"] == "xpnet-numpy" and r["dtype"] == "float64"}
    for r in rows:
        if r["impl"] == "xpnet-numpy" and r["dtype"] == "float32" and r["size"] in f64:
            print(f"xpnet-numpy {r['size']}: float32 / float64 = {_shown(_ratio(r, f64[r['size']]))}")


def _chart(rows, path):
    from xpnet.plots import save_figure, subplots
    groups = sorted({(r["size"], r["dtype"]) for r in rows}, key=lambda g: (list(SIZES).index(g[0]), g[1]))
    impls = [i for i in ("book", "xpnet-numpy", "xpnet-torch", "xpnet-jax", "jax-jit", "jax-scan", "torch-cpu",
                         "torch-cpu-compile", "xpnet-cupy-plain", "torch-cuda", "torch-cuda-compile", "xpnet-cupy")
             if any(r["impl"] == i for r in rows)]
    fig, ax = subplots(figsize=(max(6, 1.8 * len(groups)), 4.5))
    width = 0.8 / max(1, len(impls))
    for j, impl in enumerate(impls):
        vals = [(_lookup(rows, s, d, impl) or {}).get("it_s", 0) for s, d in groups]
        ax.bar([i + j * width for i in range(len(groups))], vals, width, label=impl)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(groups))])
    ax.set_xticklabels([f"{s}\n{d}" for s, d in groups])
    rates = [r["it_s"] for r in rows if r["it_s"] > 0]
    if rates and max(rates) > 20 * min(rates):  # sizes far apart: a log scale; else bars from zero
        ax.set_yscale("log")
        ax.set_ylabel("training iterations / s (log)")
    else:
        ax.set_ylabel("training iterations / s")
    ax.set_title(f"xpnet training speed ({os.cpu_count()} CPU cores)" if not any(
        r.get("device") == "gpu" for r in rows) else "xpnet training speed")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)


if __name__ == "__main__":
    raise SystemExit(main())
