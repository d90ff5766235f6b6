"""Training speed against the hidden layer's size, side by side in one run: where each wins.

    python benchmarks/scaling.py                          # hidden 50 to 4,096, float64 and float32
    python benchmarks/scaling.py --hidden 50,500 --repeats 3 --dtypes float64

Rows: xpnet on NumPy (its own BLAS thread choice), PyTorch eager on the CPU, and a hand-written
``jax.lax.scan`` (``train_speed.py``'s runners, the same step: 784-hidden-10, batch 100). Each
point is the median of ``--repeats`` interleaved runs (the order reversed every other repeat);
about a second of training each, at ``train_speed.rate(hidden)`` (0.1 at the book's size,
smaller for wider nets, which diverge at 0.1 on the synthetic data: xpnet stops a diverged run). Prints the table, writes ``scaling.json`` and ``scaling.png``
(iterations/s against hidden size, log-log) to --out-dir.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_speed as ts  # noqa: E402

IMPLS = ("xpnet-numpy", "torch-cpu", "jax-scan")


def iterations(hidden, smoke=False):
    """About a second of training on a 2-core CPU: 2,000 steps at the book's size, 24 at 4,096."""
    return 20 if smoke else max(10, int(100_000 / hidden))


def runner(impl, hidden, dtype, data, smoke=False):
    iters, lr = iterations(hidden, smoke), ts.rate(hidden)
    if impl == "xpnet-numpy":
        return lambda: ts.run_xpnet("numpy", hidden, 100, dtype, iters, data, fast="auto", lr=lr)
    if impl == "torch-cpu":
        return lambda: ts.run_torch("cpu", hidden, 100, dtype, iters, data, lr=lr)
    return lambda: ts.run_jax("scan", hidden, 100, dtype, iters, data, lr)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hidden", default="50,100,200,500,1000,2000,4096", help="comma list of hidden sizes")
    p.add_argument("--dtypes", default="float64,float32")
    p.add_argument("--impls", default=",".join(IMPLS))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--train-rows", type=int, default=10_000)
    p.add_argument("--smoke", action="store_true", help="hidden 8 and 16, 20 steps, one repeat (CI; no timing claims)")
    p.add_argument("--out-dir", default=os.path.join("benchmarks", "out"))
    args = p.parse_args(argv)
    if args.smoke:
        args.hidden, args.repeats, args.train_rows = "8,16", 1, 500
    hidden = [int(h) for h in args.hidden.split(",")]
    impls = [i for i in args.impls.split(",") if i != "torch-cpu" or importlib.util.find_spec("torch")]
    impls = [i for i in impls if i != "jax-scan" or importlib.util.find_spec("jax")]
    dtypes = args.dtypes.split(",")
    data = ts.make_data(args.train_rows)
    print(f"machine: {os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}); "
          f"median of {args.repeats} interleaved runs")
    rates = {}
    for rep in range(args.repeats):
        order = impls if rep % 2 == 0 else impls[::-1]
        for h in hidden:
            for dt in dtypes:
                for impl in order:
                    r = runner(impl, h, dt, data, args.smoke)()
                    rates.setdefault((impl, h, dt), []).append(r["iters"] / r["seconds"])
    rows = [{"impl": i, "hidden": h, "dtype": d, "it_s": statistics.median(v), "runs": v}
            for (i, h, d), v in sorted(rates.items(), key=lambda kv: (kv[0][2], kv[0][1], impls.index(kv[0][0])))]
    print(f"{'dtype':8} {'hidden':>6} " + " ".join(f"{i:>12}" for i in impls) + "   xpnet/torch  xpnet/jax-scan")
    for dt in dtypes:
        for h in hidden:
            got = {i: statistics.median(rates[(i, h, dt)]) for i in impls}
            ratios = "  ".join(f"{got['xpnet-numpy'] / got[o]:12.2f}x" if o in got else f"{'-':>13}"
                               for o in ("torch-cpu", "jax-scan"))
            print(f"{dt:8} {h:6d} " + " ".join(f"{got[i]:12,.1f}" for i in impls) + "  " + ratios)
    os.makedirs(args.out_dir, exist_ok=True)
    path = os.path.join(args.out_dir, "scaling.json")
    with open(path, "w") as fh:
        json.dump({"machine": {"cpu_count": os.cpu_count(), "processor": platform.processor()}, "rows": rows},
                  fh, indent=1)
    chart(rows, impls, dtypes, os.path.join(args.out_dir, "scaling.png"))
    print(f"wrote {path} and {os.path.join(args.out_dir, 'scaling.png')}")
    return 0


def chart(rows, impls, dtypes, path):
    from xpnet.plots import save_figure, subplots

    fig, axes = subplots(1, len(dtypes), figsize=(5.5 * len(dtypes), 4.2), squeeze=False)
    for ax, dt in zip(axes[0], dtypes):
        for impl in impls:
            pts = [(r["hidden"], r["it_s"]) for r in rows if r["impl"] == impl and r["dtype"] == dt]
            ax.plot([h for h, _ in pts], [v for _, v in pts], marker="o", label=impl)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("hidden units (784-hidden-10, batch 100)")
        ax.set_ylabel("training iterations / s")
        ax.set_title(f"{dt}, {os.cpu_count()} CPU cores")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


if __name__ == "__main__":
    raise SystemExit(main())
