"""xpnet against the book's code on the CPU, at the book's size, in one run (issue 9).

1. ``TwoLayerNet.gradient`` called in a user's own loop: xpnet's net against the
   book's ``ch04/two_layer_net.py`` (one-hot MNIST batches of 100, as the book).
2. The book's ``ch04/train_neuralnet.py`` loop (gradient, update, loss; 2,000
   iterations by default) with the book's ``TwoLayerNet``, its ``common/`` names
   taken once from the book's own functions and once from xpnet's.

Both are interleaved finely (50 gradient calls of one, then of the other; the
training loops alternate iteration by iteration on the same mini-batches), so
the shared machine's noise hits both alike; each repeat gives one ratio and the
median of the repeats is reported. Compare within one run only.

    python benchmarks/cpu_speed.py                  # real MNIST digits if found, else random
    python benchmarks/cpu_speed.py --repeats 7 --iters 2000 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

import book_reference as book  # noqa: E402
import xpnet  # noqa: E402


def _data(n=8000):
    """Real MNIST test digits (bundled, placed or shared), else random pixels."""
    try:
        from xpnet.datasets import load_mnist_t10k
        (x, t), _ = load_mnist_t10k(one_hot_label=True, dtype="float64", backend="numpy", progress=False)
        return np.asarray(x[:n]), np.asarray(t[:n]), "MNIST test digits"
    except Exception:
        rng = np.random.default_rng(0)
        return rng.random((n, 784)), np.eye(10)[rng.integers(0, 10, n)], "random pixels"


def _time_gradients(nets, batches, block=50):
    """Seconds per gradient call of each net, alternating every ``block`` calls (and which goes first)."""
    total = [0.0] * len(nets)
    for start in range(0, len(batches), block):
        order = range(len(nets)) if (start // block) % 2 == 0 else reversed(range(len(nets)))
        for j in order:
            net = nets[j]
            t0 = time.perf_counter()
            for x, t in batches[start:start + block]:
                net.gradient(x, t)
            total[j] += time.perf_counter() - t0
    return [v / len(batches) for v in total]


def _time_train(nets, x, t, iters, seed, lr=0.1):
    """The train_neuralnet loop (gradient, update, loss) for each net, alternating iteration
    by iteration on the same mini-batches; seconds spent in each."""
    rng = np.random.RandomState(seed)
    total = [0.0] * len(nets)
    with np.errstate(over="ignore"):
        for i in range(iters):
            mask = rng.choice(x.shape[0], 100)
            xb, tb = x[mask], t[mask]
            for j in (range(len(nets)) if i % 2 == 0 else reversed(range(len(nets)))):
                net = nets[j]
                t0 = time.perf_counter()
                grad = net.gradient(xb, tb)
                for key in ("W1", "b1", "W2", "b2"):
                    net.params[key] -= lr * grad[key]
                net.loss(xb, tb)
                total[j] += time.perf_counter() - t0
    return total


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5, help="interleaved runs of each (median reported)")
    p.add_argument("--calls", type=int, default=300, help="gradient calls per timed run")
    p.add_argument("--iters", type=int, default=2000, help="train_neuralnet iterations per timed run")
    p.add_argument("--json", help="write the numbers here")
    args = p.parse_args(argv)

    x, t, source = _data()
    rng = np.random.default_rng(1)
    batches = [(x[i], t[i]) for i in (rng.integers(0, x.shape[0], 100) for _ in range(args.calls))]
    book_net = book.TwoLayerNet(784, 50, 10, seed=0)
    xp_net = xpnet.TwoLayerNet(784, 50, 10, seed=0)
    book_net.params = {k: np.array(v) for k, v in xp_net.params.items()}
    XpnetBookNet = book.two_layer_net_class(xpnet)

    try:
        from threadpoolctl import threadpool_info
        blas = ", ".join(f"{i.get('internal_api')} {i.get('num_threads')} threads" for i in threadpool_info()
                         if i.get("user_api") == "blas") or "unknown"
    except ImportError:
        blas = "threadpoolctl not installed"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}, BLAS {blas}; "
          f"data: {source}; median of {args.repeats} interleaved runs")

    grad = {"book": [], "xpnet": []}
    train = {"book": [], "xpnet": []}
    for r in range(args.repeats):
        for name, v in zip(("book", "xpnet"), _time_gradients([book_net, xp_net], batches)):
            grad[name].append(v)
        nets = [book.TwoLayerNet(784, 50, 10, seed=0), XpnetBookNet(784, 50, 10, seed=0)]
        for name, v in zip(("book", "xpnet"), _time_train(nets, x, t, args.iters, seed=r)):
            train[name].append(v)
    finals = {"book": nets[0].params, "xpnet": nets[1].params}
    ratio = lambda d: statistics.median(b / x for b, x in zip(d["book"], d["xpnet"]))  # noqa: E731
    gb, gx = statistics.median(grad["book"]), statistics.median(grad["xpnet"])
    tb, tx = statistics.median(train["book"]), statistics.median(train["xpnet"])
    diff = max(float(np.max(np.abs(finals["book"][k] - finals["xpnet"][k]))) for k in finals["book"])
    print(f"{'measurement':<58} {'book':>10} {'xpnet':>10} {'speed':>8}")
    print(f"{'TwoLayerNet.gradient, one call (batch 100)':<58} {gb * 1e6:8.0f}us {gx * 1e6:8.0f}us "
          f"{ratio(grad):7.2f}x")
    print(f"{f'train_neuralnet loop, {args.iters} iterations':<58} {tb:9.2f}s {tx:9.2f}s {ratio(train):7.2f}x")
    print("  (speed: the median over repeats of book time / xpnet time; above 1, xpnet is faster)")
    print(f"  (train_neuralnet with xpnet's functions ends {diff:.1e} from the book's parameters)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"gradient_seconds": grad, "train_seconds": train, "iters": args.iters,
                       "calls": args.calls, "data": source, "blas": blas, "max_param_diff": diff}, fh, indent=1)


if __name__ == "__main__":
    main()
