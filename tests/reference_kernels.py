"""Reference versions of the CuPy kernels' wrappers, written from the Array-API formulas they
replace (``xpnet/backend/cupy/sources.py`` REPLACES), with the same signatures and the same
``NotImplemented`` for inputs the real kernel declines. CPU tests run the fused compositions
(``xpnet/backend/cupy/fast.py``) with these; the GPU tests compare the real kernels with them."""

import array_api_compat

from xpnet import softmax
from xpnet.backend import accelerated
from xpnet.constants import DELTA
from xpnet.functions import sigmoid_of


def _sigmoid(x):
    """``functions.sigmoid_of``'s Array-API code (no faster form)."""
    with accelerated(False):
        return sigmoid_of(x)


def _xp(a):
    return array_api_compat.array_namespace(a)


def sigmoid(x):
    return _sigmoid(x)


def bias_sigmoid(a, b):
    if a.ndim != 2 or tuple(b.shape) != (a.shape[1],) or a.dtype != b.dtype:
        return NotImplemented
    return _sigmoid(a + b)


def softmax_loss_grad(scores, b, t, n):
    xp = _xp(scores)
    if scores.ndim != 2 or t.shape != scores.shape or scores.shape[1] > 32 or t.dtype != scores.dtype:
        return NotImplemented
    y = softmax(scores + b)
    loss = -xp.sum(t * xp.log(y + DELTA)) / n
    s = t * y / (y + DELTA)
    dy = (y * xp.sum(s, axis=1, keepdims=True) - s) / n
    return loss, dy, xp.sum(dy, axis=0)


def sigmoid_backward(dout, z):
    xp = _xp(dout)
    if dout.ndim != 2 or z.shape != dout.shape:
        return NotImplemented
    da = dout * (1 - z) * z
    return da, xp.sum(da, axis=0)


def sgd_update(params, grads, lr):
    if len(params) != 4 or any(p.shape != g.shape for p, g in zip(params, grads)):
        return NotImplemented
    for p, g in zip(params, grads):
        p -= lr * g
    return None


def take_rows(arrays, idx):
    if len(arrays) != 2:
        return NotImplemented
    xp = _xp(arrays[0])
    return tuple(xp.take(a, idx, axis=0) for a in arrays)


def _label_loss(xp, scores, labels):
    """-mean over the last-but-one axis of log(softmax(scores)[label] + delta); scores (..., N, C)."""
    e = xp.exp(scores)
    picked = xp.take_along_axis(
        scores, xp.broadcast_to(xp.reshape(labels, (-1, 1)), scores.shape[:-1] + (1,)), axis=-1
    )[..., 0]
    return -xp.mean(xp.log(xp.exp(picked) / xp.sum(e, axis=-1) + DELTA), axis=-1)


def numgrad_hidden(a1t, z1t, xrows, w2, a2c, labels, h):
    """(R, H): moving the weight from input row r to hidden unit j by +-h."""
    xp = _xp(a1t)
    out = []
    for sign in (1.0, -1.0):
        dz = _sigmoid(a1t[None, ...] + (sign * h) * xrows[:, None, :]) - z1t[None, ...]  # (R, H, N)
        scores = a2c[None, None, ...] + dz[..., None] * w2[None, :, None, :]  # (R, H, N, C)
        out.append(_label_loss(xp, scores, labels))
    return (out[0] - out[1]) / (2 * h)


def numgrad_output(z1t, a2c, labels, h):
    """(W2 (H, C), b2 (C,)): moving W2[j, k] changes score k by +-h z1[:, j]; b2[k] by +-h."""
    xp = _xp(z1t)
    hidden, n = z1t.shape
    c = a2c.shape[1]
    d = xp.concat([h * z1t, xp.full((1, n), h, dtype=z1t.dtype)], axis=0)  # (H + 1, N)
    eye = xp.eye(c, dtype=z1t.dtype)
    out = []
    for sign in (1.0, -1.0):
        scores = a2c[None, None, ...] + (sign * d)[:, None, :, None] * eye[None, :, None, :]  # (H+1, C, N, C)
        out.append(_label_loss(xp, scores, labels))
    g = (out[0] - out[1]) / (2 * h)
    return g[:hidden, ...], g[hidden, ...]
