"""Fused CuPy kernels for formulas written in xpnet's array-API math.

Each one is registered under the name the math looks up (``_accel.lookup``)
and computes the same expression, in the same order, as the code beside the
lookup; parity tests compare the two paths.
"""

from __future__ import annotations

import cupy

from .._accel import register
from ..functions import DELTA

_sigmoid = cupy.ElementwiseKernel(
    "T x", "T y",
    "T e = exp(-fabs(x)); y = x >= 0 ? (T)1 / ((T)1 + e) : e / ((T)1 + e);",
    "xpnet_sigmoid")

_sigmoid_backward = cupy.ElementwiseKernel(
    "T dout, T z", "T dx",
    "dx = dout * ((T)1 - z) * z;",
    "xpnet_sigmoid_backward")

_sgd = cupy.ElementwiseKernel(
    "T g, T lr", "T p",
    "T step = lr * g; p = p - step;",
    "xpnet_sgd_update")

_ce_sum = cupy.ReductionKernel(
    "T y, T t, T delta", "T loss",
    "t * log(y + delta)", "a + b", "loss = a", "0", "xpnet_ce_sum")

_s_rowsum = cupy.ReductionKernel(
    "T y, T t, T delta", "T s",
    "t * y / (y + delta)", "a + b", "s = a", "0", "xpnet_s_rowsum")

_dy = cupy.ElementwiseKernel(
    "T y, T t, T srow, T delta, T n", "T dy",
    "T s = t * y / (y + delta); T ys = y * srow; dy = (ys - s) / n;",
    "xpnet_dy")


def sigmoid(x):
    return _sigmoid(x)


def sigmoid_backward(dout, z):
    return _sigmoid_backward(dout, z)


def sgd_update(param, grad, lr):
    _sgd(grad, param.dtype.type(lr), param)


def loss_and_dy(y, t, n):
    """Same as nets._loss_and_dy: loss -sum(t log(y+d))/n and dy = (y*sum(s) - s)/n."""
    dt = y.dtype.type
    delta = dt(DELTA)
    total = _ce_sum(y, t, delta)
    loss = -total / n
    srow = _s_rowsum(y, t, delta, axis=1, keepdims=True)
    dy = _dy(y, t, srow, delta, dt(n))
    return loss, dy


register("cupy", "sigmoid", sigmoid)
register("cupy", "sigmoid_backward", sigmoid_backward)
register("cupy", "sgd_update", sgd_update)
register("cupy", "loss_and_dy", loss_and_dy)
