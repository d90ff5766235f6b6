"""How many times one ``fit`` call crosses from one xpnet module into another.

Traces one small ``fit`` (NumPy, the bundled digits, 200 iterations with two evaluations)
with ``sys.setprofile`` and counts the distinct call sites that cross a module boundary
inside xpnet (caller module -> callee module.function), and how many distinct functions
each module is entered by. Run it on two trees to compare a refactoring:

    PYTHONPATH=src python benchmarks/fit_trace.py
"""

from __future__ import annotations

import collections
import sys


def main():
    import numpy as np
    import xpnet
    from xpnet.datasets import load_mnist_t10k
    (x, t), (xt, tt) = load_mnist_t10k(dtype="float64", backend="numpy")
    net = xpnet.TwoLayerNet(784, 50, 10, seed=0, backend="numpy")
    xpnet.fit(net, x[:500], t[:500], iters=5, progress=False)  # warm: imports happen outside the trace
    crossings, entered = set(), collections.defaultdict(set)

    def profile(frame, event, arg):
        if event != "call":
            return
        callee = frame.f_globals.get("__name__", "")
        caller = frame.f_back.f_globals.get("__name__", "") if frame.f_back else ""
        if callee.startswith("xpnet") and caller.startswith("xpnet") and callee != caller:
            crossings.add((caller, callee, frame.f_code.co_name))
            entered[callee].add(frame.f_code.co_name)

    net = xpnet.TwoLayerNet(784, 50, 10, seed=0, backend="numpy")
    sys.setprofile(profile)
    try:
        xpnet.fit(net, x, t, xt, tt, iters=200, eval_every=100, seed=0, progress=False)
    finally:
        sys.setprofile(None)
    print(f"xpnet {xpnet.__version__} from {xpnet.__file__}")
    print(f"distinct module crossings in one fit: {len(crossings)}; modules entered: {len(entered)}")
    for module, names in sorted(entered.items(), key=lambda kv: -len(kv[1])):
        print(f"  {module:32s} entered by {len(names):2d} functions: {', '.join(sorted(names))}")
    if "-v" in sys.argv:
        for caller, callee, name in sorted(crossings):
            print(f"    {caller} -> {callee}.{name}")
    return np.nan


if __name__ == "__main__":
    main()
