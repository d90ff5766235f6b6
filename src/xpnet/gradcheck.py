"""Gradient check: backpropagation against central differences."""

from __future__ import annotations

import sys
from typing import Any

from .backend import to_numpy


def gradient_check(
    net: Any, x: Any, t: Any, method: str = "incremental", file: Any = None, bounds: bool = False
) -> dict[str, dict]:
    """Print, per parameter, how far backprop is from the numerical gradient.

    Args:
        net: a TwoLayerNet.
        x: a (small) batch.
        t: its labels.
        method: numerical method (see ``TwoLayerNet.numerical_gradient``).
        file: where to print (stdout by default; ``False`` prints nothing).
        bounds: print each number as the power of ten above it (``< 1e-12``): what
            stays the same on every machine, where the digits depend on the BLAS.

    Returns:
        dict ``{name: {"mean_abs": ..., "max_abs": ..., "max_rel": ...}}``.
    """
    import numpy as np

    backprop = net.gradient(x, t)
    numeric = net.numerical_gradient(x, t, method=method)
    out = {}
    for k in backprop:
        b, n = to_numpy(backprop[k]), to_numpy(numeric[k])
        diff = np.abs(b - n)
        scale = max(float(np.max(np.abs(n))), 1e-300)
        out[k] = {"mean_abs": float(diff.mean()), "max_abs": float(diff.max()), "max_rel": float(diff.max()) / scale}
    if file is not False:
        file = sys.stdout if file is None else file
        print(f"{'param':<6} {'mean |diff|':>12} {'max |diff|':>12} {'max rel':>10}", file=file)
        for k, v in out.items():
            if bounds:
                print(
                    f"{k:<6} {_bound(v['mean_abs']):>12} {_bound(v['max_abs']):>12} {_bound(v['max_rel']):>10}",
                    file=file,
                )
            else:
                print(f"{k:<6} {v['mean_abs']:12.3e} {v['max_abs']:12.3e} {v['max_rel']:10.2e}", file=file)
    return out


def _bound(v: float) -> str:
    """``< 1e-12``: the power of ten above ``v`` (``0`` for zero)."""
    import math

    if v == 0:
        return "0"
    if not math.isfinite(v):
        return str(v)
    return f"< 1e{math.floor(math.log10(v)) + 1:+03d}".replace("e+0", "e").replace("e-0", "e-")
