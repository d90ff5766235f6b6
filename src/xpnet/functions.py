"""Activation and loss functions (the book's ``common/functions.py``).

Each function takes its array namespace from its inputs, so it runs on
NumPy, CuPy, PyTorch or ``array_api_strict`` unchanged.
"""

from __future__ import annotations

import array_api_compat

from ._accel import lookup
from ._checks import check_labels, is_int, prepare, require_float, require_ndim

#: The small constant the book adds inside the logarithm of the
#: cross-entropy error so that ``log(0)`` never happens.
DELTA = 1e-7


def sigmoid(x):
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
    fused = lookup("sigmoid", xp)
    if fused is not None:
        return fused(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_grad(x):
    """Derivative of the sigmoid at ``x``: ``(1 - sigmoid(x)) * sigmoid(x)``."""
    s = sigmoid(x)
    return (1 - s) * s


def relu(x):
    """Rectified linear unit ``max(0, x)``."""
    xp, x = prepare(x=x)
    return xp.where(x > 0, x, xp.zeros_like(x))


def softmax(x):
    """Softmax along the last axis; one sample ``(C,)`` or a batch ``(N, C)``.

    The row maximum is subtracted first, so no finite input overflows
    (``[1e308, -1e308]`` included).

    Args:
        x: floating-point array with at least one dimension.

    Returns:
        Array of x's shape; each row sums to 1.
    """
    xp, x = prepare(x=x)
    require_float(xp, x, "x")
    if x.ndim < 1:
        raise ValueError("x must have at least 1 dimension (one sample or a batch), got a scalar")
    m = xp.max(x, axis=-1, keepdims=True)
    # x - m, computed as 2 * (x/2 - m/2): the same number (halving is exact), but
    # it cannot overflow when x and m are huge and of opposite signs; below -2000
    # exp gives 0 either way.
    d = 2 * xp.maximum(x / 2 - m / 2, xp.asarray(-1000.0, dtype=x.dtype, device=_device(x)))
    e = xp.exp(d)
    return e / xp.sum(e, axis=-1, keepdims=True)


def _device(x):
    return array_api_compat.device(x)


def to_one_hot(t, num_classes, dtype=None):
    """Integer labels ``(N,)`` to one-hot rows ``(N, num_classes)``.

    Args:
        t: integer array of labels in ``[0, num_classes)``.
        num_classes: number of classes.
        dtype: dtype of the result (default: the namespace's float64).
    """
    xp, t = prepare(t=t)
    if not is_int(xp, t):
        raise TypeError(f"t must hold integer labels, got dtype {t.dtype}")
    classes = xp.arange(num_classes, device=array_api_compat.device(t))
    hot = xp.reshape(t, (*t.shape, 1)) == classes
    return xp.astype(hot, xp.float64 if dtype is None else dtype)


def _targets(xp, y, t, fn):
    """One-hot targets for y from one-hot or integer-label t (checked)."""
    if t.shape == y.shape:
        if t.dtype != y.dtype:
            t = xp.astype(t, y.dtype)
        return t, False
    if is_int(xp, t) and (t.shape == y.shape[:-1] or (y.ndim == 1 and t.shape == (1,))):
        t = xp.reshape(t, y.shape[:-1])
        check_labels(xp, t, y.shape[-1])
        return t, True
    raise ValueError(
        f"{fn}: t must be one-hot with y's shape {tuple(y.shape)} or integer labels of shape "
        f"{tuple(y.shape[:-1])}, got t of shape {tuple(t.shape)} and dtype {t.dtype}"
    )


def mean_squared_error(y, t):
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
    t, labels = _targets(xp, y, t, "mean_squared_error")
    if labels:
        t = to_one_hot(t, y.shape[-1], dtype=y.dtype)
    return 0.5 * xp.sum((y - t) ** 2)


#: The book's other name for :func:`mean_squared_error`.
sum_squares_error = mean_squared_error


def cross_entropy_error(y, t):
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
    t, labels = _targets(xp, y, t, "cross_entropy_error")
    if y.ndim == 1:
        y = xp.reshape(y, (1, y.shape[0]))
        t = xp.reshape(t, (1, -1)) if not labels else xp.reshape(t, (1,))
    if labels:
        return _cross_entropy_labels(xp, y, t)
    return _cross_entropy_onehot(xp, y, t)


def _cross_entropy_onehot(xp, y, t):
    return -xp.sum(t * xp.log(y + DELTA)) / y.shape[0]


def _cross_entropy_labels(xp, y, t):
    picked = xp.take_along_axis(y, xp.reshape(xp.astype(t, xp.int64), (-1, 1)), axis=1)
    return -xp.sum(xp.log(picked + DELTA)) / y.shape[0]
