"""Fast numerical gradient of TwoLayerNet: incremental central differences.

Every perturbed loss is a real evaluation of the loss at the perturbed
parameters, and the difference quotient is the book's
``(L(p + h) - L(p - h)) / 2h``. What is new is *which* work is redone:

* moving ``W1[i, j]`` (or ``b1[j]``) changes only hidden unit ``j``:
  ``a1[:, j] + h * x[:, i]`` (``x`` replaced by ones for ``b1``), hence
  ``z1[:, j]``, hence the output scores by ``dz * W2[j, :]``;
* moving ``W2[j, k]`` changes only score ``k``, by ``h * z1[:, j]``;
* moving ``b2[k]`` changes only score ``k``, by ``h``.

So every perturbed score matrix is ``a2 + dz[p, n] * w[p, k]`` (a rank-one
change per perturbation). The softmax and cross-entropy are then evaluated
for all perturbations of a chunk at once. Scores are shifted by the
unperturbed row maximum, which leaves the softmax unchanged and keeps
``exp`` from overflowing.
"""

from __future__ import annotations

import concurrent.futures
import os

from ._accel import lookup
from .backend import backend_of
from .functions import DELTA, sigmoid
from .gradient import auto_batch


def _is_one_hot(xp, t):
    ones = xp.sum(xp.astype(t == 1, xp.int64))
    zeros = xp.sum(xp.astype(t == 0, xp.int64))
    return int(ones) == t.shape[0] and int(ones + zeros) == t.shape[0] * t.shape[1]


def _label_terms(xp, score, label_score, c):
    """Per-sample ``log(softmax[label] + delta)`` from shifted scores.

    ``score(k)`` is the (shifted) score of class k, ``label_score`` that of the
    label; the exponentials are summed over the classes in order.
    """
    total = None
    for k in range(c):
        e = xp.exp(score(k))
        total = e if total is None else total + e
    return xp.log(xp.exp(label_score) / total + DELTA)


class _Losses:
    """Loss of ``softmax(a2 + dz * w)`` against t for a stack of rank-one changes."""

    def __init__(self, xp, a2, t):
        self.xp = xp
        self.n, self.c = a2.shape
        self.a2c = a2 - xp.max(a2, axis=1, keepdims=True)  # (N, C)
        self.t = t
        self.one_hot = _is_one_hot(xp, t)
        if self.one_hot:
            self.labels = xp.argmax(t, axis=1)
            self.a2c_label = xp.sum(self.a2c * t, axis=1)  # score of the label, exact

    def __call__(self, dz, w):
        """dz: (..., N) change of a hidden quantity; w: (..., C) its weights.

        Returns the losses, shape broadcast(dz.shape[:-1], w.shape[:-1]).
        """
        xp = self.xp
        if self.one_hot:
            w_label = xp.take(w, self.labels, axis=-1)  # (..., N)
            terms = _label_terms(xp, lambda k: self.a2c[:, k] + dz * w[..., k:k + 1],
                                 self.a2c_label + dz * w_label, self.c)
        else:
            total = None
            for k in range(self.c):
                e = xp.exp(self.a2c[:, k] + dz * w[..., k:k + 1])
                total = e if total is None else total + e
            terms = None
            for k in range(self.c):
                e = xp.exp(self.a2c[:, k] + dz * w[..., k:k + 1])
                term = self.t[:, k] * xp.log(e / total + DELTA)
                terms = term if terms is None else terms + term
        return -xp.sum(terms, axis=-1) / self.n


def incremental_gradient(net, xp, x, t, h=1e-4, batch="auto"):
    """Central-difference gradient of ``net.loss(x, t)`` for every parameter.

    Args:
        net: a TwoLayerNet.
        xp: namespace of x and the parameters.
        x: (N, input) floating batch; t: (N, output) one-hot or soft targets.
        h: step.
        batch: perturbations per chunk, or ``"auto"``.

    Returns:
        dict ``W1, b1, W2, b2`` of gradients.
    """
    p = net.params
    n = x.shape[0]
    hidden = net.hidden_size
    a1 = xp.matmul(x, p["W1"]) + p["b1"]
    z1 = sigmoid(a1)
    a2 = xp.matmul(z1, p["W2"]) + p["b2"]
    losses = _Losses(xp, a2, t)
    a1t = xp.matrix_transpose(a1)  # (H, N)
    z1t = xp.matrix_transpose(z1)
    xt = xp.matrix_transpose(x)  # (D, N)
    w2 = xp.reshape(p["W2"], (1, hidden, net.output_size))
    itemsize = 4 if p["W1"].dtype == xp.float32 else 8

    if batch == "auto":
        if backend_of(xp) == "cupy":
            rows = auto_batch(xp, hidden * n * itemsize * 12, cap=x.shape[1])
        else:  # temporaries under glibc's mmap threshold (128 KiB) and in cache
            rows = max(1, (1 << 14) // (hidden * n))
    elif isinstance(batch, int) and not isinstance(batch, bool) and batch >= 1:
        rows = max(1, batch // hidden)
    else:
        raise ValueError(f"batch must be a positive int or 'auto', got {batch!r}")

    fused_hidden = lookup("numgrad_hidden", xp) if losses.one_hot else None
    fused_output = lookup("numgrad_output", xp) if losses.one_hot else None

    def hidden_rows(xrows):
        """Gradient rows for inputs xrows (R, N) feeding hidden units: (R, H)."""
        if fused_hidden is not None:
            out = fused_hidden(a1t, z1t, xrows, p["W2"], losses.a2c, losses.labels, h)
            if out is not None:
                return out
        out = []
        for sign in (1.0, -1.0):
            a1p = a1t + (sign * h) * xp.reshape(xrows, (xrows.shape[0], 1, n))
            dz = sigmoid(a1p) - z1t
            out.append(losses(dz, w2))
        return (out[0] - out[1]) / (2 * h)

    nonzero = int(xp.sum(xp.astype(xt != 0, xp.int64)))
    if fused_hidden is None and losses.one_hot and nonzero <= 0.7 * x.shape[0] * x.shape[1]:
        g_w1 = _sparse_w1(xp, losses, a1, z1, xt, p["W2"], h, rows * n)
    else:
        starts = range(0, x.shape[1], rows)
        g_w1 = _concat(xp, _map(xp, lambda i: hidden_rows(xt[i:min(i + rows, x.shape[1]), ...]), starts))
    ones = xp.ones((1, n), dtype=x.dtype, device=_device(x))
    g_b1 = xp.reshape(hidden_rows(ones), (hidden,))

    fused = None if fused_output is None else fused_output(z1t, losses.a2c, losses.labels, h)
    if fused is not None:
        g_w2, g_b2 = fused
        dt = p["W1"].dtype
        return {k: xp.astype(v, dt) for k, v in (("W1", g_w1), ("b1", g_b1), ("W2", g_w2), ("b2", g_b2))}
    eye = xp.reshape(xp.eye(net.output_size, dtype=x.dtype, device=_device(x)),
                     (1, net.output_size, net.output_size))
    zcol = xp.reshape(z1t, (hidden, 1, n))
    g_w2 = (losses(h * zcol, eye) - losses(-h * zcol, eye)) / (2 * h)
    one = xp.ones((1, n), dtype=x.dtype, device=_device(x))
    eye2 = xp.reshape(eye, (net.output_size, net.output_size))
    g_b2 = (losses(h * one, eye2) - losses(-h * one, eye2)) / (2 * h)
    dt = p["W1"].dtype
    return {k: xp.astype(v, dt) for k, v in (("W1", g_w1), ("b1", g_b1), ("W2", g_w2), ("b2", g_b2))}


def _map(xp, fn, items):
    """fn over items; on NumPy in threads (it releases the GIL inside its loops)."""
    items = list(items)
    workers = min(os.cpu_count() or 1, 8)
    if backend_of(xp) == "numpy" and workers > 1 and len(items) > 1:
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            return list(pool.map(fn, items))
    return [fn(i) for i in items]


def _concat(xp, pieces):
    return xp.concat(pieces, axis=0) if len(pieces) > 1 else pieces[0]


def _sparse_w1(xp, losses, a1, z1, xt, w2, h, pairs_per_chunk):
    """d loss / d W1 when many inputs are zero (MNIST: about 80% of the pixels).

    Moving W1[i, j] changes nothing for a sample n with x[n, i] == 0, so its term
    of the loss is reused; only the pairs (i, n) with x[n, i] != 0 are
    recomputed. Each perturbed loss is then ``L0 - sum(changed terms - old terms) / N``:
    the full loss at the perturbed parameters, its unchanged terms reused.
    """
    d, n = xt.shape
    hidden = a1.shape[1]
    a2c, labels = losses.a2c, losses.labels
    # per-sample term log(softmax[label] + delta) at the current parameters, as _Losses computes it
    term0 = _label_terms(xp, lambda k: a2c[:, k], losses.a2c_label, losses.c)
    loss0 = -xp.sum(term0) / n
    pi, pn = xp.nonzero(xt)  # row-major: pairs sorted by input i
    count = pi.shape[0]
    xv = xp.take(xp.reshape(xt, (-1,)), pi * n + pn)
    w2_label = xp.matrix_transpose(xp.take(w2, labels, axis=1))  # (N, H): W2[:, label[n]]

    def chunk(start):
        stop = min(start + pairs_per_chunk, count)
        sel_n = pn[start:stop]
        a1p = xp.take(a1, sel_n, axis=0)  # (P, H)
        z1p = xp.take(z1, sel_n, axis=0)
        a2p = xp.take(a2c, sel_n, axis=0)  # (P, C)
        a2l = xp.reshape(xp.take(losses.a2c_label, sel_n), (-1, 1))
        wl = xp.take(w2_label, sel_n, axis=0)  # (P, H)
        old = xp.reshape(xp.take(term0, sel_n), (-1, 1))
        step = xp.reshape(xv[start:stop], (-1, 1))
        out = []
        for sign in (1.0, -1.0):
            dz = sigmoid(a1p + (sign * h) * step) - z1p
            terms = _label_terms(xp, lambda k: a2p[:, k:k + 1] + dz * w2[:, k], a2l + dz * wl, losses.c)
            out.append(terms - old)
        return out

    parts = _map(xp, chunk, range(0, count, max(1, pairs_per_chunk)))
    per_row = xp.sum(xp.astype(xt != 0, xp.int64), axis=1)
    ends = xp.cumulative_sum(per_row)
    grads = []
    for which in (0, 1):
        if count:
            vals = _concat(xp, [part[which] for part in parts])
            cs = xp.cumulative_sum(vals, axis=0, include_initial=True)  # (P + 1, H)
        else:
            cs = xp.zeros((1, hidden), dtype=a1.dtype, device=_device(a1))
        seg = xp.take(cs, ends, axis=0) - xp.take(cs, ends - per_row, axis=0)  # (D, H)
        grads.append(loss0 - seg / n)  # the perturbed losses
    return (grads[0] - grads[1]) / (2 * h)


def _device(x):
    import array_api_compat
    return array_api_compat.device(x)
