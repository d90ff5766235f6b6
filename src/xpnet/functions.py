"""Activation and loss functions (the book's ``common/functions.py``).

Each function takes its array namespace from its inputs, so it runs on
NumPy, CuPy, JAX, PyTorch or ``array_api_strict`` unchanged. The public
functions check their input, then call the unchecked formula (``sigmoid_of``,
``softmax_of``), which first asks the array's backend for a faster form of it.
"""

from __future__ import annotations

from typing import Any

import array_api_compat

from ._checks import check_label_range, is_int, one_hot, positive_int, prepare, require_float, require_ndim, targets
from ._typing import Array, ArrayLike, DTypeLike
from .backend import faster, namespace
from .constants import DELTA

__all__ = [
    "DELTA",
    "sigmoid",
    "sigmoid_grad",
    "relu",
    "softmax",
    "to_one_hot",
    "mean_squared_error",
    "sum_squares_error",
    "sum_squared_error",
    "cross_entropy_error",
]


def sigmoid(x: ArrayLike) -> Array:
    """Logistic sigmoid ``1 / (1 + exp(-x))``, without overflow.

    ``exp`` is only ever taken of ``-|x|`` (a number in (0, 1]), so no input,
    however large (``-1000``, ``1000``), overflows or warns.

    Args:
        x: floating-point array.

    Returns:
        Array of x's shape and dtype, values in [0, 1].
    """
    xp, x = prepare(x=x)
    require_float(xp, x, "x")
    return sigmoid_of(x)


def sigmoid_of(x: Array) -> Array:
    """:func:`sigmoid` of a checked float array (the formula; a backend may have a faster form)."""
    fast = faster(x).sigmoid(x)
    if fast is not NotImplemented:
        return fast
    xp = namespace(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1.0, e) / (1 + e)  # 1 / (1 + e) for x >= 0, e / (1 + e) below


def sigmoid_grad(x: ArrayLike) -> Array:
    """Derivative of the sigmoid at ``x``: ``(1 - sigmoid(x)) * sigmoid(x)``."""
    s = sigmoid(x)
    return (1 - s) * s


def relu(x: ArrayLike) -> Array:
    """Rectified linear unit ``max(0, x)``."""
    xp, x = prepare(x=x)
    return xp.where(x > 0, x, xp.zeros_like(x))


def softmax(x: ArrayLike) -> Array:
    """Softmax along the last axis; one sample ``(C,)`` or a batch ``(N, C)``.

    The row maximum is subtracted first, so no finite input overflows
    (``[1e308, -1e308]`` included); an infinite score counts as the largest
    finite one (``softmax([inf, 0])`` is ``[1, 0]``). NaN stays NaN.

    Args:
        x: floating-point array with at least one dimension.

    Returns:
        Array of x's shape; each row sums to 1.
    """
    xp, x = prepare(x=x)
    require_float(xp, x, "x")
    if x.ndim < 1:
        raise ValueError("x must have at least 1 dimension (one sample or a batch), got a scalar")
    return softmax_of(x)


def softmax_of(x: Array) -> Array:
    """:func:`softmax` of a checked float array of at least one dimension (the formula; a backend
    may have a faster form)."""
    fast = faster(x).softmax(x)
    if fast is not NotImplemented:
        return fast
    xp = namespace(x)
    big = xp.full((), _LARGEST[x.dtype == xp.float32], dtype=x.dtype, device=array_api_compat.device(x))
    # +-inf as the largest finite numbers, finite values and NaN unchanged; not xp.clip, which
    # array-api-compat writes for CuPy with boolean masks (a host sync, refused in a CUDA graph)
    x = xp.minimum(xp.maximum(x, -big), big)
    m = xp.max(x, axis=-1, keepdims=True)
    # exp(x - m) as exp((x - m) / 2) ** 2: x / 2 - m / 2 cannot overflow even when x
    # and m are huge and of opposite signs (halving is exact), and squaring, unlike
    # doubling the exponent, cannot overflow either (the half is <= 0).
    e = xp.exp(x / 2 - m / 2)
    e = e * e
    return e / xp.sum(e, axis=-1, keepdims=True)


_LARGEST = (1.7976931348623157e308, 3.4028234663852886e38)  # float64, float32


def to_one_hot(t: ArrayLike, num_classes: int, dtype: DTypeLike = None) -> Array:
    """Integer labels ``(N,)`` to one-hot rows ``(N, num_classes)``.

    Args:
        t: integer array of labels in ``[0, num_classes)``.
        num_classes: number of classes.
        dtype: dtype of the result (default: the namespace's float64).
    """
    xp, t = prepare(t=t)
    if not is_int(xp, t):
        raise TypeError(f"t must hold integer labels, got dtype {t.dtype}")
    num_classes = positive_int(num_classes, "num_classes")
    check_label_range(xp, t, num_classes)
    return one_hot(xp, t, num_classes, xp.float64 if dtype is None else dtype)


def _rows(xp: Any, y: Array, t: Array) -> Any:
    """y as rows ``(N, C)`` and t with it, for one sample ``(C,)`` or a batch."""
    if y.ndim == 1:
        if tuple(t.shape) == tuple(y.shape):  # one one-hot row (integer, as the book writes it, or float)
            t = xp.reshape(t, (1, y.shape[0]))
        elif t.ndim == 0:  # one label
            t = xp.reshape(t, (1,))
        y = xp.reshape(y, (1, y.shape[0]))
    return y, t


def mean_squared_error(y: ArrayLike, t: ArrayLike) -> Array:
    """The book's sum of squares error ``0.5 * sum((y - t) ** 2)``.

    Args:
        y: network output, floating, shape ``(C,)`` or ``(N, C)``.
        t: one-hot targets of y's shape, or integer labels of shape y.shape[:-1].

    Returns:
        0-d array.
    """
    xp, y, t = prepare(y=y, t=t)
    require_float(xp, y, "y")
    require_ndim(y, "y", (1, 2))
    y, t = _rows(xp, y, t)
    t, _ = targets(xp, t, y.shape[0], y.shape[1], form="one_hot", dtype=y.dtype)
    return 0.5 * xp.sum((y - t) ** 2)


#: The book's other names for :func:`mean_squared_error`: the chapter's text says ``sum_squares_error``,
#: the book's repository ``sum_squared_error``.
sum_squares_error = sum_squared_error = mean_squared_error


def cross_entropy_error(y: ArrayLike, t: ArrayLike) -> Array:
    """Cross-entropy error, averaged over the batch, with the book's delta.

    ``-sum(t * log(y + 1e-7)) / N`` for one-hot (or soft) targets, and
    ``-sum(log(y[n, t[n]] + 1e-7)) / N`` for integer labels.

    Args:
        y: probabilities (softmax output), floating, ``(C,)`` or ``(N, C)``.
        t: one-hot of y's shape, or integer labels: a scalar for one sample,
            ``(N,)`` for a batch.

    Returns:
        0-d array: the mean loss over the batch.

    Raises:
        ValueError: shapes do not fit, or a label lies outside ``[0, C)``.
        TypeError: y is not floating-point.
    """
    xp, y, t = prepare(y=y, t=t)
    require_float(xp, y, "y")
    require_ndim(y, "y", (1, 2))
    y, t = _rows(xp, y, t)
    batch_size = y.shape[0]
    t, labels = targets(xp, t, batch_size, y.shape[1], dtype=y.dtype)
    if labels:
        y = xp.take_along_axis(y, xp.reshape(t, (-1, 1)), axis=1)
        return -xp.sum(log_delta(xp, y)) / batch_size
    return cross_entropy(xp, y, t)


def log_delta(xp: Any, y: Array) -> Any:
    """``log(y + 1e-7)``: the cross-entropy's term, the book's delta keeping ``log(0)`` finite."""
    return xp.log(y + DELTA)


def cross_entropy(xp: Any, y: Array, t: Array) -> Any:
    """The mean cross-entropy of rows ``y`` against one-hot (or soft) rows ``t``, unchecked:
    ``-sum(t * log(y + 1e-7)) / N`` over the last two axes (K stacked batches give K losses)."""
    return -xp.sum(t * log_delta(xp, y), axis=(-2, -1)) / y.shape[-2]
