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


def sigmoid(x):
    """``functions.sigmoid_of`` for float NumPy arrays, value for value: ``where(x >= 0, 1, e) /
    (1 + e)`` with ``e = exp(-|x|)``, in place where the Array-API code makes a temporary (one
    ``exp``: the book's own code calls ``sigmoid`` directly, so every microsecond of a call shows)."""
    if type(x) is not np.ndarray or x.dtype.kind != "f" or x.ndim == 0:
        return NotImplemented
    e = np.abs(x)
    np.negative(e, out=e)
    np.exp(e, out=e)  # e = exp(-|x|)
    z = np.where(x >= 0, x.dtype.type(1.0), e)
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
