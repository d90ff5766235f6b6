"""CuPy kernels built from ``sources.py``, with the wrappers that launch them.

Every wrapper returns ``NotImplemented`` when its kernel is not for the given
inputs (dtype, layout, more than 32 classes...), and the caller then uses
the Array-API code (``sources.REPLACES`` names it). ``sgd_update`` updates
in place and returns None.
"""

from __future__ import annotations

import cupy
import numpy as np

from ...constants import DELTA
from . import sources

_sigmoid = cupy.ElementwiseKernel(*sources.SIGMOID, preamble=sources.PRE)
_bias_sigmoid = cupy.ElementwiseKernel(*sources.BIAS_SIGMOID, preamble=sources.PRE)

_module = None
_SUFFIX = {np.dtype(np.float64): "f64", np.dtype(np.float32): "f32"}


def _kernel(name, dtype):
    global _module
    if _module is None:
        _module = cupy.RawModule(code=sources.RAW_MODULE, options=("--std=c++14",))
    return _module.get_function(f"{name}_{_SUFFIX[np.dtype(dtype)]}")


def _contiguous(*arrays):
    return all(a.flags.c_contiguous for a in arrays)


def sigmoid(x):
    return _sigmoid(x)


def bias_sigmoid(a, b):
    if a.ndim != 2 or b.shape != (a.shape[1],) or a.dtype != b.dtype or not _contiguous(a, b):
        return NotImplemented
    return _bias_sigmoid(a, b, a.shape[1])


def softmax_loss_grad(scores, b, t, n):
    dt = scores.dtype
    if (
        dt not in _SUFFIX
        or scores.ndim != 2
        or t.shape != scores.shape
        or b.shape != (scores.shape[1],)
        or t.dtype != dt
        or b.dtype != dt
        or not _contiguous(scores, b, t)
        or scores.shape[1] > 32
    ):
        return NotImplemented
    rows, c = scores.shape
    dy = cupy.empty_like(scores)
    loss = cupy.empty((), dtype=dt)
    db = cupy.empty((c,), dtype=dt)
    _kernel("softmax_loss_grad", dt)(
        (1,), (1024,), (scores, b, t, dy, loss, db, np.int32(rows), np.int32(c), dt.type(DELTA), dt.type(n))
    )
    return loss, dy, db


def sigmoid_backward(dout, z):
    dt = dout.dtype
    if dt not in _SUFFIX or dout.ndim != 2 or z.shape != dout.shape or z.dtype != dt or not _contiguous(dout, z):
        return NotImplemented
    n, h = dout.shape
    da = cupy.empty_like(dout)
    db = cupy.empty((h,), dtype=dt)
    _kernel("sigmoid_backward", dt)(((h + 31) // 32,), (32, 32), (dout, z, da, db, np.int32(n), np.int32(h)))
    return da, db


def sgd_update(params, grads, lr):
    dt = params[0].dtype
    if (
        len(params) != 4
        or dt not in _SUFFIX
        or any(p.dtype != dt or g.dtype != dt or p.shape != g.shape for p, g in zip(params, grads))
        or not _contiguous(*params, *grads)
    ):
        return NotImplemented
    args = []
    for p, g in zip(params, grads):
        args += [p, g, np.int64(p.size)]
    total = sum(p.size for p in params)
    blocks = min((total + 255) // 256, 1024)
    _kernel("sgd4", dt)((blocks,), (256,), (*args, dt.type(lr)))
    return None


def take_rows(arrays, idx):
    if len(arrays) != 2:
        return NotImplemented
    x, t = arrays
    dt = x.dtype
    if (
        dt not in _SUFFIX
        or t.dtype != dt
        or x.ndim != 2
        or t.ndim != 2
        or idx.ndim != 1
        or idx.dtype != cupy.int64
        or not _contiguous(x, t, idx)
    ):
        return NotImplemented
    n = idx.shape[0]
    xo = cupy.empty((n, x.shape[1]), dtype=dt)
    to = cupy.empty((n, t.shape[1]), dtype=dt)
    total = n * (x.shape[1] + t.shape[1])
    _kernel("take2", dt)(
        (min((total + 255) // 256, 4096),),
        (256,),
        (x, t, idx, xo, to, np.int32(n), np.int32(x.shape[1]), np.int32(t.shape[1])),
    )
    return xo, to


def numgrad_hidden(a1t, z1t, xrows, w2, a2c, labels, h):
    """Gradient rows (R, H) for parameters feeding the hidden layer (see incremental_numgrad.py)."""
    dt = a1t.dtype
    arrays = (a1t, z1t, xrows, w2, a2c)
    if dt not in _SUFFIX or any(a.dtype != dt for a in arrays) or labels.dtype != cupy.int64:
        return NotImplemented
    a1t, z1t, xrows, w2, a2c, labels = (cupy.ascontiguousarray(a) for a in (*arrays, labels))
    rows, (hid, n), c = xrows.shape[0], a1t.shape, a2c.shape[1]
    g = cupy.empty((rows, hid), dtype=dt)
    total = rows * hid
    _kernel("numgrad_hidden", dt)(
        ((total + 127) // 128,),
        (128,),
        (
            a1t,
            z1t,
            xrows,
            w2,
            a2c,
            labels,
            g,
            np.int32(rows),
            np.int32(hid),
            np.int32(n),
            np.int32(c),
            dt.type(h),
            dt.type(DELTA),
        ),
    )
    return g


def numgrad_output(z1t, a2c, labels, h):
    """Gradients of W2 (H, C) and b2 (C,) (see incremental_numgrad.py)."""
    dt = z1t.dtype
    if dt not in _SUFFIX or a2c.dtype != dt or labels.dtype != cupy.int64:
        return NotImplemented
    z1t, a2c, labels = (cupy.ascontiguousarray(a) for a in (z1t, a2c, labels))
    (hid, n), c = z1t.shape, a2c.shape[1]
    g = cupy.empty((hid + 1, c), dtype=dt)
    _kernel("numgrad_output", dt)(
        (((hid + 1) * c + 127) // 128,),
        (128,),
        (z1t, a2c, labels, g, np.int32(hid), np.int32(n), np.int32(c), dt.type(h), dt.type(DELTA)),
    )
    return g[:hid], g[hid]
