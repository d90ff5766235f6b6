"""NumPy's faster forms: the book's backprop pass, sigmoid and softmax written with in-place
ufuncs (``out=``), so a step allocates less; the same operations in the same order as the
Array-API code they stand for, so their results are its results to the last bit
(``tests/test_backends.py``)."""

from __future__ import annotations

import numpy as np

from ...constants import DELTA

# the reductions as the ufuncs' own (np.max and np.sum call these, through a Python layer that
# costs about a microsecond a call at the book's size): the same values
_max, _sum = np.maximum.reduce, np.add.reduce


def loss_and_gradient(params, x, t, xp=None, with_loss=True):
    """``nets.loss_and_gradient`` for float NumPy arrays: the same operations, in the same order,
    in place where the Array-API code makes a temporary."""
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    arrays = (x, t, W1, b1, W2, b2)
    if (
        any(type(a) is not np.ndarray or a.dtype != x.dtype for a in arrays) or x.dtype.kind != "f" or x.ndim != 2
    ):  # stacked nets: the Array-API pass
        return NotImplemented
    batch_num = x.shape[0]
    a1 = np.matmul(x, W1)
    a1 += b1
    e = np.abs(a1)  # sigmoid(a1) = where(a1 >= 0, 1, e) / (1 + e), e = exp(-|a1|)
    np.negative(e, out=e)
    np.exp(e, out=e)
    z1 = np.where(a1 >= 0, x.dtype.type(1.0), e)
    e += 1
    z1 /= e
    a2 = np.matmul(z1, W2)
    a2 += b2
    big = np.finfo(x.dtype).max
    np.maximum(a2, -big, out=a2)
    np.minimum(a2, big, out=a2)  # softmax: +-inf as the largest finite numbers
    m = _max(a2, axis=-1, keepdims=True)  # softmax(a2) = exp(a2/2 - m/2) ** 2 / sum(...)
    m /= 2
    y = a2 / 2
    y -= m
    np.exp(y, out=y)
    y *= y
    y /= _sum(y, axis=-1, keepdims=True)
    y_delta = y + DELTA
    loss = -_sum(t * np.log(y_delta), axis=(-2, -1)) / batch_num if with_loss else None
    s = t * y
    s /= y_delta
    dy = y * _sum(s, axis=1, keepdims=True)
    dy -= s
    dy /= batch_num
    grads = {"W1": None, "b1": None, "W2": np.matmul(z1.T, dy), "b2": _sum(dy, axis=0)}
    dz1 = np.matmul(dy, W2.T)  # da1, then da1 * (1 - z1) * z1 in place
    dz1 *= 1 - z1
    dz1 *= z1
    grads["W1"] = np.matmul(x.T, dz1)
    grads["b1"] = _sum(dz1, axis=0)
    return loss, grads


#: Elements of one block of a large sigmoid: its temporaries stay in cache and are made once per
#: call (a large temporary is fresh pages from the OS on every call: at 8,000 x 50 the blocked form
#: takes 0.8 ms against 4.3 ms whole, the same values).
BLOCK = 8192


def sigmoid(x):
    """``functions.sigmoid_of`` for float NumPy arrays, value for value: ``where(x >= 0, 1, e) /
    (1 + e)`` with ``e = exp(-|x|)``, in place, in blocks of rows for large arrays (the book's own
    code calls ``sigmoid`` directly, on mini-batches and on whole data sets: every microsecond shows)."""
    if type(x) is not np.ndarray or x.dtype.kind != "f" or x.ndim == 0:
        return NotImplemented
    z = np.empty_like(x)
    if x.ndim != 2 or x.size <= 2 * BLOCK:
        return _sigmoid_into(x, z, np.empty_like(x))
    rows = max(1, BLOCK // x.shape[1])
    e = np.empty((rows, x.shape[1]), dtype=x.dtype)
    for i in range(0, x.shape[0], rows):
        xb = x[i : i + rows]
        _sigmoid_into(xb, z[i : i + rows], e[: xb.shape[0]])
    return z


def _sigmoid_into(x, z, e):
    """The sigmoid of ``x`` into ``z``, ``e`` a scratch array of x's shape."""
    np.abs(x, out=e)
    np.negative(e, out=e)
    np.exp(e, out=e)  # e = exp(-|x|), in (0, 1] (or NaN)
    np.greater_equal(x, 0, out=z, casting="unsafe")  # 1 where x >= 0, else 0
    np.maximum(z, e, out=z)  # where(x >= 0, 1, e): e <= 1, e >= 0, NaN kept
    e += 1
    z /= e
    return z


def softmax(x):
    """``functions.softmax_of`` for float NumPy arrays: the same operations in the same order
    (clamp, halved exponent, squared, normalised), in place."""
    if type(x) is not np.ndarray or x.dtype.kind != "f" or x.ndim == 0:
        return NotImplemented
    big = np.finfo(x.dtype).max
    y = np.maximum(x, -big)  # +-inf as the largest finite numbers
    np.minimum(y, big, out=y)
    m = _max(y, axis=-1, keepdims=True)
    m /= 2
    y /= 2
    y -= m
    np.exp(y, out=y)
    y *= y
    y /= _sum(y, axis=-1, keepdims=True)
    return y
